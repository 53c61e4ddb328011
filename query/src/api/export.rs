//! `GET|POST /api/v1/export`: raw samples of the series matching `match[]` within `start`/`end`,
//! one JSON object per line, in VictoriaMetrics's export shape:
//! `{"metric":{"__name__":"up","job":"a"},"values":[1,0.5],"timestamps":[1700000000000,1700000015000]}`.
//! Timestamps are milliseconds; values are JSON numbers, except `"NaN"`, `"+Inf"` and `"-Inf"`
//! as strings (JSON has no such numbers). Used for migration, debugging and by `argus bench
//! verify` and the end-to-end tests to check samples exactly. The body streams: memory stays
//! bounded by the selected chunks, not the size of the JSON.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use argus_model::{Labels, SamplesWanted, SelectHints, StorageError};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::QueryState;
use super::error::ApiError;
use super::params::Params;
use super::prom::blocking;

pub async fn export(
    State(state): State<QueryState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref(), &body);
    let selectors = params.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let hints = SelectHints { range: params.time_range()?, samples: SamplesWanted::All };
    let storage = state.storage.clone();
    // Selecting first lets a storage error still become a proper API error; samples are
    // decoded and sent while the body streams.
    let series = blocking(move || {
        // A series matched by several selectors is exported once.
        let mut by_labels = BTreeMap::new();
        for matchers in &selectors {
            for series in storage.select(matchers, hints)?.series {
                by_labels.entry(series.labels.clone()).or_insert(series);
            }
        }
        Ok::<_, StorageError>(by_labels)
    })
    .await?;
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut chunk = String::new();
        for (labels, series) in series {
            chunk.push_str(&export_line(&labels, series.samples));
            chunk.push('\n');
            if chunk.len() >= CHUNK_BYTES
                && sender.blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk)))).is_err()
            {
                return; // The client went away.
            }
        }
        if !chunk.is_empty() {
            let _ = sender.blocking_send(Ok(Bytes::from(chunk)));
        }
    });
    let body = Body::from_stream(ChannelStream(receiver));
    Ok(([(header::CONTENT_TYPE, "application/stream+json")], body).into_response())
}

/// Lines are sent in chunks of about this size.
const CHUNK_BYTES: usize = 64 << 10;

/// The receiving end of the exporter's channel as a body stream.
struct ChannelStream(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for ChannelStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

fn export_line(labels: &Labels, samples: impl Iterator<Item = argus_model::Sample>) -> String {
    let (timestamps, values): (Vec<Value>, Vec<Value>) =
        samples.map(|s| (Value::from(s.t), sample_value(s.v))).unzip();
    serde_json::json!({"metric": labels, "values": values, "timestamps": timestamps}).to_string()
}

fn sample_value(v: f64) -> Value {
    match serde_json::Number::from_f64(v) {
        Some(number) => Value::Number(number),
        None if v.is_nan() => Value::from("NaN"),
        None if v > 0.0 => Value::from("+Inf"),
        None => Value::from("-Inf"),
    }
}

#[cfg(test)]
mod tests {
    use argus_model::Sample;

    use super::*;

    #[test]
    fn line_shape_and_special_values() {
        let labels = Labels::from_pairs([("__name__", "x"), ("a", "b")]).unwrap();
        let samples = vec![Sample::new(1, 0.5), Sample::new(2, f64::NAN), Sample::new(3, f64::NEG_INFINITY)];
        let line: Value = serde_json::from_str(&export_line(&labels, samples.into_iter())).unwrap();
        assert_eq!(line["metric"], serde_json::json!({"__name__": "x", "a": "b"}));
        assert_eq!(line["timestamps"], serde_json::json!([1, 2, 3]));
        assert_eq!(line["values"], serde_json::json!([0.5, "NaN", "-Inf"]));
    }
}
