//! `LogConfig`: every knob of the log engine, as the `storage.logs` section of the Argus config
//! file.

use argus_model::time::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Time span of one partition (one tantivy index). Retention drops whole partitions, so
    /// this is also the granularity of retention. Changing it affects new partitions only.
    pub partition: HumanDuration,
    /// How often new entries are committed to the index, which makes them searchable; the WAL
    /// is truncated up to what was committed.
    pub commit_interval: HumanDuration,
    /// Partitions whose entries are all older than this (counted back from now) are deleted,
    /// and pushes of older entries are refused. Zero keeps logs forever.
    pub retention: HumanDuration,
    /// Memory the index writer of one partition may buffer before it writes a segment.
    /// At least 15 MiB (tantivy's floor).
    pub indexing_memory: ByteSize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            partition: HumanDuration::from_secs(24 * 3600),
            commit_interval: HumanDuration::from_secs(1),
            retention: HumanDuration::from_secs(30 * 24 * 3600),
            indexing_memory: ByteSize(32 << 20),
        }
    }
}

impl LogConfig {
    pub fn partition_ns(&self) -> i64 {
        (self.partition.0.as_nanos() as i64).max(1_000_000_000)
    }

    /// The retention in nanoseconds, `None` when logs are kept forever.
    pub fn retention_ns(&self) -> Option<i64> {
        let ns = self.retention.0.as_nanos() as i64;
        (ns > 0).then_some(ns)
    }
}
