//! Reading one shard across its head and blocks: each selected series' pieces, wherever they
//! live, become one time-ordered sample iterator.
//!
//! Pieces that do not overlap in time (the usual case: blocks hold what the head no longer
//! does) are read one after the other; overlapping ones (blocks being compacted, backfill) are
//! merged, a timestamp present in several pieces yielded once.

use std::collections::HashMap;
use std::sync::Arc;

use argus_model::{Labels, Sample, SampleIter, Series, TimeRange};
use tracing::warn;

use crate::block::MappedChunk;
use crate::chunk::{Encoding, XorIter, packed};

/// A chunk to decode: XOR bytes in the head's memory, or a chunk of a block's mapped file.
#[derive(Clone)]
pub(crate) enum ChunkBytes {
    Head(Arc<[u8]>),
    Block(Encoding, MappedChunk),
}

/// Part of a series' samples from one place, with the times it spans (inclusive). Samples
/// of its chunks outside that span belong to another piece (a head chunk reaching back before
/// the head's floor) and are not read.
pub(crate) struct Piece {
    pub min_time: i64,
    pub max_time: i64,
    pub samples: PieceSamples,
}

pub(crate) enum PieceSamples {
    /// Chunks to decode, oldest first.
    Chunks(Vec<ChunkBytes>),
    /// The one sample the caller wants (the head's newest, for `SamplesWanted::Latest`).
    Latest(Sample),
}

impl Piece {
    fn into_iter(self, range: TimeRange) -> SampleIter {
        match self.samples {
            PieceSamples::Chunks(chunks) => {
                let range = TimeRange::new(range.min.max(self.min_time), range.max.min(self.max_time));
                Box::new(ChunksIter::new(chunks, range))
            }
            PieceSamples::Latest(sample) => Box::new(std::iter::once(sample)),
        }
    }
}

/// Joins the pieces of each series by label set into one series each.
pub(crate) fn join(pieces: Vec<(Labels, Piece)>, range: TimeRange) -> Vec<Series> {
    let mut order: Vec<Labels> = Vec::new();
    let mut by_labels: HashMap<Labels, Vec<Piece>> = HashMap::new();
    for (labels, piece) in pieces {
        match by_labels.get_mut(&labels) {
            Some(series) => series.push(piece),
            None => {
                order.push(labels.clone());
                by_labels.insert(labels, vec![piece]);
            }
        }
    }
    order
        .into_iter()
        .map(|labels| {
            let pieces = by_labels.remove(&labels).expect("every label set has pieces");
            Series { labels, samples: samples_of(pieces, range) }
        })
        .collect()
}

/// One iterator over the pieces of a series.
pub(crate) fn samples_of(mut pieces: Vec<Piece>, range: TimeRange) -> SampleIter {
    if pieces.len() == 1 {
        return pieces.pop().expect("one piece").into_iter(range);
    }
    pieces.sort_by_key(|p| (p.min_time, p.max_time));
    let disjoint = pieces.windows(2).all(|w| w[0].max_time < w[1].min_time);
    let iters = pieces.into_iter().map(move |p| p.into_iter(range));
    if disjoint {
        Box::new(iters.flatten())
    } else {
        Box::new(MergeIter { sources: iters.map(Iterator::peekable).collect() })
    }
}

/// Merges time-ordered sample iterators; a timestamp several of them hold is yielded once,
/// from the first source holding it.
struct MergeIter {
    sources: Vec<std::iter::Peekable<SampleIter>>,
}

impl Iterator for MergeIter {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        let t = self.sources.iter_mut().filter_map(|s| s.peek().map(|x| x.t)).min()?;
        let mut found = None;
        for source in &mut self.sources {
            if let Some(sample) = source.next_if(|x| x.t == t) {
                found.get_or_insert(sample);
            }
        }
        found
    }
}

/// Decodes a series' chunks one after another, yielding only the samples within a range. A
/// damaged chunk is logged and skipped rather than failing the whole query.
pub(crate) struct ChunksIter {
    chunks: std::vec::IntoIter<ChunkBytes>,
    current: Decoding,
    range: TimeRange,
}

/// The chunk being read.
enum Decoding {
    None,
    Xor(XorIter<XorBytes>),
    /// Packed chunks decode whole: the samples, and the next one's index.
    Packed(Vec<Sample>, usize),
}

/// The owner of a XOR chunk's bytes.
enum XorBytes {
    Head(Arc<[u8]>),
    Block(MappedChunk),
}

