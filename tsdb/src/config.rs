//! `TsdbConfig`: every knob of the time-series engine, as the `storage.tsdb` section of the
//! Argus config file.

use argus_model::time::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    /// Number of shards the engine splits series into by label hash. Each shard has its own
    /// lock, head and WAL, so more shards let more cores ingest at once. `0` means one per CPU
    /// core. Fixed once data exists: a data directory keeps the shard count it was created with.
    pub shards: usize,
    /// Time range one block of the head covers. Samples older than the newest sample minus half
    /// of this are refused as too old (as in Prometheus), which bounds how far back a sender can
    /// write into the head.
    pub block_range: HumanDuration,
    pub wal: WalConfig,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self { shards: 0, block_range: HumanDuration::from_secs(2 * 3600), wal: WalConfig::default() }
    }
}

impl TsdbConfig {
    /// The shard count to create a new data directory with.
    pub fn effective_shards(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// Size at which a WAL segment file is closed and a new one started.
    pub segment_size: ByteSize,
    /// When acknowledged writes reach the disk.
    pub fsync: FsyncPolicy,
    /// With `fsync: interval`, how often the WAL is fsynced.
    pub fsync_interval: HumanDuration,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            segment_size: ByteSize(128 << 20),
            fsync: FsyncPolicy::PerBatch,
            fsync_interval: HumanDuration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// A write is acknowledged only after its WAL records are fsynced; concurrent writes share
    /// one fsync (group commit). Nothing acknowledged is lost on a crash or power cut.
    PerBatch,
    /// Writes are acknowledged once in the WAL's memory buffer and fsynced every
    /// `fsync_interval`: cheaper on slow disks, but a power cut can lose up to one interval of
    /// acknowledged samples (a process crash alone loses nothing written to the OS).
    Interval,
}
