//! Element-wise PromQL functions of one float: the math and trigonometric functions,
//! `round`, `clamp`, `min_of`/`max_of` and the calendar functions (`year()`, `hour()`, …).
//!
//! The evaluator applies them to every float sample of a vector (histogram samples are
//! skipped by the evaluator, as in Prometheus) and decides about the metric name; this module
//! only computes values.

use argus_model::calendar::civil_from_days;

use super::stats::{go_max, go_min};

/// The element-wise function called `name`: `abs ceil floor exp sqrt ln log2 log10 sgn`, the
/// trigonometric functions `acos acosh asin asinh atan atanh cos cosh sin sinh tan tanh`,
/// `deg` and `rad`. `None` for any other name.
pub(crate) fn simple_function(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => sgn,
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => deg,
        "rad" => rad,
        _ => return None,
    };
    Some(f)
}

/// `sgn`: -1 or 1 by sign; zeros (keeping their sign) and NaN are returned unchanged.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `deg`: radians to degrees, in Prometheus's order of operations (`v * 180 / π`).
fn deg(v: f64) -> f64 {
    v * 180.0 / std::f64::consts::PI
}

/// `rad`: degrees to radians, in Prometheus's order of operations (`v * π / 180`).
fn rad(v: f64) -> f64 {
    v * std::f64::consts::PI / 180.0
}

/// `round(v, to_nearest)`: rounds to the nearest multiple of `to_nearest`, ties upwards
/// (towards +Inf). Like Prometheus it multiplies by the inverse rather than dividing by
/// `to_nearest`, which is what makes `round(x, 0.1)` come out as users expect.
pub(crate) fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// `clamp(v, min, max)` with Go's `math.Max(min, math.Min(max, v))`: a NaN bound gives NaN.
/// The evaluator handles `max < min` (empty result), as Prometheus does before calling this.
/// `clamp_min` and `clamp_max` are this with the other bound infinite.
pub(crate) fn clamp(v: f64, min: f64, max: f64) -> f64 {
    go_max(min, go_min(max, v))
}

/// The calendar function called `name` (`day_of_month day_of_week day_of_year days_in_month
/// hour minute month year`) of a Unix timestamp in seconds, in UTC; `None` for other names.
/// Called without an argument, these functions use the evaluation time (`time()`); that is
/// the evaluator's to pass.
///
/// The timestamp is truncated towards zero to whole seconds, as Prometheus's
/// `time.Unix(int64(v), 0)`. NaN, ±Inf and values beyond the `i64` range give NaN: Go's
/// float-to-integer conversion is undefined there, and Prometheus returns a
/// platform-dependent date.
pub(crate) fn date_function(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "day_of_month" => |v| civil_field(v, |c| c.day as f64),
        "day_of_week" => |v| civil_field(v, |c| c.weekday as f64),
        "day_of_year" => |v| civil_field(v, |c| c.day_of_year() as f64),
        "days_in_month" => |v| civil_field(v, |c| days_in_month(c.year, c.month) as f64),
        "hour" => |v| civil_field(v, |c| (c.second_of_day / 3600) as f64),
        "minute" => |v| civil_field(v, |c| (c.second_of_day % 3600 / 60) as f64),
        "month" => |v| civil_field(v, |c| c.month as f64),
        "year" => |v| civil_field(v, |c| c.year as f64),
        _ => return None,
    };
    Some(f)
}

/// A UTC calendar time: proleptic Gregorian date plus the second of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    /// 1..=12.
    month: u32,
    /// 1..=31.
    day: u32,
    /// 0 = Sunday, as Go's `time.Weekday`.
    weekday: u32,
    second_of_day: i64,
}

impl Civil {
    /// Converts Unix seconds; `None` where Go's `int64(v)` would be undefined.
    fn from_unix_seconds(v: f64) -> Option<Self> {
        // 2^63 as f64 is exact; every finite value strictly inside converts without loss of
        // range.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        let t = v.trunc();
        if !(t > -LIMIT && t < LIMIT) {
            return None;
        }
        let secs = t as i64;
        let days = secs.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Some(Civil {
            year,
            month,
            day,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            second_of_day: secs.rem_euclid(86_400),
        })
    }

