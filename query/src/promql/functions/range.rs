//! Functions over one series' range-vector window: `rate`, `increase`, `delta`, `irate`,
//! `idelta`, `deriv`, `predict_linear`, `double_exponential_smoothing` (alias
//! `holt_winters`), `changes`, `resets` and the `*_over_time` family.
//!
//! Each takes the float samples of one window, in time order with staleness markers already
//! dropped, and returns the single value Prometheus would emit for that series at that step,
//! or `None` where Prometheus emits nothing (too few samples, unknown function). Selecting
//! the window, scalar-argument validation and annotations (warnings) are the evaluator's;
//! native histograms, the experimental `anchored`/`smoothed` selectors and start timestamps
//! are not handled here. Timestamp differences use wrapping `i64` arithmetic, as Go's do, so
//! absurd timestamps give absurd numbers rather than a panic.

use argus_model::Sample;

use super::stats::{kahan_sum, kahan_sum_inc, mean, quantile, variance};

/// Every function name [`range_function`] evaluates.
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
    "double_exponential_smoothing",
    "holt_winters",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "mad_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
];

/// True for the names [`range_function`] handles. `absent_over_time` is not among them: its
/// output depends on whether *any* series has samples, so the evaluator implements it.
pub(crate) fn is_range_function(name: &str) -> bool {
    RANGE_FUNCTIONS.contains(&name)
}

/// Evaluates range function `name` over one window, taking the evaluation time to be
/// `range_end`. See [`range_function_at`]; the two differ only for `predict_linear` under
/// `offset` or `@`.
///
/// `samples` are the window's samples in time order (stale markers removed), `range_start`
/// (exclusive) and `range_end` (inclusive) bound the window in ms, and `params` are the scalar
/// arguments besides the matrix in call order (`quantile_over_time`'s φ, `predict_linear`'s
/// seconds, `double_exponential_smoothing`'s sf and tf). The evaluator always passes the step
/// time, so only the tests use this form.
#[cfg(test)]
pub(crate) fn range_function(
    name: &str,
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    params: &[f64],
) -> Option<f64> {
    range_function_at(name, samples, range_start, range_end, range_end, params)
}

/// As [`range_function`], with the step's evaluation time `eval_time` (ms) given separately.
///
/// Prometheus anchors `predict_linear`'s regression at the step's timestamp, not at the end
/// of the (offset or `@`-shifted) window: `predict_linear(x[55m] @ 3000, 3600)` evaluated at
/// 600 s predicts for 4200 s. Every other function ignores `eval_time`.
///
/// Returns `None` for an empty window, for a window too short for the function (fewer than
/// two samples for the rate, derivative and smoothing functions), for a missing parameter,
/// for `double_exponential_smoothing` factors outside (0, 1) (Prometheus fails the query
/// there: check [`validate_smoothing_factors`] first to report it), and for unknown names.
pub(crate) fn range_function_at(
    name: &str,
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    eval_time: i64,
    params: &[f64],
) -> Option<f64> {
    let first = samples.first()?;
    let last = samples.last()?;
    let param = |i: usize| params.get(i).copied();
    let values = || samples.iter().map(|s| s.v);
    match name {
        "rate" => extrapolated_rate(samples, range_start, range_end, true, true),
        "increase" => extrapolated_rate(samples, range_start, range_end, true, false),
        "delta" => extrapolated_rate(samples, range_start, range_end, false, false),
        "irate" => instant_value(samples, true),
        "idelta" => instant_value(samples, false),
        "deriv" => deriv(samples),
        "predict_linear" => predict_linear(samples, eval_time, param(0)?),
        "double_exponential_smoothing" | "holt_winters" => {
            double_exponential_smoothing(samples, param(0)?, param(1)?)
        }
        "changes" => Some(changes(samples)),
        "resets" => Some(resets(samples)),
        "avg_over_time" => mean(values()),
        "sum_over_time" => Some(kahan_sum(values())),
        "count_over_time" => Some(samples.len() as f64),
        "min_over_time" => pick_over_time(samples, |cur, min| cur < min).map(|s| s.v),
        "max_over_time" => pick_over_time(samples, |cur, max| cur > max).map(|s| s.v),
        "ts_of_min_over_time" => pick_over_time(samples, |cur, min| cur <= min).map(seconds_of),
        "ts_of_max_over_time" => pick_over_time(samples, |cur, max| cur >= max).map(seconds_of),
        "quantile_over_time" => Some(quantile(param(0)?, &mut values().collect::<Vec<_>>())),
        "stddev_over_time" => variance(values()).map(f64::sqrt),
        "stdvar_over_time" => variance(values()),
        "mad_over_time" => Some(median_absolute_deviation(values().collect())),
        "last_over_time" => Some(last.v),
        "first_over_time" => Some(first.v),
        "present_over_time" => Some(1.0),
        "ts_of_first_over_time" => Some(seconds_of(*first)),
        "ts_of_last_over_time" => Some(seconds_of(*last)),
        _ => None,
    }
}

