//! Argus's own metrics: `/metrics` in the Prometheus text format, drawn from the engine's and
//! receivers' counters, plus per-route HTTP request counts and durations recorded by a
//! middleware.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use argus_ingest::IngestMetrics;
use argus_model::RejectReason;
use argus_model::metrics::{Histogram, LATENCY_BUCKETS, TextEncoder};
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
        self.routes
            .lock()
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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = metrics.route(&route);
    route.duration.observe(started.elapsed());
    *route.by_status.lock().entry(response.status().as_u16()).or_default() += 1;
    response
}

/// Everything `/metrics` reads from.
#[derive(Clone)]
pub struct MetricsSources {
    pub storage: Arc<Shards>,
    pub ingest: Arc<IngestMetrics>,
    pub http: Arc<HttpMetrics>,
}

pub async fn render(State(sources): State<MetricsSources>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || encode(&sources)).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

fn encode(sources: &MetricsSources) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = TextEncoder::new();
    let tsdb = sources.storage.metrics();
    let stats = sources.storage.stats();
    out.gauge("argus_build_info", "Always 1; the version is in the help of argus --version.", 1.0);
    out.counter(
        "argus_tsdb_samples_appended_total",
        "Samples stored in the head.",
        &[(&[], tsdb.samples_appended.load(Relaxed))],
    );
    out.counter(
        "argus_tsdb_series_created_total",
        "Series created in the head.",
        &[(&[], tsdb.series_created.load(Relaxed))],
    );
    let rejected: Vec<([(&str, &str); 1], u64)> =
        RejectReason::ALL.iter().map(|r| ([("reason", r.as_str())], tsdb.rejected(*r))).collect();
    let rejected: Vec<(&[(&str, &str)], u64)> = rejected.iter().map(|(l, v)| (&l[..], *v)).collect();
    out.counter("argus_tsdb_samples_rejected_total", "Samples the engine refused, by reason.", &rejected);
    out.gauge("argus_tsdb_shards", "Shards of the time-series engine.", stats.shards as f64);
    out.gauge("argus_tsdb_head_series", "Series in the head.", stats.head_series as f64);
    out.gauge("argus_tsdb_head_chunks", "Chunks in the head.", stats.head_chunks as f64);
    out.counter(
        "argus_tsdb_wal_bytes_written_total",
        "Bytes written to the WAL.",
        &[(&[], stats.wal_bytes_written)],
    );
    out.counter("argus_tsdb_wal_fsyncs_total", "WAL fsyncs.", &[(&[], stats.wal_fsyncs)]);
    out.histogram(
        "argus_tsdb_wal_fsync_duration_seconds",
        "Duration of WAL fsyncs.",
        &[(&[], &tsdb.wal_fsync_seconds)],
    );
    let ingest = &sources.ingest;
    out.counter(
        "argus_ingest_samples_received_total",
        "Samples in decoded write requests.",
        &[(&[], ingest.samples_received.load(Relaxed))],
    );
    out.counter(
        "argus_ingest_samples_invalid_total",
        "Samples dropped because their series' labels were invalid.",
        &[(&[], ingest.samples_invalid.load(Relaxed))],
    );
    encode_http(&mut out, &sources.http);
    out.finish()
}

fn encode_http(out: &mut TextEncoder, http: &HttpMetrics) {
    let routes: Vec<(String, Arc<RouteMetrics>)> =
        http.routes.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let counts: Vec<(String, String, u64)> = routes
        .iter()
        .flat_map(|(route, m)| {
            m.by_status
                .lock()
                .iter()
                .map(|(code, n)| (route.clone(), code.to_string(), *n))
                .collect::<Vec<_>>()
        })
        .collect();
    let count_labels: Vec<[(&str, &str); 2]> = counts
        .iter()
        .map(|(route, code, _)| [("handler", route.as_str()), ("code", code.as_str())])
        .collect();
    let count_samples: Vec<(&[(&str, &str)], u64)> =
        count_labels.iter().zip(&counts).map(|(labels, (_, _, n))| (&labels[..], *n)).collect();
    out.counter("argus_http_requests_total", "HTTP requests by route and status code.", &count_samples);
    let duration_labels: Vec<[(&str, &str); 1]> =
        routes.iter().map(|(route, _)| [("handler", route.as_str())]).collect();
    let durations: Vec<(&[(&str, &str)], &Histogram)> =
        duration_labels.iter().zip(&routes).map(|(labels, (_, m))| (&labels[..], &m.duration)).collect();
    out.histogram("argus_http_request_duration_seconds", "HTTP request durations by route.", &durations);
}
