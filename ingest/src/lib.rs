//! Receivers: how data gets into Argus over the wire. Today: Prometheus remote write 1.0 and the
//! Prometheus text format import. Receivers decode and validate (pure functions), then store
//! through `argus_model::Appendable`, never touching an engine directly.

mod config;
mod error;
pub mod exposition;
mod http;
mod import;
mod remote_write;
mod validate;

pub use config::IngestConfig;
pub use error::{Error, Result};
pub use http::{IngestMetrics, IngestState, router};
