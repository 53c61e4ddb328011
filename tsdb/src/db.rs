//! `Db`: one shard of the engine — a head in memory, the WAL that makes it durable, and the
//! immutable blocks on disk that older data has moved to.
//!
//! Writes take the shard lock, apply the batch to the head and append the WAL records of what
//! was accepted, so WAL order equals memory order; the lock is released before waiting for the
//! fsync, which the WAL's group commit shares between concurrent writers.
//!
//! Maintenance runs beside writes and reads, one step at a time (the shard's maintenance lock
//! keeps steps apart): [`Db::cut_head`] writes the head's oldest block range as a block, then
//! truncates the head and checkpoints the WAL; [`Db::compact`] merges blocks as
//! `compact::plan` says, or rewrites one to purge deletions; [`Db::drop_blocks`] carries out
//! retention; [`Db::delete`] and [`Db::import`] (backfill into blocks) take the same lock, so
//! none of them sees a block half done by another. The shard lock is held only to snapshot
//! the head and to truncate it, never while writing files. Reads take the list of blocks and
//! the head at one moment; a block replaced meanwhile stays readable until its last reader
//! lets it go.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::{
    AppendReport, Labels, Matcher, Sample, SamplesWanted, SelectHints, Selection, SeriesSamples, TimeRange,
    WriteBatch,
};
use argus_wal::{Lsn, SyncPolicy, Wal, WalOptions};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::backfill;
use crate::block::{self, Block, BlockMeta, BlockWriter, Compaction};
use crate::compact;
use crate::config::{FsyncPolicy, TsdbConfig};
use crate::error::{Error, Result};
use crate::head::{AppendBounds, Head, SeriesSnapshot, WalRecords};
use crate::metrics::TsdbMetrics;
use crate::querier::{self, Piece};
use crate::record::{self, RecordVisitor, SamplesRecordBuilder, SeriesRecordBuilder};

/// Entries per WAL record written into a checkpoint.
const CHECKPOINT_RECORD_ENTRIES: usize = 10_000;

struct Shard {
    head: Head,
    /// Reused encode buffers for the WAL records of one write.
    records: WalRecords,
}

pub(crate) struct Db {
    shard: usize,
    state: Mutex<Shard>,
    /// Blocks in time order; replaced as a whole, so a reader's clone stays consistent.
    blocks: RwLock<Arc<Vec<Arc<Block>>>>,
    /// Blocks that failed to open: every query is warned that their data is missing.
    skipped_blocks: Vec<String>,
    blocks_dir: PathBuf,
    /// Held by one maintenance step (cut, compaction, retention) at a time.
    maintenance: Mutex<()>,
    block_range: i64,
    /// How far behind the newest sample writes are accepted (`TsdbConfig::write_margin_ms`).
    write_margin: i64,
    level_ranges: Vec<i64>,
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

/// A compaction's input series: each label set's pieces from the input blocks.
type CompactionInputs = BTreeMap<Labels, Vec<Piece>>;

impl Db {
    pub(crate) fn open(
        dir: &Path,
        shard: usize,
        config: &TsdbConfig,
        metrics: Arc<TsdbMetrics>,
    ) -> Result<Db> {
        let started = Instant::now();
        let blocks_dir = dir.join("blocks");
        let block::OpenedBlocks { blocks, skipped } = block::open_all(&blocks_dir)
            .map_err(|source| Error::Io { action: "opening blocks in", path: blocks_dir.clone(), source })?;
        let mut head = Head::default();
        // Samples before the end of the newest block were written there; the WAL may still
        // hold them when a crash came between writing the block and the checkpoint.
        if let Some(end) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.set_floor(end);
        }
        let wal_dir = dir.join("wal");
        let mut replay = Replay { head: &mut head, refs: HashMap::new(), stats: ReplayStats::default() };
        let (wal, report) =
            Wal::open(&wal_dir, wal_options(config, &metrics), |bytes| replay.record(shard, bytes))
                .map_err(|source| Error::Wal { shard, source })?;
        let stats = replay.stats;
        info!(
            shard,
            blocks = blocks.len(),
            series = stats.series,
            samples = stats.samples,
            skipped = stats.skipped,
            wal_records = report.records,
            wal_checkpoint = report.checkpoint,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened shard"
        );
        let block_range = config.block_range_ms();
        Ok(Db {
            shard,
            state: Mutex::new(Shard { head, records: WalRecords::default() }),
            blocks: RwLock::new(Arc::new(blocks)),
            skipped_blocks: skipped,
            blocks_dir,
            maintenance: Mutex::new(()),
            block_range,
            write_margin: config.write_margin_ms(),
            level_ranges: compact::level_ranges(block_range, config.max_block_range_ms()),
            wal,
            metrics,
        })
    }

