//! The Argus time-series engine.
//!
//! The engine is [`Shards`]: series are placed on one of N shards by the stable hash of their
//! label set, and each shard (`Db`) is an in-memory head — series, Gorilla-compressed chunks
//! ([`chunk`]), a postings index — made durable by its own write-ahead log (`argus-wal`). A
//! write is acknowledged once its WAL records are fsynced; on start every shard replays its
//! WAL. The rest of Argus uses the engine only through `argus_model`'s `Appendable` and
//! `Queryable` traits. It knows nothing of HTTP or PromQL.
//!
//! Not yet here: blocks on disk, compaction, retention, out-of-order windows.

pub mod chunk;
mod config;
mod db;
mod encoding;
mod error;
mod head;
mod index;
mod metrics;
mod record;
mod shards;

pub use config::{FsyncPolicy, TsdbConfig, WalConfig};
pub use error::{Error, Result};
pub use metrics::TsdbMetrics;
pub use shards::{EngineStats, Shards};
