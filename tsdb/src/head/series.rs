//! `MemSeries`: one series in the head — its interned labels, its closed chunks and the open
//! chunk samples are appended to — and the per-sample ordering rules.

use std::sync::Arc;

use argus_model::{RejectReason, Sample, TimeRange};

use crate::chunk::{Encoding, XorChunk, packed};
use crate::index::InternedLabels;
use crate::querier::{ChunkBytes, ChunksIter};

/// Samples after which the open chunk is closed (and packed). Half of a block's chunk: the
/// open chunk is XOR, about three times the size of a packed one for typical values, so
/// closing it earlier keeps the head smaller, at the cost of a little more per-chunk overhead.
pub(crate) const OPEN_CHUNK_SAMPLES: usize = 60;

/// A full chunk that will not change again; shared with readers without copying. Packed when
/// its values allow it (a third of XOR's size, typically), else kept as XOR.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub encoding: Encoding,
    pub bytes: Arc<[u8]>,
    pub min_time: i64,
    pub max_time: i64,
}

/// What appending one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    Stored,
    /// Identical to the newest stored sample (a resend): nothing to store or log.
    Duplicate,
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: InternedLabels,
    closed: Vec<ClosedChunk>,
    open: XorChunk,
    /// Samples older than `last` accepted inside the out-of-order window, by time.
    out_of_order: Vec<Sample>,
    first: Option<i64>,
    last: Option<Sample>,
}

impl MemSeries {
    pub fn new(labels: InternedLabels) -> Self {
        Self {
            labels,
            closed: Vec::new(),
            open: XorChunk::new(),
            out_of_order: Vec::new(),
            first: None,
            last: None,
        }
    }

    /// Appends a sample. One older than the series' newest is accepted if it is not older
    /// than `out_of_order_from`. A sample at a time the series already has is a resend when its
    /// value is bit-identical (accepted, nothing stored) and refused otherwise.
    pub fn append(&mut self, sample: Sample, out_of_order_from: i64) -> Result<Appended, RejectReason> {
        if let Some(last) = self.last
            && sample.t <= last.t
        {
            if let Some(existing) = self.sample_at(sample.t) {
                return if sample.bit_eq(&existing) {
                    Ok(Appended::Duplicate)
                } else {
                    Err(RejectReason::DuplicateTimestamp)
                };
            }
            if sample.t < out_of_order_from {
                return Err(RejectReason::OutOfOrder);
            }
            let at = self.out_of_order.partition_point(|s| s.t < sample.t);
            self.out_of_order.insert(at, sample);
            self.first = Some(self.first.map_or(sample.t, |first| first.min(sample.t)));
            return Ok(Appended::Stored);
        }
        if self.open.len() as usize >= OPEN_CHUNK_SAMPLES {
            self.cut_chunk();
        }
        self.open.append(sample.t, sample.v).expect("the open chunk is cut long before it is full");
        self.first.get_or_insert(sample.t);
        self.last = Some(sample);
        Ok(Appended::Stored)
    }

    fn cut_chunk(&mut self) {
        // The next chunk will most likely be about as large as this one, plus some room.
        let expected = self.open.bytes().len() + self.open.bytes().len() / 16;
        let full = std::mem::replace(&mut self.open, XorChunk::with_capacity(expected));
        let (Some(min_time), Some(max_time)) = (full.first_time(), full.last_time()) else {
            return;
        };
        let samples: Vec<Sample> = full.iter().collect();
        let (encoding, bytes) = match packed::encode(&samples) {
            Some(packed) => (Encoding::Packed, Arc::from(packed)),
            None => (Encoding::Xor, Arc::from(full.bytes())),
        };
        self.closed.push(ClosedChunk { encoding, bytes, min_time, max_time });
    }

    /// Removes the samples within `range`; returns how many there were. The series is rebuilt
    /// from what is left, so its chunks and ordering state are as if those samples had never
    /// come.
    pub fn delete(&mut self, range: TimeRange) -> usize {
        let all: Vec<Sample> = super::read::merged_samples(
            self.chunks_in(TimeRange::ALL),
            self.out_of_order.clone(),
            TimeRange::ALL,
        )
        .collect();
        let kept: Vec<Sample> = all.iter().copied().filter(|s| !range.contains(s.t)).collect();
        if kept.len() == all.len() {
            return 0;
        }
        let labels = std::mem::take(&mut self.labels);
        *self = MemSeries::new(labels);
        for sample in &kept {
            self.append(*sample, i64::MIN).expect("kept samples are in order and distinct");
        }
        all.len() - kept.len()
    }

    /// The sample the series holds at time `t`, if any.
    fn sample_at(&self, t: i64) -> Option<Sample> {
        if self.last.is_some_and(|last| last.t == t) {
            return self.last;
        }
        if let Ok(at) = self.out_of_order.binary_search_by_key(&t, |s| s.t) {
            return Some(self.out_of_order[at]);
        }
        let range = TimeRange::new(t, t);
        ChunksIter::within(self.chunks_in(range), range).next()
    }

    /// The out-of-order samples within `range`, copied.
    pub fn out_of_order_in(&self, range: TimeRange) -> Vec<Sample> {
        let from = self.out_of_order.partition_point(|s| s.t < range.min);
        let to = self.out_of_order.partition_point(|s| s.t <= range.max);
        self.out_of_order[from..to].to_vec()
    }

