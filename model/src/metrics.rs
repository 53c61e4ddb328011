//! Minimal self-metrics primitives: a lock-free histogram and a writer for the Prometheus text
//! exposition format. Engines keep plain atomics; the binary renders them on `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A cumulative histogram of durations in seconds with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// Bucket bounds in seconds suited to fsyncs and HTTP requests (100µs … 10s).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(duration.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Writes metric families in the Prometheus text format (version 0.0.4): announce a family
/// with [`TextEncoder::family`], then write its samples.
#[derive(Default)]
pub struct TextEncoder {
    out: String,
}

/// The kind of a metric family, as `# TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl TextEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: MetricKind, help: &str) {
        let kind = match kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line, label values escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A whole family holding one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: MetricKind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram of a family.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, bucket) in histogram.bounds.iter().zip(&histogram.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = bound.to_string();
            let with_le: Vec<(&str, &str)> = labels.iter().copied().chain([("le", le.as_str())]).collect();
            self.sample(&bucket_name, &with_le, cumulative as f64);
        }
        let count = histogram.count();
        let with_inf: Vec<(&str, &str)> = labels.iter().copied().chain([("le", "+Inf")]).collect();
        self.sample(&bucket_name, &with_inf, count as f64);
        let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf_bucket() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut enc = TextEncoder::new();
        enc.family("x_seconds", MetricKind::Histogram, "test");
        enc.histogram("x_seconds", &[("op", "a")], &h);
        let text = enc.finish();
        assert!(text.contains("x_seconds_bucket{op=\"a\",le=\"0.1\"} 1\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{op=\"a\",le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{op=\"a\",le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("x_seconds_count{op=\"a\"} 3\n"), "{text}");
    }

    #[test]
    fn counter_and_gauge_lines() {
        let mut enc = TextEncoder::new();
        enc.family("c_total", MetricKind::Counter, "help");
        enc.sample("c_total", &[("reason", "a\"b")], 3.0);
        enc.single("g", MetricKind::Gauge, "help", 1.5);
        let text = enc.finish();
        assert!(text.contains("# TYPE c_total counter\nc_total{reason=\"a\\\"b\"} 3\n"), "{text}");
        assert!(text.contains("g 1.5\n"), "{text}");
    }
}