impl AsRef<[u8]> for XorBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            XorBytes::Head(bytes) => bytes,
            XorBytes::Block(chunk) => chunk.as_ref(),
        }
    }
}

impl ChunksIter {
    pub fn new(chunks: Vec<ChunkBytes>, range: TimeRange) -> Self {
        Self { chunks: chunks.into_iter(), current: Decoding::None, range }
    }

    /// Starts the next readable chunk; false when none is left.
    fn next_chunk(&mut self) -> bool {
        let mut spare = match std::mem::replace(&mut self.current, Decoding::None) {
            Decoding::Packed(samples, _) => samples,
            _ => Vec::new(),
        };
        for chunk in self.chunks.by_ref() {
            let started = match chunk {
                ChunkBytes::Head(bytes) => {
                    XorIter::new(XorBytes::Head(bytes)).map(Decoding::Xor).map_err(|e| e.to_string())
                }
                ChunkBytes::Block(Encoding::Xor, bytes) => {
                    XorIter::new(XorBytes::Block(bytes)).map(Decoding::Xor).map_err(|e| e.to_string())
                }
                ChunkBytes::Block(Encoding::Packed, bytes) => packed::decode(bytes.as_ref(), &mut spare)
                    .map(|()| Decoding::Packed(std::mem::take(&mut spare), 0))
                    .map_err(|e| e.to_string()),
            };
            match started {
                Ok(decoding) => {
                    self.current = decoding;
                    return true;
                }
                Err(error) => warn!(%error, "skipping unreadable chunk"),
            }
        }
        false
    }

    /// The next sample of the current chunk; `None` at its end.
    fn next_in_chunk(&mut self) -> Option<Sample> {
        match &mut self.current {
            Decoding::None => None,
            Decoding::Xor(iter) => {
                let next = iter.next();
                if next.is_none()
                    && let Some(error) = iter.err()
                {
                    warn!(%error, "chunk ended early");
                }
                next
            }
            Decoding::Packed(samples, at) => {
                let next = samples.get(*at).copied();
                *at += 1;
                next
            }
        }
    }
}

impl Iterator for ChunksIter {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            match self.next_in_chunk() {
                Some(sample) if sample.t < self.range.min => continue,
                Some(sample) if sample.t > self.range.max => {
                    // Chunks are in time order: nothing later can be in range.
                    self.chunks = Vec::new().into_iter();
                    self.current = Decoding::None;
                    return None;
                }
                Some(sample) => return Some(sample),
                None if self.next_chunk() => continue,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(samples: &[(i64, f64)]) -> Piece {
        let mut chunk = crate::chunk::XorChunk::new();
        for &(t, v) in samples {
            chunk.append(t, v).unwrap();
        }
        Piece {
            min_time: samples[0].0,
            max_time: samples[samples.len() - 1].0,
            samples: PieceSamples::Chunks(vec![ChunkBytes::Head(Arc::from(chunk.bytes()))]),
        }
    }

    fn times(pieces: Vec<Piece>, range: TimeRange) -> Vec<(i64, f64)> {
        samples_of(pieces, range).map(|s| (s.t, s.v)).collect()
    }

    #[test]
    fn disjoint_pieces_are_read_in_time_order() {
        let pieces = vec![piece(&[(30, 3.0), (40, 4.0)]), piece(&[(10, 1.0), (20, 2.0)])];
        assert_eq!(times(pieces, TimeRange::new(15, 35)), vec![(20, 2.0), (30, 3.0)]);
    }

    #[test]
    fn overlapping_pieces_merge_and_keep_one_sample_per_timestamp() {
        let pieces = vec![piece(&[(10, 1.0), (30, 3.0)]), piece(&[(20, 2.0), (30, 3.0), (40, 4.0)])];
        assert_eq!(times(pieces, TimeRange::ALL), vec![(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
    }

    #[test]
    fn pieces_join_by_label_set() {
        let a = Labels::from_pairs([("a", "1")]).unwrap();
        let b = Labels::from_pairs([("a", "2")]).unwrap();
        let joined = join(
            vec![
                (a.clone(), piece(&[(1, 1.0)])),
                (b.clone(), piece(&[(1, 5.0)])),
                (a.clone(), piece(&[(2, 2.0)])),
            ],
            TimeRange::ALL,
        );
        let got: Vec<(Labels, Vec<i64>)> =
            joined.into_iter().map(|s| (s.labels, s.samples.map(|x| x.t).collect())).collect();
        assert_eq!(got, vec![(a, vec![1, 2]), (b, vec![1])]);
    }
}
