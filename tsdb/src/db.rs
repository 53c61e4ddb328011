//! `Db`: one shard of the engine — a head in memory and the WAL that makes it durable.
//!
//! Writes take the shard lock, apply the batch to the head and append the WAL records of what
//! was accepted, so WAL order equals memory order; the lock is released before waiting for the
//! fsync, which the WAL's group commit shares between concurrent writers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::{AppendReport, Labels, Matcher, Sample, SelectHints, TimeRange, WriteBatch};
use argus_wal::{Lsn, SyncPolicy, Wal, WalOptions};
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::config::{FsyncPolicy, TsdbConfig};
use crate::error::{Error, Result};
use crate::head::{Head, SelectedSeries, WalRecords};
use crate::metrics::TsdbMetrics;
use crate::record::{self, RecordVisitor};

struct Shard {
    head: Head,
    /// Reused encode buffers for the WAL records of one write.
    records: WalRecords,
}

pub(crate) struct Db {
    shard: usize,
    state: Mutex<Shard>,
    wal: Wal,
    metrics: Arc<TsdbMetrics>,
}

/// What replaying a shard's WAL found.
#[derive(Debug, Default, Clone, Copy)]
struct ReplayStats {
    series: u64,
    samples: u64,
    /// Samples whose series record was missing or records that could not be decoded.
    skipped: u64,
}

impl Db {
    pub(crate) fn open(
        dir: &Path,
        shard: usize,
        config: &TsdbConfig,
        metrics: Arc<TsdbMetrics>,
    ) -> Result<Db> {
        let started = Instant::now();
        let wal_dir = dir.join("wal");
        let mut head = Head::default();
        let mut replay = Replay { head: &mut head, refs: HashMap::new(), stats: ReplayStats::default() };
        let (wal, report) =
            Wal::open(&wal_dir, wal_options(config, &metrics), |bytes| replay.record(shard, bytes))
                .map_err(|source| Error::Wal { shard, source })?;
        let stats = replay.stats;
        info!(
            shard,
            series = stats.series,
            samples = stats.samples,
            skipped = stats.skipped,
            wal_records = report.records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed wal"
        );
        Ok(Db { shard, state: Mutex::new(Shard { head, records: WalRecords::default() }), wal, metrics })
    }

    /// Applies the series `indices` of `batch` to the head and appends their WAL records;
    /// returns the position to wait for, or `None` when nothing new needs to become durable.
    pub(crate) fn write(
        &self,
        batch: &WriteBatch<'_>,
        indices: &[u32],
        min_valid_time: i64,
        report: &mut AppendReport,
    ) -> Result<Option<Lsn>> {
        let mut guard = self.state.lock();
        let Shard { head, records } = &mut *guard;
        records.clear();
        let series_before = head.series_count();
        let accepted_before = report.accepted;
        for &index in indices {
            head.append(batch.get(index as usize), min_valid_time, records, report);
        }
        let wal_error = |source| Error::Wal { shard: self.shard, source };
        let mut lsn = None;
        if let Some(record) = records.series.record() {
            lsn = Some(self.wal.append(record).map_err(wal_error)?);
        }
        if let Some(record) = records.samples.record() {
            lsn = Some(self.wal.append(record).map_err(wal_error)?);
        }
        let created = head.series_count() - series_before;
        drop(guard);
        self.metrics.series_created.fetch_add(created as u64, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .samples_appended
            .fetch_add(report.accepted - accepted_before, std::sync::atomic::Ordering::Relaxed);
        Ok(lsn)
    }

    pub(crate) fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        self.wal.wait_durable(lsn).map_err(|source| Error::Wal { shard: self.shard, source })
    }

    pub(crate) fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Vec<SelectedSeries> {
        self.state.lock().head.select(matchers, hints)
    }

    pub(crate) fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        self.state.lock().head.label_names(matchers, range)
    }

    pub(crate) fn label_values(&self, name: &str, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        self.state.lock().head.label_values(name, matchers, range)
    }

    pub(crate) fn max_time(&self) -> Option<i64> {
        self.state.lock().head.max_time()
    }

    /// (series, chunks) currently in the head.
    pub(crate) fn head_size(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.head.series_count(), state.head.chunk_count())
    }

    pub(crate) fn wal_stats(&self) -> argus_wal::WalStats {
        self.wal.stats()
    }

    pub(crate) fn close(self) -> Result<()> {
        self.wal.close().map_err(|source| Error::Wal { shard: self.shard, source })
    }
}

fn wal_options(config: &TsdbConfig, metrics: &Arc<TsdbMetrics>) -> WalOptions {
    let metrics = metrics.clone();
    WalOptions {
        segment_size: config.wal.segment_size.0,
        sync: match config.wal.fsync {
            FsyncPolicy::PerBatch => SyncPolicy::PerBatch,
            FsyncPolicy::Interval => SyncPolicy::Interval(config.wal.fsync_interval.0),
        },
        fsync_observer: Some(Arc::new(move |elapsed: Duration, _bytes: u64| {
            metrics.wal_fsync_seconds.observe(elapsed);
        })),
    }
}

/// Applies WAL records to a head at startup, mapping the refs the WAL names to the refs the
/// head gives (identical unless the WAL holds a series twice).
struct Replay<'a> {
    head: &'a mut Head,
    refs: HashMap<u32, u32>,
    stats: ReplayStats,
}

impl Replay<'_> {
    fn record(&mut self, shard: usize, bytes: &[u8]) {
        if let Err(error) = record::decode(bytes, self) {
            warn!(shard, %error, "skipping undecodable wal record");
            self.stats.skipped += 1;
        }
    }
}

impl RecordVisitor for Replay<'_> {
    fn series(&mut self, series_ref: u32, labels: Labels) {
        let head_ref = self.head.replay_series(&labels);
        self.refs.insert(series_ref, head_ref);
        self.stats.series += 1;
    }

    fn sample(&mut self, series_ref: u32, sample: Sample) {
        match self.refs.get(&series_ref) {
            Some(&head_ref) if self.head.replay_sample(head_ref, sample) => self.stats.samples += 1,
            _ => self.stats.skipped += 1,
        }
    }
}

/// Directory of shard `index` under the engine's data directory.
pub(crate) fn shard_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("shard-{index:03}"))
}
