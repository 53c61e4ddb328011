//! Classic-histogram kernels: `histogram_quantile` and `histogram_fraction` over a set of
//! `le` buckets (Prometheus's `BucketQuantile` and `BucketFraction` in `promql/quantile.go`).
//!
//! A bucket is `(upper bound, cumulative count)`. Grouping the `_bucket` series by their
//! labels without `le`, parsing `le` and emitting annotations are the evaluator's; native
//! histograms are not handled here.

use super::stats::almost_equal;

/// Relative difference between neighbouring bucket counts below which `histogram_quantile`
/// treats them as equal: such differences come from floating-point error (e.g. sums computed
/// in a different order by query sharding), not from observations. Prometheus's
/// `smallDeltaTolerance`.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The result of [`bucket_quantile`]: the quantile and what had to be repaired in
/// the buckets to compute it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BucketQuantile {
    pub value: f64,
    /// Some bucket counted fewer observations than a lower one and was raised to it;
    /// Prometheus then adds the info annotation "input to histogram_quantile needed to be
    /// fixed for monotonicity".
    pub forced_monotonic: bool,
    /// Differences too small to be real were ignored (no annotation in Prometheus).
    pub fixed_precision: bool,
    /// Lowest and highest upper bound whose count was raised (+Inf and -Inf if none), and the
    /// largest amount a count was raised by: the annotation's details.
    pub min_bucket: f64,
    pub max_bucket: f64,
    pub max_diff: f64,
}

/// The φ-quantile of a classic histogram. `buckets` may come in any order; they are sorted
/// by upper bound, buckets with equal bounds (`le="0.2"` and `le="2e-1"`) are merged by
/// adding their counts, and decreasing counts are raised to the previous count.
///
/// NaN φ gives NaN, φ < 0 gives -Inf, φ > 1 gives +Inf. Without a `+Inf` bucket, with fewer
/// than two distinct buckets, or with no observations, the result is NaN.
///
/// Within a bucket the observations are assumed evenly spread, so the result interpolates
/// linearly. The lowest bucket starts at 0 if its upper bound is positive; otherwise a
/// quantile falling in it is that upper bound. A quantile in the `+Inf` bucket is the
/// highest finite upper bound.
pub(crate) fn bucket_quantile(phi: f64, buckets: &mut Vec<(f64, f64)>) -> BucketQuantile {
    let mut result = BucketQuantile {
        value: f64::NAN,
        forced_monotonic: false,
        fixed_precision: false,
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        max_diff: 0.0,
    };
    if phi.is_nan() {
        return result;
    }
    if phi < 0.0 {
        result.value = f64::NEG_INFINITY;
        return result;
    }
    if phi > 1.0 {
        result.value = f64::INFINITY;
        return result;
    }
    if !sort_and_coalesce(buckets) {
        return result;
    }
    ensure_monotonic(buckets, &mut result);

    let n = buckets.len();
    if n < 2 {
        return result;
    }
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return result;
    }
    let mut rank = phi * observations;
    let b = go_search(n - 1, |i| buckets[i].1 >= rank);
    result.value = if b == n - 1 {
        buckets[n - 2].0
    } else if b == 0 && buckets[0].0 <= 0.0 {
        buckets[0].0
    } else {
        let (bucket_end, mut count) = buckets[b];
        let mut bucket_start = 0.0;
        if b > 0 {
            let (prev_bound, prev_count) = buckets[b - 1];
            bucket_start = prev_bound;
            count -= prev_count;
            rank -= prev_count;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    };
    result
}

