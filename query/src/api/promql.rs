//! `/api/v1/query` and `/api/v1/query_range`: PromQL over HTTP with Prometheus's parameters
//! (`query`, `time`, `start`, `end`, `step`, `timeout`), result shapes and errors.

use std::time::Duration;

use argus_model::{ErrorKind, Labels, Sample};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeTuple, Serializer};

use super::QueryState;
use super::error::ApiError;
use super::params::{Params, parse_time};
use super::prom::{Success, blocking};
use crate::promql::value::{Value, with_formatted_float};
use crate::promql::{Engine, Evaluated};

pub async fn query(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), &body);
    let time = match params.get("time").filter(|t| !t.is_empty()) {
        Some(text) => parse_time(text, "time")?,
        None => argus_model::time::now(),
    };
    evaluate(&state, &params, move |engine, query, timeout| engine.instant_within(query, time, timeout)).await
}

pub async fn query_range(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), &body);
    let start = parse_time(required(&params, "start")?, "start")?;
    let end = parse_time(required(&params, "end")?, "end")?;
    let step = parse_step(required(&params, "step")?)?;
    evaluate(&state, &params, move |engine, query, timeout| {
        engine.range_within(query, start, end, step, timeout)
    })
    .await
}

/// Runs `run(engine, query, timeout)` with the request's `query` and `timeout` on a blocking
/// thread and answers with its result, serialized there too.
async fn evaluate(
    state: &QueryState,
    params: &Params,
    run: impl FnOnce(&Engine, &str, Duration) -> crate::Result<Evaluated> + Send + 'static,
) -> Result<Response, ApiError> {
    let query = params.get("query").unwrap_or_default().to_string();
    let timeout = timeout(params)?;
    let engine = state.engine.clone();
    let body = blocking(move || success_body(&run(&engine, &query, timeout)?)).await?;
    Ok(json_response(body))
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

/// The response body of a successful query, serialized straight from the engine's value.
pub(super) fn success_body(evaluated: &Evaluated) -> Result<Vec<u8>, ApiError> {
    let value = &evaluated.value;
    let data = QueryData { result_type: value.type_name(), result: QueryResult(value) };
    serde_json::to_vec(&Success::with_annotations(data, evaluated.annotations.clone()))
        .map_err(|e| ApiError { kind: ErrorKind::Internal, message: format!("encoding the result: {e}") })
}

/// A JSON response from an encoded body.
fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `data` of a query response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryData<'v> {
    result_type: &'static str,
    result: QueryResult<'v>,
}

/// The `result` of a query as Prometheus writes it: times in float seconds, values as strings.
struct QueryResult<'v>(&'v Value);

impl Serialize for QueryResult<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Scalar { t, v } => Point(*t, *v).serialize(serializer),
            Value::String { t, v } => (Seconds(*t), v).serialize(serializer),
            Value::Vector(vector) => serializer.collect_seq(
                vector.iter().map(|s| InstantSample { metric: &s.labels, value: Point(s.t, s.v) }),
            ),
            Value::Matrix(matrix) => serializer.collect_seq(
                matrix.iter().map(|s| SeriesPoints { metric: &s.labels, values: Points(&s.samples) }),
            ),
        }
    }
}

#[derive(Serialize)]
struct InstantSample<'v> {
    metric: &'v Labels,
    value: Point,
}

#[derive(Serialize)]
struct SeriesPoints<'v> {
    metric: &'v Labels,
    values: Points<'v>,
}

struct Points<'v>(&'v [Sample]);

impl Serialize for Points<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|s| Point(s.t, s.v)))
    }
}

/// `[<seconds>, "<value>"]`.
struct Point(i64, f64);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&Seconds(self.0))?;
        tuple.serialize_element(&FloatString(self.1))?;
        tuple.end()
    }
}

/// Milliseconds as seconds: an integer when whole, else a float.
struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        if t % 1000 == 0 {
            serializer.serialize_i64(t / 1000)
        } else {
            serializer.serialize_f64(t as f64 / 1000.0)
        }
    }
}

/// A sample value as the string Prometheus writes.
struct FloatString(f64);

impl Serialize for FloatString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        with_formatted_float(self.0, |text| serializer.serialize_str(text))
    }
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        ApiError { kind: error.kind(), message: error.to_string() }
    }
}
