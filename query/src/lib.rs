//! The query service: PromQL evaluation and the Prometheus-compatible HTTP API over
//! `argus_model::Queryable`, so local shards and (later) remote nodes answer the same way.
//! LogQL over `argus_model::LogQueryable` with the Loki-compatible API. SQL comes with later
//! work; this crate never depends on an engine crate.

pub mod api;
mod config;
mod error;
pub mod logql;
pub mod promql;

pub use api::{ApiError, BuildInfo, Params, QueryState, router};
pub use config::QueryConfig;
pub use error::{Error, Result};
