//! The receivers' HTTP surface: `router(state)` mounts `POST /api/v1/write` and
//! `POST /api/v1/import/prometheus`, `log_router(state)` mounts `POST /loki/api/v1/push` and `POST /api/v1/logs/ndjson`,
//! plus the plumbing they share (bounded body reading, the
//! hand-off to the engine on a blocking thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argus_model::{Appendable, ErrorKind, LogAppendable, StorageError, WriteBatch};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::routing::post;
use http_body_util::BodyExt;

use crate::config::IngestConfig;
use crate::error::{Error, Result};
use crate::validate::Refusals;
use crate::{import, loki_push, ndjson, remote_write};

/// Counters of the receivers, read by the binary's `/metrics`.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Samples in decoded requests, stored or not.
    pub samples_received: AtomicU64,
    /// Samples dropped because their series' labels were invalid.
    pub samples_invalid: AtomicU64,
    /// Log entries stored, and the bytes of their lines.
    pub entries_received: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Log entries refused by validation (bad labels, limits, timestamps).
    pub entries_refused: AtomicU64,
}

#[derive(Clone)]
pub struct IngestState {
    pub storage: Arc<dyn Appendable>,
    pub config: Arc<IngestConfig>,
    pub metrics: Arc<IngestMetrics>,
}

impl IngestState {
    pub fn new(storage: Arc<dyn Appendable>, config: IngestConfig) -> Self {
        Self { storage, config: Arc::new(config), metrics: Arc::default() }
    }
}

/// What the log receivers need: where entries go and what they may be.
#[derive(Clone)]
pub struct LogIngestState {
    pub storage: Arc<dyn LogAppendable>,
    pub config: Arc<IngestConfig>,
    pub metrics: Arc<IngestMetrics>,
    /// Entries older than this many nanoseconds are refused (the log store's retention).
    pub retention_ns: Option<i64>,
}

/// The metric receivers: `POST /api/v1/write`, `POST /api/v1/import/prometheus`.
pub fn router(state: IngestState) -> Router {
    Router::new()
        .route("/api/v1/write", post(remote_write::write))
        .route("/api/v1/import/prometheus", post(import::import))
        .with_state(state)
}

/// The log receivers: `POST /loki/api/v1/push`, `POST /api/v1/logs/ndjson`.
pub fn log_router(state: LogIngestState) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(loki_push::push))
        .route("/api/v1/logs/ndjson", post(ndjson::push))
        .with_state(state)
}

/// Whether a `Content-Type` header names `media_type` (parameters such as `charset` ignored).
pub(crate) fn is_media_type(content_type: Option<&str>, media_type: &str) -> bool {
    content_type.and_then(|t| t.split(';').next()).is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type))
}

pub(crate) fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("<not visible ASCII>"))
}

/// Reads the whole body, refusing more than `limit` bytes without buffering them.
pub(crate) async fn read_body(request: Request, limit: u64) -> Result<Bytes> {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = request.into_body();
    if declared.is_some_and(|len| len > limit) {
        discard(body).await;
        return Err(Error::TooLarge { limit });
    }
    // Sized from Content-Length (already checked against the limit) so the body is copied once.
    let mut collected = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Body(e.to_string()))?;
        let Ok(data) = frame.into_data() else { continue };
        if (collected.len() + data.len()) as u64 > limit {
            discard(body).await;
            return Err(Error::TooLarge { limit });
        }
        collected.extend_from_slice(&data);
    }
    Ok(Bytes::from(collected))
}

/// Reads and drops the rest of an oversized body (up to a bound), so the client, still
/// sending, sees the 413 rather than a broken connection.
async fn discard(mut body: axum::body::Body) {
    const DISCARD_AT_MOST: usize = 1 << 30;
    let mut discarded = 0;
    while discarded < DISCARD_AT_MOST {
        match body.frame().await {
            Some(Ok(frame)) => discarded += frame.data_ref().map_or(0, Bytes::len),
            _ => break,
        }
    }
}

/// Runs request work on a blocking thread: decoding is CPU-bound and storing waits for an fsync.
pub(crate) async fn run_blocking(
    work: impl FnOnce() -> Result<StatusCode> + Send + 'static,
) -> Result<StatusCode> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join_error| StorageError::new(ErrorKind::Internal, join_error.to_string()))?
}

/// How a batch reaches the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// Live writes (remote write): too old is refused.
    Append,
    /// Bulk imports: old data goes into blocks of its own (`Appendable::import`).
    Import,
}

/// Hands a validated batch to the engine and turns the outcome into the response.
pub(crate) fn store(
    state: &IngestState,
    batch: &WriteBatch<'_>,
    refusals: Refusals,
    write: Write,
) -> Result<StatusCode> {
    let samples = batch.sample_count() as u64;
    state.metrics.samples_received.fetch_add(samples + refusals.invalid_samples(), Ordering::Relaxed);
    state.metrics.samples_invalid.fetch_add(refusals.invalid_samples(), Ordering::Relaxed);
    let report = match write {
        _ if batch.is_empty() => Default::default(),
        Write::Append => state.storage.append(batch)?,
        Write::Import => state.storage.import(batch)?,
    };
    refusals.into_result(&report)?;
    Ok(StatusCode::NO_CONTENT)
}
