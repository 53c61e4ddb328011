//! The TSDB admin API, off unless `enable_admin_api` is set (as Prometheus's
//! `--web.enable-admin-api`): operations that change stored data outside the write path.
//!
//! - `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=…&start=…&end=…`: deletes the samples
//!   of the matching series in the range (all time without `start`/`end`), as Prometheus; 204.
//! - `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: compacts until no block holds deleted
//!   data; 204.
//! - `POST /api/v1/admin/tsdb/flush`: writes every shard's head into blocks and compacts
//!   (`Shards::flush`); 204.
//!
//! Disabled, every route answers as Prometheus does: 503 with `errorType` `unavailable` and
//! the error `admin APIs disabled`.

use std::sync::Arc;

use argus_model::ErrorKind;
use argus_query::{ApiError, Params};
use argus_tsdb::Shards;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Clone)]
struct AdminState {
    storage: Arc<Shards>,
    enabled: bool,
}

pub fn router(storage: Arc<Shards>, enabled: bool) -> Router {
    Router::new()
        .route("/api/v1/admin/tsdb/delete_series", post(delete_series).put(delete_series))
        .route("/api/v1/admin/tsdb/clean_tombstones", post(clean_tombstones).put(clean_tombstones))
        .route("/api/v1/admin/tsdb/flush", post(flush))
        .with_state(AdminState { storage, enabled })
}

async fn delete_series(State(state): State<AdminState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(raw.as_deref(), &body);
    let request = params.selectors().and_then(|selectors| {
        if selectors.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        Ok((selectors, params.time_range()?))
    });
    match request {
        Ok((selectors, range)) => {
            run(state, "deleting series", move |s| s.delete(&selectors, range).map(drop)).await
        }
        Err(error) => error.into_response(),
    }
}

async fn clean_tombstones(State(state): State<AdminState>) -> Response {
    run(state, "cleaning tombstones", |s| s.clean_tombstones()).await
}

async fn flush(State(state): State<AdminState>) -> Response {
    run(state, "flushing the head", |s| s.flush()).await
}

/// Runs an admin operation on a blocking thread if the admin API is on: 204, or the error.
async fn run(
    state: AdminState,
    action: &'static str,
    operation: impl FnOnce(&Shards) -> argus_tsdb::Result<()> + Send + 'static,
) -> Response {
    if !state.enabled {
        return ApiError { kind: ErrorKind::Unavailable, message: "admin APIs disabled".into() }
            .into_response();
    }
    let storage = state.storage.clone();
    match tokio::task::spawn_blocking(move || operation(&storage)).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => ApiError { kind: e.kind(), message: format!("{action}: {e}") }.into_response(),
        Err(e) => ApiError { kind: ErrorKind::Internal, message: format!("{action}: the task failed: {e}") }
            .into_response(),
    }
}
