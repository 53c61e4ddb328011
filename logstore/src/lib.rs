//! The log engine: Loki-style streams stored in tantivy indexes, one per time partition
//! (a day by default), behind a write-ahead log.
//!
//! - [`LogStore::open`] opens the partitions and replays the WAL; pushes
//!   ([`argus_model::LogAppendable`]) are acknowledged once in the WAL, and become searchable
//!   at the next commit (every `commit_interval`, 1 s by default).
//! - Reads ([`argus_model::LogQueryable`]) pick streams by label matchers from an in-memory
//!   registry, search the partitions overlapping the time range for those streams (and for
//!   the tokens of required text), and check each line exactly.
//! - Retention deletes whole partitions.
//!
//! The engine knows nothing of HTTP or LogQL: the query crate evaluates LogQL over
//! [`argus_model::LogQueryable`]. Document layout: `schema`; WAL record: `record`; on-disk
//! layout and guarantees: `docs/logs.md`.

mod config;
mod error;
mod partition;
mod partitions;
mod record;
mod retention;
mod schema;
mod store;

pub use config::LogConfig;
pub use error::{Error, Result};
pub use store::{LogStats, LogStore};
