//! The query service: Prometheus-compatible read APIs over `argus_model::Queryable`, so local
//! shards and (later) remote nodes answer the same way. PromQL evaluation, LogQL and SQL come
//! with later work; this crate never depends on an engine crate.

pub mod api;

pub use api::{BuildInfo, QueryState, router};
