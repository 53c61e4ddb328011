//! The benchmark workload: a deterministic, node-exporter-like set of series and their samples
//! (pure; no I/O).
//!
//! Every host contributes [`HOST_SERIES`] series: CPU-time and network counters, memory and load
//! gauges, constant filesystem sizes, and an HTTP latency histogram (buckets with `le`, `_sum`,
//! `_count`). A value depends only on the seed, the series and the step, so any split of the
//! series over workers produces the same data. Counters only fall at deliberate resets
//! ([`Workload::is_reset`]); histogram buckets reset together and stay cumulative in `le`.

use std::ops::Range;

/// Series per simulated host.
pub const HOST_SERIES: usize = 48;
const CPU_MODES: [&str; 4] = ["user", "system", "idle", "iowait"];
const BUCKET_BOUNDS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
/// Share of requests at or below each bucket bound, so buckets stay cumulative.
const BUCKET_SHARES: [f64; 6] = [0.3, 0.55, 0.8, 0.93, 0.98, 1.0];
/// One sample in this many is a counter reset.
const RESET_ONE_IN: u64 = 5_000;
/// Timestamps are jittered by up to this many milliseconds past the grid, as real scrapes are.
const MAX_JITTER_MS: i64 = 5;

/// What a series is and how its value moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge {
        start: u64,
        step: u64,
    },
    Constant,
    /// Bucket `index` of the host's histogram (`_count` is the `+Inf` share).
    Bucket {
        index: usize,
    },
    HistogramSum,
}

/// The shape of a run: which series, how many samples, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub series: usize,
    pub samples_per_series: usize,
    pub interval_ms: i64,
    pub seed: u64,
    /// Exclusive end of the data, in ms; samples lie in the `samples_per_series` intervals
    /// before it.
    pub end_ms: i64,
}

impl Workload {
    pub fn total_samples(&self) -> u64 {
        self.series as u64 * self.samples_per_series as u64
    }

    pub fn start_ms(&self) -> i64 {
        self.end_ms - self.samples_per_series as i64 * self.interval_ms
    }

    /// Timestamp of `step` for `series`: on the grid plus a small deterministic jitter.
    pub fn timestamp(&self, series: usize, step: usize) -> i64 {
        let jitter = (self.random(series as u64, step, 1) % MAX_JITTER_MS as u64) as i64;
        self.start_ms() + step as i64 * self.interval_ms + jitter.min(self.interval_ms - 1)
    }

    /// Layout of a host's series by index: 0–31 CPU time (8 CPUs × 4 modes), 32–35 network
    /// bytes, 36 available memory, 37 load, 38–39 filesystem sizes, 40–45 histogram buckets,
    /// 46 `_sum`, 47 `_count`.
    pub fn kind(&self, series: usize) -> Kind {
        match series % HOST_SERIES {
            0..36 => Kind::Counter,
            36 => Kind::Gauge { start: 8 << 30, step: 16 << 20 },
            37 => Kind::Gauge { start: 2, step: 1 },
            38..40 => Kind::Constant,
            index @ 40..46 => Kind::Bucket { index: index - 40 },
            46 => Kind::HistogramSum,
            _ => Kind::Bucket { index: BUCKET_BOUNDS.len() - 1 },
        }
    }

    /// The label set of a series, `__name__` first and the rest sorted.
    pub fn labels(&self, series: usize) -> Vec<(&'static str, String)> {
        let host = series / HOST_SERIES;
        let index = series % HOST_SERIES;
        let mut labels = vec![("__name__", String::new())];
        let name = match index {
            0..32 => {
                labels.push(("cpu", (index / CPU_MODES.len()).to_string()));
                labels.push(("mode", CPU_MODES[index % CPU_MODES.len()].to_string()));
                "node_cpu_seconds_total"
            }
            32..36 => {
                labels.push(("device", format!("eth{}", index % 2)));
                if index < 34 {
                    "node_network_receive_bytes_total"
                } else {
                    "node_network_transmit_bytes_total"
                }
            }
            36 => "node_memory_MemAvailable_bytes",
            37 => "node_load1",
            38..40 => {
                labels.push(("device", format!("sd{}1", if index == 38 { 'a' } else { 'b' })));
                labels.push(("mountpoint", if index == 38 { "/" } else { "/data" }.to_string()));
                "node_filesystem_size_bytes"
            }
            40..46 => {
                labels.push(("le", BUCKET_BOUNDS[index - 40].to_string()));
                "http_request_duration_seconds_bucket"
            }
            46 => "http_request_duration_seconds_sum",
            _ => "http_request_duration_seconds_count",
        };
        labels[0].1 = name.to_string();
        labels.push(("instance", format!("host-{host:05}:9100")));
        labels.push(("job", "node".to_string()));
        labels[1..].sort();
        labels
    }

    /// Whether the counter (or the whole histogram) of `series` resets to zero at `step`.
    pub fn is_reset(&self, series: usize, step: usize) -> bool {
        let key = match self.kind(series) {
            Kind::Bucket { .. } | Kind::HistogramSum => self.histogram_key(series),
            Kind::Counter => series as u64,
            Kind::Gauge { .. } | Kind::Constant => return false,
        };
        step > 0 && self.random(key, step, 2).is_multiple_of(RESET_ONE_IN)
    }

