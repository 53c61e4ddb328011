//! The packed chunk encoding of blocks: exact, and several times smaller than XOR for the
//! values metrics usually carry (layout in `tsdb/docs/format/chunk.md`).
//!
//! Timestamps are stored as deltas (a regular interval costs no bits at all, jitter a few);
//! values as integers in one of two forms, chosen per chunk:
//!
//! - **scaled**: every value is an integer count of `10^-k` (`v == m / 10^k` exactly, as
//!   `f64`), and the integers are stored as deltas. Gauges and counters read from text
//!   exposition (`12345.67`) take this form.
//! - **running sum**: every value is its predecessor plus a short decimal
//!   (`v[i] == v[i-1] + d / 10^k` exactly, as `f64`), and the `d` are stored. Counters summed
//!   in floating point drift off short decimals but stay on this form.
//!
//! Both are checked value by value with the exact operations the decoder performs, so decoding
//! gives back the same bits. Integers go into *miniblocks* of 32: the smallest value, a bit
//! width, and every value minus the smallest in that many bits. A chunk whose values fit
//! neither form (NaN, staleness markers, infinities, values with long fractions) is not
//! packed: [`encode`] returns `None` and the caller keeps the XOR encoding.

use argus_model::Sample;

use super::bstream::BitWriter;
use crate::encoding::{Decoder, put_uvarint, put_varint};

/// Values per miniblock.
const MINIBLOCK: usize = 128;
/// Most samples a packed chunk may hold (a bound for decoders, far above what blocks write).
const MAX_SAMPLES: usize = 1 << 16;
/// Largest decimal exponent tried.
const MAX_SCALE: u8 = 9;
/// Integers beyond this are not all exact as `f64`.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

const MODE_SCALED: u8 = 0;
const MODE_RUNNING_SUM: u8 = 1;

/// Encodes `samples` (time-ordered, at least one), or `None` when the values fit neither form.
pub(crate) fn encode(samples: &[Sample]) -> Option<Vec<u8>> {
    let first = samples.first()?;
    let (mode, scale, ints) = scaled(samples).or_else(|| running_sum(samples))?;
    let mut out = Vec::with_capacity(samples.len() * 2 + 16);
    put_uvarint(&mut out, samples.len() as u64);
    put_varint(&mut out, first.t);
    let deltas: Vec<i64> = samples.windows(2).map(|w| w[1].t.wrapping_sub(w[0].t)).collect();
    put_miniblocks(&mut out, &deltas);
    out.push(mode);
    out.push(scale);
    match mode {
        MODE_SCALED => put_varint(&mut out, ints[0]),
        _ => out.extend_from_slice(&first.v.to_bits().to_le_bytes()),
    }
    put_miniblocks(&mut out, &ints[1..]);
    Some(out)
}

/// `(MODE_SCALED, k, [m0, m1 - m0, m2 - m1, …])` for the smallest `k` that makes every value an
/// exact integer count of `10^-k`. Scales are tried without allocating; most fail on the
/// first sample.
fn scaled(samples: &[Sample]) -> Option<(u8, u8, Vec<i64>)> {
    let fits = |factor: f64| samples.iter().all(|s| scaled_int(s.v, factor).is_some());
    let scale = (0..=MAX_SCALE).find(|&scale| fits(pow10(scale)))?;
    let factor = pow10(scale);
    let mut previous = 0i64;
    let ints = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let m = scaled_int(s.v, factor).expect("checked above");
            let int = if i == 0 { m } else { m.wrapping_sub(previous) };
            previous = m;
            int
        })
        .collect();
    Some((MODE_SCALED, scale, ints))
}

/// `v` as an integer count of `1 / factor`, if that is exact.
fn scaled_int(v: f64, factor: f64) -> Option<i64> {
    let m = (v * factor).round();
    (exact_integer(m) && unscale(m as i64, factor).to_bits() == v.to_bits()).then_some(m as i64)
}

/// `(MODE_RUNNING_SUM, k, [0, d1, d2, …])` for the smallest `k` that makes every step an exact
/// addition of `d / 10^k`.
fn running_sum(samples: &[Sample]) -> Option<(u8, u8, Vec<i64>)> {
    if !samples[0].v.is_finite() {
        return None;
    }
    let fits = |factor: f64| samples.windows(2).all(|w| step_int(w[0].v, w[1].v, factor).is_some());
    let scale = (0..=MAX_SCALE).find(|&scale| fits(pow10(scale)))?;
    let factor = pow10(scale);
    let steps = samples.windows(2).map(|w| step_int(w[0].v, w[1].v, factor).expect("checked above"));
    Some((MODE_RUNNING_SUM, scale, std::iter::once(0).chain(steps).collect()))
}

