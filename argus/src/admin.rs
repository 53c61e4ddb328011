//! The TSDB admin API, off unless `enable_admin_api` is set (as Prometheus's
//! `--web.enable-admin-api`): operations that change stored data outside the write path.
//!
//! - `POST /api/v1/admin/tsdb/flush`: writes every shard's head into blocks and compacts
//!   (`Shards::flush`); 204 when done.
//!
//! Disabled, every route answers as Prometheus does: 503 with `errorType` `unavailable` and
//! the error `admin APIs disabled`.

use std::sync::Arc;

use argus_model::ErrorKind;
use argus_model::prometheus_error_body;
use argus_tsdb::Shards;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Clone)]
struct AdminState {
    storage: Arc<Shards>,
    enabled: bool,
}

pub fn router(storage: Arc<Shards>, enabled: bool) -> Router {
    Router::new().route("/api/v1/admin/tsdb/flush", post(flush)).with_state(AdminState { storage, enabled })
}

async fn flush(State(state): State<AdminState>) -> Response {
    if !state.enabled {
        return error(ErrorKind::Unavailable, "admin APIs disabled");
    }
    let storage = state.storage.clone();
    match tokio::task::spawn_blocking(move || storage.flush()).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => error(e.kind(), &format!("flushing the head: {e}")),
        Err(e) => error(ErrorKind::Internal, &format!("flush task failed: {e}")),
    }
}

fn error(kind: ErrorKind, message: &str) -> Response {
    let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], prometheus_error_body(kind, message))
        .into_response()
}
