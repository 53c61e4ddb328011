//! Numerical building blocks shared by PromQL functions and aggregations: Kahan–Babuška
//! summation, the φ-quantile of plain values, the overflow-safe mean and the variance of a
//! sequence, and Go's `math.Min`/`math.Max`.
//!
//! Each one follows the arithmetic of Prometheus (`util/kahansum`, `promql/quantile.go`,
//! `promql/functions.go`) operation by operation, because PromQL results are compared bit for
//! bit (`==` filters, alert conditions) and a different but "equally good" summation order
//! would give different answers. Nothing here knows about series, labels or time.

use std::cmp::Ordering;

use argus_model::is_stale_nan;

/// One step of Kahan–Babuška (Neumaier) summation, as Prometheus's `kahansum.Inc`: adds `inc`
/// to `sum` and returns the new sum and the new compensation. The final value of a sum is
/// `sum + c`. Once the running sum overflows, the compensation is reset to 0 so that an
/// infinite sum is not turned into NaN by `Inf - Inf` in the compensation.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        // Neumaier's improvement: the smaller operand is the one whose low bits were lost.
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Kahan sum of `values` as `sum_over_time` computes it: an infinite sum is returned as is
/// (adding the compensation could only produce NaN).
pub(crate) fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, c) = values.into_iter().fold((0.0, 0.0), |(sum, c), v| kahan_sum_inc(v, sum, c));
    if sum.is_infinite() { sum } else { sum + c }
}

/// Mean of `values` as `avg_over_time` computes it, or `None` when there are none.
///
/// Prometheus sums directly (with Kahan compensation) because that is the more accurate
/// method, and switches to an incremental mean only once the running sum would overflow, so
/// that e.g. the mean of two values near `f64::MAX` is still finite.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values = values.into_iter();
    let mut sum = values.next()?;
    let (mut count, mut c, mut mean) = (1.0_f64, 0.0_f64, 0.0_f64);
    let mut incremental = false;
    for v in values {
        count += 1.0;
        if !incremental {
            let (new_sum, new_c) = kahan_sum_inc(v, sum, c);
            if !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(v / count, q * mean, q * c);
    }
    Some(if incremental { mean + c } else { sum / count + c / count })
}

/// Population variance of `values` (Welford's method with Kahan-compensated mean and sum of
/// squares, as `stdvar_over_time`), or `None` when there are none.
pub(crate) fn variance(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0_f64, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (count > 0.0).then(|| (aux + c_aux) / count)
}

/// Population variance as the `stdvar`/`stddev` *aggregations* compute it, or `None` when
/// there are no values. Prometheus's aggregation uses plain Welford updates without the Kahan
/// compensation of [`variance`] (`stdvar_over_time`), so the two can differ in the last bits;
/// use this one for `stdvar by (…)` to match Prometheus exactly.
pub(crate) fn aggregation_variance(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values = values.into_iter();
    let first = values.next()?;
    let (mut count, mut mean) = (1.0_f64, first);
    // Prometheus seeds the sum of squares with NaN for a non-finite first value.
    let mut m2 = if first.is_finite() { 0.0 } else { f64::NAN };
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    Some(m2 / count)
}

/// Prometheus's `quantile` over plain values, the one behind `quantile_over_time` and the
/// `quantile` aggregation. Sorts `values` in place (NaN first, as Prometheus's sort does).
///
/// Empty input or NaN φ give NaN, φ < 0 gives -Inf and φ > 1 gives +Inf. Otherwise the result
/// interpolates linearly between the two closest ranks, rank = φ·(n−1).
pub(crate) fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(cmp_nan_first);
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // Both indexes are in 0..n by construction; `get` keeps that from ever panicking.
    let at = |i: f64| values.get(i as usize).copied().unwrap_or(f64::NAN);
    // The same expression as Prometheus, even where weight is 0: an infinite neighbour then
    // yields NaN there too.
    at(lower) * (1.0 - weight) + at(upper) * weight
}

