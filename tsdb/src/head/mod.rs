//! The head of one shard: every series in memory with its chunks, the registry from label set
//! to series ref, and the postings index. It does no I/O; the shard ([`crate::Db`]) owns it
//! behind a lock and writes what it accepts to the WAL.
//!
//! A series ref is the series' index in this shard's `series` vector, allocated in creation
//! order and never reused; the WAL records the same refs. Replay puts every series back at its
//! ref, except that a label set named by two refs (removed by a truncation, then created
//! again) keeps the first and the other becomes an alias for it.
//!
//! The head holds samples at or after its *floor*; older ones were cut into blocks
//! ([`Head::truncate`]) and are refused as too old. Series left without samples by a
//! truncation are removed from the index; their slot stays empty.

mod read;
mod series;

use std::collections::HashMap;

use argus_model::{
    AppendReport, BatchSeries, Label, LabelRef, Labels, RejectReason, Sample, SampleIter, TimeRange,
};

use crate::index::{InternedLabels, Postings, SymbolId, Symbols};
use crate::querier::ChunkBytes;
use crate::record::{SamplesRecordBuilder, SeriesRecordBuilder};
use series::{Appended, MemSeries};

/// The refs of the series whose label sets hash to one value: almost always one.
#[derive(Debug)]
enum HashSlot {
    One(u32),
    Collided(Vec<u32>),
}

/// Where an append writes the WAL records of what it accepted.
#[derive(Debug, Default)]
pub(crate) struct WalRecords {
    pub series: SeriesRecordBuilder,
    pub samples: SamplesRecordBuilder,
}

impl WalRecords {
    pub fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
    }
}

#[derive(Debug)]
pub(crate) struct Head {
    symbols: Symbols,
    /// By ref; removed series leave an empty slot (no labels).
    series: Vec<MemSeries>,
    /// Series in the index.
    live: usize,
    /// Samples before this time are in blocks: not read, skipped on replay.
    floor: i64,
    /// Samples before this time are refused: the floor, or the end of a block being written.
    append_floor: i64,
    /// Series refs by the stable hash of their label set.
    by_hash: HashMap<u64, HashSlot>,
    postings: Postings,
    max_time: Option<i64>,
    /// Chunks over all series, kept up to date so `/metrics` need not walk the series.
    chunks: usize,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            symbols: Symbols::default(),
            series: Vec::new(),
            live: 0,
            floor: i64::MIN,
            append_floor: i64::MIN,
            by_hash: HashMap::new(),
            postings: Postings::default(),
            max_time: None,
            chunks: 0,
        }
    }
}

/// A series as it stood when a block was cut: everything the block and the checkpoint need.
pub(crate) struct SeriesSnapshot {
    pub series_ref: u32,
    pub labels: Labels,
    pub chunks: Vec<ChunkBytes>,
    pub out_of_order: Vec<Sample>,
}

impl SeriesSnapshot {
    /// The series' samples within `range`, in time order.
    pub fn samples(&self, range: TimeRange) -> SampleIter {
        read::merged_samples(self.chunks.clone(), self.out_of_order.clone(), range)
    }
}

/// What an append may accept, from the newest sample of the whole engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendBounds {
    /// Older samples are refused as too old.
    pub too_old: i64,
    /// Samples older than their series' newest are accepted from this time on.
    pub out_of_order: i64,
}

impl AppendBounds {
    /// Everything goes (an empty engine).
    pub const ANY: AppendBounds = AppendBounds { too_old: i64::MIN, out_of_order: i64::MIN };
}

impl Head {
    /// Series in the head (removed ones not counted).
    pub fn series_count(&self) -> usize {
        self.live
    }

    /// Samples before this time are in blocks.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// The oldest sample time in the head, if it holds any.
    pub fn min_time(&self) -> Option<i64> {
        self.series.iter().filter_map(MemSeries::first_time).min().map(|t| t.max(self.floor))
    }

    /// Every series with a copy of its chunks, in ref order.
    pub fn snapshot(&self) -> Vec<SeriesSnapshot> {
        self.series
            .iter()
            .enumerate()
            .filter(|(_, series)| !series.labels.is_empty())
            .map(|(series_ref, series)| SeriesSnapshot {
                series_ref: series_ref as u32,
                labels: self.labels_of(series_ref as u32),
                chunks: series.chunks_in(TimeRange::ALL),
                out_of_order: series.out_of_order_in(TimeRange::ALL),
            })
            .collect()
    }

