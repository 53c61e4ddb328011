//! Bit-level writing and reading of byte buffers, the substrate of the Gorilla chunk encoding.
//!
//! Bits are packed most-significant first: the first bit written lands in bit 7 of byte 0.
//! [`BitWriter`] appends to a `Vec<u8>`; [`BitReader`] walks a borrowed `&[u8]` and answers
//! `None` when the data runs out, so a truncated or corrupt chunk can never make a decoder panic.
//! This module knows nothing about samples, headers or varints' meaning; it does no I/O.

/// Appends bits to an owned byte buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Low bits of the last byte of `buf` still free for writing; 0 means the next bit needs a
    /// new byte. Free bits are always zero, which lets writes OR into place.
    free: u8,
}

impl BitWriter {
    /// Continues after `prefix`, byte-aligned, so a caller can reserve a fixed header in front of
    /// the bit stream and patch it in place later via [`BitWriter::bytes_mut`].
    pub(crate) fn with_prefix(prefix: Vec<u8>) -> Self {
        Self { buf: prefix, free: 0 }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Mutable access to already written bytes; meant for patching a header, not for bits.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    pub(crate) fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Writes the low `nbits` bits of `value`, most significant first. Higher bits of `value`
    /// are ignored, so callers may pass sign-extended negatives and get their two's complement
    /// truncation.
    pub(crate) fn write_bits(&mut self, value: u64, nbits: u8) {
        debug_assert!(nbits <= 64, "cannot write {nbits} bits from a u64");
        let mut remaining = nbits.min(64);
        let value = value & low_mask(remaining);
        // Top up the partly written last byte first; after that the stream is byte-aligned and
        // the rest goes out a whole byte at a time, which is what keeps appends cheap.
        if self.free > 0 && remaining > 0 {
            let take = remaining.min(self.free);
            // The shifted value has at most `free` (< 8) significant bits, so `as u8` is exact.
            let piece = (value >> (remaining - take)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= piece << (self.free - take);
            }
            self.free -= take;
            remaining -= take;
        }
        while remaining >= 8 {
            remaining -= 8;
            // Truncation to the low byte is the point here.
            self.buf.push((value >> remaining) as u8);
        }
        if remaining > 0 {
            self.buf.push((value << (8 - remaining)) as u8);
            self.free = 8 - remaining;
        }
    }
}

/// Reads bits from a borrowed byte slice, starting at any bit offset.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Offset of the next bit to read, counted from bit 7 of byte 0.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at bit `pos` of `data`. A position past the end is allowed and simply
    /// yields no bits.
    pub(crate) fn at(data: &'a [u8], pos: usize) -> Self {
        Self { data, pos }
    }

    /// Bit offset of the next read; store it to resume later with [`BitReader::at`].
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        // Eight bits never exceed a u8, so the narrowing is exact.
        self.read_bits(8).map(|b| b as u8)
    }

    /// Reads `nbits` (at most 64) bits as the low bits of a `u64`. On running out of data it
    /// returns `None` and consumes nothing, so the position still points at the failed read.
    pub(crate) fn read_bits(&mut self, nbits: u8) -> Option<u64> {
        debug_assert!(nbits <= 64, "cannot read {nbits} bits into a u64");
        let nbits = nbits.min(64);
        if nbits == 0 {
            return Some(0);
        }
        let end = self.pos.checked_add(usize::from(nbits))?;
        if end > self.data.len().saturating_mul(8) {
            return None;
        }
        let offset = self.pos % 8;
        if usize::from(nbits) + offset > 64 {
            // One 8-byte window cannot hold the bits; split the read. Both halves are in range
            // because the whole read was checked above.
            let high = self.read_bits(nbits - 32)?;
            let low = self.read_bits(32)?;
            return Some((high << 32) | low);
        }
        // Load the 8 bytes holding the bits into one word and cut the bits out of it, instead
        // of assembling them byte by byte.
        let word = load_be_u64(self.data.get(self.pos / 8..)?);
        self.pos = end;
        Some((word << offset) >> (64 - u32::from(nbits)))
    }
}

/// The first 8 bytes of `bytes` as a big-endian word, zero-padded when fewer remain.
fn load_be_u64(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(word) => u64::from_be_bytes(*word),
        None => {
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            u64::from_be_bytes(word)
        }
    }
}

