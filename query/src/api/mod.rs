//! The query service's HTTP API, Prometheus- and Loki-compatible: `router(state)` mounts every
//! endpoint this crate serves. Handlers are thin: parse parameters (`params`), call the storage traits,
//! wrap the answer; every error goes through `ApiError`.

mod error;
mod export;
mod loki;
mod loki_tail;
mod params;
mod prom;
mod promql;
mod result_body;

use std::sync::Arc;

use argus_model::{LogQueryable, Queryable};
use axum::Router;
use axum::routing::get;

pub use error::ApiError;
pub use params::Params;

use crate::config::QueryConfig;
use crate::promql::Engine;

/// What `/api/v1/status/buildinfo` reports.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
}

#[derive(Clone)]
pub struct QueryState {
    pub storage: Arc<dyn Queryable>,
    pub engine: Arc<Engine>,
    pub build_info: Arc<BuildInfo>,
    /// The log store, when logs are enabled; the Loki API answers 503 without one.
    pub logs: Option<Arc<dyn LogQueryable>>,
}

impl QueryState {
    pub fn new(storage: Arc<dyn Queryable>, config: &QueryConfig, build_info: BuildInfo) -> Self {
        let engine = Arc::new(Engine::new(storage.clone(), config.engine_options()));
        Self { storage, engine, build_info: Arc::new(build_info), logs: None }
    }

    /// The same state, also serving the Loki API over `logs`.
    pub fn with_logs(self, logs: Arc<dyn LogQueryable>) -> Self {
        Self { logs: Some(logs), ..self }
    }
}

pub fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/v1/query", get(promql::query).post(promql::query))
        .route("/api/v1/query_range", get(promql::query_range).post(promql::query_range))
        .route("/api/v1/series", get(prom::series).post(prom::series))
        .route("/api/v1/labels", get(prom::labels).post(prom::labels))
        .route("/api/v1/label/{name}/values", get(prom::label_values))
        .route("/api/v1/export", get(export::export).post(export::export))
        .route("/api/v1/status/buildinfo", get(prom::buildinfo))
        .route("/loki/api/v1/query", get(loki::query).post(loki::query))
        .route("/loki/api/v1/query_range", get(loki::query_range).post(loki::query_range))
        .route("/loki/api/v1/labels", get(loki::labels).post(loki::labels))
        .route("/loki/api/v1/label/{name}/values", get(loki::label_values))
        .route("/loki/api/v1/series", get(loki::series).post(loki::series))
        .route("/loki/api/v1/tail", get(loki_tail::tail))
        .route("/loki/api/v1/index/volume", get(loki::volume).post(loki::volume))
        .with_state(state)
}
