//! The Gorilla ("XOR") encoding of float samples: [`XorChunk`] appends, [`XorIter`] decodes.
//!
//! Timestamps are stored as delta-of-deltas in variable-width buckets and values as the XOR with
//! the previous value, after Facebook's Gorilla paper and Prometheus' `chunkenc/xor.go`. The exact
//! layout is specified in `tsdb/docs/format/chunk.md`; keep the two in step. The format is close
//! to Prometheus' but not byte-compatible with it (see that page).
//!
//! The encoder is pure and in-memory: no I/O, no locking, and no allocation per sample beyond the
//! amortised growth of the chunk's own buffer. Deciding when to cut a chunk belongs to the head.

use std::iter::FusedIterator;

use argus_model::Sample;

use super::bstream::{BitReader, BitWriter};
use crate::encoding::{unzigzag, zigzag};

/// Bytes before the bit stream: the sample count as a big-endian `u16`.
const HEADER_LEN: usize = 2;

/// Payload widths of the non-zero delta-of-delta buckets, in order of their prefixes
/// `10`, `110`, `1110`. Anything wider falls back to prefix `1111` and 64 bits.
const DOD_BUCKET_BITS: [u8; 3] = [14, 17, 20];

/// Width of the leading-zero count in a new XOR window; it caps the count at 31.
const LEADING_BITS: u8 = 5;
/// Width of the significant-bit count in a new XOR window; 64 is written as 0.
const SIGNIFICANT_BITS: u8 = 6;

/// Longest LEB128 encoding of a `u64`: ceil(64 / 7) bytes.
const MAX_VARINT_LEN: usize = 10;

/// Why a chunk could not take a sample or could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The `u16` sample count in the header cannot go higher.
    #[error("chunk is full: it already holds {} samples", XorChunk::MAX_SAMPLES)]
    Full,
    /// The bytes cannot even hold the sample-count header.
    #[error("chunk of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    MissingHeader { len: usize },
    /// The data ends before the number of samples the header promises.
    #[error("chunk ends early: sample {sample} of {count} is cut off at bit {bit}")]
    Truncated { sample: u16, count: u16, bit: usize },
    /// The bits are present but cannot be a valid encoding.
    #[error("corrupt chunk at sample {sample}, bit {bit}: {reason}")]
    Corrupt { sample: u16, bit: usize, reason: &'static str },
}

/// The run of meaningful bits of a XOR: how many zero bits lead and trail it. Reusing the previous
/// window costs 2 bits of control instead of 13, which is why the encoder keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct XorWindow {
    leading: u8,
    trailing: u8,
}

impl XorWindow {
    /// The window a fresh XOR needs, with the leading count capped to what 5 bits can hold.
    /// Callers pass a non-zero `xor`, so leading + trailing stays at most 63.
    fn of(xor: u64) -> Self {
        // Both counts are at most 64, so the narrowing is exact.
        Self {
            leading: (xor.leading_zeros() as u8).min((1 << LEADING_BITS) - 1),
            trailing: xor.trailing_zeros() as u8,
        }
    }

    /// Whether `xor`'s set bits all fall inside this window.
    fn covers(self, xor: u64) -> bool {
        xor.leading_zeros() >= u32::from(self.leading) && xor.trailing_zeros() >= u32::from(self.trailing)
    }

    fn significant(self) -> u8 {
        64 - self.leading - self.trailing
    }
}

/// An append-only chunk of up to [`XorChunk::MAX_SAMPLES`] float samples, owning its bytes.
///
/// It keeps the encoder's running state next to the bytes so that [`XorChunk::append`] is O(1):
/// it writes after the last bit and never re-reads the chunk. Timestamps need not increase;
/// ordering is the head's rule, not the encoding's.
#[derive(Debug, Clone)]
pub struct XorChunk {
    stream: BitWriter,
    count: u16,
    first_t: i64,
    prev_t: i64,
    prev_delta: i64,
    prev_bits: u64,
    /// `None` until a sample has needed a window (the first differing value).
    window: Option<XorWindow>,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// The header counts samples in a `u16`.
    pub const MAX_SAMPLES: u16 = u16::MAX;