/// Orders floats ascending with every NaN before every number, as Prometheus's
/// `vectorByValueHeap` does. Unlike `partial_cmp` it is a total order, so sorting with it
/// cannot panic.
pub(crate) fn cmp_nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// Go's `math.Max`: +Inf wins over NaN, NaN wins over everything else, +0 over -0. Rust's
/// `f64::max` ignores NaN instead, which would change `clamp` and `max_of`.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN wins over everything else, -0 over +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Prometheus's `almost.Equal`: true when `a` and `b` differ by less than `epsilon` relative
/// to their magnitude, when both are the staleness marker or both are other NaNs.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / go_min(abs_sum, f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_keeps_small_terms_next_to_huge_ones() {
        // functions.test: sum_over_time of 1 1e100 1 -1e100 is 2.
        assert_eq!(kahan_sum([1.0, 1e100, 1.0, -1e100]), 2.0);
        let naive: f64 = [1.0, 1e100, 1.0, -1e100].iter().sum();
        assert_eq!(naive, 0.0);
    }

    #[test]
    fn kahan_resets_compensation_on_overflow() {
        assert_eq!(kahan_sum_inc(f64::MAX, f64::MAX, 5.0), (f64::INFINITY, 0.0));
        assert_eq!(kahan_sum([f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(kahan_sum([f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(kahan_sum([]), 0.0);
    }

    #[test]
    fn mean_switches_to_incremental_on_overflow() {
        // functions.test metric8/metric9/metric10.
        let big = 9.988_465_674_311_58e307; // 9.988465674311579e+307 in functions.test
        assert_eq!(mean([big, big]), Some(big));
        assert_eq!(mean([-big, -big, -big]), Some(-big));
        assert_eq!(mean([-big, big]), Some(0.0));
        assert_eq!(mean([1.0, 1e100, 1.0, -1e100]), Some(0.5));
        assert_eq!(mean([]), None);
    }

    #[test]
    fn mean_of_infinities_and_nans() {
        // functions.test metric2..metric7 and metric11.
        assert_eq!(mean([1.0, 2.0, 3.0, 4.0, f64::INFINITY]), Some(f64::INFINITY));
        assert_eq!(mean([1.0, 2.0, 3.0, 4.0, f64::NEG_INFINITY]), Some(f64::NEG_INFINITY));
        assert!(mean([1.0, 2.0, 3.0, f64::INFINITY, f64::NEG_INFINITY]).is_some_and(f64::is_nan));
        assert_eq!(mean([f64::INFINITY, 0.0, f64::INFINITY]), Some(f64::INFINITY));
        let inf = f64::INFINITY;
        assert!(mean([inf, inf, inf, -inf]).is_some_and(f64::is_nan));
        assert_eq!(mean([1.0, 2.0, 3.0, -inf, -inf]), Some(-inf));
        assert_eq!(mean([-inf, 0.0, -inf]), Some(-inf));
        assert!(mean([-inf, -inf, -inf, inf]).is_some_and(f64::is_nan));
        assert!(mean([1.0, 2.0, -inf, -inf, inf]).is_some_and(f64::is_nan));
        assert!(mean([1.0, 2.0, 3.0, f64::NAN, f64::NAN]).is_some_and(f64::is_nan));
    }

    #[test]
    fn mean_of_values_of_very_different_magnitudes() {
        // functions.test "More tests for extreme values" (results as Prometheus prints them).
        let close = |got: Option<f64>, want: f64| {
            let got = got.unwrap_or(f64::NAN);
            assert!((got - want).abs() <= want.abs() * 1e-12, "{got} != {want}");
        };
        close(mean([1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6]), 1.6666666666666675e+09);
        close(
            mean([
                5.30921651659898,
                0.961118537914768,
                1.62091361305318,
                0.865089463758091,
                0.323055185914577,
                0.951811357687154,
            ]),
            1.67186744582113,
        );
        close(mean([1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154]), 3.56528E+49);
        close(
            mean([1.78264E+50, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 458.90154]),
            3.76333333333333E+219,
        );
        close(
            mean([-1.78264E+215, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 1.78264E+215, -458.90154]),
            3.225714285714286e+219,
        );
        // Kahan cannot save this one either; Prometheus documents the result 0.
        let metric11 = [
            -2.258E+220,
            -1.78264E+219,
            0.76342771,
            1.9592258,
            2.3757689E+217,
            -2.3757689E+217,
            2.258E+220,
            7.69805412,
            1.78264E+219,
            -458.90154,
        ];
        assert_eq!(mean(metric11), Some(0.0));
        // avg_over_time(foo[130s]) == 52 must hold exactly.
        assert_eq!(mean(std::iter::repeat_n(52.0, 13)), Some(52.0));
    }

    #[test]
    fn variance_matches_prometheus() {
        // functions.test: stdvar_over_time(metric[2m]) of 0 8 8 2 3 is 10.56.
        let v = variance([0.0, 8.0, 8.0, 2.0, 3.0]).unwrap_or(f64::NAN);
        assert!((v - 10.56).abs() < 1e-12);
        assert!((v.sqrt() - 3.249615).abs() < 1e-6);
        // Issue #4927: identical values have exactly zero variance.
        let x = 1.5990505637277868;
        assert_eq!(variance([x, x, x]), Some(0.0));
        assert_eq!(variance([7.0]), Some(0.0));
        assert_eq!(variance([]), None);
    }

    #[test]
    fn aggregation_variance_is_plain_welford() {
        let v = aggregation_variance([0.0, 8.0, 8.0, 2.0, 3.0]).unwrap_or(f64::NAN);
        assert!((v - 10.56).abs() < 1e-12);
        assert_eq!(aggregation_variance([5.0]), Some(0.0));
        assert!(aggregation_variance([f64::INFINITY]).is_some_and(f64::is_nan));
        assert!(aggregation_variance([1.0, f64::NAN]).is_some_and(f64::is_nan));
        assert_eq!(aggregation_variance([]), None);
        // aggregators.test: stddev of 0+10x10 … 0+80x10 at 50m (100..800) is 229.12878474779.
        let v = aggregation_variance((1..=8).map(|i| f64::from(i) * 100.0)).unwrap_or(f64::NAN);
        assert!((v.sqrt() - 229.12878474779).abs() < 1e-9);
        // "Float precision test": identical values give exactly 0.
        assert_eq!(aggregation_variance([13.3, 13.3, 13.3]), Some(0.0));
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        // functions.test quantile_over_time cases.
        let q = |phi: f64, v: &[f64]| quantile(phi, &mut v.to_vec());
        assert_eq!(q(0.0, &[0.0, 1.0]), 0.0);
        assert_eq!(q(0.5, &[0.0, 1.0]), 0.5);
        assert_eq!(q(0.75, &[0.0, 1.0]), 0.75);
        assert_eq!(q(0.75, &[0.0, 1.0, 2.0]), 1.5);
        assert_eq!(q(0.75, &[0.0, 1.0, 4.0]), 2.5);
        assert!((q(0.8, &[0.0, 1.0, 2.0]) - 1.6).abs() < 1e-12);
        assert!((q(0.8, &[0.0, 1.0, 4.0]) - 2.8).abs() < 1e-12);
        assert_eq!(q(1.0, &[4.0, 0.0, 1.0]), 4.0);
        assert_eq!(q(0.5, &[2.0, 0.0, 1.0]), 1.0);
    }

    #[test]
    fn quantile_edge_cases() {
        let q = |phi: f64, v: &[f64]| quantile(phi, &mut v.to_vec());
        assert_eq!(q(-1.0, &[1.0]), f64::NEG_INFINITY);
        assert_eq!(q(2.0, &[1.0]), f64::INFINITY);
        assert!(q(f64::NAN, &[1.0]).is_nan());
        assert!(q(0.5, &[]).is_nan());
        assert_eq!(q(0.3, &[7.0]), 7.0);
        // NaN sorts first, so high quantiles still see the numbers.
        assert_eq!(q(1.0, &[3.0, f64::NAN, 1.0]), 3.0);
        assert!(q(0.0, &[3.0, f64::NAN, 1.0]).is_nan());
        // Prometheus's formula turns Inf·0 into NaN; so do we.
        assert!(q(1.0, &[1.0, f64::INFINITY]).is_nan());
    }

    #[test]
    fn go_min_max_semantics() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert!(go_min(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
        assert_eq!(go_max(3.0, 5.0), 5.0);
        assert_eq!(go_min(-2.0, -5.0), -5.0);
    }
}