    /// Refuses samples before `t` from now on: a block is being written up to it.
    pub fn close_before(&mut self, t: i64) {
        self.append_floor = self.append_floor.max(t);
    }

    /// Whether series `series_ref` is in the head (not removed).
    pub fn is_live(&self, series_ref: u32) -> bool {
        self.series.get(series_ref as usize).is_some_and(|s| !s.labels.is_empty())
    }

    /// Removes the samples within `range` from the series matching `matchers`; returns the refs
    /// of the series that lost some (a series left without samples stays, empty, until the
    /// next truncation).
    pub fn delete(&mut self, matchers: &[argus_model::Matcher], range: TimeRange) -> Vec<u32> {
        let refs = self.postings.select(&self.symbols, matchers);
        refs.into_iter().filter(|&r| self.delete_ref(r, range) > 0).collect()
    }

    /// Removes the samples within `range` from series `series_ref`; returns how many.
    pub fn delete_ref(&mut self, series_ref: u32, range: TimeRange) -> usize {
        let Some(series) = self.series.get_mut(series_ref as usize).filter(|s| !s.labels.is_empty()) else {
            return 0;
        };
        let chunks_before = series.chunk_count();
        let deleted = series.delete(range);
        self.chunks = self.chunks - chunks_before + series.chunk_count();
        deleted
    }

    /// Forgets what lies before `before`, now in a block: raises the floor, drops the chunks
    /// that end earlier, and removes the series with no sample left at or after it. Returns
    /// how many series were removed.
    pub fn truncate(&mut self, before: i64) -> usize {
        self.floor = self.floor.max(before);
        self.close_before(before);
        let mut removed = Vec::new();
        for (series_ref, series) in self.series.iter_mut().enumerate() {
            if series.labels.is_empty() {
                continue;
            }
            if series.last_time().is_none_or(|t| t < before) {
                self.chunks -= series.chunk_count();
                let labels = std::mem::take(&mut series.labels);
                *series = MemSeries::new(Box::new([]));
                removed.push((series_ref as u32, labels));
            } else {
                self.chunks -= series.drop_before(before);
            }
        }
        for (series_ref, labels) in &removed {
            let hash = self.stable_hash_of(labels);
            self.unlink_hash(hash, *series_ref);
        }
        self.postings.remove(&removed);
        self.live -= removed.len();
        removed.len()
    }

    fn stable_hash_of(&self, labels: &[(SymbolId, SymbolId)]) -> u64 {
        argus_model::labels::hash_label_pairs(
            labels.iter().map(|&(n, v)| (self.symbols.resolve(n), self.symbols.resolve(v))),
        )
    }

    fn unlink_hash(&mut self, hash: u64, series_ref: u32) {
        let std::collections::hash_map::Entry::Occupied(mut slot) = self.by_hash.entry(hash) else { return };
        match slot.get_mut() {
            HashSlot::One(existing) if *existing == series_ref => {
                slot.remove();
            }
            HashSlot::Collided(refs) => {
                refs.retain(|r| *r != series_ref);
                if let [only] = refs[..] {
                    slot.insert(HashSlot::One(only));
                }
            }
            HashSlot::One(_) => {}
        }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks
    }

    /// Appends to series `series_ref`, keeping the head's newest time and chunk count.
    fn append_sample(
        &mut self,
        series_ref: u32,
        sample: Sample,
        out_of_order_from: i64,
    ) -> Result<Appended, RejectReason> {
        let series = &mut self.series[series_ref as usize];
        let chunks_before = series.chunk_count();
        let appended = series.append(sample, out_of_order_from)?;
        if appended == Appended::Stored {
            self.chunks += series.chunk_count() - chunks_before;
            self.max_time = Some(self.max_time.map_or(sample.t, |m| m.max(sample.t)));
        }
        Ok(appended)
    }

    /// Newest sample timestamp in the head.
    pub fn max_time(&self) -> Option<i64> {
        self.max_time
    }

