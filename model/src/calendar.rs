//! UTC calendar arithmetic (proleptic Gregorian, Howard Hinnant's day algorithms) and RFC 3339
//! timestamps with nanoseconds, as the Prometheus and Loki APIs read and write them.

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Days since 1970-01-01 of a date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01; exact for every
/// day an `i64` of seconds can reach.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to nanoseconds since the epoch (fraction digits
/// past nine are ignored); `None` when malformed or out of range.
pub fn parse_rfc3339_nanos(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        nanos = format!("{:0<9}", &fraction[..digits.min(9)]).parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            if ![h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(nanos)
}

/// Nanoseconds since the epoch as RFC 3339 in UTC, with the fraction's trailing zeros left
/// out (Go's `RFC3339Nano`): `2026-11-25T12:00:00.5Z`.
pub fn format_rfc3339_nanos(nanos: i64) -> String {
    let (seconds, fraction) = (nanos.div_euclid(NANOS_PER_SECOND), nanos.rem_euclid(NANOS_PER_SECOND));
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if fraction > 0 {
        text.push_str(format!(".{fraction:09}").trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_convert_both_ways() {
        for days in [-719_468, -1, 0, 1, 59, 11_016, 20_412, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn rfc3339_parses_offsets_and_fractions_and_formats_back() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:01Z"), Some(NANOS_PER_SECOND));
        assert_eq!(parse_rfc3339_nanos("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000_123_456_789));
        assert_eq!(parse_rfc3339_nanos("2023-11-14T23:13:20.5+01:00"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_rfc3339_nanos("1969-12-31T23:59:59Z"), Some(-NANOS_PER_SECOND));
        for bad in ["", "2023-13-01T00:00:00Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z", "abc"] {
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
        }
        assert_eq!(format_rfc3339_nanos(1_700_000_000_500_000_000), "2023-11-14T22:13:20.5Z");
        assert_eq!(format_rfc3339_nanos(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        for nanos in [0, 1, 1_700_000_000_123_456_789, -86_400 * NANOS_PER_SECOND * 365] {
            assert_eq!(parse_rfc3339_nanos(&format_rfc3339_nanos(nanos)), Some(nanos));
        }
    }
}
