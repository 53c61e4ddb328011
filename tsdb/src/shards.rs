//! `Shards`: the engine as the rest of Argus sees it — N independent [`Db`]s, series placed by
//! the stable hash of their label set — implementing the model's `Appendable` and `Queryable`.
//!
//! The shard count is fixed when a data directory is created: on open, existing `shard-NNN`
//! directories win over the configured count, because moving series between shards would
//! need a rewrite of every WAL.
//!
//! Maintenance (cutting heads into blocks, compaction, retention) runs in rounds,
//! [`Shards::maintain`]; [`Shards::start_maintenance`] runs them on a background thread.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use argus_model::{
    AppendReport, Appendable, Labels, Matcher, Queryable, RejectReason, SelectHints, Selection,
    SeriesSamples, StorageError, TimeRange, WriteBatch,
};
use tracing::warn;

use crate::config::{RetentionConfig, TsdbConfig};
use crate::db::{Db, shard_dir};
use crate::error::{Error, Result};
use crate::head::AppendBounds;
use crate::metrics::TsdbMetrics;
use crate::retention::{self, BlockInfo};

pub struct Shards {
    dbs: Vec<Db>,
    metrics: Arc<TsdbMetrics>,
    /// Samples older than the newest one minus this are too old.
    too_old_margin: i64,
    /// Samples older than their series' newest are accepted back to the newest one minus this.
    out_of_order_window: i64,
    /// Newest sample timestamp over all shards (`i64::MIN` when empty).
    max_time: AtomicI64,
    retention: RetentionConfig,
}

/// Sizes for self-metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub shards: usize,
    pub head_series: usize,
    pub head_chunks: usize,
    pub blocks: usize,
    pub block_bytes: u64,
    pub wal_bytes_written: u64,
    pub wal_fsyncs: u64,
}