    /// Appends the samples of one series, creating it if needed. Samples older than
    /// `bounds.too_old` (or than a block being cut) are refused as too old; samples older than
    /// their series' newest are accepted from `bounds.out_of_order` on, refused as out of order
    /// before. What is accepted is added to `wal` (a series entry if the series is new, then the
    /// samples).
    pub fn append(
        &mut self,
        series: BatchSeries<'_, '_>,
        bounds: AppendBounds,
        wal: &mut WalRecords,
        report: &mut AppendReport,
    ) {
        let min_valid_time = bounds.too_old.max(self.append_floor);
        let series_ref = match self.lookup(series.labels, series.hash) {
            Some(series_ref) => series_ref,
            None => {
                // A series that would receive nothing is not created.
                if series.samples.iter().all(|s| s.t < min_valid_time) {
                    for sample in series.samples {
                        report.reject(RejectReason::TooOld, series.labels, sample.t);
                    }
                    return;
                }
                let series_ref = self.create(series.labels, series.hash);
                wal.series.push(series_ref, series.labels);
                series_ref
            }
        };
        for &sample in series.samples {
            if sample.t < min_valid_time {
                report.reject(RejectReason::TooOld, series.labels, sample.t);
                continue;
            }
            match self.append_sample(series_ref, sample, bounds.out_of_order) {
                Ok(Appended::Stored) => {
                    wal.samples.push(series_ref, sample);
                    report.accepted += 1;
                }
                Ok(Appended::Duplicate) => report.accepted += 1,
                Err(reason) => report.reject(reason, series.labels, sample.t),
            }
        }
    }

    /// Re-creates a series read from the WAL, at the ref the WAL gives it unless the label set
    /// already lives at another ref (a series removed by a truncation and created again gets a
    /// new ref; the checkpoint may still name the old one), and returns the ref that holds it.
    /// Refs up to the WAL's are never handed out again. `None` when that ref holds another
    /// label set (a damaged or foreign WAL).
    pub fn replay_series(&mut self, series_ref: u32, labels: &Labels) -> Option<u32> {
        let slot = series_ref as usize;
        while self.series.len() <= slot {
            self.series.push(MemSeries::new(Box::new([])));
        }
        let (refs, hash) = (labels.as_refs(), labels.stable_hash());
        if let Some(existing) = self.lookup(&refs, hash) {
            return Some(existing);
        }
        if !self.series[slot].labels.is_empty() {
            return None;
        }
        self.insert(series_ref, &refs, hash);
        Some(series_ref)
    }

    /// Re-applies a sample read from the WAL. Ordering rules still apply (a resend logged twice
    /// is a duplicate), but not the too-old bound, which depended on the time of the write;
    /// samples below the floor are already in blocks. False for an unknown series.
    pub fn replay_sample(&mut self, series_ref: u32, sample: Sample) -> bool {
        if self.series.get(series_ref as usize).is_none_or(|s| s.labels.is_empty()) {
            return false;
        }
        if sample.t >= self.floor {
            // A resend logged twice is a duplicate, and refusals cannot occur: both are ignored.
            let _ = self.append_sample(series_ref, sample, i64::MIN);
        }
        true
    }

    /// Sets the floor before replay: samples older than the newest block are in blocks.
    pub fn set_floor(&mut self, floor: i64) {
        self.floor = floor;
        self.append_floor = floor;
    }

