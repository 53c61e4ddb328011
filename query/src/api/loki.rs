//! The Loki query API: `/loki/api/v1/query`, `/query_range`, `/labels`, `/label/<name>/values`,
//! `/series` and `/index/volume`, with Loki's parameters (times as nanoseconds, float seconds or RFC 3339;
//! `limit`, `direction`, `step`, `since`), result shapes (`streams`, `matrix`, `vector`) and
//! plain-text errors.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use argus_model::calendar::parse_rfc3339_nanos;
use argus_model::{Direction, ErrorKind, Labels, LogQueryable, Matcher, TimeRange};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeTuple, Serializer};

use super::QueryState;
use super::error::ApiError;
use super::params::Params;
use super::prom::{Success, blocking};
use super::result_body;
use crate::logql::ast::{LogExpr, Query};
use crate::logql::metric::{self, Evaluation};
use crate::logql::{self, StreamResult};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Loki's default `limit` of log queries, and the most it accepts (`max_entries_limit_per_query`).
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 5000;
/// How far back label and series lookups reach without `start` (Loki's default).
const DEFAULT_LOOKUP: i64 = 6 * 3600 * NANOS_PER_SECOND;

/// Loki answers errors of its query API as plain text with the status of their kind.
pub struct LokiError(ApiError);

impl From<ApiError> for LokiError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<crate::Error> for LokiError {
    fn from(error: crate::Error) -> Self {
        Self(ApiError { kind: error.kind(), message: error.to_string() })
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.0.message, "loki api request failed");
        }
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", self.0.message))
            .into_response()
    }
}

type LokiResult = Result<Response, LokiError>;

impl LokiError {
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self(ApiError::bad_data(message))
    }
}

pub(super) fn logs(state: &QueryState) -> Result<Arc<dyn LogQueryable>, LokiError> {
    state.logs.clone().ok_or_else(|| {
        LokiError(ApiError { kind: ErrorKind::Unavailable, message: "the log store is not enabled".into() })
    })
}

/// A Loki timestamp: float seconds when it has a `.`, integer seconds up to ten digits,
/// nanoseconds beyond, else RFC 3339.
pub fn parse_loki_time(text: &str, param: &str) -> Result<i64, LokiError> {
    let invalid = || {
        LokiError::bad(format!("invalid parameter \"{param}\": cannot parse \"{text}\" to a valid timestamp"))
    };
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
    {
        return if seconds.is_finite() { Ok((seconds * 1e9).round() as i64) } else { Err(invalid()) };
    }
    match text.parse::<i64>() {
        Ok(n) if text.trim_start_matches('-').len() <= 10 => {
            n.checked_mul(NANOS_PER_SECOND).ok_or_else(invalid)
        }
        Ok(n) => Ok(n),
        Err(_) => parse_rfc3339_nanos(text).ok_or_else(invalid),
    }
}

/// A duration parameter: a Prometheus duration (`5m`) or float seconds.
fn parse_duration_param(text: &str, param: &str) -> Result<Duration, LokiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok(Duration::from_secs_f64(seconds));
    }
    argus_model::time::parse_duration(text).map_err(|_| {
        LokiError::bad(format!("invalid parameter \"{param}\": cannot parse \"{text}\" to a valid duration"))
    })
}

/// `start`/`end`/`since` as nanoseconds: `end` defaults to now, `start` to `end - since` or
/// `end - default_span`.
fn time_bounds(params: &Params, default_span: i64) -> Result<(i64, i64), LokiError> {
    let now = argus_model::time::now().saturating_mul(1_000_000);
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let end = get("end").map(|t| parse_loki_time(t, "end")).transpose()?.unwrap_or(now);
    let span = match get("since") {
        Some(since) => parse_duration_param(since, "since")?.as_nanos() as i64,
        None => default_span,
    };
    let start =
        get("start").map(|t| parse_loki_time(t, "start")).transpose()?.unwrap_or(end.saturating_sub(span));
    if end < start {
        return Err(LokiError::bad("end timestamp must not be before or equal to start time"));
    }
    Ok((start, end))
}

pub(super) fn limit(params: &Params) -> Result<usize, LokiError> {
    let limit = match params.get("limit").filter(|v| !v.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| LokiError::bad(format!("invalid parameter \"limit\": cannot parse \"{text}\"")))?,
    };
    if limit > MAX_LIMIT {
        return Err(LokiError::bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {MAX_LIMIT})"
        )));
    }
    Ok(limit)
}

fn direction(params: &Params) -> Result<Direction, LokiError> {
    match params.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(LokiError::bad(format!(
            "invalid parameter \"direction\": {other:?} is neither forward nor backward"
        ))),
    }
}

