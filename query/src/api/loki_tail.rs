//! `GET /loki/api/v1/tail` over WebSocket: the entries of a log query as they become
//! searchable, as Loki streams them, in messages `{"streams":[{"stream":{…},"values":[["<ns>",
//! "line"]]}],"dropped_entries":[]}`.
//!
//! Parameters: `query` (a log query), `start` (default an hour ago), `limit` (most entries
//! per message, default 100), `delay_for` (0–5 seconds to wait for late entries). The query is
//! polled every second from the newest time already sent; entries at that same time are
//! remembered so none is sent twice. An entry whose timestamp is older than what was already
//! sent when it arrives is not sent.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use argus_model::{Direction, LogQueryable, TimeRange};
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::QueryState;
use super::error::ApiError;
use super::loki::{LokiError, StreamJson, limit, logs, parse_loki_time};
use super::params::Params;
use crate::logql::ast::{LogExpr, Query};
use crate::logql::{self, StreamResult};

const POLL_INTERVAL: Duration = Duration::from_secs(1);
const MAX_DELAY_SECONDS: u64 = 5;

pub async fn tail(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let params = Params::parse(raw.as_deref(), &Bytes::new());
    let expr = match logql::parse(params.get("query").unwrap_or_default())
        .map_err(|e| LokiError::bad(e.to_string()))?
    {
        Query::Log(expr) => expr,
        Query::Metric(_) => return Err(LokiError::bad("tail needs a log query, not a metric query")),
    };
    let delay = match params.get("delay_for").filter(|d| !d.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| LokiError::bad(format!("invalid parameter \"delay_for\": {text:?}")))?,
    };
    if delay > MAX_DELAY_SECONDS {
        return Err(LokiError::bad(format!("delay_for can't be greater than {MAX_DELAY_SECONDS}")));
    }
    let now = argus_model::time::now().saturating_mul(1_000_000);
    let start = match params.get("start").filter(|s| !s.is_empty()) {
        Some(text) => parse_loki_time(text, "start")?,
        None => now - 3_600_000_000_000,
    };
    let tail =
        Tail { storage: logs(&state)?, expr, limit: limit(&params)?, delay: delay as i64 * 1_000_000_000 };
    Ok(upgrade.on_upgrade(move |socket| tail.run(socket, start)).into_response())
}

struct Tail {
    storage: Arc<dyn LogQueryable>,
    expr: LogExpr,
    limit: usize,
    /// Nanoseconds to stay behind now.
    delay: i64,
}

/// A message of the tail protocol.
#[derive(Serialize)]
struct TailMessage<'a> {
    streams: Vec<StreamJson<'a>>,
    dropped_entries: [(); 0],
}

impl Tail {
    async fn run(self, mut socket: WebSocket, start: i64) {
        let tail = Arc::new(self);
        // Entries at `from` that were already sent, by (time, stream, line).
        let mut from = start;
        let mut sent_at_from: HashSet<(i64, String, String)> = HashSet::new();
        loop {
            let to = argus_model::time::now().saturating_mul(1_000_000) - tail.delay;
            if to >= from {
                let polling = tail.clone();
                let found = tokio::task::spawn_blocking(move || polling.poll(TimeRange::new(from, to))).await;
                let streams = match found {
                    Ok(Ok(streams)) => streams,
                    Ok(Err(error)) => {
                        let _ = socket.send(Message::Close(None)).await;
                        tracing::warn!(error = %error.message, "tail query failed");
                        return;
                    }
                    Err(_) => return,
                };
                let fresh = unsent(streams, &mut from, &mut sent_at_from);
                if !fresh.is_empty() {
                    let message =
                        TailMessage { streams: fresh.iter().map(StreamJson).collect(), dropped_entries: [] };
                    let text = serde_json::to_string(&message).expect("tail messages serialize");
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                received = socket.recv() => match received {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    fn poll(&self, range: TimeRange) -> Result<Vec<StreamResult>, ApiError> {
        logql::select_streams(&self.expr, self.storage.as_ref(), range, Direction::Forward, self.limit)
            .map_err(|e| ApiError { kind: e.kind(), message: e.to_string() })
    }
}

/// The entries not sent before; advances `from` to the newest time sent and remembers what
/// was sent at it.
fn unsent(
    streams: Vec<StreamResult>,
    from: &mut i64,
    sent_at_from: &mut HashSet<(i64, String, String)>,
) -> Vec<StreamResult> {
    let mut fresh = Vec::new();
    let mut newest = *from;
    for mut stream in streams {
        let labels = stream.labels.to_string();
        stream.entries.retain(|(t, line)| !sent_at_from.contains(&(*t, labels.clone(), line.clone())));
        if let Some(latest) = stream.entries.iter().map(|(t, _)| *t).max() {
            newest = newest.max(latest);
        }
        if !stream.entries.is_empty() {
            fresh.push(stream);
        }
    }
    if newest > *from {
        sent_at_from.clear();
        *from = newest;
    }
    for stream in &fresh {
        let labels = stream.labels.to_string();
        for (t, line) in stream.entries.iter().filter(|(t, _)| *t == newest) {
            sent_at_from.insert((*t, labels.clone(), line.clone()));
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use argus_model::Labels;

    use super::*;

    fn stream(entries: &[(i64, &str)]) -> StreamResult {
        StreamResult {
            labels: Labels::from_pairs([("app", "x")]).unwrap(),
            entries: entries.iter().map(|(t, l)| (*t, l.to_string())).collect(),
        }
    }

    #[test]
    fn entries_at_the_boundary_are_sent_once() {
        let (mut from, mut sent) = (0, HashSet::new());
        let first = unsent(vec![stream(&[(1, "a"), (5, "b")])], &mut from, &mut sent);
        assert_eq!(first[0].entries.len(), 2);
        assert_eq!(from, 5);
        // The next poll starts at 5 and sees "b" again, plus a new entry at 5 and one later.
        let second = unsent(vec![stream(&[(5, "b"), (5, "c"), (7, "d")])], &mut from, &mut sent);
        assert_eq!(second[0].entries, [(5, "c".to_string()), (7, "d".to_string())]);
        assert_eq!(from, 7);
        assert!(unsent(vec![stream(&[(7, "d")])], &mut from, &mut sent).is_empty());
    }
}
