//! Argus's own metrics: `/metrics` in the Prometheus text format, drawn from the engine's and
//! receivers' counters, plus per-route HTTP request counts and durations recorded by a
//! middleware.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use argus_ingest::IngestMetrics;
use argus_logstore::LogStore;
use argus_model::RejectReason;
use argus_model::metrics::{Histogram, LATENCY_BUCKETS, MetricKind, TextEncoder};
use argus_tsdb::Shards;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

/// Requests per route: a duration histogram and a count per status code.
#[derive(Default)]
pub struct HttpMetrics {
    routes: Mutex<BTreeMap<String, Arc<RouteMetrics>>>,
}

struct RouteMetrics {
    duration: Histogram,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl HttpMetrics {
    fn route(&self, path: &str) -> Arc<RouteMetrics> {
        let mut routes = self.routes.lock();
        if let Some(route) = routes.get(path) {
            return route.clone();
        }
        routes
            .entry(path.to_string())
            .or_insert_with(|| {
                Arc::new(RouteMetrics {
                    duration: Histogram::new(LATENCY_BUCKETS),
                    by_status: Mutex::default(),
                })
            })
            .clone()
    }
}

/// Middleware recording every request under its route pattern (never the raw path, so label
/// values cannot explode).
pub async fn record_http(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    // MatchedPath shares its string: cloning it does not allocate.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = metrics.route(matched.as_ref().map_or("unmatched", MatchedPath::as_str));
    route.duration.observe(started.elapsed());
    *route.by_status.lock().entry(response.status().as_u16()).or_default() += 1;
    response
}

/// Everything `/metrics` reads from.
#[derive(Clone)]
pub struct MetricsSources {
    pub storage: Arc<Shards>,
    pub logs: LogStore,
    pub ingest: Arc<IngestMetrics>,
    pub http: Arc<HttpMetrics>,
}

pub async fn render(State(sources): State<MetricsSources>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || encode(&sources)).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

fn encode(sources: &MetricsSources) -> String {
    use MetricKind::{Counter, Gauge};
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = TextEncoder::new();
    let tsdb = sources.storage.metrics();
    let stats = sources.storage.stats();
    let ingest = &sources.ingest;
    out.family("argus_build_info", Gauge, "Always 1; labelled with the running version.");
    out.sample("argus_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    let appended = tsdb.samples_appended.load(Relaxed) as f64;
    out.single("argus_tsdb_samples_appended_total", Counter, "Samples stored in the head.", appended);
    let created = tsdb.series_created.load(Relaxed) as f64;
    out.single("argus_tsdb_series_created_total", Counter, "Series created in the head.", created);
    out.family("argus_tsdb_samples_rejected_total", Counter, "Samples the engine refused, by reason.");
    for reason in RejectReason::ALL {
        let count = tsdb.rejected(reason) as f64;
        out.sample("argus_tsdb_samples_rejected_total", &[("reason", reason.as_str())], count);
    }
    out.single("argus_tsdb_shards", Gauge, "Shards of the time-series engine.", stats.shards as f64);
    out.single("argus_tsdb_head_series", Gauge, "Series in the head.", stats.head_series as f64);
    out.single("argus_tsdb_head_chunks", Gauge, "Chunks in the head.", stats.head_chunks as f64);
    out.single("argus_tsdb_blocks", Gauge, "Blocks on disk.", stats.blocks as f64);
    out.single("argus_tsdb_block_bytes", Gauge, "Bytes of the blocks on disk.", stats.block_bytes as f64);
    let wal_bytes = stats.wal_bytes_written as f64;
    out.single("argus_tsdb_wal_bytes_written_total", Counter, "Bytes written to the WAL.", wal_bytes);
    out.single("argus_tsdb_wal_fsyncs_total", Counter, "WAL fsyncs.", stats.wal_fsyncs as f64);
    out.family("argus_tsdb_wal_fsync_duration_seconds", MetricKind::Histogram, "Duration of WAL fsyncs.");
    out.histogram("argus_tsdb_wal_fsync_duration_seconds", &[], &tsdb.wal_fsync_seconds);
    let received = ingest.samples_received.load(Relaxed) as f64;
    out.single(
        "argus_ingest_samples_received_total",
        Counter,
        "Samples in decoded write requests.",
        received,
    );
    let invalid = ingest.samples_invalid.load(Relaxed) as f64;
    let help = "Samples dropped because their series' labels were invalid.";
    out.single("argus_ingest_samples_invalid_total", Counter, help, invalid);
    encode_logs(&mut out, &sources.logs, ingest);
    encode_http(&mut out, &sources.http);
    out.finish()
}

/// The log store's volume: what was pushed and refused, and what is kept on disk.
fn encode_logs(out: &mut TextEncoder, logs: &LogStore, ingest: &IngestMetrics) {
    use MetricKind::{Counter, Gauge};
    use std::sync::atomic::Ordering::Relaxed;
    let stats = logs.stats();
    let help = "Log entries stored since start.";
    out.single("argus_logs_entries_stored_total", Counter, help, stats.pushed_entries as f64);
    let help = "Bytes of the log lines stored since start.";
    out.single("argus_logs_bytes_stored_total", Counter, help, stats.pushed_bytes as f64);
    let refused = ingest.entries_refused.load(Relaxed) as f64;
    let help = "Pushed log entries refused by validation (labels, limits, timestamps).";
    out.single("argus_logs_entries_refused_total", Counter, help, refused);
    out.single("argus_logs_partitions", Gauge, "Log partitions on disk.", stats.partitions as f64);
    out.single(
        "argus_logs_partition_bytes",
        Gauge,
        "Bytes of the log partitions on disk.",
        stats.partition_bytes as f64,
    );
    out.single("argus_logs_streams", Gauge, "Log streams with entries on disk.", stats.streams as f64);
}

fn encode_http(out: &mut TextEncoder, http: &HttpMetrics) {
    let routes: Vec<(String, Arc<RouteMetrics>)> =
        http.routes.lock().iter().map(|(route, m)| (route.clone(), m.clone())).collect();
    let requests = "argus_http_requests_total";
    out.family(requests, MetricKind::Counter, "HTTP requests by route and status code.");
    for (route, metrics) in &routes {
        for (code, count) in metrics.by_status.lock().iter() {
            out.sample(requests, &[("handler", route), ("code", &code.to_string())], *count as f64);
        }
    }
    let durations = "argus_http_request_duration_seconds";
    out.family(durations, MetricKind::Histogram, "HTTP request durations by route.");
    for (route, metrics) in &routes {
        out.histogram(durations, &[("handler", route)], &metrics.duration);
    }
}
