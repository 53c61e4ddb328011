//! The Argus time-series engine.
//!
//! The engine is [`Shards`]: series are placed on one of N shards by the stable hash of their
//! label set, and each shard (`Db`) is an in-memory head — series, Gorilla-compressed chunks
//! ([`chunk`]), a postings index — made durable by its own write-ahead log (`argus-wal`), plus
//! immutable blocks on disk (`block`) that the head's older data moves into. A write is
//! acknowledged once its WAL records are fsynced; on start every shard opens its blocks and
//! replays its WAL (checkpoint first). Maintenance cuts the head into blocks, compacts blocks
//! (`compact`) and applies retention (`retention`). The rest of Argus uses the engine only
//! through `argus_model`'s `Appendable` and `Queryable` traits. It knows nothing of HTTP or
//! PromQL.
//!
//! Not yet here: out-of-order windows, deletion, backfill into blocks.

mod backfill;
mod block;
pub mod chunk;
mod compact;
mod config;
mod db;
mod encoding;
mod error;
mod head;
mod index;
mod metrics;
mod querier;
mod record;
mod retention;
mod shards;

pub use config::{FsyncPolicy, RetentionConfig, TsdbConfig, WalConfig};
pub use error::{Error, Result};
pub use metrics::TsdbMetrics;
pub use shards::{EngineStats, Maintenance, Shards};
