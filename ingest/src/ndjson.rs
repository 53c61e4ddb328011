//! `POST /api/v1/logs/ndjson`: one JSON object per line, for shippers that send plain JSON
//! (Vector's and Fluent Bit's HTTP outputs, `curl`). Which fields hold the time, the message
//! and the stream labels comes from the `ingest.logs.ndjson` config, and each request may
//! override them with the query parameters `time_field`, `message_field` and `label_fields`
//! (comma-separated).
//!
//! - Time: the first configured field present, as RFC 3339 or a number (seconds, ms, µs or ns,
//!   told apart by magnitude); absent, the time of the request.
//! - Message: the first configured field present, as the line; absent, the whole JSON object.
//! - Labels: the label fields present (as strings), else `service_name="unknown_service"`.
//! - Every other field becomes structured metadata, non-strings as their JSON text.
//!
//! Validation and the answer are the Loki push's: `204`, or `400` listing what was refused
//! (including lines that are not JSON objects) while the rest is stored.

use std::collections::BTreeMap;

use argus_model::labels::sanitize_label_name;
use axum::extract::{RawQuery, Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::http::{LogIngestState, header_str, read_body};
use crate::loki_push::{self, RawEntry, RawLabels, RawStream};

/// Where an NDJSON object keeps its parts (`ingest.logs.ndjson`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NdjsonFields {
    /// Fields tried in order for the entry's time.
    pub time_fields: Vec<String>,
    /// Fields tried in order for the log line.
    pub message_fields: Vec<String>,
    /// Fields whose values become the stream's labels.
    pub label_fields: Vec<String>,
}

impl Default for NdjsonFields {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Self {
            time_fields: strings(&["time", "timestamp", "ts", "@timestamp", "_time"]),
            message_fields: strings(&["message", "msg", "_msg", "log"]),
            label_fields: Vec::new(),
        }
    }
}

const DEFAULT_LABEL: (&str, &str) = ("service_name", "unknown_service");

pub(crate) async fn push(
    State(state): State<LogIngestState>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let content_encoding =
        header_str(request.headers(), axum::http::header::CONTENT_ENCODING).map(str::to_string);
    let fields = fields_for(&state.config.logs.ndjson, query.as_deref());
    let limit = state.config.max_request_size.0;
    let body = match read_body(request, limit).await {
        Ok(body) => body,
        Err(error) => return loki_push::error_response(error),
    };
    let now = argus_model::time::now().saturating_mul(1_000_000);
    let work = move || {
        let raw = loki_push::decode_content(&body, content_encoding.as_deref(), limit)?;
        let text = std::str::from_utf8(&raw).map_err(|e| Error::Parse(format!("body is not UTF-8: {e}")))?;
        let (streams, errors) = decode(text, &fields, now);
        loki_push::store(&state, streams, errors)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => loki_push::error_response(error),
        Err(join_error) => loki_push::error_response(Error::Body(format!("push task failed: {join_error}"))),
    }
}

/// The configured fields with the request's overrides.
fn fields_for(config: &NdjsonFields, query: Option<&str>) -> NdjsonFields {
    let mut fields = config.clone();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let list = || value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        match key.as_ref() {
            "time_field" => fields.time_fields = list(),
            "message_field" => fields.message_fields = list(),
            "label_fields" => fields.label_fields = list(),
            _ => {}
        }
    }
    fields
}

/// The streams of an NDJSON body, and one message per line that is not a JSON object.
fn decode(text: &str, fields: &NdjsonFields, now: i64) -> (Vec<RawStream>, Vec<String>) {
    let mut streams: BTreeMap<Vec<(String, String)>, Vec<RawEntry>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => {
                let (labels, entry) = split_object(object, line, fields, now);
                streams.entry(labels).or_default().push(entry);
            }
            _ => errors.push(format!("line {}: not a JSON object", number + 1)),
        }
    }
    let streams = streams
        .into_iter()
        .map(|(labels, entries)| RawStream { labels: RawLabels::Pairs(labels), entries })
        .collect();
    (streams, errors)
}