/// The step from `from` to `to` as an integer count of `1 / factor`, if adding it is exact.
fn step_int(from: f64, to: f64, factor: f64) -> Option<i64> {
    let d = ((to - from) * factor).round();
    (exact_integer(d) && (from + unscale(d as i64, factor)).to_bits() == to.to_bits()).then_some(d as i64)
}

/// Whether a rounded `f64` is an integer every `i64` and `f64` conversion keeps exact (false
/// for NaN and infinities).
fn exact_integer(x: f64) -> bool {
    x.abs() < MAX_EXACT
}

fn pow10(scale: u8) -> f64 {
    10f64.powi(i32::from(scale))
}

/// `m / 10^scale` (`divisor` = `10^scale`) as the encoder checks it and the decoder computes
/// it; dividing by 1 is exact, so scale 0 needs no case of its own.
fn unscale(m: i64, divisor: f64) -> f64 {
    m as f64 / divisor
}

/// Why a packed chunk could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packed chunk is malformed")]
pub struct PackedError;

/// Decodes a whole packed chunk into `out` (cleared first).
pub(crate) fn decode(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), PackedError> {
    out.clear();
    let mut decoder = Decoder::new(bytes);
    let count = decoder.uvarint().ok_or(PackedError)? as usize;
    // Regular samples cost no bits at all, so the length says nothing about the count.
    if count == 0 || count > MAX_SAMPLES {
        return Err(PackedError);
    }
    out.reserve(count);
    let mut t = decoder.varint().ok_or(PackedError)?;
    out.push(Sample::new(t, 0.0));
    each_value(&mut decoder, count - 1, |delta| {
        t = t.wrapping_add(delta);
        out.push(Sample::new(t, 0.0));
    })?;
    let (mode, scale) = (decoder.u8().ok_or(PackedError)?, decoder.u8().ok_or(PackedError)?);
    if scale > MAX_SCALE {
        return Err(PackedError);
    }
    let mut samples = out.iter_mut();
    let mut set = |v: f64| {
        if let Some(sample) = samples.next() {
            sample.v = v;
        }
    };
    let divisor = pow10(scale);
    match mode {
        MODE_SCALED => {
            let mut m = decoder.varint().ok_or(PackedError)?;
            set(unscale(m, divisor));
            each_value(&mut decoder, count - 1, |delta| {
                m = m.wrapping_add(delta);
                set(unscale(m, divisor));
            })
        }
        MODE_RUNNING_SUM => {
            let mut v = f64::from_bits(decoder.u64_le().ok_or(PackedError)?);
            set(v);
            each_value(&mut decoder, count - 1, |d| {
                v += unscale(d, divisor);
                set(v);
            })
        }
        _ => Err(PackedError),
    }
}

/// Writes `values` as miniblocks: `min` varint, `width` u8, then `width` bits per value.
fn put_miniblocks(out: &mut Vec<u8>, values: &[i64]) {
    for block in values.chunks(MINIBLOCK) {
        let min = *block.iter().min().expect("chunks are never empty");
        let width =
            block.iter().map(|&v| 64 - (v.wrapping_sub(min) as u64).leading_zeros()).max().unwrap_or(0) as u8;
        put_varint(out, min);
        out.push(width);
        let mut bits = BitWriter::with_prefix(std::mem::take(out));
        for &v in block {
            bits.write_bits(v.wrapping_sub(min) as u64, width);
        }
        *out = bits.into_bytes();
    }
}

/// Calls `visit` with each of `count` values stored as miniblocks.
fn each_value(
    decoder: &mut Decoder<'_>,
    count: usize,
    mut visit: impl FnMut(i64),
) -> Result<(), PackedError> {
    let mut left = count;
    while left > 0 {
        let n = left.min(MINIBLOCK);
        let min = decoder.varint().ok_or(PackedError)?;
        let width = decoder.u8().ok_or(PackedError)?;
        if width > 64 {
            return Err(PackedError);
        }
        let bytes = decoder.bytes((n * usize::from(width)).div_ceil(8)).ok_or(PackedError)?;
        unpack(bytes, width, n, |offset| visit(min.wrapping_add(offset as i64)));
        left -= n;
    }
    Ok(())
}