    /// An empty chunk: just the zeroed sample-count header.
    pub fn new() -> Self {
        // A regular 120-sample chunk usually encodes in well under 128 bytes, so reserving that
        // much up front spares the hot append path most reallocations (Prometheus does the same).
        Self::with_capacity(128)
    }

    /// An empty chunk with room for `bytes` bytes, for a series whose previous chunk says how
    /// large the next one will be: no reallocation on the way, and no doubling's slack.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut bytes = Vec::with_capacity(bytes.max(HEADER_LEN));
        bytes.extend_from_slice(&[0; HEADER_LEN]);
        Self {
            stream: BitWriter::with_prefix(bytes),
            count: 0,
            first_t: 0,
            prev_t: 0,
            prev_delta: 0,
            prev_bits: 0,
            window: None,
        }
    }

    /// Appends one sample. Refuses with [`ChunkError::Full`], leaving the chunk untouched, once it
    /// holds [`XorChunk::MAX_SAMPLES`].
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.count == Self::MAX_SAMPLES {
            return Err(ChunkError::Full);
        }
        let bits = v.to_bits();
        match self.count {
            0 => {
                write_varint(&mut self.stream, zigzag(t));
                self.stream.write_bits(bits, 64);
                self.first_t = t;
            }
            1 => {
                // Wrapping keeps any pair of i64 timestamps representable; the decoder wraps back.
                let delta = t.wrapping_sub(self.prev_t);
                write_varint(&mut self.stream, zigzag(delta));
                self.window = write_xor(&mut self.stream, bits ^ self.prev_bits, self.window);
                self.prev_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.prev_t);
                write_dod(&mut self.stream, delta.wrapping_sub(self.prev_delta));
                self.window = write_xor(&mut self.stream, bits ^ self.prev_bits, self.window);
                self.prev_delta = delta;
            }
        }
        self.prev_t = t;
        self.prev_bits = bits;
        self.count += 1;
        // The header is kept current after every append so `bytes()` is always a whole chunk
        // that can be copied out and decoded while the chunk keeps growing.
        self.stream.bytes_mut()[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
        Ok(())
    }

    /// Number of samples in the chunk.
    pub fn len(&self) -> u16 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when [`XorChunk::append`] would refuse.
    pub fn is_full(&self) -> bool {
        self.count == Self::MAX_SAMPLES
    }

    /// The encoded chunk, header included; decode it with [`XorIter::new`].
    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    /// Timestamp of the first sample appended, if any.
    pub fn first_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample appended, if any.
    pub fn last_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.prev_t)
    }

    /// Decodes the chunk's samples in append order.
    pub fn iter(&self) -> XorIter<&[u8]> {
        XorIter::with_count(self.bytes(), self.count)
    }
}

impl<'a> IntoIterator for &'a XorChunk {
    type Item = Sample;
    type IntoIter = XorIter<&'a [u8]>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Decodes a XOR chunk from any owner of its bytes (`&[u8]`, `Vec<u8>`, `Arc<[u8]>`, ...), so a
/// reader can hold a snapshot of a chunk that is still being appended to.
///
/// It yields at most as many samples as the header says. On a truncated or corrupt chunk it stops
/// early and [`XorIter::err`] says why; it never panics on bad input.
#[derive(Debug, Clone)]
pub struct XorIter<B> {
    bytes: B,
    /// Bit offset of the next sample.
    pos: usize,
    count: u16,
    decoded: u16,
    state: DecodeState,
    err: Option<ChunkError>,
}

impl<B: AsRef<[u8]>> XorIter<B> {
    /// Starts decoding `bytes`; fails only when they cannot hold the header.
    pub fn new(bytes: B) -> Result<Self, ChunkError> {
        let count = match bytes.as_ref() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            short => return Err(ChunkError::MissingHeader { len: short.len() }),
        };
        Ok(Self::with_count(bytes, count))
    }