/// Checks `double_exponential_smoothing`'s factors as Prometheus does, returning its error
/// message for a factor outside the open interval (0, 1). NaN passes (the comparisons are
/// false) and then yields NaN results, as in Prometheus. Prometheus only fails when a series
/// actually has samples in the window at a step with invalid factors.
pub(crate) fn validate_smoothing_factors(sf: f64, tf: f64) -> Result<(), String> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {}", go_percent_f(sf)));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {}", go_percent_f(tf)));
    }
    Ok(())
}

/// Formats like Go's `%f`, so error messages read as Prometheus's.
fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else {
        format!("{v:.6}")
    }
}

/// A sample's timestamp in seconds, as the `ts_of_*` functions report it.
fn seconds_of(s: Sample) -> f64 {
    s.t as f64 / 1000.0
}

/// A range's length in seconds exactly as Go's `time.Duration.Seconds` computes it (whole
/// seconds plus the fraction, rather than one division), so per-second rates match
/// Prometheus to the last bit.
fn range_seconds(range_ms: i64) -> f64 {
    let (secs, rem_ms) = (range_ms / 1000, range_ms % 1000);
    secs as f64 + (rem_ms * 1_000_000) as f64 / 1e9
}

/// `rate`, `increase` and `delta` (Prometheus's `extrapolatedRate`).
///
/// The difference between the first and last sample (plus, for counters, the value before
/// every reset) is extrapolated towards the window's boundaries, because samples rarely sit
/// exactly on them. Extrapolation reaches a boundary only if the gap to it is below 1.1 × the
/// average sample interval; otherwise the series is assumed to start or end inside the
/// window and only half an average interval is added. A counter is never extrapolated below
/// zero on the left.
fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 {
        return None;
    }
    let mut result = last.v - first.v;
    if is_counter {
        // Added one reset at a time, in order, to round exactly as Prometheus does.
        for pair in samples.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }

    let mut duration_to_start = first.t.wrapping_sub(range_start) as f64 / 1000.0;
    let mut duration_to_end = range_end.wrapping_sub(last.t) as f64 / 1000.0;
    let sampled_interval = last.t.wrapping_sub(first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (samples.len() - 1) as f64;
    let extrapolation_threshold = average_interval * 1.1;

    if duration_to_start >= extrapolation_threshold {
        duration_to_start = average_interval / 2.0;
    }
    if is_counter {
        // Where a straight line through the samples reaches zero: the counter cannot have
        // started before that.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= extrapolation_threshold {
        duration_to_end = average_interval / 2.0;
    }

    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= range_seconds(range_end.wrapping_sub(range_start));
    }
    Some(result * factor)
}