    /// 1..=366.
    fn day_of_year(&self) -> u32 {
        let before: u32 = (1..self.month).map(|m| days_in_month(self.year, m)).sum();
        before + self.day
    }
}

fn civil_field(v: f64, field: fn(&Civil) -> f64) -> f64 {
    Civil::from_unix_seconds(v).map_or(f64::NAN, |c| field(&c))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, v: f64) -> f64 {
        simple_function(name).map_or(f64::NAN, |f| f(v))
    }

    fn date(name: &str, v: f64) -> f64 {
        date_function(name).map_or(-1.0, |f| f(v))
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn abs_ceil_floor_round_from_prometheus() {
        // functions.test "Test for abs, ceil(), floor(), round()".
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let data = [2.5, 2.0, -2.5, -2.0, 0.0, -0.0, inf, -inf, nan];
        let expect: [(&str, [f64; 9]); 3] = [
            ("abs", [2.5, 2.0, 2.5, 2.0, 0.0, 0.0, inf, inf, nan]),
            ("ceil", [3.0, 2.0, -2.0, -2.0, 0.0, 0.0, inf, -inf, nan]),
            ("floor", [2.0, 2.0, -3.0, -2.0, 0.0, 0.0, inf, -inf, nan]),
        ];
        for (name, want) in expect {
            for (v, w) in data.iter().zip(want) {
                assert!(same(call(name, *v), w), "{name}({v})");
            }
        }
        let rounded = [3.0, 2.0, -2.0, -2.0, 0.0, 0.0, inf, -inf, nan];
        for (v, w) in data.iter().zip(rounded) {
            assert!(same(round(*v, 1.0), w), "round({v})");
        }
        assert!((round(1.2345, 0.01) - 1.23).abs() < 1e-15);
        assert_eq!(round(5.0, 10.0), 10.0);
        assert_eq!(round(14.0, 10.0), 10.0);
    }

    #[test]
    fn round_cases_from_prometheus_aggregators_test() {
        // aggregators.test: http_requests is 100 and 200 at 50m; expected results in pairs.
        type Case = (fn(f64) -> f64, f64, [f64; 2]);
        let cases: [Case; 13] = [
            (|v| 0.004 * v, 1.0, [0.0, 1.0]),
            (|v| -(0.004 * v), 1.0, [0.0, -1.0]),
            (|v| 0.005 * v, 1.0, [1.0, 1.0]),
            (|v| -(0.005 * v), 1.0, [0.0, -1.0]),
            (|v| 1.0 + 0.005 * v, 1.0, [2.0, 2.0]),
            (|v| -(1.0 + 0.005 * v), 1.0, [-1.0, -2.0]),
            (|v| 0.0005 * v, 0.1, [0.1, 0.1]),
            (|v| 2.1 + 0.0005 * v, 0.1, [2.2, 2.2]),
            (|v| 5.2 + 0.0005 * v, 0.1, [5.3, 5.3]),
            (|v| -(5.2 + 0.0005 * v), 0.1, [-5.2, -5.3]),
            (|v| 0.025 * v, 5.0, [5.0, 5.0]),
            (|v| 0.045 * v, 5.0, [5.0, 10.0]),
            (|v| v, 1.0, [100.0, 200.0]),
        ];
        for (expr, to_nearest, want) in cases {
            let got = [100.0, 200.0].map(|v| round(expr(v), to_nearest));
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{got:?} != {want:?}");
            }
        }
        assert_eq!([100.0, 200.0].map(|v| call("floor", 0.004 * v)), [0.0, 0.0]);
        assert_eq!([100.0, 200.0].map(|v| call("ceil", 0.004 * v)), [1.0, 1.0]);
    }

    #[test]
    fn sgn_from_prometheus() {
        let inf = f64::INFINITY;
        for (v, w) in [(-inf, -1.0), (inf, 1.0), (-50.0, -1.0), (0.0, 0.0), (100.0, 1.0)] {
            assert_eq!(call("sgn", v), w);
        }
        assert!(call("sgn", f64::NAN).is_nan());
        assert!(call("sgn", -0.0).is_sign_negative());
    }

    #[test]
    fn clamp_from_prometheus() {
        let values = [-50.0, 0.0, 100.0];
        let max75 = values.map(|v| clamp(v, f64::NEG_INFINITY, 75.0));
        assert_eq!(max75, [-50.0, 0.0, 75.0]);
        assert_eq!(values.map(|v| clamp(v, -25.0, f64::INFINITY)), [-25.0, 0.0, 100.0]);
        assert_eq!(values.map(|v| clamp(v, -25.0, 75.0)), [-25.0, 0.0, 75.0]);
        assert!(values.iter().all(|&v| clamp(v, 0.0, f64::NAN).is_nan()));
        assert!(values.iter().all(|&v| clamp(v, f64::NAN, 0.0).is_nan()));
        assert!(clamp(f64::NAN, 0.0, 1.0).is_nan());
    }

    #[test]
    fn exp_ln_sqrt_logs_from_prometheus() {
        let close =
            |got: f64, want: f64| assert!((got - want).abs() <= want.abs() * 1e-14, "{got} != {want}");
        close(call("exp", 10.0), 22026.465794806718);
        close(call("exp", 20.0), 485165195.4097903);
        close(call("exp", -10.0), 4.5399929762484854e-05);
        close(call("ln", 10.0), std::f64::consts::LN_10);
        close(call("ln", 20.0), 2.995732273553991);
        assert_eq!(call("ln", 0.0), f64::NEG_INFINITY);
        assert!(call("ln", -10.0).is_nan());
        close(call("sqrt", 10.0), 3.1622776601683795);
        close(call("sqrt", 20.0), 4.47213595499958);
        close(call("log2", 10.0), 3.3219280948873626);
        close(call("log2", 20.0), 4.321928094887363);
        assert!(call("log2", -10.0).is_nan());
        assert_eq!(call("log10", 10.0), 1.0);
        close(call("log10", 20.0), 1.301029995663981);
        assert_eq!(call("log10", 0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn trigonometry_from_prometheus() {
        // trig_functions.test with trig{l="x"} 10 and trig{l="y"} 20, compared as its harness
        // does (relative 1e-6): its expected sinh(10) is really cosh(10), 2e-9 away.
        let close = |got: f64, want: f64| assert!((got - want).abs() <= want.abs() * 1e-6, "{got} != {want}");
        let cases: [(&str, f64, f64); 22] = [
            ("sin", 10.0, -0.5440211108893699),
            ("sin", 20.0, 0.9129452507276277),
            ("cos", 10.0, -0.8390715290764524),
            ("cos", 20.0, 0.40808206181339196),
            ("tan", 10.0, 0.6483608274590867),
            ("tan", 20.0, 2.2371609442247427),
            ("asin", 10.0 - 10.1, -0.10016742116155944),
            ("acos", 10.0 - 10.1, 1.670963747956456),
            ("atan", 10.0, 1.4711276743037345),
            ("atan", 20.0, 1.5208379310729538),
            ("sinh", 10.0, 11013.232920103324),
            ("sinh", 20.0, 2.4258259770489514e+08),
            ("cosh", 10.0, 11013.232920103324),
            ("cosh", 20.0, 2.4258259770489514e+08),
            ("tanh", 10.0, 0.9999999958776927),
            ("asinh", 10.0, 2.99822295029797),
            ("asinh", 20.0, 3.6895038689889055),
            ("acosh", 10.0, 2.993222846126381),
            ("acosh", 20.0, 3.6882538673612966),
            ("atanh", 10.0 - 10.1, -0.10033534773107522),
            ("rad", 10.0, 0.17453292519943295),
            ("deg", 10.0, 572.9577951308232),
        ];
        for (name, v, want) in cases {
            close(call(name, v), want);
        }
        assert_eq!(call("tanh", 20.0), 1.0);
        assert_eq!(call("deg", 20.0), 1145.9155902616465);
        assert_eq!(call("rad", 20.0), 0.3490658503988659);
        assert_eq!(call("rad", -10.0), -0.17453292519943295);
        for name in ["asin", "acos", "atanh"] {
            assert!(call(name, 20.0 - 10.1).is_nan(), "{name}");
        }
        for name in ["sin", "cos", "tan", "asinh", "acosh", "deg", "rad"] {
            assert!(call(name, f64::NAN).is_nan(), "{name}");
        }
        assert!(call("asinh", 1e300).is_finite());
        assert!(simple_function("pi").is_none());
    }

    #[test]
    fn dates_from_prometheus() {
        // functions.test "Test time-related functions".
        let t = 1136239445.0; // 2006-01-02 22:04:05 UTC, a Monday.
        let want = [
            ("year", 2006.0),
            ("month", 1.0),
            ("day_of_month", 2.0),
            ("day_of_year", 2.0),
            ("day_of_week", 1.0),
            ("hour", 22.0),
            ("minute", 4.0),
            ("days_in_month", 31.0),
        ];
        for (name, w) in want {
            assert_eq!(date(name, t), w, "{name}");
        }
        let epoch = [
            ("year", 1970.0),
            ("month", 1.0),
            ("day_of_month", 1.0),
            ("day_of_year", 1.0),
            ("day_of_week", 4.0),
        ];
        for (name, w) in epoch {
            assert_eq!(date(name, 0.0), w, "{name}");
        }
        assert_eq!((date("hour", 0.0), date("minute", 0.0)), (0.0, 0.0));
        assert_eq!(date("year", 1230767999.0), 2008.0);
        assert_eq!(date("year", 1230768000.0), 2009.0);
        assert_eq!(date("month", 1456790399.0) + date("day_of_month", 1456790399.0) / 100.0, 2.29);
        assert_eq!(date("month", 1456790400.0) + date("day_of_month", 1456790400.0) / 100.0, 3.01);
        assert_eq!(date("day_of_year", 1483191420.0), 366.0);
        assert_eq!(date("day_of_year", 1672493820.0), 365.0);
        assert_eq!(date("days_in_month", 1454284800.0), 29.0);
        assert_eq!(date("days_in_month", 1485907200.0), 28.0);
        assert!(date_function("time").is_none());
    }

    #[test]
    fn dates_before_the_epoch_and_out_of_range() {
        // Truncation towards zero: -0.5 s is still 1970-01-01 00:00:00.
        assert_eq!(date("year", -0.5), 1970.0);
        // -1 s is 1969-12-31 23:59:59, a Wednesday.
        assert_eq!(
            [date("year", -1.0), date("month", -1.0), date("day_of_month", -1.0), date("day_of_week", -1.0)],
            [1969.0, 12.0, 31.0, 3.0]
        );
        assert_eq!(
            (date("hour", -1.0), date("minute", -1.0), date("day_of_year", -1.0)),
            (23.0, 59.0, 365.0)
        );
        // 1900-03-01 00:00:00; 1900 was not a leap year.
        assert_eq!(date("days_in_month", -2203891200.0 - 86400.0), 28.0);
        // 2000-02-29, a leap day in a year divisible by 400.
        assert_eq!((date("month", 951782400.0), date("day_of_month", 951782400.0)), (2.0, 29.0));
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e19, -1e19] {
            assert!(date("year", v).is_nan(), "{v}");
        }
        assert!(date("year", 9.2e18).is_finite());
        assert!(date("year", -9.2e18).is_finite());
    }

    #[test]
    fn civil_from_days_round_trips_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }
}