    /// For callers that already know the header is present and what it says.
    fn with_count(bytes: B, count: u16) -> Self {
        Self { bytes, pos: HEADER_LEN * 8, count, decoded: 0, state: DecodeState::default(), err: None }
    }

    /// Why decoding stopped before the header's sample count, if it did.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}

impl<B: AsRef<[u8]>> Iterator for XorIter<B> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.decoded >= self.count || self.err.is_some() {
            return None;
        }
        let mut r = BitReader::at(self.bytes.as_ref(), self.pos);
        match self.state.step(&mut r, self.decoded) {
            Ok(sample) => {
                self.pos = r.position();
                self.decoded += 1;
                Some(sample)
            }
            Err(fault) => {
                let (sample, bit) = (self.decoded, r.position());
                self.err = Some(match fault {
                    Fault::End => ChunkError::Truncated { sample, count: self.count, bit },
                    Fault::Corrupt(reason) => ChunkError::Corrupt { sample, bit, reason },
                });
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Corruption can end decoding at any point, so only the upper bound is known.
        let left = if self.err.is_some() { 0 } else { usize::from(self.count - self.decoded) };
        (0, Some(left))
    }
}

impl<B: AsRef<[u8]>> FusedIterator for XorIter<B> {}

/// What went wrong while decoding one sample, before the iterator adds where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    End,
    Corrupt(&'static str),
}

/// The decoder's mirror of the appender's running state.
#[derive(Debug, Clone, Copy, Default)]
struct DecodeState {
    t: i64,
    delta: i64,
    bits: u64,
    window: Option<XorWindow>,
}

impl DecodeState {
    /// Decodes the sample at `index` from `r`, which must sit at its first bit.
    fn step(&mut self, r: &mut BitReader<'_>, index: u16) -> Result<Sample, Fault> {
        match index {
            0 => {
                self.t = unzigzag(read_varint(r)?);
                self.bits = r.read_bits(64).ok_or(Fault::End)?;
            }
            1 => {
                self.delta = unzigzag(read_varint(r)?);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value(r)?;
            }
            _ => {
                self.delta = self.delta.wrapping_add(read_dod(r)?);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value(r)?;
            }
        }
        Ok(Sample { t: self.t, v: f64::from_bits(self.bits) })
    }

    fn read_value(&mut self, r: &mut BitReader<'_>) -> Result<(), Fault> {
        let (xor, window) = read_xor(r, self.window)?;
        self.bits ^= xor;
        self.window = window;
        Ok(())
    }
}

/// Unsigned LEB128: seven bits per byte, low group first, high bit set on all but the last.
fn write_varint(w: &mut BitWriter, mut n: u64) {
    while n >= 0x80 {
        w.write_byte((n as u8) | 0x80);
        n >>= 7;
    }
    w.write_byte(n as u8);
}

fn read_varint(r: &mut BitReader<'_>) -> Result<u64, Fault> {
    let mut n = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let byte = r.read_byte().ok_or(Fault::End)?;
        // The tenth byte carries only bit 63; anything more would not fit a u64.
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(Fault::Corrupt("varint overflows 64 bits"));
        }
        n |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(Fault::Corrupt("varint longer than 10 bytes"))
}

/// Whether `x` is representable as an `nbits`-wide two's complement integer (`nbits` < 64).
fn fits_signed(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    (-half..half).contains(&x)
}

/// Sign-extends the low `nbits` bits of `bits` (`nbits` in 1..=64).
fn sign_extend(bits: u64, nbits: u8) -> i64 {
    let shift = 64 - u32::from(nbits);
    ((bits << shift) as i64) >> shift
}

/// Writes a delta-of-delta in the smallest bucket that holds it. Regular scrapes make the
/// one-bit zero case by far the most common.
fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &nbits) in (0u8..).zip(DOD_BUCKET_BITS.iter()) {
        if fits_signed(dod, nbits) {
            // i+1 one bits then a zero: 10, 110, 1110.
            w.write_bits((1u64 << (i + 2)) - 2, i + 2);
            w.write_bits(dod as u64, nbits);
            return;
        }
    }
    w.write_bits(0b1111, 4);
    w.write_bits(dod as u64, 64);
}