fn split_object(
    mut object: Map<String, Value>,
    line: &str,
    fields: &NdjsonFields,
    now: i64,
) -> (Vec<(String, String)>, RawEntry) {
    let timestamp =
        take_first(&mut object, &fields.time_fields).and_then(|v| timestamp_of(&v)).unwrap_or(now);
    let message = match take_first(&mut object, &fields.message_fields) {
        Some(Value::String(message)) => message,
        Some(other) => other.to_string(),
        None => line.to_string(),
    };
    let mut labels: Vec<(String, String)> = fields
        .label_fields
        .iter()
        .filter_map(|name| object.remove(name).map(|v| (name.clone(), text_of(v))))
        .collect();
    if labels.is_empty() {
        labels.push((DEFAULT_LABEL.0.to_string(), DEFAULT_LABEL.1.to_string()));
    }
    labels.sort();
    let metadata = object
        .into_iter()
        .map(|(name, value)| (sanitize_label_name(&name), text_of(value)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    (labels, RawEntry { timestamp, line: message, metadata })
}

fn take_first(object: &mut Map<String, Value>, names: &[String]) -> Option<Value> {
    names.iter().find_map(|name| object.remove(name))
}

fn text_of(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A time field's value in nanoseconds: RFC 3339 text, or a number whose magnitude tells
/// seconds, milliseconds, microseconds and nanoseconds apart (integers exactly).
fn timestamp_of(value: &Value) -> Option<i64> {
    let number = match value {
        Value::String(text) => {
            if let Some(nanos) = argus_model::calendar::parse_rfc3339_nanos(text) {
                return Some(nanos);
            }
            if let Ok(integer) = text.parse::<i64>() {
                return nanos_of_integer(integer);
            }
            text.parse::<f64>().ok()?
        }
        Value::Number(number) => match number.as_i64() {
            Some(integer) => return nanos_of_integer(integer),
            None => number.as_f64()?,
        },
        _ => return None,
    };
    let nanos = number * 10f64.powi(9 - magnitude_digits(number.abs()));
    nanos.is_finite().then_some(nanos as i64)
}

fn nanos_of_integer(integer: i64) -> Option<i64> {
    integer.checked_mul(10i64.pow((9 - magnitude_digits(integer.unsigned_abs() as f64)) as u32))
}

/// How many of the nine fraction digits of a second a time of this size already holds:
/// 0 for seconds, 3 for milliseconds, 6 for microseconds, 9 for nanoseconds.
fn magnitude_digits(size: f64) -> i32 {
    match size {
        n if n < 1e11 => 0,
        n if n < 1e14 => 3,
        n if n < 1e17 => 6,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_split_into_time_message_labels_and_metadata() {
        let fields = NdjsonFields { label_fields: vec!["app".into()], ..NdjsonFields::default() };
        let body = concat!(
            r#"{"time":"2023-11-14T22:13:20Z","msg":"hello","app":"api","user":{"id":1},"code":200}"#,
            "\n\n",
            r#"{"ts":1700000000.5,"message":"second","app":"api"}"#,
            "\n",
            "not json\n",
            r#"{"note":"no time, no message"}"#,
        );
        let (streams, errors) = decode(body, &fields, 42);
        assert_eq!(errors, ["line 4: not a JSON object"]);
        assert_eq!(streams.len(), 2);
        let api = &streams[0];
        assert_eq!(api.labels, RawLabels::Pairs(vec![("app".into(), "api".into())]));
        assert_eq!(api.entries[0].timestamp, 1_700_000_000_000_000_000);
        assert_eq!(api.entries[0].line, "hello");
        assert_eq!(
            api.entries[0].metadata,
            [("code".to_string(), "200".to_string()), ("user".to_string(), r#"{"id":1}"#.to_string())]
        );
        assert_eq!(api.entries[1].timestamp, 1_700_000_000_500_000_000);
        let other = &streams[1];
        assert_eq!(other.labels, RawLabels::Pairs(vec![("service_name".into(), "unknown_service".into())]));
        assert_eq!(other.entries[0].timestamp, 42);
        assert_eq!(other.entries[0].line, r#"{"note":"no time, no message"}"#);
    }

    #[test]
    fn numeric_times_are_read_by_magnitude_and_requests_override_fields() {
        for (value, nanos) in [
            (serde_json::json!(1_700_000_000), 1_700_000_000_000_000_000i64),
            (serde_json::json!(1_700_000_000_123u64), 1_700_000_000_123_000_000),
            (serde_json::json!(1_700_000_000_123_456u64), 1_700_000_000_123_456_000),
            (serde_json::json!("1700000000123456789"), 1_700_000_000_123_456_789),
        ] {
            assert_eq!(timestamp_of(&value), Some(nanos), "{value}");
        }
        let fractional = timestamp_of(&serde_json::json!(1_700_000_000.25)).unwrap();
        assert!((fractional - 1_700_000_000_250_000_000).abs() < 1_000, "{fractional}");
        assert_eq!(timestamp_of(&serde_json::json!(true)), None);
        let fields = fields_for(&NdjsonFields::default(), Some("message_field=text&label_fields=app,%20env"));
        assert_eq!(fields.message_fields, ["text"]);
        assert_eq!(fields.label_fields, ["app", "env"]);
        assert_eq!(fields.time_fields, NdjsonFields::default().time_fields);
    }
}
