//! A float sample and the Prometheus staleness marker.

/// Milliseconds since the Unix epoch, as Prometheus counts time.
pub type Timestamp = i64;

/// One float sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    pub v: f64,
}

impl Sample {
    pub const fn new(t: Timestamp, v: f64) -> Self {
        Self { t, v }
    }

    /// True when both the timestamp and the exact bit pattern of the value are equal, so NaNs
    /// (and the stale marker in particular) compare equal to themselves.
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// Bit pattern Prometheus writes as a sample value to say "this series has ended".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`; compare with [`is_stale_nan`], never with `==`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True only for the exact staleness-marker NaN, not for other NaNs.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_nan_distinct_from_ordinary_nan() {
        assert!(stale_nan().is_nan());
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn bit_eq_treats_identical_nans_as_equal() {
        let a = Sample::new(1, stale_nan());
        assert!(a.bit_eq(&a));
        assert!(!a.bit_eq(&Sample::new(1, f64::NAN)));
    }
}