/// `histogram_fraction(lower, upper, …)` of one classic histogram: the estimated fraction of
/// observations between `lower` and `upper`, interpolating linearly inside buckets. Buckets
/// are prepared as for [`bucket_quantile`]; counts are not made monotonic (as in Prometheus).
/// NaN without a `+Inf` bucket, without observations or for a NaN bound; 0 when
/// `lower >= upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if !sort_and_coalesce(buckets) {
        return f64::NAN;
    }
    let count = buckets.last().map_or(0.0, |b| b.1);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }

    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    // With a positive first bound the histogram is taken to start at 0, otherwise at -Inf.
    let mut lower_bound = if buckets[0].0 <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, &(upper_bound, bucket_count)) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].0;
        }
        // No interpolation inside a bucket of infinite width: it contributes nothing.
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                bucket_count
            } else {
                rank + (bucket_count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bucket_count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Sorts by upper bound and merges equal bounds. Returns false (leaving the result to be
/// NaN) when there are no buckets or the highest bound is not +Inf.
fn sort_and_coalesce(buckets: &mut Vec<(f64, f64)>) -> bool {
    // Equal bounds compare equal (so -0 and +0 merge, as in Go); NaN bounds, which Prometheus
    // does not expect, sort last, which keeps the order total and yields NaN below.
    buckets.sort_unstable_by(|a, b| match (a.0.is_nan(), b.0.is_nan()) {
        (false, false) => a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal),
        (x, y) => x.cmp(&y),
    });
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return false;
    }
    buckets.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 += next.1;
        }
        same
    });
    true
}

/// Makes the counts non-decreasing (Prometheus's `ensureMonotonicAndIgnoreSmallDeltas`).
/// Counts within [`SMALL_DELTA_TOLERANCE`] of the last accepted count are set to it in
/// either direction; real decreases are raised to it and reported in `result`.
fn ensure_monotonic(buckets: &mut [(f64, f64)], result: &mut BucketQuantile) {
    let Some(&(_, mut prev)) = buckets.first() else {
        return;
    };
    for bucket in buckets.iter_mut().skip(1) {
        let curr = bucket.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            // The difference is noise: ignore it and keep comparing against `prev`.
            bucket.1 = prev;
            result.fixed_precision = true;
            continue;
        }
        if curr < prev {
            bucket.1 = prev;
            result.forced_monotonic = true;
            result.min_bucket = result.min_bucket.min(bucket.0);
            result.max_bucket = result.max_bucket.max(bucket.0);
            result.max_diff = result.max_diff.max(prev - curr);
            continue;
        }
        prev = curr;
    }
}

/// Go's `sort.Search`: the smallest `i` in `0..n` for which `f(i)` holds, assuming `f` turns
/// true once and stays true; `n` if it never does. Reproduced probe for probe so that counts
/// which break the assumption (NaN) give the same bucket as in Prometheus.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if f(h) {
            j = h;
        } else {
            i = h + 1;
        }
    }
    i
}