    /// Applies the series `indices` of `batch` to the head and appends their WAL records;
    /// returns the position to wait for, or `None` when nothing new needs to become durable.
    pub(crate) fn write(
        &self,
        batch: &WriteBatch<'_>,
        indices: &[u32],
        bounds: AppendBounds,
        report: &mut AppendReport,
    ) -> Result<Option<Lsn>> {
        let mut guard = self.state.lock();
        let Shard { head, records } = &mut *guard;
        records.clear();
        let series_before = head.series_count();
        let accepted_before = report.accepted;
        for &index in indices {
            head.append(batch.get(index as usize), bounds, records, report);
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

    /// The shard's blocks as they stand.
    fn blocks(&self) -> Arc<Vec<Arc<Block>>> {
        self.blocks.read().clone()
    }

    /// Series matching `matchers` with samples in range, from the blocks and the head, each
    /// series once, with warnings about damaged data that had to be left out.
    /// How many series pieces a select of `matchers` over `range` would read, at most: the
    /// matching series of the head and of each block overlapping `range`, from the postings
    /// alone (which remember regex answers, so the select that follows repeats little).
    pub(crate) fn count_matching(&self, matchers: &[Matcher], range: TimeRange) -> u64 {
        let head = self.state.lock().head.count_matching(matchers);
        let blocks = self.blocks();
        let overlapping = blocks.iter().filter(|b| b.meta().overlaps(range.min, range.max));
        head + overlapping.map(|b| b.count_matching(matchers)).sum::<u64>()
    }

    pub(crate) fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Selection {
        let blocks = self.blocks();
        let head = self.state.lock().head.select(matchers, hints);
        let range = hints.range;
        let latest_only = hints.samples == SamplesWanted::Latest;
        let mut warnings = self.skipped_blocks.clone();
        let overlapping: Vec<&Arc<Block>> =
            blocks.iter().filter(|b| b.meta().overlaps(range.min, range.max)).collect();
        if overlapping.is_empty() {
            return Selection { series: querier::single_source(head, range), warnings };
        }
        let overlapping_count = overlapping.len();
        let mut pieces = Vec::new();
        for block in overlapping {
            pieces.extend(block.select(matchers, range, hints.samples, &mut warnings));
        }
        for damage in &warnings[self.skipped_blocks.len()..] {
            warn!(shard = self.shard, %damage, "skipping damaged block data");
        }
        let series = if head.is_empty() && overlapping_count == 1 {
            // One block alone holds each of its series once: nothing to join.
            querier::single_source(pieces, range)
        } else {
            pieces.extend(head);
            querier::join(pieces, range, latest_only)
        };
        Selection { series, warnings }
    }

    pub(crate) fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        let mut names: BTreeSet<String> =
            self.state.lock().head.label_names(matchers, range).into_iter().collect();
        for block in self.blocks().iter() {
            for labels in block.series_labels(matchers, range) {
                names.extend(labels.iter().map(|l| l.name.to_string()));
            }
        }
        names.into_iter().collect()
    }

    pub(crate) fn label_values(&self, name: &str, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        let mut values: BTreeSet<String> =
            self.state.lock().head.label_values(name, matchers, range).into_iter().collect();
        for block in self.blocks().iter() {
            for labels in block.series_labels(matchers, range) {
                values.extend(labels.get(name).map(str::to_string));
            }
        }
        values.into_iter().collect()
    }

    pub(crate) fn max_time(&self) -> Option<i64> {
        self.state.lock().head.max_time()
    }

    /// (series, chunks) currently in the head.
    pub(crate) fn head_size(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.head.series_count(), state.head.chunk_count())
    }

