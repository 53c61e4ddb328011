//! The Loki push receiver, `POST /loki/api/v1/push`: decode (protobuf+snappy or JSON, either
//! possibly gzipped), validate against the limits, store the good entries through
//! `LogAppendable`, and answer as Loki does — `204 No Content` when everything was stored,
//! `400` with one plain-text line per refused stream or entry otherwise (the good entries are
//! stored all the same), `5xx` only when a retry can help.

mod decode;
mod limits;

use std::sync::atomic::Ordering;

use argus_model::LogStream;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::http::{LogIngestState, header_str, read_body};
pub(crate) use decode::{RawEntry, RawLabels, RawStream, decode_content};
use limits::Window;

/// At most this many refusal messages go into a response; the count of the rest follows.
const MAX_MESSAGES: usize = 10;

pub(crate) async fn push(State(state): State<LogIngestState>, request: Request) -> Response {
    let content_type = header_str(request.headers(), header::CONTENT_TYPE).map(str::to_string);
    let content_encoding = header_str(request.headers(), header::CONTENT_ENCODING).map(str::to_string);
    let limit = state.config.max_request_size.0;
    let body = match read_body(request, limit).await {
        Ok(body) => body,
        Err(error) => return error_response(error),
    };
    let work = move || {
        let raw = decode::decode_content(&body, content_encoding.as_deref(), limit)?;
        let streams = decode::decode(&raw, decode::Format::of(content_type.as_deref()), limit)?;
        store(&state, streams, Vec::new())
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error_response(error),
        Err(join_error) => error_response(Error::Body(format!("push task failed: {join_error}"))),
    }
}

/// Validates decoded streams, stores what passes and builds the response, listing what
/// validation refused after the `refused` the decoder already found.
pub(crate) fn store(
    state: &LogIngestState,
    streams: Vec<RawStream>,
    refused: Vec<String>,
) -> Result<Response, Error> {
    let now = argus_model::time::now().saturating_mul(1_000_000);
    let window = Window {
        oldest: state.retention_ns.map(|retention| now.saturating_sub(retention)),
        newest: now.saturating_add(state.config.logs.creation_grace_period.0.as_nanos() as i64),
    };
    let mut validated = limits::validate(streams, &state.config.logs, window);
    let metrics = &state.metrics;
    metrics.entries_refused.fetch_add(validated.refused_entries + refused.len() as u64, Ordering::Relaxed);
    validated.errors.splice(0..0, refused);
    if !validated.streams.is_empty() {
        state.storage.push(&validated.streams)?;
        let (entries, bytes) = totals(&validated.streams);
        metrics.entries_received.fetch_add(entries, Ordering::Relaxed);
        metrics.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }
    if validated.errors.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut message = validated.errors.iter().take(MAX_MESSAGES).cloned().collect::<Vec<_>>().join("\n");
    if validated.errors.len() > MAX_MESSAGES {
        message.push_str(&format!("\n(and {} more errors)", validated.errors.len() - MAX_MESSAGES));
    }
    message.push('\n');
    Ok(text_response(StatusCode::BAD_REQUEST, message))
}

fn totals(streams: &[LogStream]) -> (u64, u64) {
    let entries = streams.iter().flat_map(|s| &s.entries);
    entries.fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.line.len() as u64))
}

/// Loki answers push errors in plain text.
pub(crate) fn error_response(error: Error) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::warn!(%error, "log push failed");
    }
    text_response(status, format!("{error}\n"))
}

fn text_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