impl Shards {
    /// Opens (creating if needed) the engine in `dir`, replaying every shard's WAL in parallel.
    pub fn open(dir: &Path, config: &TsdbConfig) -> Result<Shards> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "creating data directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let count = shard_count(dir, config)?;
        let metrics = Arc::new(TsdbMetrics::default());
        let dbs = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    let metrics = metrics.clone();
                    scope.spawn(move || Db::open(&shard_dir(dir, i), i, config, metrics))
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(shard, h)| h.join().unwrap_or(Err(Error::ReplayPanicked { shard })))
                .collect::<Result<Vec<Db>>>()
        })?;
        let max_time = dbs.iter().filter_map(Db::max_time).max().unwrap_or(i64::MIN);
        Ok(Shards {
            dbs,
            metrics,
            too_old_margin: config.write_margin_ms(),
            out_of_order_window: config.out_of_order_window.0.as_millis() as i64,
            max_time: AtomicI64::new(max_time),
            retention: config.retention.clone(),
        })
    }

    /// One round of maintenance: each shard cuts its head into blocks while it spans too much
    /// and merges blocks while compaction finds some to merge; then retention drops expired
    /// blocks across all shards. Ingest and queries go on meanwhile.
    pub fn maintain(&self) -> Result<()> {
        for db in &self.dbs {
            while db.cut_head()? {}
            while db.compact()? {}
        }
        self.apply_retention()
    }

    /// Writes every shard's whole head into blocks (what Prometheus's snapshot does for its
    /// head, and VictoriaMetrics's forced flush), then compacts. Afterwards samples up to the
    /// newest one flushed are refused as too old, so this is for backups, benchmarks and
    /// shutdown-like moments, not for routine use.
    pub fn flush(&self) -> Result<()> {
        for db in &self.dbs {
            while db.flush_head()? {}
        }
        self.clean_tombstones()
    }

    /// Deletes the samples within `range` of the series matching any of `selectors` (each a
    /// conjunction of matchers), as Prometheus's delete API: gone from queries at once, purged
    /// from disk by the next compaction. Returns how many series pieces lost samples.
    pub fn delete(&self, selectors: &[Vec<Matcher>], range: TimeRange) -> Result<usize> {
        let mut affected = 0;
        for db in &self.dbs {
            for matchers in selectors {
                affected += db.delete(matchers, range)?;
            }
        }
        Ok(affected)
    }

    /// Compacts every shard until there is nothing left to merge and no block holds deleted
    /// data (Prometheus's clean_tombstones).
    pub fn clean_tombstones(&self) -> Result<()> {
        for db in &self.dbs {
            while db.compact()? {}
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let newest = self.max_time.load(Ordering::Relaxed);
        if newest == i64::MIN {
            return Ok(());
        }
        let blocks: Vec<BlockInfo> = self
            .dbs
            .iter()
            .enumerate()
            .flat_map(|(shard, db)| {
                db.block_infos().into_iter().map(move |(meta, size_bytes)| BlockInfo {
                    shard,
                    id: meta.id,
                    max_time: meta.max_time,
                    size_bytes,
                })
            })
            .collect();
        let expired =
            retention::expired(&blocks, newest, self.retention.time_ms(), self.retention.size_bytes());
        for (shard, db) in self.dbs.iter().enumerate() {
            let ids: Vec<String> =
                expired.iter().filter(|b| b.shard == shard).map(|b| b.id.clone()).collect();
            if !ids.is_empty() {
                db.drop_blocks(&ids)?;
            }
        }
        Ok(())
    }

    /// Runs [`Shards::maintain`] every `interval` on a background thread until the returned
    /// handle is stopped. A failed round is logged and retried at the next interval.
    pub fn start_maintenance(shards: &Arc<Shards>, interval: Duration) -> Maintenance {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let shards = Arc::clone(shards);
        let thread = std::thread::Builder::new()
            .name("argus-tsdb-maintenance".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if let Err(error) = shards.maintain() {
                        warn!(error = %error, source = ?std::error::Error::source(&error), "tsdb maintenance failed");
                    }
                }
            })
            .expect("spawning the maintenance thread");
        Maintenance { stop, thread }
    }

    pub fn metrics(&self) -> &TsdbMetrics {
        &self.metrics
    }

    pub fn stats(&self) -> EngineStats {
        let mut stats = EngineStats { shards: self.dbs.len(), ..Default::default() };
        for db in &self.dbs {
            let (series, chunks) = db.head_size();
            let wal = db.wal_stats();
            stats.head_series += series;
            stats.head_chunks += chunks;
            for (_, size) in db.block_infos() {
                stats.blocks += 1;
                stats.block_bytes += size;
            }
            stats.wal_bytes_written += wal.bytes_written;
            stats.wal_fsyncs += wal.fsyncs;
        }
        stats
    }

    /// Flushes and closes every shard's WAL.
    pub fn close(self) -> Result<()> {
        let mut first_error = None;
        for db in self.dbs {
            if let Err(error) = db.close() {
                warn!(%error, "closing shard failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn shard_of(&self, hash: u64) -> usize {
        (hash % self.dbs.len() as u64) as usize
    }

    fn append_bounds(&self) -> AppendBounds {
        match self.max_time.load(Ordering::Relaxed) {
            i64::MIN => AppendBounds::ANY,
            max => AppendBounds {
                too_old: max.saturating_sub(self.too_old_margin),
                out_of_order: max.saturating_sub(self.out_of_order_window),
            },
        }
    }

    /// Imports a batch shard by shard: what the heads can take goes there, older samples into
    /// backfill blocks (`Db::import`).
    fn import_batch(&self, batch: &WriteBatch<'_>) -> Result<AppendReport> {
        let mut per_shard: Vec<Vec<SeriesSamples>> = (0..self.dbs.len()).map(|_| Vec::new()).collect();
        for series in batch.iter() {
            per_shard[self.shard_of(series.hash)].push(SeriesSamples {
                labels: Labels::from_sorted_refs(series.labels),
                samples: series.samples.to_vec(),
            });
        }
        let mut report = AppendReport::default();
        for (db, series) in self.dbs.iter().zip(per_shard) {
            if series.is_empty() {
                continue;
            }
            db.import(series, &mut report)?;
            if let Some(max) = db.max_time() {
                self.max_time.fetch_max(max, Ordering::Relaxed);
            }
        }
        for reason in RejectReason::ALL {
            self.metrics.add_rejected(reason, report.rejected_count(reason));
        }
        Ok(report)
    }

    fn append_batch(&self, batch: &WriteBatch<'_>) -> Result<AppendReport> {
        let mut per_shard: Vec<Vec<u32>> = (0..self.dbs.len()).map(|_| Vec::new()).collect();
        for (index, series) in batch.iter().enumerate() {
            per_shard[self.shard_of(series.hash)].push(index as u32);
        }
        let bounds = self.append_bounds();
        let mut report = AppendReport::default();
        let mut pending = Vec::new();
        for (db, indices) in self.dbs.iter().zip(&per_shard) {
            if indices.is_empty() {
                continue;
            }
            if let Some(lsn) = db.write(batch, indices, bounds, &mut report)? {
                pending.push((db, lsn));
            }
            if let Some(max) = db.max_time() {
                self.max_time.fetch_max(max, Ordering::Relaxed);
            }
        }
        for reason in RejectReason::ALL {
            self.metrics.add_rejected(reason, report.rejected_count(reason));
        }
        // Every shard's flusher is already working; waiting in turn costs the slowest fsync.
        for (db, lsn) in pending {
            db.wait_durable(lsn)?;
        }
        Ok(report)
    }
}

/// Existing shard directories decide the count; a new directory gets the configured one.
fn shard_count(dir: &Path, config: &TsdbConfig) -> Result<usize> {
    let existing = (0..).take_while(|&i| shard_dir(dir, i).is_dir()).count();
    let configured = config.effective_shards();
    if existing > 0 && existing != configured {
        warn!(existing, configured, dir = %dir.display(), "data directory has a different shard count than configured; keeping the existing one");
    }
    Ok(if existing > 0 { existing } else { configured })
}

impl Appendable for Shards {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, StorageError> {
        Ok(self.append_batch(batch)?)
    }

    fn import(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, StorageError> {
        Ok(self.import_batch(batch)?)
    }
}

/// Series pieces a select must read across the shards before they are read in parallel: below
/// it, starting a thread costs more than the reading it takes over.
const PARALLEL_SELECT_PIECES: u64 = 4096;

impl Queryable for Shards {
    /// Selects from every shard, in shard order. A large selection reads the shards in
    /// parallel, one thread each: building each series' label set and chunk list is most of a
    /// large query's select.
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Selection, StorageError> {
        let parallel = self.dbs.len() > 1
            && self.dbs.iter().map(|db| db.count_matching(matchers, hints.range)).sum::<u64>()
                >= PARALLEL_SELECT_PIECES;
        let per_shard: Vec<Selection> = if parallel {
            std::thread::scope(|scope| {
                let (first, rest) = self.dbs.split_first().expect("more than one shard");
                let others: Vec<_> =
                    rest.iter().map(|db| scope.spawn(move || db.select(matchers, hints))).collect();
                let mut selections = vec![first.select(matchers, hints)];
                selections.extend(
                    others.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
                );
                selections
            })
        } else {
            self.dbs.iter().map(|db| db.select(matchers, hints)).collect()
        };
        let mut selection = Selection::default();
        for Selection { series, warnings } in per_shard {
            selection.series.extend(series);
            selection.warnings.extend(warnings);
        }
        Ok(selection)
    }

    fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<String>, StorageError> {
        let names: BTreeSet<String> =
            self.dbs.iter().flat_map(|db| db.label_names(matchers, range)).collect();
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let values: BTreeSet<String> =
            self.dbs.iter().flat_map(|db| db.label_values(name, matchers, range)).collect();
        Ok(values.into_iter().collect())
    }
}

/// The background maintenance thread of [`Shards::start_maintenance`].
pub struct Maintenance {
    stop: std::sync::mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Maintenance {
    /// Stops the thread after the step under way, and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            warn!("the tsdb maintenance thread panicked");
        }
    }
}
