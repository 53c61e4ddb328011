//! Counters the engine keeps about itself, shared by all shards and read by the binary's
//! `/metrics` handler.

use std::sync::atomic::{AtomicU64, Ordering};

use argus_model::RejectReason;
use argus_model::metrics::{Histogram, LATENCY_BUCKETS};

#[derive(Debug)]
pub struct TsdbMetrics {
    pub samples_appended: AtomicU64,
    pub series_created: AtomicU64,
    rejected: [AtomicU64; 3],
    pub wal_fsync_seconds: Histogram,
}

impl Default for TsdbMetrics {
    fn default() -> Self {
        Self {
            samples_appended: AtomicU64::new(0),
            series_created: AtomicU64::new(0),
            rejected: Default::default(),
            wal_fsync_seconds: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl TsdbMetrics {
    pub fn add_rejected(&self, reason: RejectReason, count: u64) {
        self.rejected[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }
}
