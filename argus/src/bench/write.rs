//! `argus bench write`: generate and encode the whole workload, then send it over remote write
//! with C workers, each owning a disjoint set of series, and report throughput, latency,
//! errors by status and the generator's own CPU time.
//!
//! Workers move through time together: none sends a step more than [`WINDOW`] of data ahead of
//! the slowest, so every system sees samples "in the recent past in time order" and none
//! refuses them as too old.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::requests::{EncodedRequest, worker_requests};
use super::stats::{percentile, process_cpu_time};
use super::workload::Workload;

/// How far (in data time) a worker may run ahead of the slowest one.
const WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Serialize)]
pub struct WriteReport {
    /// Samples in acknowledged (2xx) requests.
    pub samples: u64,
    pub series: u64,
    pub seconds: f64,
    pub samples_per_second: f64,
    pub latency_ms: Latency,
    /// Failed requests by HTTP status, or `network`.
    pub errors: BTreeMap<String, u64>,
    pub client_cpu_seconds: f64,
    /// Compressed bytes sent.
    pub request_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What one worker saw.
#[derive(Default)]
struct WorkerOutcome {
    samples: u64,
    latencies_ms: Vec<f64>,
    errors: BTreeMap<String, u64>,
}

pub fn run(url: &str, workload: &Workload, batch: usize, concurrency: usize) -> anyhow::Result<WriteReport> {
    let concurrency = concurrency.max(1);
    let generation_started = Instant::now();
    let per_worker: Vec<Vec<EncodedRequest>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|w| {
                scope.spawn(move || worker_requests(workload, workload.worker_series(w, concurrency), batch))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("request generation does not panic")).collect()
    });
    let request_bytes: u64 = per_worker.iter().flatten().map(|r| r.body.len() as u64).sum();
    let requests: usize = per_worker.iter().map(Vec::len).sum();
    eprintln!(
        "generated {requests} requests, {} samples, {:.1} MiB compressed, in {:.1}s",
        workload.total_samples(),
        request_bytes as f64 / (1 << 20) as f64,
        generation_started.elapsed().as_secs_f64()
    );

    let endpoint = format!("{}/api/v1/write", url.trim_end_matches('/'));
    let window_steps = (WINDOW.as_millis() as i64 / workload.interval_ms.max(1)).max(1) as usize;
    let progress: Vec<AtomicUsize> = (0..concurrency).map(|_| AtomicUsize::new(0)).collect();
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let outcomes: Vec<WorkerOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_worker
            .into_iter()
            .enumerate()
            .map(|(w, requests)| {
                let (endpoint, progress) = (&endpoint, &progress);
                scope.spawn(move || send_all(endpoint, requests, w, progress, window_steps))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("sender does not panic")).collect::<anyhow::Result<_>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu_seconds = (process_cpu_time() - cpu_before).as_secs_f64();

    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    let mut samples = 0;
    for outcome in outcomes {
        samples += outcome.samples;
        latencies.extend(outcome.latencies_ms);
        for (status, count) in outcome.errors {
            *errors.entry(status).or_default() += count;
        }
    }
    Ok(WriteReport {
        samples,
        series: workload.series as u64,
        seconds,
        samples_per_second: samples as f64 / seconds,
        latency_ms: Latency {
            p50: percentile(&latencies, 50.0),
            p90: percentile(&latencies, 90.0),
            p99: percentile(&latencies, 99.0),
            max: percentile(&latencies, 100.0),
        },
        errors,
        client_cpu_seconds,
        request_bytes,
    })
}

/// Sends one worker's requests in order, waiting whenever it is a window ahead of the others.
fn send_all(
    endpoint: &str,
    requests: Vec<EncodedRequest>,
    worker: usize,
    progress: &[AtomicUsize],
    window_steps: usize,
) -> anyhow::Result<WorkerOutcome> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let mut outcome = WorkerOutcome::default();
    for request in requests {
        while slowest(progress) + window_steps < request.first_step {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        let response = client
            .post(endpoint)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header("User-Agent", concat!("argus-bench/", env!("CARGO_PKG_VERSION")))
            .body(request.body)
            .send();
        outcome.latencies_ms.push(started.elapsed().as_secs_f64() * 1e3);
        match response {
            Ok(r) if r.status().is_success() => outcome.samples += request.samples as u64,
            Ok(r) => *outcome.errors.entry(r.status().as_u16().to_string()).or_default() += 1,
            Err(_) => *outcome.errors.entry("network".to_string()).or_default() += 1,
        }
        progress[worker].store(request.steps_done, Ordering::Release);
    }
    // A finished worker must not hold the others back.
    progress[worker].store(usize::MAX / 2, Ordering::Release);
    Ok(outcome)
}

fn slowest(progress: &[AtomicUsize]) -> usize {
    progress.iter().map(|p| p.load(Ordering::Acquire)).min().unwrap_or(0)
}

impl WriteReport {
    pub fn print(&self) {
        println!("samples acknowledged  {}", self.samples);
        println!("series                {}", self.series);
        println!("seconds               {:.2}", self.seconds);
        println!("samples/s             {:.0}", self.samples_per_second);
        let l = &self.latency_ms;
        println!(
            "latency ms            p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            l.p50, l.p90, l.p99, l.max
        );
        println!("client cpu seconds    {:.2}", self.client_cpu_seconds);
        println!("request MiB           {:.1}", self.request_bytes as f64 / (1 << 20) as f64);
        if self.errors.is_empty() {
            println!("errors                none");
        }
        for (status, count) in &self.errors {
            println!("errors                {count} × {status}");
        }
    }
}

/// Fails with the error counts when any request failed.
pub fn check_no_errors(report: &WriteReport) -> anyhow::Result<()> {
    let failed: u64 = report.errors.values().sum();
    (failed == 0)
        .then_some(())
        .with_context(|| format!("{failed} write requests failed: {:?}", report.errors))
}
