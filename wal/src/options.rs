//! How a [`crate::Wal`] is tuned: segment size, when data is fsynced, and an fsync observer.
//!
//! Plain structs with `Default`; the engines that own a WAL map their own serde config onto them,
//! so this crate needs no serde.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Called on the flusher thread after every segment fsync with its duration and the number of
/// bytes it made durable. It runs between fsyncs, so it must be cheap and must not block.
pub type FsyncObserver = Arc<dyn Fn(Duration, u64) + Send + Sync>;

/// Options for [`crate::Wal::open`].
#[derive(Clone)]
pub struct WalOptions {
    /// A new segment file is started once the current one cannot take the next record without
    /// exceeding this size (records never span segments; a record larger than this gets a
    /// segment of its own). Smaller segments make future checkpoints and deletion finer-grained
    /// at the cost of more files. Bytes; default 128 MiB.
    pub segment_size: u64,
    /// When appended records are written and fsynced. Default [`SyncPolicy::PerBatch`].
    pub sync: SyncPolicy,
    /// Called after every fsync with its duration and the number of bytes it made durable (for
    /// self-metrics). Default `None`.
    pub fsync_observer: Option<FsyncObserver>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: 128 * 1024 * 1024, sync: SyncPolicy::default(), fsync_observer: None }
    }
}

impl fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_size", &self.segment_size)
            .field("sync", &self.sync)
            .field("fsync_observer", &self.fsync_observer.is_some())
            .finish()
    }
}

impl WalOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.segment_size == 0 {
            return Err(Error::InvalidOptions { reason: "segment_size must be greater than zero" });
        }
        if self.sync == SyncPolicy::Interval(Duration::ZERO) {
            return Err(Error::InvalidOptions { reason: "sync interval must be greater than zero" });
        }
        Ok(())
    }
}

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every append is fsynced before `wait_durable` returns; concurrent appenders share one
    /// fsync (group commit). Nothing acknowledged is lost in a crash.
    #[default]
    PerBatch,
    /// Data is written and fsynced every interval (or sooner once a few MiB are buffered);
    /// `wait_durable` returns at once, so a crash can lose up to one interval of acknowledged
    /// data.
    Interval(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_values_are_rejected() {
        assert!(WalOptions::default().validate().is_ok());
        let zero_segment = WalOptions { segment_size: 0, ..WalOptions::default() };
        assert!(matches!(zero_segment.validate(), Err(Error::InvalidOptions { .. })));
        let zero_interval =
            WalOptions { sync: SyncPolicy::Interval(Duration::ZERO), ..WalOptions::default() };
        assert!(zero_interval.validate().is_err());
    }
}
