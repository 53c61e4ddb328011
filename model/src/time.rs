//! Time ranges, Prometheus duration strings (`1h30m`, `15s`, `500ms`) and byte sizes
//! (`32MiB`), as used in config files and API parameters.

use std::time::Duration;

use crate::Timestamp;

/// A closed interval of milliseconds since the epoch, `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub min: Timestamp,
    pub max: Timestamp,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange { min: i64::MIN, max: i64::MAX };

    pub const fn new(min: Timestamp, max: Timestamp) -> Self {
        Self { min, max }
    }

    pub fn contains(&self, t: Timestamp) -> bool {
        self.min <= t && t <= self.max
    }

    /// Whether `[min, max]` shares at least one instant with this range.
    pub fn overlaps(&self, min: Timestamp, max: Timestamp) -> bool {
        min <= self.max && self.min <= max
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseError {
    what: &'static str,
    input: String,
    reason: &'static str,
}

impl ParseError {
    fn new(what: &'static str, input: &str, reason: &'static str) -> Self {
        Self { what, input: input.to_string(), reason }
    }
}

/// Parses a Prometheus duration: one or more `<integer><unit>` terms, units `y w d h m s ms`,
/// largest first, e.g. `1h30m`. A year is 365 days, as in Prometheus.
pub fn parse_duration(input: &str) -> Result<Duration, ParseError> {
    const UNITS: [(&str, u64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let err = |reason| ParseError::new("duration", input, reason);
    if input.is_empty() {
        return Err(err("empty"));
    }
    let mut rest = input;
    let mut total_ms: u64 = 0;
    let mut last_unit_ms = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| err("number too large"))?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let (unit, unit_ms) = UNITS
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .ok_or_else(|| err("expected a unit (ms, s, m, h, d, w, y)"))?;
        if *unit_ms >= last_unit_ms {
            return Err(err("units must go from largest to smallest, each at most once"));
        }
        last_unit_ms = *unit_ms;
        rest = &rest[unit.len()..];
        total_ms = number
            .checked_mul(*unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| err("duration too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `0s`).
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, unit_ms) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= unit_ms {
            out.push_str(&format!("{}{unit}", ms / unit_ms));
            ms %= unit_ms;
        }
    }
    out
}

/// Parses a byte size: an integer with an optional unit `B`, `KB`, `MB`, `GB`, `TB` (powers of
/// 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024).
pub fn parse_size(input: &str) -> Result<u64, ParseError> {
    let err = |reason| ParseError::new("size", input, reason);
    let trimmed = input.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(err("expected a number"));
    }
    let number: u64 = trimmed[..digits].parse().map_err(|_| err("number too large"))?;
    let multiplier: u64 = match trimmed[digits..].trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(err("unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")),
    };
    number.checked_mul(multiplier).ok_or_else(|| err("size too large"))
}

/// Milliseconds since the epoch of a `SystemTime`.
pub fn timestamp_of(time: std::time::SystemTime) -> Timestamp {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Timestamp,
        Err(e) => -(e.duration().as_millis() as Timestamp),
    }
}

/// The current time in milliseconds since the epoch.
pub fn now() -> Timestamp {
    timestamp_of(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m5s10ms").unwrap(), Duration::from_millis(65_010));
        assert_eq!(parse_duration("1y").unwrap(), Duration::from_secs(365 * 86_400));
        for bad in ["", "5", "s", "1x", "5s1m", "1m1m", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_formatting_round_trips() {
        for s in ["0s", "1h30m", "15s", "1d2h", "500ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("4 KiB").unwrap(), 4096);
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1 parsec").is_err());
    }

    #[test]
    fn ranges() {
        let r = TimeRange::new(10, 20);
        assert!(r.contains(10) && r.contains(20) && !r.contains(21));
        assert!(r.overlaps(20, 30) && !r.overlaps(21, 30) && r.overlaps(0, 10));
    }
}

/// A duration written in config files as a Prometheus duration string (`"2h"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map(HumanDuration).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

/// A byte count written in config files as a size string (`"32MiB"`) or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => parse_size(&text).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}