/// A mask of the low `n` bits, for `n` in 0..=64.
fn low_mask(n: u8) -> u64 {
    u64::MAX.checked_shr(64 - u32::from(n)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bits_are_packed_most_significant_first() {
        let mut w = BitWriter::default();
        w.write_bit(true);
        w.write_bits(0b01, 2);
        w.write_bits(0b10110, 5);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0b1011_0110, 0b1000_0000]);
    }

    #[test]
    fn write_bits_ignores_bits_above_nbits() {
        let mut w = BitWriter::default();
        w.write_bits(u64::MAX, 3);
        w.write_bits((-2i64) as u64, 5);
        assert_eq!(w.bytes(), &[0b1111_1110]);
    }

    #[test]
    fn prefix_is_kept_and_writing_starts_after_it() {
        let mut w = BitWriter::with_prefix(vec![0xAB, 0xCD]);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0xAB, 0xCD, 0x80]);
        w.bytes_mut()[0] = 0;
        assert_eq!(w.bytes(), &[0x00, 0xCD, 0x80]);
    }

    #[test]
    fn round_trips_mixed_widths_across_byte_boundaries() {
        let fields: &[(u64, u8)] = &[
            (1, 1),
            (0x3FFF, 14),
            (0, 0),
            (0xDEAD_BEEF_CAFE_F00D, 64),
            (0x5A, 8),
            (0, 3),
            (0x1_2345, 17),
            (u64::MAX, 64),
        ];
        let mut w = BitWriter::default();
        for &(v, n) in fields {
            w.write_bits(v, n);
        }
        let mut r = BitReader::at(w.bytes(), 0);
        for &(v, n) in fields {
            assert_eq!(r.read_bits(n), Some(v), "field of {n} bits");
        }
    }

    #[test]
    fn reads_past_the_end_return_none_without_moving() {
        let data = [0xFF, 0x00];
        let mut r = BitReader::at(&data, 12);
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.position(), 12);
        assert_eq!(r.read_bits(4), Some(0));
        assert_eq!(r.read_bit(), None);
        assert_eq!(r.read_byte(), None);
        assert_eq!(BitReader::at(&[], 0).read_bits(0), Some(0));
        assert_eq!(BitReader::at(&data, usize::MAX).read_bits(1), None);
    }

    #[test]
    fn unaligned_byte_reads_straddle_bytes() {
        let mut w = BitWriter::default();
        w.write_bit(false);
        w.write_byte(0xC3);
        let mut r = BitReader::at(w.bytes(), 0);
        assert_eq!(r.read_bit(), Some(false));
        assert_eq!(r.read_byte(), Some(0xC3));
    }

    #[test]
    fn low_mask_covers_every_width() {
        assert_eq!(low_mask(0), 0);
        assert_eq!(low_mask(1), 1);
        assert_eq!(low_mask(8), 0xFF);
        assert_eq!(low_mask(63), u64::MAX >> 1);
        assert_eq!(low_mask(64), u64::MAX);
    }

    proptest! {
        #[test]
        fn arbitrary_fields_round_trip(
            fields in prop::collection::vec((any::<u64>(), 0u8..=64), 0..100),
        ) {
            let mut w = BitWriter::with_prefix(vec![0x5A]);
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            let total: usize = fields.iter().map(|&(_, n)| usize::from(n)).sum();
            prop_assert_eq!(w.bytes().len(), 1 + total.div_ceil(8));
            let mut r = BitReader::at(w.bytes(), 8);
            for &(v, n) in &fields {
                prop_assert_eq!(r.read_bits(n), Some(v & low_mask(n)));
            }
            prop_assert_eq!(r.position(), 8 + total);
            // Only zero padding is left, and nothing past the last byte.
            let pad = w.bytes().len() * 8 - r.position();
            prop_assert_eq!(r.read_bits(pad as u8), Some(0));
            prop_assert_eq!(r.read_bit(), None);
        }

        #[test]
        fn reads_anywhere_agree_with_bit_by_bit(
            data in prop::collection::vec(any::<u8>(), 0..24),
            pos in 0usize..200,
            n in 0u8..=64,
        ) {
            let fast = BitReader::at(&data, pos).read_bits(n);
            let mut slow = BitReader::at(&data, pos);
            let mut want = Some(0u64);
            for _ in 0..n {
                want = match (want, slow.read_bit()) {
                    (Some(acc), Some(bit)) => Some((acc << 1) | u64::from(bit)),
                    _ => None,
                };
            }
            prop_assert_eq!(fast, want);
        }
    }
}