fn read_dod(r: &mut BitReader<'_>) -> Result<i64, Fault> {
    let mut ones = 0;
    while ones < 4 && r.read_bit().ok_or(Fault::End)? {
        ones += 1;
    }
    let nbits = match ones {
        0 => return Ok(0),
        1..=3 => DOD_BUCKET_BITS[ones - 1],
        _ => 64,
    };
    let bits = r.read_bits(nbits).ok_or(Fault::End)?;
    Ok(sign_extend(bits, nbits))
}

/// Writes the XOR of a value with its predecessor and returns the window now in force.
fn write_xor(w: &mut BitWriter, xor: u64, window: Option<XorWindow>) -> Option<XorWindow> {
    if xor == 0 {
        w.write_bit(false);
        return window;
    }
    match window {
        Some(win) if win.covers(xor) => {
            w.write_bits(0b10, 2);
            w.write_bits(xor >> win.trailing, win.significant());
            window
        }
        _ => {
            let win = XorWindow::of(xor);
            let significant = win.significant();
            w.write_bits(0b11, 2);
            w.write_bits(u64::from(win.leading), LEADING_BITS);
            // 64 significant bits do not fit in 6; 0 stands for it since a non-zero XOR always
            // has at least one significant bit.
            w.write_bits(u64::from(significant % 64), SIGNIFICANT_BITS);
            w.write_bits(xor >> win.trailing, significant);
            Some(win)
        }
    }
}

