//! Annotations: the warnings and infos a query returns beside its result (`warnings` and
//! `infos` in the API response). A warning says the result may be wrong or incomplete (a
//! quantile outside [0, 1], a bucket without a usable `le`, a damaged block left out); an info
//! says the query may not do what was meant (`rate` of something that does not look like a
//! counter). Messages are worded as Prometheus words them, so Grafana shows the same hints.

/// The annotations of one query, each message once, in the order first raised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    pub fn warn(&mut self, message: String) {
        add_once(&mut self.warnings, message);
    }

    pub fn info(&mut self, message: String) {
        add_once(&mut self.infos, message);
    }
}

fn add_once(list: &mut Vec<String>, message: String) {
    if !list.contains(&message) {
        list.push(message);
    }
}

/// Whether `q` is outside what a quantile may be: [0, 1], NaN excluded.
pub(crate) fn is_invalid_quantile(q: f64) -> bool {
    !(0.0..=1.0).contains(&q)
}

/// `quantile`, `quantile_over_time` or `histogram_quantile` with φ outside [0, 1].
pub(crate) fn invalid_quantile(q: f64) -> String {
    format!("PromQL warning: quantile value should be between 0 and 1, got {}", go_g(q))
}

/// A classic-histogram bucket series whose `le` is missing or not a number; it is left out.
pub(crate) fn bad_bucket_label(metric: &str, le: &str) -> String {
    format!(
        "PromQL warning: bucket label \"le\" is missing or has a malformed value of {} for metric name {}",
        go_quote(le),
        go_quote(metric)
    )
}

/// A classic histogram whose cumulative counts decrease somewhere; they were raised to make
/// them monotonic before `histogram_quantile` used them.
pub(crate) fn forced_monotonicity(metric: &str) -> String {
    format!(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see \
         https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {}",
        go_quote(metric)
    )
}

/// `rate` or `increase` of a metric whose name has none of the suffixes counters have.
pub(crate) fn possible_non_counter(metric: &str) -> String {
    format!(
        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
        go_quote(metric)
    )
}

/// Whether a metric name ends like a counter's (or a classic histogram's or summary's parts).
pub(crate) fn looks_like_counter(metric: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"].iter().any(|suffix| metric.ends_with(suffix))
}

/// `sort` or `sort_desc` evaluated at more than one time: a range query's series come back in
/// label order whatever the function did.
pub(crate) const SORT_IN_RANGE_QUERY: &str =
    "PromQL warning: sort is ineffective for range queries since results are always ordered by labels";

/// A float as Go's `%g` prints it: the shortest digits that read back exactly, in exponent
/// form (`1e+06`, `1.5e-05`) when the exponent is below -4 or at least 6.
fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return format!("{v}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// A string as Go's `%q` quotes it (for the printable text of metric names and labels).
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_percent_g() {
        let cases = [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1.01, "1.01"),
            (-0.1, "-0.1"),
            (2.0, "2"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (-1234567.0, "-1.234567e+06"),
            (0.0001, "0.0001"),
            (0.000015, "1.5e-05"),
            (1e100, "1e+100"),
        ];
        for (v, expected) in cases {
            assert_eq!(go_g(v), expected, "{v}");
        }
    }

    #[test]
    fn strings_quote_as_go_percent_q() {
        assert_eq!(go_quote("Hello World"), "\"Hello World\"");
        assert_eq!(go_quote(""), "\"\"");
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
    }

    #[test]
    fn each_message_is_kept_once_in_order() {
        let mut annotations = Annotations::default();
        annotations.warn(invalid_quantile(2.0));
        annotations.warn(SORT_IN_RANGE_QUERY.into());
        annotations.warn(invalid_quantile(2.0));
        annotations.info(possible_non_counter("up"));
        annotations.info(possible_non_counter("up"));
        assert_eq!(
            annotations.warnings,
            [
                "PromQL warning: quantile value should be between 0 and 1, got 2".to_string(),
                SORT_IN_RANGE_QUERY.to_string()
            ]
        );
        assert_eq!(annotations.infos.len(), 1);
    }

    #[test]
    fn counter_suffixes() {
        for name in ["http_requests_total", "latency_sum", "latency_count", "latency_bucket"] {
            assert!(looks_like_counter(name), "{name}");
        }
        for name in ["node_load1", "total", "requests_totals", ""] {
            assert!(!looks_like_counter(name), "{name}");
        }
    }
}
