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
//! - [`stats`]: Kahan summation, quantiles, mean and variance shared with the aggregations, and
//!   Prometheus's float comparison (`almost_equal`, public for the test suite).

mod histogram;
mod labels;
mod math;
mod range;
mod stats;

pub(crate) use histogram::{bucket_fraction, bucket_quantile, parse_le};
pub(crate) use labels::{LabelReplace, label_join};
pub(crate) use math::{clamp, date_function, round, simple_function};
pub(crate) use range::{is_range_function, range_function_at, validate_smoothing_factors};
pub use stats::almost_equal;
pub(crate) use stats::{aggregation_variance, kahan_sum_inc, mean, quantile};