fn read_xor(r: &mut BitReader<'_>, window: Option<XorWindow>) -> Result<(u64, Option<XorWindow>), Fault> {
    if !r.read_bit().ok_or(Fault::End)? {
        return Ok((0, window));
    }
    let win = if r.read_bit().ok_or(Fault::End)? {
        // Both counts fit their widths, so the narrowing is exact.
        let leading = r.read_bits(LEADING_BITS).ok_or(Fault::End)? as u8;
        let significant = match r.read_bits(SIGNIFICANT_BITS).ok_or(Fault::End)? as u8 {
            0 => 64,
            n => n,
        };
        let trailing =
            64u8.checked_sub(leading + significant).ok_or(Fault::Corrupt("XOR window wider than 64 bits"))?;
        XorWindow { leading, trailing }
    } else {
        window.ok_or(Fault::Corrupt("XOR window reused before one was set"))?
    };
    let bits = r.read_bits(win.significant()).ok_or(Fault::End)?;
    Ok((bits << win.trailing, Some(win)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use argus_model::{STALE_NAN_BITS, stale_nan};
    use proptest::prelude::*;

    use super::*;

    fn encode(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).expect("chunk has room");
        }
        c
    }

    /// Decodes `chunk` both from the chunk and from an owned copy and checks both against
    /// `want`, bit for bit, with no decode error.
    fn assert_round_trip(want: &[(i64, f64)]) {
        let chunk = encode(want);
        assert_eq!(usize::from(chunk.len()), want.len());
        let owned: Arc<[u8]> = Arc::from(chunk.bytes());
        let mut from_owned = XorIter::new(owned).expect("header present");
        let got: Vec<Sample> = chunk.iter().collect();
        let got_owned: Vec<Sample> = from_owned.by_ref().collect();
        assert_eq!(from_owned.err(), None);
        assert_eq!(got.len(), want.len());
        for (i, ((g, o), &(t, v))) in got.iter().zip(&got_owned).zip(want).enumerate() {
            assert!(g.bit_eq(&Sample::new(t, v)), "sample {i}: got {g:?}, want ({t}, {v:?})");
            assert!(o.bit_eq(g), "sample {i}: owned copy decoded differently");
        }
    }

    #[test]
    fn empty_chunk_is_just_a_zero_header() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        assert!(c.is_empty());
        assert_eq!(c.first_time(), None);
        assert_eq!(c.last_time(), None);
        let mut it = c.iter();
        assert_eq!(it.next(), None);
        assert_eq!(it.err(), None);
    }

    #[test]
    fn single_sample() {
        assert_round_trip(&[(1_700_000_000_000, 42.5)]);
        assert_round_trip(&[(i64::MIN, -0.0)]);
    }

    #[test]
    fn two_samples() {
        assert_round_trip(&[(1000, 1.0), (16_000, 2.0)]);
        assert_round_trip(&[(1000, 1.0), (1000, 1.0)]);
    }

    #[test]
    fn layout_matches_the_documented_example() {
        // The worked example in docs/format/chunk.md.
        let c = encode(&[(1000, 1.0), (16_000, 1.0), (31_000, 2.0), (46_005, 3.0)]);
        let want: &[u8] = &[
            0x00, 0x04, // count = 4
            0xD0, 0x0F, // zigzag varint of 1000 = 2000
            0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.0
            0xB0, 0xEA, 0x01, // zigzag varint of 15000 = 30000
            0x30, 0x97, 0xFF, 0xE0, 0x01, 0x76, 0x03, // bit-packed, see the doc
        ];
        assert_eq!(c.bytes(), want, "got {:02X?}", c.bytes());
        assert_eq!(c.first_time(), Some(1000));
        assert_eq!(c.last_time(), Some(46_005));
    }

    #[test]
    fn special_values_round_trip_bit_exact() {
        let specials = [
            stale_nan(),
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 2.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
        ];
        let samples: Vec<(i64, f64)> = (0i64..).zip(specials).map(|(i, v)| (i * 15_000, v)).collect();
        assert_round_trip(&samples);
        // Each value in first position too, where it is stored raw rather than XORed.
        for &v in &specials {
            assert_round_trip(&[(0, v), (1, v), (2, 1.0), (3, v)]);
        }
    }

    #[test]
    fn stale_marker_survives_between_ordinary_values() {
        let samples = [(0, 1.0), (15_000, 2.0), (30_000, stale_nan()), (45_000, 3.0)];
        assert_round_trip(&samples);
        let decoded: Vec<Sample> = encode(&samples).iter().collect();
        assert_eq!(decoded[2].v.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn equal_deltas_cost_one_bit_of_timestamp() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, 7.0)).collect();
        assert_round_trip(&samples);
        // After the header: t=0 as a 1-byte varint and 64 value bits, the 15 s delta as a
        // 3-byte varint and a '0' for the unchanged value, then '0' + '0' for every later sample.
        let bits: usize = 8 + 64 + 24 + 1 + 118 * 2;
        assert_eq!(encode(&samples).bytes().len(), HEADER_LEN + bits.div_ceil(8));
    }

    #[test]
    fn every_delta_of_delta_bucket_edge_round_trips() {
        let mut dods = vec![0i64, 1, -1];
        for nbits in [14u32, 17, 20] {
            let half = 1i64 << (nbits - 1);
            dods.extend([half - 1, -half, half, -half - 1]);
        }
        dods.extend([i64::MAX, i64::MIN, i64::MIN + 1]);
        let mut t = 0i64;
        let mut delta = 15_000i64;
        let mut samples = vec![(t, 0.0)];
        for (i, dod) in (1i64..).zip(&dods) {
            delta = delta.wrapping_add(*dod);
            t = t.wrapping_add(delta);
            samples.push((t, i as f64));
        }
        samples.push((t.wrapping_add(delta), -1.0));
        assert_round_trip(&samples);
    }

    #[test]
    fn extreme_and_decreasing_timestamps_round_trip() {
        assert_round_trip(&[(i64::MIN, 1.0), (i64::MAX, 2.0), (i64::MIN, 3.0), (0, 4.0)]);
        assert_round_trip(&[(i64::MAX, 1.0), (i64::MIN, 2.0), (i64::MAX, 3.0), (i64::MAX, 4.0)]);
        assert_round_trip(&[(100, 1.0), (50, 1.0), (0, 1.0), (-50, 1.0), (-1_000_000, 1.0)]);
    }

    #[test]
    fn value_window_reuse_and_renewal() {
        // Alternating patterns force the window to be reused, widened and narrowed.
        assert_round_trip(&[
            (0, 1.0),
            (1, 1.5),
            (2, 1.25),
            (3, 1.0),
            (4, 1e300),
            (5, 1.0),
            (6, f64::from_bits(1.0f64.to_bits() ^ 1)),
            (7, f64::from_bits(1.0f64.to_bits() ^ (1 << 63))),
            (8, f64::from_bits(!1.0f64.to_bits())),
        ]);
    }

    #[test]
    fn full_chunk_refuses_and_stays_intact() {
        let mut c = XorChunk::new();
        for i in 0..XorChunk::MAX_SAMPLES {
            c.append(i64::from(i) * 1000, f64::from(i)).expect("room below the maximum");
        }
        assert!(c.is_full());
        let before = c.bytes().to_vec();
        assert_eq!(c.append(1, 1.0), Err(ChunkError::Full));
        assert_eq!(c.bytes(), &before[..]);
        assert_eq!(c.len(), u16::MAX);
        let mut it = c.iter();
        assert_eq!(it.by_ref().count(), usize::from(u16::MAX));
        assert_eq!(it.err(), None);
    }

    #[test]
    fn too_short_for_a_header_is_an_error() {
        assert_eq!(XorIter::new(&[][..]).err(), Some(ChunkError::MissingHeader { len: 0 }));
        assert_eq!(XorIter::new(vec![1u8]).err(), Some(ChunkError::MissingHeader { len: 1 }));
    }

    #[test]
    fn every_truncation_decodes_a_prefix_then_reports() {
        let samples: Vec<(i64, f64)> = (0..50)
            .map(|i| (i * 15_000 + (i % 7) * 13, f64::from(i as i32).sqrt()))
            .chain([(i64::MAX, stale_nan()), (0, f64::NAN)])
            .collect();
        let chunk = encode(&samples);
        let full = chunk.bytes();
        for cut in HEADER_LEN..full.len() {
            let mut it = XorIter::new(&full[..cut]).expect("header present");
            let got: Vec<Sample> = it.by_ref().collect();
            assert!(got.len() < samples.len(), "cut at {cut} still decoded everything");
            for (g, &(t, v)) in got.iter().zip(&samples) {
                assert!(g.bit_eq(&Sample::new(t, v)));
            }
            assert!(matches!(it.err(), Some(ChunkError::Truncated { .. })), "cut at {cut}: {:?}", it.err());
            assert_eq!(it.next(), None, "iterator stays finished");
        }
    }

    #[test]
    fn header_claiming_more_samples_than_present_is_truncated() {
        let mut bytes = encode(&[(0, 1.0), (1, 2.0)]).bytes().to_vec();
        bytes[1] = 200;
        let mut it = XorIter::new(bytes).expect("header present");
        assert_eq!(it.by_ref().count(), 2);
        assert!(matches!(it.err(), Some(ChunkError::Truncated { sample: 2, count: 200, .. })));
    }

    #[test]
    fn corrupt_window_and_varint_are_reported() {
        // Second sample: delta 0 ('00' varint byte), then '11', leading 31, significant 63.
        let mut w = BitWriter::with_prefix(vec![0, 2]);
        write_varint(&mut w, 0);
        w.write_bits(0, 64);
        write_varint(&mut w, 0);
        w.write_bits(0b11, 2);
        w.write_bits(31, 5);
        w.write_bits(63, 6);
        w.write_bits(0, 64);
        let mut it = XorIter::new(w.bytes()).expect("header present");
        assert_eq!(it.by_ref().count(), 1);
        assert!(matches!(it.err(), Some(ChunkError::Corrupt { sample: 1, .. })));

        // Reusing a window that was never set.
        let mut w = BitWriter::with_prefix(vec![0, 2]);
        write_varint(&mut w, 0);
        w.write_bits(0, 64);
        write_varint(&mut w, 0);
        w.write_bits(0b10, 2);
        w.write_bits(0, 64);
        let mut it = XorIter::new(w.bytes()).expect("header present");
        assert_eq!(it.by_ref().count(), 1);
        assert!(matches!(it.err(), Some(ChunkError::Corrupt { sample: 1, .. })));

        let mut bytes = vec![0, 1];
        bytes.extend([0xFF; 10]);
        bytes.extend([0; 8]);
        let mut it = XorIter::new(bytes).expect("header present");
        assert_eq!(it.next(), None);
        assert!(matches!(it.err(), Some(ChunkError::Corrupt { sample: 0, .. })));
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for n in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn snapshot_of_a_growing_chunk_decodes_what_it_had() {
        let mut c = encode(&[(0, 1.0), (10, 2.0)]);
        let snapshot: Arc<[u8]> = Arc::from(c.bytes());
        c.append(20, 3.0).expect("room");
        let got: Vec<Sample> = XorIter::new(snapshot).expect("header").collect();
        assert_eq!(got, vec![Sample::new(0, 1.0), Sample::new(10, 2.0)]);
        assert_eq!(c.iter().count(), 3);
    }

    /// Values drawn from every bit pattern, proptest's float classes and a few specials.
    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            any::<f64>(),
            Just(stale_nan()),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-1000i32..1000).prop_map(f64::from),
        ]
    }

    /// Timestamp steps aimed at every delta-of-delta bucket, plus arbitrary jumps.
    fn any_step() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(15_000i64),
            -10_000i64..10_000,
            -70_000i64..70_000,
            -600_000i64..600_000,
            any::<i64>(),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_samples_round_trip(
            samples in prop::collection::vec((any::<i64>(), any_value()), 0..200),
        ) {
            assert_round_trip(&samples);
        }

        #[test]
        fn arbitrary_steps_round_trip(
            start in any::<i64>(),
            steps in prop::collection::vec((any_step(), any_value()), 0..300),
        ) {
            let mut t = start;
            let samples: Vec<(i64, f64)> = steps
                .into_iter()
                .map(|(step, v)| { t = t.wrapping_add(step); (t, v) })
                .collect();
            assert_round_trip(&samples);
        }

        #[test]
        fn counter_with_jittered_scrapes_round_trips(
            start in 0i64..4_000_000_000_000,
            scrapes in prop::collection::vec((-500i64..500, 0u32..10_000, any::<bool>()), 1..240),
        ) {
            let mut v = 0.0f64;
            let samples: Vec<(i64, f64)> = (0i64..)
                .zip(scrapes)
                .map(|(i, (jitter, inc, fractional))| {
                    v += if fractional { f64::from(inc) / 7.0 } else { f64::from(inc) };
                    (start + i * 15_000 + jitter, v)
                })
                .collect();
            assert_round_trip(&samples);
        }

        #[test]
        fn random_walk_gauge_round_trips(
            start in any::<i64>(),
            interval in 1i64..120_000,
            first in -1e6f64..1e6,
            moves in prop::collection::vec(-100.0f64..100.0, 1..240),
        ) {
            let mut v = first;
            let samples: Vec<(i64, f64)> = (0i64..)
                .zip(moves)
                .map(|(i, step)| {
                    v += step;
                    (start.wrapping_add(i.wrapping_mul(interval)), v)
                })
                .collect();
            assert_round_trip(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(mut it) = XorIter::new(&bytes[..]) {
                let claimed = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                let n = it.by_ref().count();
                prop_assert!(n <= claimed);
                prop_assert!(n == claimed || it.err().is_some());
            }
        }

        #[test]
        fn flipped_bits_never_panic(
            samples in prop::collection::vec((any_step(), any_value()), 1..100),
            flips in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        ) {
            let chunk = encode(&samples);
            let mut bytes = chunk.bytes().to_vec();
            let nbits = bytes.len() * 8;
            for f in flips {
                let bit = f.index(nbits);
                bytes[bit / 8] ^= 0x80 >> (bit % 8);
            }
            if let Ok(it) = XorIter::new(bytes) {
                prop_assert!(it.count() <= usize::from(u16::MAX));
            }
        }
    }
}
