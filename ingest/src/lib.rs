//! Receivers: how data gets into Argus over the wire: Prometheus remote write 1.0, the
//! Prometheus text format import and the Loki push API; and the agent that scrapes targets and
//! ships to remote write (`agent`). Receivers decode and validate (pure
//! functions), then store through `argus_model::Appendable` or `LogAppendable`, never touching
//! an engine directly.

pub mod agent;
mod config;
mod error;
pub mod exposition;
mod http;
mod import;
mod loki_push;
mod ndjson;
mod remote_write;
mod validate;

pub use config::{IngestConfig, LogLimits, NdjsonFields};
pub use error::{Error, Result};
pub use http::{IngestMetrics, IngestState, LogIngestState, log_router, router};
