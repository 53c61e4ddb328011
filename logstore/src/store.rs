//! [`LogStore`]: pushes go to the WAL and into the partitions' index writers; a committer
//! thread commits the writers every `commit_interval`, then truncates the WAL to what was
//! committed and applies retention.
//!
//! # Durability
//!
//! A push is acknowledged once its WAL record is fsynced. Pushes are serialized by one lock
//! that assigns the record's sequence number, appends it to the WAL (no I/O) and adds its
//! entries to the index writers, so WAL order, sequence order and indexing order agree. A
//! commit cycle takes that lock only to note the last sequence and mark a WAL boundary; every
//! record before the boundary is then in some writer, and once every partition has committed,
//! the segments before the boundary are replaced by a checkpoint holding the sequence alone.
//! Each partition's commit names the last record it holds, so replay after a crash re-indexes
//! only what no commit covered: nothing acknowledged is lost, nothing is indexed twice.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use argus_model::{
    LogAppendable, LogIter, LogQueryable, LogSelect, LogStream, Matcher, StorageError, TimeRange,
};
use argus_wal::{Wal, WalOptions};
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::partitions::Partitions;
use crate::record;

/// The log engine. Cloning shares it; the committer thread stops when the last clone is
/// dropped, after a final commit.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
    _committer: Arc<Committer>,
}

struct Inner {
    config: LogConfig,
    wal: Wal,
    /// Held from sequence assignment until the record's entries are in the index writers;
    /// holds the last sequence number.
    push_lock: Mutex<u64>,
    /// The last sequence a commit cycle covered.
    committed_seq: AtomicU64,
    partitions: Partitions,
    pushed_entries: AtomicU64,
    pushed_bytes: AtomicU64,
}

/// A snapshot of the store's counters and sizes, for self-metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    pub partitions: usize,
    pub partition_bytes: u64,
    pub streams: usize,
    /// Entries and line bytes pushed since the store was opened.
    pub pushed_entries: u64,
    pub pushed_bytes: u64,
}

impl LogStore {
    /// Opens the store in `dir` (created if missing), replays the WAL into the partitions,
    /// commits what it replayed and starts the committer thread.
    pub fn open(dir: &Path, config: LogConfig) -> Result<LogStore> {
        let partitions = Partitions::open(&dir.join("partitions"), &config)?;
        let mut last_seq = partitions.max_committed_seq();
        let mut replay_error = None;
        let mut replayed = 0u64;
        let options = WalOptions { segment_size: 64 << 20, ..WalOptions::default() };
        let (wal, report) = Wal::open(&dir.join("wal"), options, |bytes| {
            if replay_error.is_some() {
                return;
            }
            let replay = record::decode(bytes).map_err(Error::from).and_then(|(seq, streams)| {
                last_seq = last_seq.max(seq);
                replayed += streams.iter().map(|s| s.entries.len() as u64).sum::<u64>();
                partitions.index_record(seq, &streams, true)
            });
            if let Err(error) = replay {
                replay_error = Some(error);
            }
        })
        .map_err(Error::Wal)?;
        if let Some(error) = replay_error {
            return Err(error);
        }
        info!(dir = %dir.display(), records = report.records, entries = replayed, last_seq, "log store opened");
        let inner = Arc::new(Inner {
            config,
            wal,
            push_lock: Mutex::new(last_seq),
            committed_seq: AtomicU64::new(0),
            partitions,
            pushed_entries: AtomicU64::new(0),
            pushed_bytes: AtomicU64::new(0),
        });
        // What replay re-indexed becomes searchable before the first request.
        inner.commit_cycle()?;
        let committer = Committer::start(inner.clone());
        Ok(LogStore { inner, _committer: Arc::new(committer) })
    }

    /// Commits everything pushed so far, making it searchable, and truncates the WAL; also
    /// applies retention. The committer thread does this every `commit_interval`.
    pub fn commit(&self) -> Result<()> {
        self.inner.commit_cycle()
    }

    pub fn stats(&self) -> LogStats {
        let (partitions, partition_bytes, streams) = self.inner.partitions.sizes();
        LogStats {
            partitions,
            partition_bytes,
            streams,
            pushed_entries: self.inner.pushed_entries.load(Ordering::Relaxed),
            pushed_bytes: self.inner.pushed_bytes.load(Ordering::Relaxed),
        }
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }
}

impl Inner {
    fn push(&self, streams: &[LogStream]) -> Result<()> {
        // Encoded outside the lock; the sequence number is written in under it.
        let mut bytes = record::encode(0, streams);
        let lsn = {
            let mut last_seq = self.push_lock.lock();
            let seq = *last_seq + 1;
            record::set_seq(&mut bytes, seq);
            let lsn = self.wal.append(&bytes).map_err(Error::Wal)?;
            *last_seq = seq;
            self.partitions.index_record(seq, streams, false)?;
            lsn
        };
        self.wal.wait_durable(lsn).map_err(Error::Wal)?;
        let entries = streams.iter().flat_map(|s| &s.entries);
        let (count, bytes) = entries.fold((0, 0), |(n, b), e| (n + 1, b + e.line.len() as u64));
        self.pushed_entries.fetch_add(count, Ordering::Relaxed);
        self.pushed_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Commits every partition, truncates the WAL before what the commits cover, and drops
    /// partitions past retention.
    fn commit_cycle(&self) -> Result<()> {
        // Each roll starts a segment: roll only when records arrived since the last cycle.
        let roll = {
            let last_seq = self.push_lock.lock();
            (*last_seq > self.committed_seq.load(Ordering::Acquire))
                .then(|| (self.wal.request_roll(), *last_seq))
        };
        let now = argus_model::time::now().saturating_mul(1_000_000);
        self.partitions.commit_all(now)?;
        if let Some((ticket, seq)) = roll {
            let first_kept = self.wal.wait_rolled(ticket).map_err(Error::Wal)?;
            self.wal.checkpoint(first_kept, [record::encode(seq, &[])]).map_err(Error::Wal)?;
            self.committed_seq.store(seq, Ordering::Release);
        }
        if let Some(retention) = self.config.retention_ns() {
            self.partitions.drop_older_than(now.saturating_sub(retention))?;
        }
        Ok(())
    }
}

impl LogAppendable for LogStore {
    fn push(&self, streams: &[LogStream]) -> Result<(), StorageError> {
        Ok(self.inner.push(streams)?)
    }
}

impl LogQueryable for LogStore {
    fn select_logs(&self, select: &LogSelect) -> Result<LogIter, StorageError> {
        Ok(self.inner.partitions.select(select))
    }

    fn log_streams(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<argus_model::Labels>, StorageError> {
        Ok(self.inner.partitions.streams(matchers, range))
    }
}

/// The thread that runs commit cycles.
struct Committer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    inner: Arc<Inner>,
}

impl Committer {
    fn start(inner: Arc<Inner>) -> Committer {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = inner.config.commit_interval.0.max(std::time::Duration::from_millis(10));
        let (thread_stop, thread_inner) = (stop.clone(), inner.clone());
        let thread = std::thread::Builder::new()
            .name("log-commit".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    if let Err(error) = thread_inner.commit_cycle() {
                        warn!(%error, "log commit failed; retrying at the next interval");
                    }
                }
            })
            .expect("spawning the log committer thread");
        Committer { stop, thread: Some(thread), inner }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        if let Err(error) = self.inner.commit_cycle() {
            warn!(%error, "final log commit failed; the WAL keeps the entries");
        }
    }
}