    fn lookup(&self, labels: &[LabelRef<'_>], hash: u64) -> Option<u32> {
        let matches = |series_ref: &u32| self.labels_equal(*series_ref, labels);
        match self.by_hash.get(&hash)? {
            HashSlot::One(series_ref) => matches(series_ref).then_some(*series_ref),
            HashSlot::Collided(refs) => refs.iter().copied().find(|r| matches(r)),
        }
    }

    fn labels_equal(&self, series_ref: u32, labels: &[LabelRef<'_>]) -> bool {
        let stored = &self.series[series_ref as usize].labels;
        stored.len() == labels.len()
            && stored.iter().zip(labels).all(|(&(name, value), label)| {
                self.symbols.resolve(name) == label.name && self.symbols.resolve(value) == label.value
            })
    }

    fn create(&mut self, labels: &[LabelRef<'_>], hash: u64) -> u32 {
        let series_ref = u32::try_from(self.series.len()).expect("fewer than 2^32 series in a shard");
        self.series.push(MemSeries::new(Box::new([])));
        self.insert(series_ref, labels, hash);
        series_ref
    }

    /// Fills the empty slot `series_ref` with a new series.
    fn insert(&mut self, series_ref: u32, labels: &[LabelRef<'_>], hash: u64) {
        let interned: InternedLabels =
            labels.iter().map(|l| (self.symbols.intern(l.name), self.symbols.intern(l.value))).collect();
        self.postings.add(series_ref, &interned);
        self.series[series_ref as usize] = MemSeries::new(interned);
        self.live += 1;
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(HashSlot::One(series_ref));
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                let refs = match slot.get() {
                    HashSlot::One(existing) => vec![*existing, series_ref],
                    HashSlot::Collided(refs) => refs.iter().copied().chain([series_ref]).collect(),
                };
                slot.insert(HashSlot::Collided(refs));
            }
        }
    }

    /// The label set of a series, sharing the interned strings.
    fn labels_of(&self, series_ref: u32) -> Labels {
        let labels = self.series[series_ref as usize]
            .labels
            .iter()
            .map(|&(n, v)| Label {
                name: self.symbols.resolve_shared(n),
                value: self.symbols.resolve_shared(v),
            })
            .collect();
        Labels::new(labels).expect("stored label sets are valid")
    }
}

#[cfg(test)]
mod tests {
    use argus_model::{SeriesSamples, WriteBatch};

    use super::*;

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs(pairs.iter().copied()).unwrap(),
            samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    /// Appends owned series one by one, as a batch would.
    fn append(head: &mut Head, owned: &[SeriesSamples], min_valid_time: i64) -> AppendReport {
        let bounds = AppendBounds { too_old: min_valid_time, out_of_order: i64::MAX };
        let batch = WriteBatch::from_series(owned);
        let mut wal = WalRecords::default();
        let mut report = AppendReport::default();
        for s in batch.iter() {
            head.append(s, bounds, &mut wal, &mut report);
        }
        report
    }

    #[test]
    fn append_creates_series_once_and_counts_refusals() {
        let mut head = Head::default();
        let up = [("__name__", "up"), ("job", "a")];
        let report = append(&mut head, &[series(&up, &[(10, 1.0), (5, 1.0)]), series(&up, &[(20, 1.0)])], 0);
        assert_eq!(head.series_count(), 1);
        assert_eq!(report.accepted, 2);
        assert_eq!(report.rejected_count(RejectReason::OutOfOrder), 1);
        assert_eq!(head.max_time(), Some(20));
    }

    #[test]
    fn chunk_count_follows_appends_and_replay() {
        let mut head = Head::default();
        let samples: Vec<(i64, f64)> = (0..250).map(|t| (t, t as f64)).collect();
        append(
            &mut head,
            &[series(&[("__name__", "a")], &samples), series(&[("__name__", "b")], &samples[..5])],
            0,
        );
        assert_eq!(head.chunk_count(), 5 + 1, "4 × 60 + 10 samples, and 5");
        let mut replayed = Head::default();
        assert_eq!(replayed.replay_series(3, &Labels::from_pairs([("__name__", "a")]).unwrap()), Some(3));
        for &(t, v) in &samples {
            replayed.replay_sample(3, Sample::new(t, v));
        }
        assert_eq!(replayed.series_count(), 1, "the slots before the replayed ref stay empty");
        assert_eq!(replayed.chunk_count(), 5);
    }

    #[test]
    fn too_old_samples_are_refused_and_create_no_series() {
        let mut head = Head::default();
        let owned = [series(&[("__name__", "x")], &[(5, 1.0)])];
        let batch = WriteBatch::from_series(&owned);
        let mut wal = WalRecords::default();
        let mut report = AppendReport::default();
        head.append(batch.get(0), AppendBounds { too_old: 10, out_of_order: 10 }, &mut wal, &mut report);
        assert_eq!(head.series_count(), 0);
        assert!(wal.series.record().is_none() && wal.samples.record().is_none());
        assert_eq!(report.rejected_count(RejectReason::TooOld), 1);
    }

    #[test]
    fn hash_collisions_keep_series_apart() {
        let mut head = Head::default();
        let owned = [
            series(&[("__name__", "a")], &[(1, 1.0)]),
            series(&[("__name__", "b")], &[(1, 2.0)]),
            series(&[("__name__", "c")], &[(1, 3.0)]),
            series(&[("__name__", "b")], &[(2, 2.0)]),
        ];
        let batch = WriteBatch::from_series(&owned);
        let mut wal = WalRecords::default();
        let mut report = AppendReport::default();
        // Every label set gets the same hash, as a real collision would.
        for s in batch.iter() {
            head.append(BatchSeries { hash: 42, ..s }, AppendBounds::ANY, &mut wal, &mut report);
        }
        assert_eq!(report.accepted, 4);
        assert_eq!(head.series_count(), 3);
        let find = |i: usize| head.lookup(batch.get(i).labels, 42);
        assert_eq!((find(0), find(1), find(2), find(3)), (Some(0), Some(1), Some(2), Some(1)));
        assert_eq!(head.labels_of(1), owned[1].labels);
        let d = Labels::from_pairs([("__name__", "d")]).unwrap();
        assert_eq!(head.lookup(&d.as_refs(), 42), None);
    }
}