    /// Drops the samples before `t` (already in a block): closed chunks that end before it and
    /// out-of-order samples; returns how many chunks went.
    pub fn drop_before(&mut self, t: i64) -> usize {
        let keep_from = self.closed.partition_point(|c| c.max_time < t);
        self.closed.drain(..keep_from);
        self.out_of_order.retain(|s| s.t >= t);
        let in_order_first = self.closed.first().map(|c| c.min_time).or(self.open.first_time());
        self.first = match (in_order_first, self.out_of_order.first()) {
            (Some(a), Some(b)) => Some(a.min(b.t)),
            (a, b) => a.or(b.map(|s| s.t)),
        };
        keep_from
    }

    /// Time of the newest sample, if any.
    pub fn last_time(&self) -> Option<i64> {
        self.last.map(|s| s.t)
    }

    /// Time of the oldest sample still held.
    pub fn first_time(&self) -> Option<i64> {
        self.first
    }

    /// Whether the series has a sample within `range`.
    pub fn overlaps(&self, range: TimeRange) -> bool {
        match (self.first, self.last) {
            (Some(first), Some(last)) => range.overlaps(first, last.t),
            _ => false,
        }
    }

    /// The series' newest sample, if it lies within `range`.
    pub fn latest_in(&self, range: TimeRange) -> Option<Sample> {
        self.last.filter(|last| range.contains(last.t))
    }

    /// The first and last times of the series' samples, cut to `range`.
    pub fn bounds_in(&self, range: TimeRange) -> (i64, i64) {
        let first = self.first.unwrap_or(range.min).max(range.min);
        let last = self.last.map_or(range.max, |s| s.t).min(range.max);
        (first, last)
    }

    /// Copies of the chunks that may hold samples within `range`, oldest first. Closed chunks are
    /// shared; the open chunk is copied so the reader sees a consistent snapshot.
    pub fn chunks_in(&self, range: TimeRange) -> Vec<ChunkBytes> {
        let mut chunks: Vec<ChunkBytes> = self
            .closed
            .iter()
            .filter(|c| range.overlaps(c.min_time, c.max_time))
            .map(|c| ChunkBytes::Head(c.encoding, c.bytes.clone()))
            .collect();
        if let (Some(min), Some(max)) = (self.open.first_time(), self.open.last_time())
            && range.overlaps(min, max)
        {
            chunks.push(ChunkBytes::Head(Encoding::Xor, Arc::from(self.open.bytes())));
        }
        chunks
    }

    pub fn chunk_count(&self) -> usize {
        self.closed.len() + usize::from(!self.open.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use argus_model::stale_nan;

    use super::*;

    fn samples_of(series: &MemSeries, range: TimeRange) -> Vec<(i64, u64)> {
        ChunksIter::within(series.chunks_in(range), TimeRange::ALL).map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn ordering_rules() {
        let mut series = MemSeries::new(Box::new([]));
        let window_from = 5;
        let mut append = |t: i64, v: f64| series.append(Sample::new(t, v), window_from);
        assert_eq!(append(10, 1.0), Ok(Appended::Stored));
        assert_eq!(append(10, 1.0), Ok(Appended::Duplicate));
        assert_eq!(append(10, 2.0), Err(RejectReason::DuplicateTimestamp));
        assert_eq!(append(4, 1.0), Err(RejectReason::OutOfOrder), "older than the window");
        assert_eq!(append(11, stale_nan()), Ok(Appended::Stored));
        assert_eq!(append(11, stale_nan()), Ok(Appended::Duplicate));
        // Inside the window: stored out of order, then a resend and a conflict.
        assert_eq!(append(7, 7.0), Ok(Appended::Stored));
        assert_eq!(append(7, 7.0), Ok(Appended::Duplicate));
        assert_eq!(append(7, 8.0), Err(RejectReason::DuplicateTimestamp));
        assert_eq!(append(6, 6.0), Ok(Appended::Stored));
        assert_eq!(series.out_of_order_in(TimeRange::ALL), vec![Sample::new(6, 6.0), Sample::new(7, 7.0)]);
        assert_eq!(series.first_time(), Some(6));
    }

    #[test]
    fn an_out_of_order_sample_at_an_in_order_time_is_a_resend_or_a_conflict() {
        let mut series = MemSeries::new(Box::new([]));
        for t in 0..300 {
            series.append(Sample::new(t * 10, t as f64), i64::MIN).unwrap();
        }
        assert_eq!(
            series.append(Sample::new(50, 5.0), i64::MIN),
            Ok(Appended::Duplicate),
            "in a closed chunk"
        );
        assert_eq!(series.append(Sample::new(2990, 1.0), i64::MIN), Err(RejectReason::DuplicateTimestamp));
        assert_eq!(series.append(Sample::new(55, 1.0), i64::MIN), Ok(Appended::Stored));
        series.drop_before(1200);
        assert!(series.out_of_order_in(TimeRange::ALL).is_empty());
        assert_eq!(series.first_time(), Some(1200));
    }

    #[test]
    fn chunks_are_cut_and_pruned_by_time() {
        let mut series = MemSeries::new(Box::new([]));
        for t in 0..(OPEN_CHUNK_SAMPLES as i64 * 3 + 5) {
            series.append(Sample::new(t, t as f64), i64::MIN).unwrap();
        }
        assert_eq!(series.chunk_count(), 4);
        let all = samples_of(&series, TimeRange::ALL);
        assert_eq!(all.len(), OPEN_CHUNK_SAMPLES * 3 + 5);
        assert!(all.windows(2).all(|w| w[0].0 + 1 == w[1].0));
        let last_chunks = series.chunks_in(TimeRange::new(OPEN_CHUNK_SAMPLES as i64 * 3, i64::MAX));
        assert_eq!(last_chunks.len(), 1);
        assert!(series.overlaps(TimeRange::new(-5, 0)));
        assert!(!series.overlaps(TimeRange::new(1000, 2000)));
    }
}
