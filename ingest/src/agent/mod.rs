//! The agent (`argus agent --config agent.yaml`): scrapes Prometheus-style targets and ships
//! what it scrapes to remote-write outputs, with its own metrics on `/metrics`.
//!
//! - [`config`]: the YAML file.
//! - [`relabel`]: Prometheus relabeling.
//! - [`scrape`]: targets, and how a scrape becomes series (pure).
//! - [`ship`]: batching and sending with retries, one shipper per output.
//!
//! Each target is scraped by its own task on its interval, started at an offset derived from
//! its URL so that targets spread over the interval. Every scrape's series go to every output's
//! bounded queue; a full queue holds the scraper back rather than losing data.

pub mod config;
pub mod relabel;
pub mod scrape;
pub mod ship;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_model::SeriesSamples;
use argus_model::metrics::{MetricKind, TextEncoder};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::sync::mpsc;

pub use config::AgentConfig;
use scrape::{ScrapeBody, Target, TargetState, process_scrape};

/// Batches waiting per output before scrapers are held back.
const QUEUE_BATCHES: usize = 256;
/// What the agent asks targets for, as Prometheus does.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The agent's own counters, on its `/metrics`.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    pub scrapes: AtomicU64,
    pub scrape_errors: AtomicU64,
    pub samples_scraped: AtomicU64,
    pub samples_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub retries: AtomicU64,
    pub samples_dropped: AtomicU64,
    /// Batches waiting in the output queues.
    pub queue_depth: AtomicU64,
}

/// Runs the agent until `shutdown` completes; queued batches are sent before it returns.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let targets = scrape::targets(&config)?;
    let metrics = Arc::new(AgentMetrics::default());
    let mut queues = Vec::new();
    let mut shippers = Vec::new();
    for output in config.outputs.clone() {
        let (sender, receiver) = mpsc::channel(QUEUE_BATCHES);
        queues.push(sender);
        shippers.push(tokio::spawn(ship::run(output, receiver, metrics.clone())));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.listen))?;
    tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, targets = targets.len(), "argus agent is ready");
    let app = Router::new().route("/metrics", get(render)).with_state(metrics.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
    let scrapers: Vec<_> = targets
        .into_iter()
        .map(|target| tokio::spawn(scrape_loop(target, client.clone(), queues.clone(), metrics.clone())))
        .collect();
    drop(queues);
    shutdown.await;
    for scraper in scrapers {
        scraper.abort();
        let _ = scraper.await;
    }
    // The scrapers held the last senders: the shippers now drain their queues and stop.
    for shipper in shippers {
        let _ = shipper.await;
    }
    server.abort();
    Ok(())
}

async fn scrape_loop(
    target: Target,
    client: reqwest::Client,
    queues: Vec<mpsc::Sender<Vec<SeriesSamples>>>,
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
        metrics.samples_scraped.fetch_add(series.len() as u64, Ordering::Relaxed);
        for queue in &queues {
            metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
            if queue.send(series.clone()).await.is_err() {
                return;
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, target: &Target) -> ScrapeBody {
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

/// Where in its interval a target is scraped: a stable fraction of the interval from its URL.
fn spread_offset(url: &str, interval: Duration) -> Duration {
    let hash = xxhash_rust::xxh3::xxh3_64(url.as_bytes());
    interval.mul_f64((hash % 10_000) as f64 / 10_000.0)
}

async fn render(State(metrics): State<Arc<AgentMetrics>>) -> String {
    use MetricKind::{Counter, Gauge};
    let mut out = TextEncoder::new();
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
    out.single("argus_agent_scrapes_total", Counter, "Scrapes made.", read(&metrics.scrapes));
    out.single(
        "argus_agent_scrape_errors_total",
        Counter,
        "Scrapes that failed.",
        read(&metrics.scrape_errors),
    );
    out.single(
        "argus_agent_series_scraped_total",
        Counter,
        "Series produced by scrapes.",
        read(&metrics.samples_scraped),
    );
    out.single(
        "argus_agent_samples_sent_total",
        Counter,
        "Samples an output accepted.",
        read(&metrics.samples_sent),
    );
    out.single(
        "argus_agent_bytes_sent_total",
        Counter,
        "Compressed bytes an output accepted.",
        read(&metrics.bytes_sent),
    );
    out.single("argus_agent_retries_total", Counter, "Sends retried.", read(&metrics.retries));
    out.single(
        "argus_agent_samples_dropped_total",
        Counter,
        "Samples an output refused for good (4xx).",
        read(&metrics.samples_dropped),
    );
    out.single(
        "argus_agent_queue_batches",
        Gauge,
        "Batches waiting in the output queues.",
        read(&metrics.queue_depth),
    );
    out.finish()
}
