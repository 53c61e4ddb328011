//! Prometheus HTTP API handlers over `argus_model::Queryable`: `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values` and `/api/v1/status/buildinfo`, with
//! Prometheus's parameters, response envelope and `limit` truncation warning.

use std::collections::BTreeSet;

use argus_model::labels::is_valid_label_name;
use argus_model::{ErrorKind, Labels, Matcher, SamplesWanted, SelectHints, StorageError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::Value;

use super::QueryState;
use super::error::ApiError;
use super::params::Params;

/// The success envelope of the metadata endpoints: `{"status":"success","data":…,"warnings":[…]}`
/// (query results, which may carry infos too, are written by `result_body`).
#[derive(Serialize)]
pub struct Success<T> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl<T> Success<T> {
    pub(super) fn new(data: T) -> Self {
        Self { status: "success", data, warnings: Vec::new() }
    }
}

type ApiResult<T> = Result<Json<Success<T>>, ApiError>;

/// Cuts `items` to `limit` and, as Prometheus does, warns that it did.
fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Success<Vec<T>> {
    let truncated = limit.is_some_and(|limit| items.len() > limit);
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    let mut success = Success::new(items);
    if truncated {
        success.warnings.push("results truncated due to limit".to_string());
    }
    success
}

/// Runs a storage call that blocks (selects take shard locks and walk the index).
///
/// On the multi-threaded runtime the call runs right here, with this worker's other tasks
/// handed to another thread: most queries take well under a millisecond, and a round trip
/// through the blocking pool would cost a good part of that. A panic becomes an internal error
/// either way.
pub(super) async fn blocking<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    call: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let failed = |reason: String| ApiError {
        kind: ErrorKind::Internal,
        message: format!("query task failed: {reason}"),
    };
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        let outcome =
            tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)));
        return outcome.map_err(|_| failed("panicked".into()))?.map_err(Into::into);
    }
    tokio::task::spawn_blocking(call).await.map_err(|e| failed(e.to_string()))?.map_err(Into::into)
}

pub async fn series(
    State(state): State<QueryState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Vec<Labels>> {
    let params = Params::parse(query.as_deref(), &body);
    let selectors = params.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let hints = SelectHints { range: params.time_range()?, samples: SamplesWanted::None };
    let limit = params.limit()?;
    let storage = state.storage.clone();
    let (label_sets, warnings) = blocking(move || {
        let (mut all, mut warnings) = (BTreeSet::new(), Vec::new());
        for matchers in &selectors {
            let selection = storage.select(matchers, hints)?;
            all.extend(selection.series.into_iter().map(|s| s.labels));
            warnings.extend(selection.warnings);
        }
        Ok::<_, StorageError>((all, warnings))
    })
    .await?;
    let mut success = limited(label_sets.into_iter().collect(), limit);
    success.warnings.extend(warnings);
    Ok(Json(success))
}

pub async fn labels(
    State(state): State<QueryState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Vec<String>> {
    let params = Params::parse(query.as_deref(), &body);
    let (selectors, range, limit) = (params.selectors()?, params.time_range()?, params.limit()?);
    let storage = state.storage.clone();
    let names =
        blocking(move || union_over(&selectors, |matchers| storage.label_names(matchers, range))).await?;
    Ok(Json(limited(names, limit)))
}

pub async fn label_values(
    State(state): State<QueryState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Vec<String>> {
    if !is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: \"{name}\"")));
    }
    let params = Params::parse(query.as_deref(), &body);
    let (selectors, range, limit) = (params.selectors()?, params.time_range()?, params.limit()?);
    let storage = state.storage.clone();
    let values =
        blocking(move || union_over(&selectors, |matchers| storage.label_values(&name, matchers, range)))
            .await?;
    Ok(Json(limited(values, limit)))
}

pub async fn buildinfo(State(state): State<QueryState>) -> Json<Success<Value>> {
    let info = &state.build_info;
    Json(Success::new(serde_json::json!({
        "version": info.version,
        "revision": info.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

/// The sorted union of a per-selector answer; with no selectors, the answer for all series.
fn union_over(
    selectors: &[Vec<Matcher>],
    answer: impl Fn(&[Matcher]) -> Result<Vec<String>, StorageError>,
) -> Result<Vec<String>, StorageError> {
    if selectors.is_empty() {
        return answer(&[]);
    }
    let mut union = BTreeSet::new();
    for matchers in selectors {
        union.extend(answer(matchers)?);
    }
    Ok(union.into_iter().collect())
}
