//! The agent (`argus agent --config agent.yaml`): scrapes Prometheus-style targets and follows
//! log files and the systemd journal, and ships both (remote write, Loki push), with its own
//! metrics on `/metrics`.
//!
//! - [`config`]: the YAML file.
//! - [`relabel`]: Prometheus relabeling.
//! - [`scrape`]: targets, and how a scrape becomes series (pure).
//! - [`host`]: this machine's metrics under node_exporter's names, scraped as a target.
//! - [`logs`] and [`tail`]: log files followed through rotation.
//! - [`journal`]: the systemd journal, read through `journalctl`.
//! - [`log_batch`]: log entries batched as Loki pushes, queued with their input's position.
//! - [`queue`]: the on-disk queue of each output.
//! - [`ship`]: batching into the queue, and sending from it with retries.
//!
//! Each target is scraped by its own task on its interval, started at an offset derived from
//! its URL so that targets spread over the interval. Every scrape's series go to every output:
//! a small channel, then batches in the output's on-disk queue (`data_dir/queue/<url hash>`),
//! then the sender. A full queue holds the scrapers back rather than losing data.

pub mod config;
pub mod host;
pub mod journal;
pub mod log_batch;
pub mod logs;
pub mod queue;
pub mod relabel;
pub mod scrape;
pub mod ship;
pub mod tail;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_model::metrics::{MetricKind, TextEncoder};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ship::EncodedSeries;
use tokio::sync::mpsc;

pub use config::AgentConfig;
use log_batch::InputQueues;
use queue::DiskQueue;
use scrape::{ScrapeBody, Target, TargetState, process_scrape};

/// Scrapes waiting per output for the batcher.
const CHANNEL_SCRAPES: usize = 64;
/// What the agent asks targets for, as Prometheus does.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The agent's own counters, on its `/metrics`.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    pub scrapes: AtomicU64,
    pub scrape_errors: AtomicU64,
    pub samples_scraped: AtomicU64,
    pub requests_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub retries: AtomicU64,
    pub requests_dropped: AtomicU64,
    /// Lines read from log files and from `journalctl`'s output (entries, and lines that are not).
    pub log_lines_read: AtomicU64,
    /// Lines of `journalctl` output that were not a JSON entry (skipped).
    pub journal_lines_invalid: AtomicU64,
}

/// What `/metrics` reads.
#[derive(Clone)]
struct Observed {
    metrics: Arc<AgentMetrics>,
    queues: Vec<Arc<DiskQueue>>,
}

/// Runs the agent until `shutdown` completes. Then the scrapes and log lines read so far are
/// queued (waiting at most a few seconds for room in a full queue) and it returns; what is
/// queued and not yet sent is sent after the next start.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let targets = scrape::targets(&config)?;
    let metrics = Arc::new(AgentMetrics::default());
    let (mut channels, mut batchers, mut senders, mut queues) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for output in config.outputs.clone() {
        let queue = Arc::new(DiskQueue::open(&queue_dir(&config, &output), output.queue_max_size.0)?);
        let (sender, receiver) = mpsc::channel(CHANNEL_SCRAPES);
        channels.push(sender);
        batchers.push(tokio::spawn(ship::batch(output.clone(), receiver, queue.clone())));
        senders.push(tokio::spawn(ship::send_queued(
            output.clone(),
            output.client()?,
            ship::Payload::RemoteWrite,
            queue.clone(),
            metrics.clone(),
        )));
        queues.push(queue);
    }
    // Each log input has a queue of its own per log output: a queued batch carries the read
    // position of its input, which restarting reads back from that queue.
    let mut log_inputs = Vec::new();
    for input in &config.logs {
        let name = format!("files {}", input.paths.join(", "));
        let input_queues =
            log_input_queues(&config, name, logs::input_key(input), &metrics, &mut senders, &mut queues)?;
        log_inputs.push(tokio::spawn(logs::run(input.clone(), input_queues, metrics.clone())));
    }
    for input in &config.journal {
        let name = format!("journal units [{}]", input.units.join(", "));
        let input_queues =
            log_input_queues(&config, name, journal::input_key(input), &metrics, &mut senders, &mut queues)?;
        log_inputs.push(tokio::spawn(journal::run(input.clone(), input_queues, metrics.clone())));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.listen))?;
    tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, targets = targets.len(), "argus agent is ready");
    let observed = Observed { metrics: metrics.clone(), queues };
    let app = Router::new().route("/metrics", get(render)).with_state(observed);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
    let scrapers: Vec<_> = targets
        .into_iter()
        .map(|target| tokio::spawn(scrape_loop(target, client.clone(), channels.clone(), metrics.clone())))
        .collect();
    drop(channels);
    shutdown.await;
    for task in scrapers.into_iter().chain(log_inputs) {
        task.abort();
        let _ = task.await;
    }
    // The scrapers held the last channel ends: the batchers queue what they hold and stop.
    for batcher in batchers {
        // A full queue with its output down would hold the batcher forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), batcher).await;
    }
    // What is still queued is on disk and is sent after the next start.
    for sender in senders {
        sender.abort();
    }
    server.abort();
    Ok(())
}