    /// The metas and sizes of the shard's blocks.
    pub(crate) fn block_infos(&self) -> Vec<(BlockMeta, u64)> {
        self.blocks().iter().map(|b| (b.meta().clone(), b.size_bytes())).collect()
    }

    /// Cuts the head's oldest block range into a block when the head spans more than a block
    /// range plus the write margin (so the cut never reaches samples a sender may still write,
    /// in order or not), then truncates the head and checkpoints the WAL. Returns whether a
    /// block was cut.
    pub(crate) fn cut_head(&self) -> Result<bool> {
        let (range, margin) = (self.block_range, self.write_margin);
        self.cut(|min, max, floor| {
            let start = min.div_euclid(range) * range;
            (max.saturating_sub(min) > range + margin).then(|| (start.max(floor), start + range))
        })
    }

    /// Cuts up to a block range of the head, from its oldest sample, into a block whatever
    /// the head spans; returns false once the head is empty. Afterwards samples up to the
    /// newest one cut are refused as too old. Unlike regular cuts, the block is not aligned to
    /// the block range: a head of less than a block range that straddles a boundary becomes one
    /// block, not two with an index each (compaction handles unaligned blocks).
    pub(crate) fn flush_head(&self) -> Result<bool> {
        let range = self.block_range;
        self.cut(|min, max, _| Some((min, min.saturating_add(range).min(max.saturating_add(1)))))
    }

    /// Writes the head's samples in the window `choose(head min, head max, head floor)`
    /// returns as a block, truncates the head to the window's end and checkpoints the WAL.
    fn cut(&self, choose: impl FnOnce(i64, i64, i64) -> Option<(i64, i64)>) -> Result<bool> {
        let _maintenance = self.maintenance.lock();
        let (snapshot, roll, (start, end)) = {
            let mut state = self.state.lock();
            let head = &mut state.head;
            let (Some(min), Some(max)) = (head.min_time(), head.max_time()) else { return Ok(false) };
            let Some(window) = choose(min, max, head.floor()) else { return Ok(false) };
            // Whatever is accepted from now on lies after the block, so the block and the
            // checkpoint, both from this snapshot, miss nothing. The roll's boundary matches
            // the snapshot: both are taken under the shard lock.
            head.close_before(window.1);
            (head.snapshot(), self.wal.request_roll(), window)
        };
        let started = Instant::now();
        let meta = self.write_head_block(&snapshot, start, end)?;
        let (removed, kept) = {
            let mut state = self.state.lock();
            let removed = state.head.truncate(end);
            // Only the series left in the head can have records after the boundary.
            let kept: Vec<&SeriesSnapshot> =
                snapshot.iter().filter(|s| state.head.is_live(s.series_ref)).collect();
            (removed, kept)
        };
        let first_kept =
            self.wal.wait_rolled(roll).map_err(|source| Error::Wal { shard: self.shard, source })?;
        let checkpoint_bytes = self
            .wal
            .checkpoint(first_kept, checkpoint_records(&kept, end))
            .map_err(|source| Error::Wal { shard: self.shard, source })?;
        info!(
            shard = self.shard,
            block = meta.as_ref().map(|m| m.id.as_str()),
            min_time = start,
            max_time = end,
            series = meta.as_ref().map_or(0, |m| m.stats.series),
            samples = meta.as_ref().map_or(0, |m| m.stats.samples),
            head_series_removed = removed,
            checkpoint_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cut head block"
        );
        Ok(true)
    }

    /// Writes the snapshot's samples in `[start, end)` as a level-1 block and adds it to the
    /// shard.
    fn write_head_block(
        &self,
        snapshot: &[SeriesSnapshot],
        start: i64,
        end: i64,
    ) -> Result<Option<BlockMeta>> {
        let io = |source| Error::Io { action: "writing block in", path: self.blocks_dir.clone(), source };
        let mut sorted: Vec<&SeriesSnapshot> = snapshot.iter().collect();
        sorted.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut writer =
            BlockWriter::create(&self.blocks_dir, start, end, Compaction { level: 1, parents: Vec::new() })
                .map_err(io)?;
        for series in sorted {
            let range = TimeRange::new(start, end - 1);
            writer.add_series(series.labels.clone(), series.samples(range)).map_err(io)?;
        }
        let Some(meta) = writer.finish().map_err(io)? else { return Ok(None) };
        self.add_block(&meta, &[])?;
        Ok(Some(meta))
    }

