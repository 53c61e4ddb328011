//! PromQL function kernels: the pure numerical and label computations behind PromQL's
//! functions, with Prometheus 3.x semantics down to the floating-point operation order.
//!
//! The evaluator selects the data (windows, vectors, bucket groups), validates arguments,
//! attaches annotations and handles metric names; the functions here only compute values from
//! plain numbers and label sets. Native histograms are not handled here.
//!
//! - [`range`]: functions over a range-vector window (`rate`, `*_over_time`, …).
//! - [`math`]: element-wise math, `round`, `clamp`, calendar functions.
//! - [`histogram`]: `histogram_quantile` and `histogram_fraction` over classic buckets.
//! - [`labels`]: `label_replace` and `label_join`.
//! - [`stats`]: Kahan summation, quantiles, mean and variance shared with the aggregations.

// Wired up by the evaluator.
#![allow(dead_code)]

pub(crate) mod histogram;
pub(crate) mod labels;
pub(crate) mod math;
pub(crate) mod range;
pub(crate) mod stats;

// The kernels the evaluator calls; those it does not call yet would warn as unused.
#[allow(unused_imports)]
pub(crate) use histogram::{
    BucketQuantile, bucket_fraction, bucket_quantile, bucket_quantile_detailed, parse_le,
};
#[allow(unused_imports)]
pub(crate) use labels::{LabelReplace, label_join, label_replace};
#[allow(unused_imports)]
pub(crate) use math::{clamp, date_function, max_of, min_of, round, simple_function};
#[allow(unused_imports)]
pub(crate) use range::{is_range_function, range_function, range_function_at, validate_smoothing_factors};
#[allow(unused_imports)]
pub(crate) use stats::{
    aggregation_variance, go_max, go_min, kahan_sum, kahan_sum_inc, mean, quantile, variance,
};
