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
    /// write into the head. Once the head spans 1.5 block ranges, its oldest block range is
    /// written to disk as a block and the WAL checkpointed.
    pub block_range: HumanDuration,
    /// How far behind its series' newest sample a sample may arrive and still be stored (out of
    /// order). Zero refuses every sample older than its series' newest.
    pub out_of_order_window: HumanDuration,
    /// How often each shard checks whether to cut a block, compact blocks or apply retention.
    pub compaction_interval: HumanDuration,
    pub retention: RetentionConfig,
    pub wal: WalConfig,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self {
            shards: 0,
            block_range: HumanDuration::from_secs(2 * 3600),
            out_of_order_window: HumanDuration::from_secs(3600),
            compaction_interval: HumanDuration::from_secs(60),
            retention: RetentionConfig::default(),
            wal: WalConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Blocks whose samples are all older than this, counted back from the newest sample, are
    /// deleted. Zero keeps data forever.
    pub time: HumanDuration,
    /// Most bytes the blocks may take together; the oldest are deleted beyond it. Zero means
    /// no limit.
    pub size: ByteSize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { time: HumanDuration::from_secs(15 * 24 * 3600), size: ByteSize(0) }
    }
}

impl RetentionConfig {
    /// The retention time in ms, `None` when data is kept forever.
    pub fn time_ms(&self) -> Option<i64> {
        let ms = self.time.0.as_millis() as i64;
        (ms > 0).then_some(ms)
    }

    /// The size limit, `None` when there is none.
    pub fn size_bytes(&self) -> Option<u64> {
        (self.size.0 > 0).then_some(self.size.0)
    }
}

impl TsdbConfig {
    /// The block range in ms.
    pub fn block_range_ms(&self) -> i64 {
        self.block_range.0.as_millis() as i64
    }

    /// How far behind the engine's newest sample writes are accepted: half a block range (as
    /// Prometheus) or the out-of-order window, whichever is larger. Older samples are too old.
    pub fn write_margin_ms(&self) -> i64 {
        (self.block_range_ms() / 2).max(self.out_of_order_window.0.as_millis() as i64)
    }

    /// The largest block compaction may produce: a tenth of the retention time (blocks are
    /// dropped whole, so larger ones would keep data far past it), at most 31 days.
    pub fn max_block_range_ms(&self) -> i64 {
        const MONTH: i64 = 31 * 24 * 3600 * 1000;
        self.retention.time_ms().map_or(MONTH, |t| (t / 10).min(MONTH)).max(self.block_range_ms())
    }

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
