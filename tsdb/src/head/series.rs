//! `MemSeries`: one series in the head — its interned labels, its closed chunks and the open
//! chunk samples are appended to — and the per-sample ordering rules.

use std::sync::Arc;

use argus_model::{RejectReason, Sample, TimeRange};

use crate::chunk::{Encoding, SAMPLES_PER_CHUNK, XorChunk, packed};
use crate::index::InternedLabels;
use crate::querier::ChunkBytes;

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
    first: Option<i64>,
    last: Option<Sample>,
}

impl MemSeries {
    pub fn new(labels: InternedLabels) -> Self {
        Self { labels, closed: Vec::new(), open: XorChunk::new(), first: None, last: None }
    }

    /// Appends a sample that is not older than the series' newest one. A sample with the newest
    /// timestamp is accepted only if its value is bit-identical (an idempotent resend).
    pub fn append(&mut self, sample: Sample) -> Result<Appended, RejectReason> {
        if let Some(last) = self.last {
            if sample.t < last.t {
                return Err(RejectReason::OutOfOrder);
            }
            if sample.t == last.t {
                return if sample.bit_eq(&last) {
                    Ok(Appended::Duplicate)
                } else {
                    Err(RejectReason::DuplicateTimestamp)
                };
            }
        }
        if self.open.len() as usize >= SAMPLES_PER_CHUNK {
            self.cut_chunk();
        }
        self.open.append(sample.t, sample.v).expect("the open chunk is cut long before it is full");
        self.first.get_or_insert(sample.t);
        self.last = Some(sample);
        Ok(Appended::Stored)
    }

    fn cut_chunk(&mut self) {
        let full = std::mem::take(&mut self.open);
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

    /// Drops the closed chunks that end before `t` (already in a block); returns how many.
    pub fn drop_chunks_before(&mut self, t: i64) -> usize {
        let keep_from = self.closed.partition_point(|c| c.max_time < t);
        self.closed.drain(..keep_from);
        self.first = self.closed.first().map(|c| c.min_time).or(self.open.first_time());
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
        crate::querier::ChunksIter::within(series.chunks_in(range), TimeRange::ALL)
            .map(|s| (s.t, s.v.to_bits()))
            .collect()
    }

    #[test]
    fn ordering_rules() {
        let mut series = MemSeries::new(Box::new([]));
        assert_eq!(series.append(Sample::new(10, 1.0)), Ok(Appended::Stored));
        assert_eq!(series.append(Sample::new(10, 1.0)), Ok(Appended::Duplicate));
        assert_eq!(series.append(Sample::new(10, 2.0)), Err(RejectReason::DuplicateTimestamp));
        assert_eq!(series.append(Sample::new(9, 1.0)), Err(RejectReason::OutOfOrder));
        assert_eq!(series.append(Sample::new(11, stale_nan())), Ok(Appended::Stored));
        assert_eq!(series.append(Sample::new(11, stale_nan())), Ok(Appended::Duplicate));
    }

    #[test]
    fn chunks_are_cut_and_pruned_by_time() {
        let mut series = MemSeries::new(Box::new([]));
        for t in 0..(SAMPLES_PER_CHUNK as i64 * 3 + 5) {
            series.append(Sample::new(t, t as f64)).unwrap();
        }
        assert_eq!(series.chunk_count(), 4);
        let all = samples_of(&series, TimeRange::ALL);
        assert_eq!(all.len(), SAMPLES_PER_CHUNK * 3 + 5);
        assert!(all.windows(2).all(|w| w[0].0 + 1 == w[1].0));
        let last_chunks = series.chunks_in(TimeRange::new(SAMPLES_PER_CHUNK as i64 * 3, i64::MAX));
        assert_eq!(last_chunks.len(), 1);
        assert!(series.overlaps(TimeRange::new(-5, 0)));
        assert!(!series.overlaps(TimeRange::new(1000, 2000)));
    }
}