/// `irate` and `idelta` (Prometheus's `instantValue`): from the last two samples only. For
/// `irate` a decrease is a counter reset, so the increase is the last value itself.
fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    let [.., prev, last] = samples else {
        return None;
    };
    let interval_ms = last.t.wrapping_sub(prev.t);
    if interval_ms == 0 {
        return None;
    }
    let mut result = last.v;
    if !is_rate || last.v >= prev.v || last.v.is_nan() || prev.v.is_nan() {
        result = last.v - prev.v;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares fit through the samples (time in seconds relative to `intercept_time`),
/// returning the slope and the fitted value at `intercept_time`. Sums are Kahan-compensated
/// as in Prometheus. A constant series has slope 0, except an infinite constant, which has
/// no meaningful line (NaN, NaN).
fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let init_y = samples.first().map_or(f64::NAN, |s| s.v);
    let mut const_y = true;
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0_f64, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0_f64, 0.0, 0.0, 0.0);
    for s in samples {
        if const_y && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = s.t.wrapping_sub(intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: the per-second slope of the least-squares line. The regression is anchored at
/// the first sample, whose timestamp is near the data, to avoid losing precision on large
/// Unix timestamps (Prometheus issue #2674).
fn deriv(samples: &[Sample]) -> Option<f64> {
    let [first, _, ..] = samples else {
        return None;
    };
    Some(linear_regression(samples, first.t).0)
}

/// `predict_linear`: the least-squares line's value `seconds` after `eval_time`.
fn predict_linear(samples: &[Sample], eval_time: i64, seconds: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(samples, eval_time);
    Some(slope * seconds + intercept)
}

/// `double_exponential_smoothing` (Holt's linear method) with smoothing factor `sf` and trend
/// factor `tf`, both required to lie in (0, 1).
fn double_exponential_smoothing(samples: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if validate_smoothing_factors(sf, tf).is_err() {
        return None;
    }
    let [first, second, ..] = samples else {
        return None;
    };
    let (mut s0, mut s1, mut b) = (0.0, first.v, second.v - first.v);
    for (i, sample) in samples.iter().enumerate().skip(1) {
        let x = sf * sample.v;
        // The first step keeps the initial trend; later ones blend in the last change.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

/// `changes`: how often the value differs from the previous one; NaN followed by NaN is no
/// change.
fn changes(samples: &[Sample]) -> f64 {
    let changed = |p: &[Sample]| p[0].v != p[1].v && !(p[0].v.is_nan() && p[1].v.is_nan());
    samples.windows(2).filter(|p| changed(p)).count() as f64
}

/// `resets`: how often the value drops below the previous one.
fn resets(samples: &[Sample]) -> f64 {
    samples.windows(2).filter(|p| p[1].v < p[0].v).count() as f64
}

/// The sample `min_over_time`/`max_over_time` (and their `ts_of_` variants) pick: a sample
/// replaces the current pick when `better(candidate, pick)` holds or the pick is NaN, so NaN
/// wins only when every value is NaN. A non-strict `better` picks the last of equal values.
fn pick_over_time(samples: &[Sample], better: impl Fn(f64, f64) -> bool) -> Option<Sample> {
    let first = *samples.first()?;
    Some(samples.iter().fold(first, |pick, &s| if better(s.v, pick.v) || pick.v.is_nan() { s } else { pick }))
}

/// `mad_over_time`: the median of the absolute deviations from the median. NaN anywhere makes
/// the median, and with it the result, undefined.
fn median_absolute_deviation(mut values: Vec<f64>) -> f64 {
    if values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let median = quantile(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    quantile(0.5, &mut values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Samples `values` at `start`, `start + step`, … (ms), like a `load` block.
    fn series(start: i64, step: i64, values: &[f64]) -> Vec<Sample> {
        values.iter().enumerate().map(|(i, &v)| Sample::new(start + i as i64 * step, v)).collect()
    }

    /// `a+bxn` of the test language: n+1 values a, a+b, …
    fn ramp(a: f64, b: f64, n: usize) -> Vec<f64> {
        (0..=n).map(|i| a + b * i as f64).collect()
    }

    /// The window (end − range, end] of `samples`, as the evaluator selects it.
    fn window(samples: &[Sample], end: i64, range: i64) -> Vec<Sample> {
        samples.iter().copied().filter(|s| s.t > end - range && s.t <= end).collect()
    }

    /// Evaluates `name` at `end` over `[range]` like an instant query.
    fn eval(name: &str, samples: &[Sample], end: i64, range: i64, params: &[f64]) -> Option<f64> {
        range_function(name, &window(samples, end, range), end - range, end, params)
    }

    fn assert_close(got: Option<f64>, want: f64) {
        let got = got.unwrap_or_else(|| panic!("no result, want {want}"));
        let tolerance = want.abs().max(1e-300) * 1e-12;
        assert!((got - want).abs() <= tolerance, "got {got}, want {want}");
    }

    #[test]
    fn increase_extrapolates_to_the_boundaries() {
        // functions.test "Tests for increase()", load 5m, eval at 50m over [50m].
        let foo = series(0, 5 * MIN, &ramp(0.0, 10.0, 10));
        let mut bar_values = ramp(0.0, 18.0, 5);
        bar_values.extend(ramp(0.0, 18.0, 5));
        let bar = series(0, 5 * MIN, &bar_values);
        let dings = series(0, 5 * MIN, &ramp(10.0, 10.0, 10));
        let bumms = series(0, 5 * MIN, &ramp(1.0, 10.0, 10));
        assert_close(eval("increase", &foo, 50 * MIN, 50 * MIN, &[]), 100.0);
        assert_close(eval("increase", &bar, 50 * MIN, 50 * MIN, &[]), 160.0);
        assert_close(eval("increase", &dings, 50 * MIN, 50 * MIN, &[]), 100.0);
        assert_close(eval("increase", &bumms, 50 * MIN, 50 * MIN, &[]), 100.0);
        // [100m]: extrapolation to the left stops at the counter's zero point.
        assert_close(eval("increase", &foo, 50 * MIN, 100 * MIN, &[]), 100.0);
        assert_close(eval("increase", &bar, 50 * MIN, 100 * MIN, &[]), 162.0);
        assert_close(eval("increase", &dings, 50 * MIN, 100 * MIN, &[]), 105.0);
        assert_close(eval("increase", &bumms, 50 * MIN, 100 * MIN, &[]), 101.0);
    }

    #[test]
    fn increase_handles_a_counter_reset() {
        // "the sequence 3 2 is interpreted the same as 3 0 1 2".
        let s = series(0, 5 * MIN, &[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        assert_close(eval("increase", &s, 30 * MIN, 30 * MIN, &[]), 7.0);
    }

    #[test]
    fn rate_cases_from_prometheus() {
        let mut middle = ramp(0.0, 27.0, 4);
        middle.extend(ramp(0.0, 27.0, 5));
        let middle = series(0, 5 * MIN, &middle);
        assert_close(eval("rate", &middle, 50 * MIN, 50 * MIN, &[]), 0.08);

        let mut end = ramp(0.0, 10.0, 9);
        end.extend([0.0, 10.0]);
        let end = series(0, 5 * MIN, &end);
        // A single sample in the window: no result.
        assert_eq!(eval("rate", &end, 50 * MIN, 5 * MIN, &[]), None);
        assert_close(eval("rate", &end, 50 * MIN, 6 * MIN, &[]), 0.0);

        let window_total = series(0, 5 * MIN, &ramp(0.0, 80.0, 10));
        assert_close(eval("rate", &window_total, 50 * MIN, 50 * MIN, &[]), 0.26666666666666666);

        // rate(calculate_rate_offset_total[10m] offset 5m) at 50m: the window ends at 45m.
        let a = series(0, 5 * MIN, &ramp(0.0, 10.0, 10));
        let b = series(0, 5 * MIN, &ramp(0.0, 20.0, 10));
        assert_close(eval("rate", &a, 45 * MIN, 10 * MIN, &[]), 0.03333333333333333);
        assert_close(eval("rate", &b, 45 * MIN, 10 * MIN, &[]), 0.06666666666666667);
    }

    #[test]
    fn rate_zero_cutoff_for_left_extrapolation() {
        // testcounter_zero_cutoff_total, load 4m, rate(...[20m]).
        let want_at_10m = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6];
        for (start_minute, want) in want_at_10m.into_iter().enumerate() {
            let s = series(0, 4 * MIN, &ramp(60.0 * start_minute as f64, 240.0, 10));
            assert_close(eval("rate", &s, 10 * MIN, 20 * MIN, &[]), want);
            assert_close(eval("rate", &s, 50 * MIN, 20 * MIN, &[]), 0.6);
        }
    }

    #[test]
    fn rate_of_empty_and_single_sample_windows() {
        assert_eq!(range_function("rate", &[], 0, 1000, &[]), None);
        assert_eq!(range_function("increase", &[Sample::new(500, 1.0)], 0, 1000, &[]), None);
        assert_eq!(range_function("delta", &[Sample::new(500, 1.0)], 0, 1000, &[]), None);
        // Two samples at the same instant cannot be extrapolated but do not divide by zero.
        let same = [Sample::new(500, 1.0), Sample::new(500, 3.0)];
        assert_close(range_function("delta", &same, 0, 1000, &[]), 2.0);
    }

    #[test]
    fn range_seconds_matches_go_duration() {
        assert_eq!(range_seconds(600_000), 600.0);
        assert_eq!(range_seconds(1001), 1.0 + 0.001);
        assert_eq!(range_seconds(901_000), 901.0);
    }

    #[test]
    fn delta_extrapolates_gauges_both_ways() {
        let foo = series(0, 5 * MIN, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        let bar = series(0, 5 * MIN, &[200.0, 150.0, 100.0, 50.0, 0.0]);
        assert_close(eval("delta", &foo, 20 * MIN, 20 * MIN, &[]), 200.0);
        assert_close(eval("delta", &bar, 20 * MIN, 20 * MIN, &[]), -200.0);
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_samples() {
        let foo = series(0, 5 * MIN, &ramp(0.0, 10.0, 10));
        let mut bar = ramp(0.0, 10.0, 5);
        bar.extend(ramp(0.0, 10.0, 5));
        let bar = series(0, 5 * MIN, &bar);
        assert_close(eval("irate", &foo, 50 * MIN, 50 * MIN, &[]), 1.0 / 30.0);
        assert_close(eval("irate", &bar, 50 * MIN, 50 * MIN, &[]), 1.0 / 30.0);
        // Counter reset between 25m and 30m: the rate of the new value alone.
        assert_close(eval("irate", &foo, 30 * MIN, 50 * MIN, &[]), 1.0 / 30.0);
        assert_close(eval("irate", &bar, 30 * MIN, 50 * MIN, &[]), 0.0);

        let g1 = series(0, 5 * MIN, &[0.0, 50.0, 100.0, 150.0]);
        let g2 = series(0, 5 * MIN, &[0.0, 50.0, 100.0, 50.0]);
        assert_close(eval("idelta", &g1, 20 * MIN, 20 * MIN, &[]), 50.0);
        assert_close(eval("idelta", &g2, 20 * MIN, 20 * MIN, &[]), -50.0);
    }

    #[test]
    fn irate_and_idelta_with_nans() {
        // http_requests_nan 1 NaN NaN 5 11, range query 0..20m step 5m over [15m1s].
        let s = series(0, 5 * MIN, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        let range = 15 * MIN + 1000;
        for name in ["irate", "idelta"] {
            assert_eq!(eval(name, &s, 0, range, &[]), None);
            for step in 1..=3 {
                assert!(eval(name, &s, step * 5 * MIN, range, &[]).is_some_and(f64::is_nan));
            }
        }
        assert_close(eval("irate", &s, 20 * MIN, range, &[]), 0.02);
        assert_close(eval("idelta", &s, 20 * MIN, range, &[]), 6.0);
        // Same-timestamp pair: nothing rather than a division by zero.
        assert_eq!(instant_value(&[Sample::new(1, 1.0), Sample::new(1, 2.0)], true), None);
    }

    /// testcounter_reset_middle_total 0+10x4 0+10x5, load 5m.
    fn reset_middle() -> Vec<Sample> {
        let mut v = ramp(0.0, 10.0, 4);
        v.extend(ramp(0.0, 10.0, 5));
        series(0, 5 * MIN, &v)
    }

    #[test]
    fn deriv_cases_from_prometheus() {
        let total = series(0, 5 * MIN, &ramp(0.0, 80.0, 10));
        assert_close(eval("deriv", &total, 50 * MIN, 50 * MIN, &[]), 0.26666666666666666);
        assert_close(eval("deriv", &reset_middle(), 50 * MIN, 100 * MIN, &[]), 0.010606060606060607);
        let mut inf = vec![f64::NEG_INFINITY];
        inf.extend(ramp(0.0, 80.0, 10));
        inf.push(f64::INFINITY);
        let inf = series(0, 5 * MIN, &inf);
        assert!(eval("deriv", &inf, 100 * MIN, 100 * MIN, &[]).is_some_and(f64::is_nan));
        assert_eq!(eval("deriv", &total, 0, 1000, &[]), None);
    }

    #[test]
    fn predict_linear_cases_from_prometheus() {
        let s = reset_middle();
        assert_close(eval("predict_linear", &s, 50 * MIN, 50 * MIN, &[3600.0]), 70.0);
        // predict_linear(x[55m] @ 3000, 3600): the window ends at 3000 s, but the regression
        // is anchored at the step's time.
        let w = window(&s, 3_000_000, 55 * MIN);
        let at = |eval_time: i64| {
            range_function_at("predict_linear", &w, 3_000_000 - 55 * MIN, 3_000_000, eval_time, &[3600.0])
        };
        assert_close(at(50 * MIN), 76.81818181818181);
        assert_close(at(10 * MIN), 51.36363636363637);
        assert_close(at(70 * MIN), 89.54545454545455);
        let mut inf = vec![f64::NEG_INFINITY];
        inf.extend(ramp(0.0, 80.0, 10));
        inf.push(f64::INFINITY);
        let inf = series(0, 5 * MIN, &inf);
        assert!(eval("predict_linear", &inf, 100 * MIN, 100 * MIN, &[6000.0]).is_some_and(f64::is_nan));
        // The prediction at the last sample of a straight line is that sample.
        let total = series(0, 5 * MIN, &ramp(0.0, 80.0, 10));
        assert_close(
            eval("predict_linear", &total, 50 * MIN, 50 * MIN, &[3600.0]),
            800.0 + 0.26666666666666666 * 3600.0,
        );
        assert_eq!(eval("predict_linear", &total, 50 * MIN, 50 * MIN, &[]), None);
    }

    #[test]
    fn linear_regression_of_constants() {
        let c = [Sample::new(0, 3.0), Sample::new(1000, 3.0)];
        assert_eq!(linear_regression(&c, 0), (0.0, 3.0));
        let inf = [Sample::new(0, f64::INFINITY), Sample::new(1000, f64::INFINITY)];
        let (slope, intercept) = linear_regression(&inf, 0);
        assert!(slope.is_nan() && intercept.is_nan());
    }

    #[test]
    fn double_exponential_smoothing_cases_from_prometheus() {
        // load 10s; eval at 8000s over [1m] with sf=0.01, tf=0.1.
        let ten_s = 10_000;
        let cases: [(f64, f64, f64); 4] =
            [(0.0, 10.0, 8000.0), (0.0, 20.0, 16000.0), (0.0, 30.0, 24000.0), (0.0, 40.0, 32000.0)];
        for (start, slope, want) in cases {
            let s = series(0, ten_s, &ramp(start, slope, 1000));
            for name in ["double_exponential_smoothing", "holt_winters"] {
                assert_close(eval(name, &s, 8_000_000, MIN, &[0.01, 0.1]), want);
            }
        }
        // Negative trends.
        let s = series(0, ten_s, &ramp(8000.0, -10.0, 1000));
        assert_close(eval("double_exponential_smoothing", &s, 8_000_000, MIN, &[0.01, 0.1]), 0.0);
        let s = series(0, ten_s, &ramp(0.0, -20.0, 1000));
        assert_close(eval("double_exponential_smoothing", &s, 8_000_000, MIN, &[0.01, 0.1]), -16000.0);
    }

    #[test]
    fn double_exponential_smoothing_rejects_bad_factors() {
        let s = series(0, 1000, &[1.0, 2.0, 3.0]);
        for (sf, tf) in [(0.0, 0.5), (1.0, 0.5), (0.5, 0.0), (0.5, 1.0), (-1.0, 2.0)] {
            assert_eq!(range_function("double_exponential_smoothing", &s, -1, 2000, &[sf, tf]), None);
            assert!(validate_smoothing_factors(sf, tf).is_err());
        }
        assert_eq!(
            validate_smoothing_factors(1.5, 0.5),
            Err("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.500000".to_string())
        );
        assert_eq!(
            validate_smoothing_factors(0.5, f64::INFINITY),
            Err("invalid trend factor. Expected: 0 < tf < 1, got: +Inf".to_string())
        );
        assert_eq!(validate_smoothing_factors(f64::NAN, 0.5), Ok(()));
        assert!(
            range_function("double_exponential_smoothing", &s, -1, 2000, &[f64::NAN, 0.5])
                .is_some_and(f64::is_nan)
        );
        // One sample is not enough.
        assert_eq!(range_function("double_exponential_smoothing", &s[..1], -1, 2000, &[0.5, 0.5]), None);
        assert_eq!(range_function("double_exponential_smoothing", &s, -1, 2000, &[0.5]), None);
    }

    #[test]
    fn changes_and_resets_from_prometheus() {
        let foo = series(0, 5 * MIN, &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]);
        let bar = series(0, 5 * MIN, &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let biz = series(0, 5 * MIN, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let at = |name: &str, s: &[Sample], range: i64| eval(name, s, 50 * MIN, range, &[]);
        assert_eq!(at("resets", &foo, 5 * MIN), None);
        for (range, want) in
            [(10 * MIN, [0.0, 0.0, 0.0]), (20 * MIN, [1.0, 0.0, 0.0]), (30 * MIN, [1.0, 0.0, 0.0])]
        {
            assert_eq!(
                [at("resets", &foo, range), at("resets", &bar, range), at("resets", &biz, range)],
                want.map(Some)
            );
        }
        assert_eq!([at("resets", &foo, 32 * MIN), at("resets", &bar, 32 * MIN)], [Some(2.0), Some(1.0)]);
        assert_eq!([at("resets", &foo, 50 * MIN), at("resets", &bar, 50 * MIN)], [Some(3.0), Some(1.0)]);

        assert_eq!(at("changes", &foo, 5 * MIN), None);
        assert_eq!(at("changes", &foo, 6 * MIN), Some(0.0));
        assert_eq!([at("changes", &foo, 20 * MIN), at("changes", &bar, 20 * MIN)], [Some(2.0), Some(2.0)]);
        assert_eq!([at("changes", &foo, 30 * MIN), at("changes", &bar, 30 * MIN)], [Some(3.0), Some(4.0)]);
        assert_eq!(
            [at("changes", &foo, 50 * MIN), at("changes", &bar, 50 * MIN), at("changes", &biz, 50 * MIN)],
            [Some(7.0), Some(8.0), Some(1.0)]
        );

        let nan = f64::NAN;
        let b = series(0, 5 * MIN, &[nan, nan, nan]);
        let c = series(0, 5 * MIN, &[0.0, nan, 0.0]);
        assert_eq!(eval("changes", &b, 15 * MIN, 20 * MIN, &[]), Some(0.0));
        assert_eq!(eval("changes", &c, 15 * MIN, 20 * MIN, &[]), Some(2.0));
        assert_eq!(eval("resets", &c, 15 * MIN, 20 * MIN, &[]), Some(0.0));
    }

    #[test]
    fn aggregations_over_time() {
        let s = series(0, 10_000, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(eval("avg_over_time", &s, 55_000, 10_000, &[]), None);
        assert_eq!(eval("avg_over_time", &s, 55_000, 20_000, &[]), Some(5.0));
        assert_eq!(eval("avg_over_time", &s, 55_000, MIN, &[]), Some(3.0));
        assert_eq!(eval("sum_over_time", &s, 55_000, MIN, &[]), Some(15.0));
        assert_eq!(eval("count_over_time", &s, 55_000, MIN, &[]), Some(5.0));
        assert_eq!(eval("present_over_time", &s, 55_000, MIN, &[]), Some(1.0));
        assert_eq!(eval("last_over_time", &s, 55_000, MIN, &[]), Some(5.0));
        assert_eq!(eval("first_over_time", &s, 55_000, MIN, &[]), Some(1.0));
        let big = series(0, 10_000, &[1.0, 1e100, 1.0, -1e100]);
        assert_eq!(eval("sum_over_time", &big, MIN, 2 * MIN, &[]), Some(2.0));
        assert_eq!(eval("avg_over_time", &big, MIN, 2 * MIN, &[]), Some(0.5));
        // Dense samples: 1+0x4000 every ms.
        let dense = series(0, 1, &vec![1.0; 4001]);
        for range in [1000, 1001, 1002, 1003, 2000, 2003, 3000, 3003] {
            assert_eq!(eval("sum_over_time", &dense, 4000, range, &[]), Some(range as f64));
        }
        for name in RANGE_FUNCTIONS {
            assert_eq!(range_function(name, &[], 0, 1000, &[0.5, 0.5]), None, "{name}");
        }
    }

    #[test]
    fn stddev_stdvar_and_mad_over_time() {
        let s = series(0, 10_000, &[0.0, 8.0, 8.0, 2.0, 3.0]);
        assert_close(eval("stdvar_over_time", &s, MIN, 2 * MIN, &[]), 10.56);
        let sd = eval("stddev_over_time", &s, MIN, 2 * MIN, &[]).unwrap_or(f64::NAN);
        assert!((sd - 3.249615).abs() < 1e-6);

        let m = series(0, 10_000, &[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]);
        assert_eq!(eval("mad_over_time", &m, 70_000, 70_000, &[]), Some(1.0));
        let odd = series(0, 10_000, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(eval("mad_over_time", &odd, 40_000, 50_000, &[]), Some(1.0));
        let equal = series(0, 10_000, &[7.0; 5]);
        assert_eq!(eval("mad_over_time", &equal, 40_000, 50_000, &[]), Some(0.0));
        assert_eq!(eval("mad_over_time", &series(0, 10_000, &[5.0]), 0, 10_000, &[]), Some(0.0));
        let nan = series(0, 10_000, &[1.0, 2.0, f64::NAN, 4.0]);
        assert!(eval("mad_over_time", &nan, 30_000, 40_000, &[]).is_some_and(f64::is_nan));
    }

    #[test]
    fn min_max_over_time_and_nan() {
        let nan = f64::NAN;
        let cases: [([f64; 3], f64, f64); 5] = [
            ([2.0, 0.0, 3.0], 0.0, 3.0),
            ([2.0, 0.0, nan], 0.0, 2.0),
            ([2.0, nan, 1.0], 1.0, 2.0),
            ([nan, 0.0, 1.0], 0.0, 1.0),
            ([nan, nan, nan], nan, nan),
        ];
        for (values, min, max) in cases {
            let s = series(0, 10_000, &values);
            let got_min = eval("min_over_time", &s, MIN, 2 * MIN, &[]).unwrap_or(-1.0);
            let got_max = eval("max_over_time", &s, MIN, 2 * MIN, &[]).unwrap_or(-1.0);
            assert!(got_min == min || (min.is_nan() && got_min.is_nan()), "{values:?}");
            assert!(got_max == max || (max.is_nan() && got_max.is_nan()), "{values:?}");
        }
        let some_nan = series(0, 10_000, &[2.0, 0.0, nan]);
        assert!(eval("last_over_time", &some_nan, MIN, 2 * MIN, &[]).is_some_and(f64::is_nan));
        let some_nan3 = series(0, 10_000, &[nan, 0.0, 1.0]);
        assert!(eval("first_over_time", &some_nan3, MIN, 2 * MIN, &[]).is_some_and(f64::is_nan));
    }

    #[test]
    fn ts_of_functions() {
        // load 10s53ms: odd intervals catch rounding bugs.
        let step = 10_053;
        let s = series(0, step, &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0]);
        assert_eq!(eval("ts_of_min_over_time", &s, 90_000, 90_000, &[]), Some(30.159));
        assert_eq!(eval("ts_of_max_over_time", &s, 90_000, 90_000, &[]), Some(50.265));
        let short = series(0, step, &[1.0, 2.0, 3.0]);
        assert_eq!(eval("ts_of_last_over_time", &short, 90_000, 90_000, &[]), Some(20.106));
        assert_eq!(eval("ts_of_last_over_time", &short, 95_000, 90_000, &[]), Some(20.106));
        let late = series(2 * step, step, &[1.0, 2.0, 3.0]);
        assert_eq!(eval("ts_of_first_over_time", &late, 90_000, 90_000, &[]), Some(20.106));
        assert_eq!(eval("ts_of_first_over_time", &late, 15_000, 90_000, &[]), None);
        // Ties: the ts_of_ variants report the last occurrence.
        let ties = series(0, 1000, &[1.0, 3.0, 3.0, 1.0]);
        assert_eq!(eval("ts_of_max_over_time", &ties, 3000, 10_000, &[]), Some(2.0));
        assert_eq!(eval("ts_of_min_over_time", &ties, 3000, 10_000, &[]), Some(3.0));
    }

    #[test]
    fn quantile_over_time_from_prometheus() {
        let two = series(0, 10_000, &[0.0, 1.0]);
        let three = series(0, 10_000, &[0.0, 1.0, 2.0]);
        let uneven = series(0, 10_000, &[0.0, 1.0, 4.0]);
        let q = |phi: f64, s: &[Sample]| eval("quantile_over_time", s, MIN, 2 * MIN, &[phi]);
        assert_eq!([q(0.0, &two), q(0.0, &three), q(0.0, &uneven)], [Some(0.0); 3]);
        assert_eq!([q(0.5, &two), q(0.5, &three), q(0.5, &uneven)], [Some(0.5), Some(1.0), Some(1.0)]);
        assert_eq!([q(0.75, &two), q(0.75, &three), q(0.75, &uneven)], [Some(0.75), Some(1.5), Some(2.5)]);
        assert_close(q(0.8, &two), 0.8);
        assert_close(q(0.8, &three), 1.6);
        assert_close(q(0.8, &uneven), 2.8);
        assert_eq!([q(1.0, &two), q(1.0, &three), q(1.0, &uneven)], [Some(1.0), Some(2.0), Some(4.0)]);
        assert_eq!(q(-1.0, &two), Some(f64::NEG_INFINITY));
        assert_eq!(q(2.0, &two), Some(f64::INFINITY));
        assert!(q(f64::NAN, &two).is_some_and(f64::is_nan));
        assert_eq!(eval("quantile_over_time", &two, MIN, 2 * MIN, &[]), None);
    }

    #[test]
    fn names() {
        assert!(is_range_function("rate"));
        assert!(is_range_function("holt_winters"));
        assert!(!is_range_function("absent_over_time"));
        assert!(!is_range_function("abs"));
        assert_eq!(range_function("no_such_function", &[Sample::new(0, 1.0)], -1, 0, &[]), None);
    }
}
