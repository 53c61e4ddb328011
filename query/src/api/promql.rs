//! `/api/v1/query` and `/api/v1/query_range`: PromQL over HTTP with Prometheus's parameters
//! (`query`, `time`, `start`, `end`, `step`, `timeout`), result shapes and errors.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::QueryState;
use super::error::ApiError;
use super::params::{Params, parse_time};
use super::prom::blocking;
use super::result_body;
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
    let body =
        blocking(move || run(&engine, &query, timeout).map(|evaluated| result_body::encode(&evaluated)))
            .await?;
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

/// A JSON response from an encoded body.
fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        ApiError { kind: error.kind(), message: error.to_string() }
    }
}