    /// The value of `series` at `step`, given its value at the previous step (`None` at step 0).
    pub fn next_value(&self, series: usize, step: usize, previous: Option<f64>) -> f64 {
        let previous_or =
            |initial: f64| if self.is_reset(series, step) { 0.0 } else { previous.unwrap_or(initial) };
        match self.kind(series) {
            Kind::Counter => previous_or(0.0) + (self.random(series as u64, step, 3) % 1_000) as f64 / 10.0,
            Kind::Gauge { start, step: max_step } => {
                let delta =
                    (self.random(series as u64, step, 4) % (2 * max_step + 1)) as f64 - max_step as f64;
                (previous.unwrap_or(start as f64) + delta).max(0.0)
            }
            Kind::Constant => 500_000_000_000.0 + (series % HOST_SERIES) as f64,
            Kind::Bucket { index } => {
                previous_or(0.0) + (self.requests(series, step) as f64 * BUCKET_SHARES[index]).floor()
            }
            Kind::HistogramSum => previous_or(0.0) + self.requests(series, step) as f64 * 0.137,
        }
    }

    /// Requests the host's histogram observed during `step`.
    fn requests(&self, series: usize, step: usize) -> u64 {
        self.random(self.histogram_key(series), step, 5) % 500
    }

    fn histogram_key(&self, series: usize) -> u64 {
        (series / HOST_SERIES) as u64 | 1 << 40
    }

    /// A pseudo-random number fixed by (seed, key, step, stream): splitmix64 of their mix.
    fn random(&self, key: u64, step: usize, stream: u64) -> u64 {
        let mut z = self.seed
            ^ key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (step as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ stream.wrapping_mul(0x1656_67b1_9e37_79f9);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The series a worker owns: a contiguous share, so each host's series travel together.
    pub fn worker_series(&self, worker: usize, workers: usize) -> Range<usize> {
        let share = |w: usize| self.series * w / workers;
        share(worker)..share(worker + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(series: usize) -> Workload {
        Workload { series, samples_per_series: 300, interval_ms: 15_000, seed: 7, end_ms: 1_700_000_000_000 }
    }

    fn values(w: &Workload, series: usize) -> Vec<f64> {
        let mut previous = None;
        (0..w.samples_per_series)
            .map(|step| {
                let v = w.next_value(series, step, previous);
                previous = Some(v);
                v
            })
            .collect()
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let (a, b) = (workload(96), workload(96));
        let other = Workload { seed: 8, ..workload(96) };
        for series in 0..96 {
            assert_eq!(values(&a, series), values(&b, series));
            assert_eq!(a.labels(series), b.labels(series));
        }
        assert!((0..96).any(|s| values(&a, s) != values(&other, s)));
    }

    #[test]
    fn label_sets_are_unique_and_node_exporter_like() {
        let w = workload(HOST_SERIES * 3);
        let mut seen = std::collections::HashSet::new();
        for series in 0..w.series {
            let labels = w.labels(series);
            assert_eq!(labels[0].0, "__name__");
            assert!(labels[1..].is_sorted());
            assert!(labels.iter().any(|(n, v)| *n == "job" && v == "node"));
            assert!(seen.insert(labels), "duplicate label set for series {series}");
        }
    }

    #[test]
    fn counters_only_fall_at_deliberate_resets() {
        let w = Workload { samples_per_series: 20_000, ..workload(HOST_SERIES) };
        let mut resets = 0;
        for series in 0..HOST_SERIES {
            if matches!(w.kind(series), Kind::Gauge { .. } | Kind::Constant) {
                continue;
            }
            for (step, pair) in values(&w, series).windows(2).enumerate() {
                if pair[1] < pair[0] {
                    assert!(w.is_reset(series, step + 1), "series {series} fell at step {}", step + 1);
                    resets += 1;
                }
            }
        }
        assert!(resets > 0, "the workload has some resets to exercise rate()");
    }

    #[test]
    fn histogram_buckets_stay_cumulative() {
        let w = Workload { samples_per_series: 2_000, ..workload(HOST_SERIES) };
        let buckets: Vec<Vec<f64>> = (40..46).map(|s| values(&w, s)).collect();
        for step in 0..w.samples_per_series {
            for pair in buckets.windows(2) {
                assert!(pair[0][step] <= pair[1][step], "bucket order broken at step {step}");
            }
        }
        assert_eq!(values(&w, 47), buckets[5], "_count equals the +Inf bucket");
    }

    #[test]
    fn timestamps_increase_within_the_window() {
        let w = workload(10);
        for series in 0..10 {
            let times: Vec<i64> = (0..w.samples_per_series).map(|s| w.timestamp(series, s)).collect();
            assert!(times.windows(2).all(|p| p[0] < p[1]));
            assert!(times[0] >= w.start_ms() && *times.last().unwrap() < w.end_ms);
        }
    }

    #[test]
    fn workers_split_series_without_overlap() {
        let w = workload(1001);
        let ranges: Vec<_> = (0..7).map(|i| w.worker_series(i, 7)).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[6].end, 1001);
        assert!(ranges.windows(2).all(|p| p[0].end == p[1].start));
    }
}