fn parse_query(params: &Params) -> Result<Query, LokiError> {
    let text = params.get("query").unwrap_or_default();
    logql::parse(text).map_err(|e| LokiError::bad(e.to_string()))
}

pub async fn query_range(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let (start, end) = time_bounds(&params, 3600 * NANOS_PER_SECOND)?;
    match parse_query(&params)? {
        Query::Log(expr) => {
            let (limit, direction) = (limit(&params)?, direction(&params)?);
            // The end is excluded, as in Loki.
            let range = TimeRange::new(start, end - 1);
            log_response(&state, expr, range, direction, limit).await
        }
        Query::Metric(expr) => {
            let step = match params.get("step").filter(|s| !s.is_empty()) {
                Some(step) => parse_duration_param(step, "step")?.as_millis() as i64,
                None => default_step(start, end),
            };
            if step <= 0 {
                return Err(LokiError::bad(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            let evaluation = Evaluation::Range { start: start / 1_000_000, end: end / 1_000_000, step };
            metric_response(&state, expr, evaluation).await
        }
    }
}

/// Loki's default step: the range over 250 points, at least a second (milliseconds).
fn default_step(start: i64, end: i64) -> i64 {
    let seconds = ((end - start) as f64 / NANOS_PER_SECOND as f64 / 250.0).ceil() as i64;
    seconds.max(1) * 1000
}

pub async fn query(State(state): State<QueryState>, RawQuery(raw): RawQuery, body: Bytes) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let time = match params.get("time").filter(|t| !t.is_empty()) {
        Some(text) => parse_loki_time(text, "time")?,
        None => argus_model::time::now().saturating_mul(1_000_000),
    };
    match parse_query(&params)? {
        Query::Log(_) => Err(LokiError::bad(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
        Query::Metric(expr) => metric_response(&state, expr, Evaluation::Instant(time / 1_000_000)).await,
    }
}

async fn log_response(
    state: &QueryState,
    expr: LogExpr,
    range: TimeRange,
    direction: Direction,
    limit: usize,
) -> LokiResult {
    let storage = logs(state)?;
    let body = blocking(move || -> Result<Vec<u8>, ApiError> {
        let streams = logql::select_streams(&expr, storage.as_ref(), range, direction, limit)
            .map_err(|e| ApiError { kind: e.kind(), message: e.to_string() })?;
        let data = StreamsData {
            result_type: "streams",
            result: streams.iter().map(StreamJson).collect(),
            stats: Stats {},
        };
        serde_json::to_vec(&Success::new(data))
            .map_err(|e| ApiError { kind: ErrorKind::Internal, message: e.to_string() })
    })
    .await?;
    Ok(json(body))
}

async fn metric_response(
    state: &QueryState,
    expr: crate::logql::ast::MetricExpr,
    evaluation: Evaluation,
) -> LokiResult {
    let storage = logs(state)?;
    let options = state.engine.options().clone();
    let body = blocking(move || -> Result<Vec<u8>, ApiError> {
        let evaluated = metric::evaluate(&expr, storage.as_ref(), evaluation, &options, options.timeout)
            .map_err(|e| ApiError { kind: e.kind(), message: e.to_string() })?;
        Ok(result_body::encode(&evaluated))
    })
    .await?;
    Ok(json(body))
}

fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn labels(State(state): State<QueryState>, RawQuery(raw): RawQuery, body: Bytes) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let streams = streams(&state, &params, params.get("query")).await?;
    let names: BTreeSet<String> = streams.iter().flat_map(|l| l.iter().map(|l| l.name.to_string())).collect();
    Ok(json(encode(&Success::new(names))?))
}

pub async fn label_values(
    State(state): State<QueryState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let streams = streams(&state, &params, params.get("query")).await?;
    let values: BTreeSet<String> = streams.iter().filter_map(|l| l.get(&name).map(str::to_string)).collect();
    Ok(json(encode(&Success::new(values))?))
}

/// `/loki/api/v1/index/volume`: bytes of log lines per stream (`aggregateBy=series`, the
/// default) or per value of `targetLabels` (`aggregateBy=labels`) within the range, largest
/// first, at most `limit` (100) of them, as an instant vector at `end`.
pub async fn volume(State(state): State<QueryState>, RawQuery(raw): RawQuery, body: Bytes) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let storage = logs(&state)?;
    let (start, end) = time_bounds(&params, DEFAULT_LOOKUP)?;
    let Query::Log(expr) = parse_query(&params)? else {
        return Err(LokiError::bad("volume needs a stream selector"));
    };
    let limit = match params.get("limit").filter(|v| !v.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => {
            text.parse().map_err(|_| LokiError::bad(format!("invalid parameter \"limit\": {text:?}")))?
        }
    };
    let target: Option<Vec<String>> = params
        .get("targetLabels")
        .filter(|t| !t.is_empty())
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    let by_labels = params.get("aggregateBy") == Some("labels");
    let volumes = blocking(move || -> Result<Vec<(Labels, u64)>, ApiError> {
        let select = argus_model::LogSelect {
            matchers: expr.matchers,
            range: TimeRange::new(start, end),
            direction: Direction::Forward,
            contains: Vec::new(),
        };
        let mut bytes: std::collections::HashMap<Labels, u64> = std::collections::HashMap::new();
        for record in storage.select_logs(&select)? {
            let record = record?;
            let key = match (&target, by_labels) {
                (Some(names), _) => record.stream.keep_only(names),
                (None, true) => Labels::empty(),
                (None, false) => record.stream,
            };
            *bytes.entry(key).or_default() += record.entry.line.len() as u64;
        }
        let mut volumes: Vec<(Labels, u64)> = bytes.into_iter().filter(|(l, _)| !l.is_empty()).collect();
        volumes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        volumes.truncate(limit);
        Ok(volumes)
    })
    .await?;
    let at = end as f64 / NANOS_PER_SECOND as f64;
    let result: Vec<serde_json::Value> = volumes
        .iter()
        .map(|(labels, bytes)| serde_json::json!({"metric": labels, "value": [at, bytes.to_string()]}))
        .collect();
    let data = serde_json::json!({"resultType": "vector", "result": result});
    Ok(json(encode(&Success::new(data))?))
}

pub async fn series(State(state): State<QueryState>, RawQuery(raw): RawQuery, body: Bytes) -> LokiResult {
    let params = Params::parse(raw.as_deref(), &body);
    let selectors: Vec<&str> = params.all("match[]").chain(params.all("match")).collect();
    if selectors.is_empty() {
        return Err(LokiError::bad("at least one match[] argument must be provided"));
    }
    let mut all = BTreeSet::new();
    for selector in selectors {
        all.extend(streams(&state, &params, Some(selector)).await?);
    }
    Ok(json(encode(&Success::new(all.into_iter().collect::<Vec<Labels>>()))?))
}

/// The streams matching the selector `query` (every stream without one) within the request's
/// time bounds.
async fn streams(state: &QueryState, params: &Params, query: Option<&str>) -> Result<Vec<Labels>, LokiError> {
    let storage = logs(state)?;
    let (start, end) = time_bounds(params, DEFAULT_LOOKUP)?;
    let matchers: Vec<Matcher> = match query.filter(|q| !q.trim().is_empty()) {
        None => Vec::new(),
        Some(text) => match logql::parse(text).map_err(|e| LokiError::bad(e.to_string()))? {
            Query::Log(expr) => expr.matchers,
            Query::Metric(_) => {
                return Err(LokiError::bad("a stream selector is required, not a metric query"));
            }
        },
    };
    Ok(blocking(move || storage.log_streams(&matchers, TimeRange::new(start, end)).map_err(ApiError::from))
        .await?)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, LokiError> {
    serde_json::to_vec(value)
        .map_err(|e| LokiError(ApiError { kind: ErrorKind::Internal, message: e.to_string() }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamsData<'a> {
    result_type: &'static str,
    result: Vec<StreamJson<'a>>,
    stats: Stats,
}

#[derive(Serialize)]
struct Stats {}

/// `{"stream":{…},"values":[["<ns>","line"],…]}`.
pub(super) struct StreamJson<'a>(pub &'a StreamResult);

impl Serialize for StreamJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Stream<'a> {
            stream: &'a Labels,
            values: Vec<Entry<'a>>,
        }
        let values = self.0.entries.iter().map(|(t, line)| Entry(*t, line)).collect();
        Stream { stream: &self.0.labels, values }.serialize(serializer)
    }
}

struct Entry<'a>(i64, &'a str);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.0.to_string())?;
        tuple.serialize_element(self.1)?;
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_times_read_seconds_nanoseconds_and_rfc3339() {
        let t = |text: &str| parse_loki_time(text, "t").ok();
        assert_eq!(t("1700000000"), Some(1_700_000_000 * NANOS_PER_SECOND));
        assert_eq!(t("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(t("1700000000123456789"), Some(1_700_000_000_123_456_789));
        assert_eq!(t("2023-11-14T22:13:20.000000001Z"), Some(1_700_000_000_000_000_001));
        assert_eq!(t("yesterday"), None);
        assert_eq!(default_step(0, 3600 * NANOS_PER_SECOND), 15_000);
        assert_eq!(default_step(0, NANOS_PER_SECOND), 1_000);
    }
}
