//! Values PromQL expressions evaluate to: scalars, strings, instant vectors and range vectors
//! (matrices), with Prometheus's result shapes.
//!
//! Metric names are removed late, as Prometheus 3 does with delayed name removal: an operation
//! that drops the name only marks the series (`drop_name`), so `label_replace` can still read
//! `__name__` afterwards and series that differ only by name do not collide midway; the engine
//! removes marked names (and then checks for duplicate label sets) when the query finishes.

use argus_model::{Labels, Sample};

/// One element of an instant vector: a series' labels and its value at the evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    /// Milliseconds; the evaluation time (or the sample's own time for `timestamp()`-like
    /// internals).
    pub t: i64,
    pub v: f64,
    /// The metric name is to be removed when the query finishes.
    pub drop_name: bool,
}

impl VectorSample {
    pub fn new(labels: Labels, t: i64, v: f64) -> Self {
        Self { labels, t, v, drop_name: false }
    }

    /// The same series marked to lose its metric name.
    pub fn dropping_name(labels: Labels, t: i64, v: f64) -> Self {
        Self { labels, t, v, drop_name: true }
    }
}

/// One series of a range vector: labels and samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// The metric name is to be removed when the query finishes.
    pub drop_name: bool,
}

pub type Vector = Vec<VectorSample>;
pub type Matrix = Vec<RangeSeries>;

/// The value of an expression at one evaluation time, or the result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vector),
    Matrix(Matrix),
}

impl Value {
    /// Prometheus's name for the type, as used in `resultType` and error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Labels with a marked metric name removed.
pub fn final_labels(labels: Labels, drop_name: bool) -> Labels {
    if drop_name { labels.without_metric_name() } else { labels }
}

/// A float as Prometheus prints sample values (Go's `strconv.FormatFloat(v, 'f', -1, 64)`):
/// the shortest decimal that reads back exactly, `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    PromFloat(v).to_string()
}

/// Displays a float as [`format_float`] does, without allocating.
pub struct PromFloat(pub f64);

impl std::fmt::Display for PromFloat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            write!(f, "{v}")
        }
    }
}