/// Parses an `le` label value as Prometheus's `strconv.ParseFloat` would for the usual
/// spellings (`0.1`, `1e0`, `.2`, `+Inf`, `+inf`, `NaN`). Go's hexadecimal floats are not
/// accepted. `None` means the bucket is ignored, as Prometheus ignores unparsable `le`s.
pub(crate) fn parse_le(le: &str) -> Option<f64> {
    le.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(phi: f64, buckets: &[(f64, f64)]) -> f64 {
        bucket_quantile(phi, &mut buckets.to_vec()).value
    }

    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() <= want.abs() * 1e-12, "got {got}, want {want}");
    }

    const INF: f64 = f64::INFINITY;

    /// histograms.test testhistogram at 50m.
    const POSITIVE: [(f64, f64); 4] = [(0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 120.0)];
    const NEGATIVE: [(f64, f64); 4] = [(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)];

    #[test]
    fn quantiles_from_prometheus() {
        assert_eq!(q(0.0, &POSITIVE), 0.0);
        assert_eq!(q(0.0, &NEGATIVE), -0.2);
        assert_eq!(q(1.0, &POSITIVE), 1.0);
        assert_eq!(q(1.0, &NEGATIVE), 0.3);
        assert_close(q(0.2, &POSITIVE), 0.048);
        assert_eq!(q(0.2, &NEGATIVE), -0.2);
        assert_close(q(0.5, &POSITIVE), 0.15);
        assert_close(q(0.5, &NEGATIVE), -0.15);
        assert_close(q(0.8, &POSITIVE), 0.72);
        assert_eq!(q(0.8, &NEGATIVE), 0.3);
        // Order of the input does not matter.
        let mut shuffled = POSITIVE;
        shuffled.reverse();
        assert_close(q(0.5, &shuffled), 0.15);
    }

    #[test]
    fn quantiles_in_the_middle_of_buckets() {
        // testhistogram2 at 7m: q(1/6), q(1/2), q(5/6) are 1, 3, 5.
        let h = [(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (INF, 3.0)];
        assert_close(q(1.0 / 6.0, &h), 1.0);
        assert_close(q(0.5, &h), 3.0);
        assert_close(q(5.0 / 6.0, &h), 5.0);
        // testhistogram3 at 50m.
        let pos = [(0.0, 0.0), (0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 110.0)];
        let neg = [(-0.25, 0.0), (-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 20.0)];
        assert_eq!((q(0.0, &pos), q(0.0, &neg)), (0.0, -0.25));
        assert_close(q(0.25, &pos), 0.055);
        assert_close(q(0.25, &neg), -0.225);
        assert_close(q(0.5, &pos), 0.125);
        assert_close(q(0.5, &neg), -0.2);
        assert_close(q(0.75, &pos), 0.45);
        assert_close(q(0.75, &neg), -0.15);
        assert_eq!((q(1.0, &pos), q(1.0, &neg)), (1.0, -0.1));
    }

    #[test]
    fn aggregated_rates_from_prometheus() {
        // sum(rate(request_duration_seconds_bucket[10m])) by (le): counts per bucket are the
        // sums of 1+2+3+4, 3+5+4+7 and 4+6+6+9, scaled by the rate.
        let per_second = 1.0 / 300.0;
        let h = [(0.1, 10.0 * per_second), (0.2, 19.0 * per_second), (INF, 25.0 * per_second)];
        assert_close(q(0.3, &h), 0.075);
        assert_close(q(0.5, &h), 0.1277777777777778);
    }

    #[test]
    fn out_of_range_phi() {
        assert_eq!(q(-0.1, &POSITIVE), f64::NEG_INFINITY);
        assert_eq!(q(1.01, &POSITIVE), f64::INFINITY);
        assert!(q(f64::NAN, &POSITIVE).is_nan());
    }

    #[test]
    fn degenerate_histograms_are_nan() {
        assert!(q(0.5, &[]).is_nan());
        assert!(q(0.5, &[(0.1, 1.0), (1.0, 2.0)]).is_nan(), "no +Inf bucket");
        assert!(q(0.5, &[(INF, 5.0)]).is_nan(), "a single bucket");
        // le="+inf" and le="+Inf" are the same bucket, so only one remains.
        assert!(q(0.5, &[(INF, 0.0), (INF, 0.0)]).is_nan());
        assert!(q(0.5, &[(0.1, 0.0), (0.2, 0.0), (INF, 0.0)]).is_nan(), "no observations");
    }

    #[test]
    fn equal_bounds_are_merged() {
        // mixed_bucket: le 0.1, 0.2, 2e-1, 2.0e-1, +Inf with rates r, r, r, r, 4r.
        let r = 1.0 / 300.0;
        let h = [(0.1, r), (0.2, r), (0.2, r), (0.2, r), (INF, 4.0 * r)];
        assert_close(q(0.5, &h), 0.15);
        assert_close(q(0.75, &h), 0.2);
        assert_close(q(1.0, &h), 0.2);
    }

    #[test]
    fn non_monotonic_buckets_are_fixed_and_reported() {
        // histograms.test nonmonotonic_bucket at 50m.
        let h = [(0.1, 20.0), (1.0, 10.0), (10.0, 50.0), (100.0, 40.0), (1000.0, 90.0), (INF, 80.0)];
        assert_close(q(0.01, &h), 0.0045);
        assert_close(q(0.5, &h), 8.5);
        assert_close(q(0.99, &h), 979.75);
        let detail = bucket_quantile(0.5, &mut h.to_vec());
        assert!(detail.forced_monotonic && !detail.fixed_precision);
        assert_eq!((detail.min_bucket, detail.max_bucket, detail.max_diff), (1.0, INF, 10.0));
    }

    #[test]
    fn tiny_deviations_are_ignored_silently() {
        // quantile_test.go "simple - non-monotonic middle".
        let h = [(10.0, 10.0), (15.0, 15.0), (20.0, 15.00000000001), (30.0, 15.0), (INF, 15.0)];
        let detail = bucket_quantile(0.99, &mut h.to_vec());
        assert!(!detail.forced_monotonic && detail.fixed_precision);
        assert_close(detail.value, 14.85);
        assert_close(q(0.9, &h), 13.5);
        assert_close(q(0.5, &h), 7.5);
        assert_eq!(q(1.0, &h), 15.0);
    }

    // The counts are Prometheus's test data verbatim, digits beyond f64 precision included.
    #[allow(clippy::excessive_precision)]
    #[test]
    fn real_example_from_prometheus_unit_tests() {
        // quantile_test.go "real example - non-monotonic".
        let h = [
            (1.0, 6454661.3014166225),
            (5.0, 8339611.2001912957),
            (10.0, 14118319.2444762159),
            (25.0, 14130031.5272856504),
            (50.0, 46001270.3030008227),
            (64.0, 46008473.8585563824),
            (80.0, 46008473.8585563898),
            (100.0, 46008473.8585563824),
            (250.0, 46008473.8585563824),
            (1000.0, 46008473.8585563898),
            (INF, 46008473.8585563824),
        ];
        let detail = bucket_quantile(0.99, &mut h.to_vec());
        assert!(!detail.forced_monotonic && detail.fixed_precision);
        assert_close(detail.value, 49.64475715376406);
        assert_eq!(q(1.0, &h), 64.0);
        assert_close(q(0.9, &h), 46.39671690938454);
        assert_close(q(0.5, &h), 31.96098248992002);
    }

    #[test]
    fn nan_bounds_and_counts_do_not_panic() {
        assert!(q(0.5, &[(f64::NAN, 1.0), (0.1, 1.0), (INF, 2.0)]).is_nan());
        let _ = q(0.5, &[(0.1, f64::NAN), (1.0, 3.0), (INF, 4.0)]);
        let _ = q(0.5, &[(0.1, 1.0), (1.0, 3.0), (INF, f64::NAN)]);
    }

    #[test]
    fn fractions_from_prometheus() {
        // testhistogram2 at 50m.
        let h = [(0.0, 0.0), (2.0, 10.0), (4.0, 20.0), (6.0, 30.0), (INF, 30.0)];
        let f = |lower: f64, upper: f64| bucket_fraction(lower, upper, &mut h.to_vec());
        assert_close(f(0.0, 4.0), 0.6666666666666666);
        assert_eq!(f(0.0, 6.0), 1.0);
        assert_close(f(0.0, 3.5), 0.5833333333333334);
        // testhistogram3 at 50m.
        let pos = [(0.0, 0.0), (0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 110.0)];
        let neg = [(-0.25, 0.0), (-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 20.0)];
        assert_close(bucket_fraction(0.0, 0.2, &mut pos.to_vec()), 0.6363636363636364);
        assert_eq!(bucket_fraction(0.0, 0.2, &mut neg.to_vec()), 0.0);
        assert_eq!(f(4.0, 4.0), 0.0);
        assert!(f(f64::NAN, 4.0).is_nan());
        assert!(bucket_fraction(0.0, 1.0, &mut vec![(1.0, 1.0)]).is_nan());
        assert!(bucket_fraction(0.0, 1.0, &mut vec![]).is_nan());
        // Whole range, including the +Inf bucket's share.
        assert_eq!(bucket_fraction(f64::NEG_INFINITY, INF, &mut POSITIVE.to_vec()), 1.0);
    }

    #[test]
    fn le_parsing() {
        assert_eq!(parse_le("0.1"), Some(0.1));
        assert_eq!(parse_le(".2"), Some(0.2));
        assert_eq!(parse_le("1e0"), Some(1.0));
        assert_eq!(parse_le("2.0e-1"), Some(0.2));
        assert_eq!(parse_le("+Inf"), Some(INF));
        assert_eq!(parse_le("+inf"), Some(INF));
        assert_eq!(parse_le("-0.1"), Some(-0.1));
        assert_eq!(parse_le("abc"), None);
    }

    #[test]
    fn go_search_matches_binary_search_on_monotonic_input() {
        let v = [1.0, 2.0, 2.0, 5.0];
        for target in [0.0, 1.0, 1.5, 2.0, 3.0, 5.0, 6.0] {
            assert_eq!(go_search(v.len(), |i| v[i] >= target), v.partition_point(|&x| x < target));
        }
    }
}
