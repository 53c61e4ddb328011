//! `/api/v1/query` and `/api/v1/query_range`: PromQL over HTTP with Prometheus's parameters
//! (`query`, `time`, `start`, `end`, `step`, `timeout`), result shapes and errors.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use serde_json::{Value as JsonValue, json};

use super::QueryState;
use super::error::ApiError;
use super::params::{Params, parse_time};
use super::prom::blocking;
use crate::promql::value::{Value, VectorSample, format_float};

pub async fn query(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<JsonValue>, ApiError> {
    let params = Params::parse(raw.as_deref(), &body);
    let query = params.get("query").unwrap_or_default().to_string();
    let time = match params.get("time").filter(|t| !t.is_empty()) {
        Some(text) => parse_time(text, "time")?,
        None => argus_model::time::now(),
    };
    let timeout = timeout(&params)?;
    let engine = state.engine.clone();
    let value = blocking(move || engine.instant_within(&query, time, timeout)).await?;
    Ok(Json(success(&value)))
}

pub async fn query_range(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<JsonValue>, ApiError> {
    let params = Params::parse(raw.as_deref(), &body);
    let query = params.get("query").unwrap_or_default().to_string();
    let start = parse_time(required(&params, "start")?, "start")?;
    let end = parse_time(required(&params, "end")?, "end")?;
    let step = parse_step(required(&params, "step")?)?;
    let timeout = timeout(&params)?;
    let engine = state.engine.clone();
    let value = blocking(move || engine.range_within(&query, start, end, step, timeout)).await?;
    Ok(Json(success(&value)))
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{name}\": missing")))
}

/// `step`: a duration (`15s`) or float seconds (`15`, `0.5`), in ms.
fn parse_step(text: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    argus_model::time::parse_duration(text).map(|d| d.as_millis() as i64).map_err(|_| {
        ApiError::bad_data(format!("invalid parameter \"step\": cannot parse \"{text}\" to a valid duration"))
    })
}

/// The request's `timeout`, or an unbounded one (the engine's own limit still applies).
fn timeout(params: &Params) -> Result<Duration, ApiError> {
    match params.get("timeout").filter(|t| !t.is_empty()) {
        None => Ok(Duration::MAX),
        Some(text) => parse_step(text).map(|ms| Duration::from_millis(ms.max(0) as u64)).map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"timeout\": cannot parse \"{text}\" to a valid duration"
            ))
        }),
    }
}

fn success(value: &Value) -> JsonValue {
    json!({"status": "success", "data": {"resultType": value.type_name(), "result": result_json(value)}})
}

/// The `result` of a query as Prometheus writes it: times in float seconds, values as strings.
pub(crate) fn result_json(value: &Value) -> JsonValue {
    match value {
        Value::Scalar { t, v } => json!([seconds(*t), format_float(*v)]),
        Value::String { t, v } => json!([seconds(*t), v]),
        Value::Vector(vector) => JsonValue::Array(vector.iter().map(vector_sample_json).collect()),
        Value::Matrix(matrix) => JsonValue::Array(
            matrix
                .iter()
                .map(|series| {
                    let values: Vec<JsonValue> =
                        series.samples.iter().map(|s| json!([seconds(s.t), format_float(s.v)])).collect();
                    json!({"metric": series.labels, "values": values})
                })
                .collect(),
        ),
    }
}

fn vector_sample_json(sample: &VectorSample) -> JsonValue {
    json!({"metric": sample.labels, "value": [seconds(sample.t), format_float(sample.v)]})
}

fn seconds(t: i64) -> JsonValue {
    if t % 1000 == 0 { json!(t / 1000) } else { json!(t as f64 / 1000.0) }
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        ApiError { kind: error.kind(), message: error.to_string() }
    }
}
