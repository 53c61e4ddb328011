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
/// the shortest decimal that reads back exactly, never in exponent form, `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    with_formatted_float(v, str::to_string)
}

/// Calls `use_text` with `v` formatted as [`format_float`] formats it, from a buffer on the
/// stack (a `String` only below 1e-5 and from 1e16 up): result bodies print one float per
/// point, and `core::fmt`'s float printing costs several times the shortest-digits algorithm
/// of `zmij` used here. Both print the shortest
/// digits that read back; where two are equally near, `zmij` picks the even one, as Go does,
/// and `core::fmt` the larger.
pub fn with_formatted_float<R>(v: f64, use_text: impl FnOnce(&str) -> R) -> R {
    if v.is_nan() {
        return use_text("NaN");
    }
    if v.is_infinite() {
        return use_text(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    let mut buffer = zmij::Buffer::new();
    let shortest = buffer.format_finite(v);
    if let Some((mantissa, exponent)) = shortest.split_once('e') {
        // Below 1e-5 and from 1e16 up `zmij` writes an exponent; Go never does.
        return use_text(&positional(mantissa, exponent));
    }
    // `zmij` marks whole numbers with `.0`; Go prints them bare.
    use_text(shortest.strip_suffix(".0").unwrap_or(shortest))
}

/// `<mantissa>e<exponent>` as `zmij` writes it (`-1.25e-7`, `1e+16`) in positional form
/// (`-0.000000125`, `10000000000000000`).
fn positional(mantissa: &str, exponent: &str) -> String {
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // How many digits stand before the decimal point: one in the mantissa, moved by the exponent.
    let before_point = 1 + exponent.parse::<i64>().expect("zmij writes a decimal exponent");
    let length = digits.len() as i64;
    if before_point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat(before_point.unsigned_abs() as usize))
    } else if before_point >= length {
        format!("{sign}{digits}{}", "0".repeat((before_point - length) as usize))
    } else {
        let (whole, fraction) = digits.split_at(before_point as usize);
        format!("{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-42.125, "-42.125"),
            (0.1, "0.1"),
            (2.0 / 3.0, "0.6666666666666666"),
            (123456789.0, "123456789"),
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (-1.5e16, "-15000000000000000"),
            (12345678901234567.0, "12345678901234568"),
            (1.2345e21, "1234500000000000000000"),
            (0.00001, "0.00001"),
            (1e-7, "0.0000001"),
            (-1.25e-7, "-0.000000125"),
            (0.000123, "0.000123"),
            (f64::MIN_POSITIVE, &format!("0.{}22250738585072014", "0".repeat(307))),
            (f64::MAX, &format!("17976931348623157{}", "0".repeat(292))),
            // 848944657418.03125, exactly halfway between two shortest forms: Go (and Python's
            // repr) round to even, Rust's `{}` prints `…0313`.
            (848944657418.0 + 1.0 / 32.0, "848944657418.0312"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, printed) in cases {
            assert_eq!(format_float(v), printed, "{v:e}");
        }
    }

    proptest! {
        /// Shortest, positional, and reading back exactly. Rust's `{}` prints shortest digits
        /// too, so the two agree except on a tie, which Rust breaks upwards and Go to even.
        #[test]
        fn every_finite_float_prints_shortest_and_reads_back(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            let printed = format_float(v);
            prop_assert_eq!(printed.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{}", printed);
            prop_assert!(!printed.contains('e'), "{}", printed);
            let std = v.to_string();
            if printed != std {
                let (ours, theirs) = (printed.as_bytes(), std.as_bytes());
                let last = ours.len() - 1;
                prop_assert!(
                    ours.len() == theirs.len()
                        && ours[..last] == theirs[..last]
                        && (ours[last] - b'0').is_multiple_of(2)
                        && theirs[last] == ours[last] + 1,
                    "{} against std's {}", printed, std
                );
            }
        }
    }
}