/// Calls `visit` with the `n` values of `width` bits packed most significant bit first in
/// `bytes`, which holds at least `n × width` bits.
fn unpack(bytes: &[u8], width: u8, n: usize, mut visit: impl FnMut(u64)) {
    if width == 0 {
        (0..n).for_each(|_| visit(0));
        return;
    }
    let width = u32::from(width);
    let mask = u64::MAX >> (64 - width);
    // Up to 64 + 7 bits wait in the reservoir: the width plus what the last byte brought.
    let (mut reservoir, mut held) = (0u128, 0u32);
    let mut bytes = bytes.iter();
    for _ in 0..n {
        while held < width {
            reservoir = (reservoir << 8) | u128::from(bytes.next().copied().unwrap_or(0));
            held += 8;
        }
        held -= width;
        visit((reservoir >> held) as u64 & mask);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(samples: &[Sample]) -> Option<Vec<u8>> {
        let bytes = encode(samples)?;
        let mut decoded = Vec::new();
        decode(&bytes, &mut decoded).expect("decodes");
        assert_eq!(decoded.len(), samples.len());
        for (got, want) in decoded.iter().zip(samples) {
            assert_eq!((got.t, got.v.to_bits()), (want.t, want.v.to_bits()));
        }
        Some(bytes)
    }

    #[test]
    fn decimal_gauges_and_float_summed_counters_pack_small() {
        // As parsed from text exposition: the nearest double of a short decimal.
        let gauge: Vec<Sample> = (0..120)
            .map(|i| {
                Sample::new(1_000_000 + i * 15_000 + i % 3, format!("12345.6{}", i % 7).parse().unwrap())
            })
            .collect();
        let bytes = round_trip(&gauge).expect("a decimal gauge packs");
        assert!(bytes.len() < 120 * 2, "{} bytes", bytes.len());

        let mut v = 0.0;
        let counter: Vec<Sample> = (0..120)
            .map(|i| {
                v += ((i * 7919) % 1000) as f64 / 10.0;
                Sample::new(i * 15_000, v)
            })
            .collect();
        let bytes = round_trip(&counter).expect("a float-summed counter packs");
        assert!(bytes.len() < 120 * 2, "{} bytes", bytes.len());
    }

    #[test]
    fn perfectly_regular_chunks_take_a_few_bytes() {
        let samples: Vec<Sample> = (0..120).map(|i| Sample::new(i * 60_000, 0.5 * i as f64)).collect();
        let bytes = round_trip(&samples).unwrap();
        assert!(bytes.len() < 16, "{} bytes", bytes.len());
    }

    #[test]
    fn values_that_fit_neither_form_are_left_to_xor() {
        let stale = [Sample::new(0, 1.0), Sample::new(1, argus_model::stale_nan())];
        assert_eq!(encode(&stale), None);
        let irrational = [Sample::new(0, std::f64::consts::PI), Sample::new(1, std::f64::consts::E)];
        assert_eq!(encode(&irrational), None);
        // -0 is no integer count (0 would lose the sign), but a running sum starts from raw bits.
        round_trip(&[Sample::new(0, -0.0), Sample::new(1, 1.0)]).expect("packs as a running sum");
    }

    #[test]
    fn truncated_chunks_fail_cleanly() {
        let samples: Vec<Sample> = (0..50).map(|i| Sample::new(i * 1000, i as f64)).collect();
        let bytes = encode(&samples).unwrap();
        let mut out = Vec::new();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &mut out).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn whatever_packs_decodes_bit_exactly(
            start in any::<i64>(),
            steps in prop::collection::vec((0i64..100_000, -1_000_000i64..1_000_000, 0u8..4), 1..200),
        ) {
            let mut t = start;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|&(dt, m, scale)| {
                    t = t.wrapping_add(dt);
                    Sample::new(t, m as f64 / 10f64.powi(i32::from(scale)))
                })
                .collect();
            round_trip(&samples);
        }

        #[test]
        fn arbitrary_floats_either_pack_exactly_or_are_refused(values in prop::collection::vec(any::<f64>(), 1..50)) {
            let samples: Vec<Sample> = values.iter().enumerate().map(|(i, &v)| Sample::new(i as i64, v)).collect();
            round_trip(&samples);
        }
    }
}