/// Opens the log input `key`'s own queue on every log output, each with its sender (added to
/// `senders`; the queues are also added to `queues`, for `/metrics`).
fn log_input_queues(
    config: &AgentConfig,
    name: String,
    key: u64,
    metrics: &Arc<AgentMetrics>,
    senders: &mut Vec<tokio::task::JoinHandle<()>>,
    queues: &mut Vec<Arc<DiskQueue>>,
) -> Result<InputQueues, String> {
    let mut input_queues = Vec::new();
    for output in config.log_outputs.clone() {
        let dir = queue_dir(config, &output).with_extension(format!("{key:016x}"));
        let queue = Arc::new(DiskQueue::open(&dir, output.queue_max_size.0)?);
        senders.push(tokio::spawn(ship::send_queued(
            output.clone(),
            output.client()?,
            ship::Payload::LokiPush,
            queue.clone(),
            metrics.clone(),
        )));
        input_queues.push(queue.clone());
        queues.push(queue);
    }
    Ok(InputQueues::new(name, &config.data_dir, key, input_queues))
}

async fn scrape_loop(
    target: Target,
    client: reqwest::Client,
    channels: Vec<mpsc::Sender<EncodedSeries>>,
    metrics: Arc<AgentMetrics>,
) {
    let offset = spread_offset(&target.url, target.interval);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, target.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = TargetState::default();
    loop {
        ticks.tick().await;
        let time = argus_model::time::now();
        let started = Instant::now();
        let body = fetch(&client, &target).await;
        metrics.scrapes.fetch_add(1, Ordering::Relaxed);
        if body.is_err() {
            metrics.scrape_errors.fetch_add(1, Ordering::Relaxed);
        }
        let series = process_scrape(&target, &mut state, body, time, started.elapsed());
        metrics.samples_scraped.fetch_add(series.samples() as u64, Ordering::Relaxed);
        let Some((last, others)) = channels.split_last() else { continue };
        for channel in others {
            if channel.send(series.clone()).await.is_err() {
                return;
            }
        }
        if last.send(series).await.is_err() {
            return;
        }
    }
}

async fn fetch(client: &reqwest::Client, target: &Target) -> ScrapeBody {
    if let Some(proc_root) = target.url.strip_prefix(scrape::HOST_SOURCE) {
        let proc_root = std::path::PathBuf::from(proc_root);
        let text = tokio::task::spawn_blocking(move || host::exposition(&proc_root))
            .await
            .map_err(|e| e.to_string())?;
        return Ok((text, None));
    }
    let response = client
        .get(&target.url)
        .header("Accept", ACCEPT)
        .header("X-Prometheus-Scrape-Timeout-Seconds", target.timeout.as_secs_f64().to_string())
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let content_type =
        response.headers().get("Content-Type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((text, content_type))
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content, never a mix:
/// a temporary file, fsynced, renamed over it, and the directory fsynced.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The directory of an output's queue: named by its URL, so reordering outputs keeps queues.
fn queue_dir(config: &AgentConfig, output: &config::OutputConfig) -> std::path::PathBuf {
    config.data_dir.join("queue").join(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(output.url.as_bytes())))
}

/// Where in its interval a target is scraped: a stable fraction of the interval from its URL.
fn spread_offset(url: &str, interval: Duration) -> Duration {
    let hash = xxhash_rust::xxh3::xxh3_64(url.as_bytes());
    interval.mul_f64((hash % 10_000) as f64 / 10_000.0)
}

async fn render(State(observed): State<Observed>) -> String {
    use MetricKind::{Counter, Gauge};
    let metrics = &observed.metrics;
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
    let queued: u64 = observed.queues.iter().map(|q| q.pending_bytes()).sum();
    let families = [
        ("argus_agent_scrapes_total", Counter, "Scrapes made.", read(&metrics.scrapes)),
        ("argus_agent_scrape_errors_total", Counter, "Scrapes that failed.", read(&metrics.scrape_errors)),
        (
            "argus_agent_series_scraped_total",
            Counter,
            "Series produced by scrapes.",
            read(&metrics.samples_scraped),
        ),
        (
            "argus_agent_requests_sent_total",
            Counter,
            "Requests an output accepted.",
            read(&metrics.requests_sent),
        ),
        (
            "argus_agent_bytes_sent_total",
            Counter,
            "Compressed bytes an output accepted.",
            read(&metrics.bytes_sent),
        ),
        ("argus_agent_retries_total", Counter, "Sends retried.", read(&metrics.retries)),
        (
            "argus_agent_requests_dropped_total",
            Counter,
            "Requests an output refused for good (4xx).",
            read(&metrics.requests_dropped),
        ),
        (
            "argus_agent_log_lines_read_total",
            Counter,
            "Lines read from log files and from journalctl's output.",
            read(&metrics.log_lines_read),
        ),
        (
            "argus_agent_journal_lines_invalid_total",
            Counter,
            "Lines of journalctl output that were not a JSON entry (skipped).",
            read(&metrics.journal_lines_invalid),
        ),
        ("argus_agent_queue_bytes", Gauge, "Bytes waiting in the on-disk output queues.", queued as f64),
    ];
    let mut out = TextEncoder::new();
    for (name, kind, help, value) in families {
        out.single(name, kind, help, value);
    }
    out.finish()
}