    /// Opens a block just written and puts it in place of `replaced`, whose directories are
    /// then deleted.
    fn add_block(&self, meta: &BlockMeta, replaced: &[Arc<Block>]) -> Result<()> {
        let dir = self.blocks_dir.join(&meta.id);
        let block = Block::open(&dir).map_err(|e| Error::Io {
            action: "opening new block",
            path: dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.replace_blocks(replaced, Some(Arc::new(block)))
    }

    /// Takes `old` out of the shard's blocks (adding `new`, if any), then deletes their
    /// directories: readers that still hold them keep reading the unlinked files.
    fn replace_blocks(&self, old: &[Arc<Block>], new: Option<Arc<Block>>) -> Result<()> {
        {
            let mut blocks = self.blocks.write();
            let mut list: Vec<Arc<Block>> =
                blocks.iter().filter(|b| !old.iter().any(|r| Arc::ptr_eq(b, r))).cloned().collect();
            list.extend(new);
            list.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            *blocks = Arc::new(list);
        }
        for block in old {
            std::fs::remove_dir_all(block.dir()).map_err(|source| Error::Io {
                action: "deleting replaced block",
                path: block.dir().to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// Merges the blocks `compact::plan` picks, or rewrites one with deletions to purge them;
    /// returns whether it did either.
    pub(crate) fn compact(&self) -> Result<bool> {
        let _maintenance = self.maintenance.lock();
        let blocks = self.blocks();
        let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
        let ids = match compact::plan(&metas, &self.level_ranges) {
            Some(ids) => ids,
            None => match blocks.iter().find(|b| b.has_tombstones()) {
                Some(block) => vec![block.meta().id.clone()],
                None => return Ok(false),
            },
        };
        let inputs: Vec<Arc<Block>> = blocks.iter().filter(|b| ids.contains(&b.meta().id)).cloned().collect();
        let started = Instant::now();
        let meta = self.merge_blocks(&inputs)?;
        info!(
            shard = self.shard,
            inputs = ?ids,
            block = meta.as_ref().map(|m| m.id.as_str()),
            level = meta.as_ref().map(|m| m.compaction.level),
            series = meta.as_ref().map_or(0, |m| m.stats.series),
            samples = meta.as_ref().map_or(0, |m| m.stats.samples),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compacted blocks"
        );
        Ok(true)
    }

    /// Writes one block holding every sample of `inputs` that was not deleted (a timestamp
    /// several hold kept once) and swaps it in for them; with nothing left, the inputs just go.
    fn merge_blocks(&self, inputs: &[Arc<Block>]) -> Result<Option<BlockMeta>> {
        let io = |source| Error::Io { action: "compacting blocks in", path: self.blocks_dir.clone(), source };
        let min_time = inputs.iter().map(|b| b.meta().min_time).min().expect("a plan has inputs");
        let max_time = inputs.iter().map(|b| b.meta().max_time).max().expect("a plan has inputs");
        let top_level = inputs.iter().map(|b| b.meta().compaction.level).max().unwrap_or(1);
        let compaction = Compaction {
            // Rewriting one block (to purge deletions) keeps its level.
            level: if inputs.len() > 1 { top_level + 1 } else { top_level },
            parents: inputs.iter().map(|b| b.meta().id.clone()).collect(),
        };
        let mut series: CompactionInputs = BTreeMap::new();
        for block in inputs {
            for (labels, piece) in block.all_series() {
                series.entry(labels).or_default().push(piece);
            }
        }
        let mut writer = BlockWriter::create(&self.blocks_dir, min_time, max_time, compaction).map_err(io)?;
        for (labels, pieces) in series {
            writer.add_series(labels, querier::samples_of(pieces, TimeRange::ALL)).map_err(io)?;
        }
        match writer.finish().map_err(io)? {
            Some(meta) => {
                self.add_block(&meta, inputs)?;
                Ok(Some(meta))
            }
            None => {
                self.replace_blocks(inputs, None)?;
                Ok(None)
            }
        }
    }

    /// Deletes the blocks named by retention.
    pub(crate) fn drop_blocks(&self, ids: &[String]) -> Result<()> {
        let _maintenance = self.maintenance.lock();
        let dropped: Vec<Arc<Block>> =
            self.blocks().iter().filter(|b| ids.contains(&b.meta().id)).cloned().collect();
        for block in &dropped {
            info!(
                shard = self.shard,
                block = block.meta().id,
                max_time = block.meta().max_time,
                "retention dropped block"
            );
        }
        self.replace_blocks(&dropped, None)
    }

    /// Deletes the samples within `range` of the series matching `matchers`: from the head
    /// (recorded in the WAL first, so a restart deletes them again) and as tombstones in every
    /// block, which compaction then purges. Returns how many series lost samples.
    pub(crate) fn delete(&self, matchers: &[Matcher], range: TimeRange) -> Result<usize> {
        let _maintenance = self.maintenance.lock();
        let wal_error = |source| Error::Wal { shard: self.shard, source };
        let (head_series, lsn) = {
            let mut state = self.state.lock();
            let deleted = state.head.delete(matchers, range);
            let lsn = if deleted.is_empty() {
                None
            } else {
                let entries: Vec<(u32, i64, i64)> =
                    deleted.iter().map(|&r| (r, range.min, range.max)).collect();
                Some(self.wal.append(&record::deletions_record(&entries)).map_err(wal_error)?)
            };
            (deleted.len(), lsn)
        };
        if let Some(lsn) = lsn {
            self.wait_durable(lsn)?;
        }
        let mut block_series = 0;
        for block in self.blocks().iter() {
            block_series += block.delete(matchers, range).map_err(|source| Error::Io {
                action: "writing tombstones of",
                path: block.dir().to_path_buf(),
                source,
            })?;
        }
        info!(
            shard = self.shard,
            head_series,
            block_series,
            min = range.min,
            max = range.max,
            "deleted series data"
        );
        Ok(head_series + block_series)
    }

    /// Stores imported series: samples at or after the head's floor go to the head (however
    /// far behind the newest sample, and out of order), older ones into blocks of their own,
    /// which compaction merges with the blocks they overlap. Returns once all are durable.
    pub(crate) fn import(&self, series: Vec<SeriesSamples>, report: &mut AppendReport) -> Result<()> {
        let _maintenance = self.maintenance.lock();
        let floor = self.state.lock().head.floor();
        let (mut old, mut recent) = (Vec::new(), Vec::new());
        for SeriesSamples { labels, samples } in series {
            let (before, after): (Vec<Sample>, Vec<Sample>) = samples.into_iter().partition(|s| s.t < floor);
            if !before.is_empty() {
                old.push((labels.clone(), before));
            }
            if !after.is_empty() {
                recent.push(SeriesSamples { labels, samples: after });
            }
        }
        if !recent.is_empty() {
            let batch = WriteBatch::from_series(&recent);
            let indices: Vec<u32> = (0..batch.len() as u32).collect();
            let bounds = AppendBounds { too_old: floor, out_of_order: floor };
            if let Some(lsn) = self.write(&batch, &indices, bounds, report)? {
                self.wait_durable(lsn)?;
            }
        }
        if !old.is_empty() {
            self.backfill(old, floor, report)?;
        }
        Ok(())
    }

    /// Writes samples older than the head's floor as level-1 blocks (see `backfill`).
    fn backfill(
        &self,
        series: Vec<(Labels, Vec<Sample>)>,
        floor: i64,
        report: &mut AppendReport,
    ) -> Result<()> {
        let stored_ranges: Vec<(Labels, TimeRange)> = series
            .iter()
            .filter_map(|(labels, samples)| {
                let min = samples.iter().map(|s| s.t).min()?;
                let max = samples.iter().map(|s| s.t).max()?;
                Some((labels.clone(), TimeRange::new(min, max)))
            })
            .collect();
        let stored = self.stored_samples(&stored_ranges);
        let resolved = backfill::resolve(series, |labels, t| {
            stored.get(labels).and_then(|samples| samples.get(&t)).copied()
        });
        for (labels, sample, reason) in resolved.refused {
            report.reject(reason, &labels.as_refs(), sample.t);
        }
        report.accepted += resolved.resent + resolved.kept.iter().map(|(_, s)| s.len() as u64).sum::<u64>();
        let io =
            |source| Error::Io { action: "writing backfill block in", path: self.blocks_dir.clone(), source };
        for planned in backfill::into_blocks(resolved.kept, self.block_range, floor) {
            let compaction = Compaction { level: 1, parents: Vec::new() };
            let mut writer =
                BlockWriter::create(&self.blocks_dir, planned.min_time, planned.max_time, compaction)
                    .map_err(io)?;
            for (labels, samples) in planned.series {
                writer.add_series(labels, samples.into_iter()).map_err(io)?;
            }
            if let Some(meta) = writer.finish().map_err(io)? {
                info!(
                    shard = self.shard,
                    block = meta.id,
                    samples = meta.stats.samples,
                    "wrote backfill block"
                );
                self.add_block(&meta, &[])?;
            }
        }
        Ok(())
    }

    /// What the shard already stores of each series in its range, by time.
    fn stored_samples(&self, wanted: &[(Labels, TimeRange)]) -> HashMap<Labels, HashMap<i64, f64>> {
        let mut stored = HashMap::new();
        for (labels, range) in wanted {
            let matchers: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(&*l.name, &*l.value)).collect();
            let hints = SelectHints { range: *range, samples: SamplesWanted::All };
            for series in self.select(&matchers, hints).series.into_iter().filter(|s| s.labels == *labels) {
                stored.insert(series.labels, series.samples.map(|s| (s.t, s.v)).collect());
            }
        }
        stored
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

/// The WAL records that restate these series of a snapshot from `from` on: each series, then
/// their samples at or after `from`, produced lazily.
fn checkpoint_records<'s>(
    snapshot: &'s [&'s SeriesSnapshot],
    from: i64,
) -> impl Iterator<Item = Vec<u8>> + 's {
    let series = snapshot.chunks(CHECKPOINT_RECORD_ENTRIES).map(|part| {
        let mut builder = SeriesRecordBuilder::default();
        for s in part {
            builder.push(s.series_ref, &s.labels.as_refs());
        }
        builder.record().unwrap_or_default().to_vec()
    });
    let samples = snapshot.iter().flat_map(move |s| {
        let range = TimeRange::new(from, i64::MAX);
        s.samples(range).map(move |sample| (s.series_ref, sample))
    });
    let mut samples = samples.peekable();
    let sample_records = std::iter::from_fn(move || {
        samples.peek()?;
        let mut builder = SamplesRecordBuilder::default();
        for (series_ref, sample) in samples.by_ref().take(CHECKPOINT_RECORD_ENTRIES) {
            builder.push(series_ref, sample);
        }
        builder.record().map(<[u8]>::to_vec)
    });
    series.filter(|r| !r.is_empty()).chain(sample_records)
}

/// Applies WAL records to a head at startup, each series at the ref the WAL gives it unless
/// its label set is already at another (see `Head::replay_series`).
struct Replay<'a> {
    head: &'a mut Head,
    /// Head ref of each WAL ref.
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
    fn deletion(&mut self, series_ref: u32, min: i64, max: i64) {
        if let Some(&head_ref) = self.refs.get(&series_ref) {
            self.head.delete_ref(head_ref, TimeRange::new(min, max));
        }
    }

    fn series(&mut self, series_ref: u32, labels: Labels) {
        match self.head.replay_series(series_ref, &labels) {
            Some(head_ref) => {
                self.refs.insert(series_ref, head_ref);
                self.stats.series += 1;
            }
            None => warn!(series_ref, %labels, "wal series record conflicts with an earlier one; skipped"),
        }
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
