//! Reading one shard across its head and blocks: each selected series' pieces, wherever they
//! live, become one time-ordered sample iterator.
//!
//! Pieces that do not overlap in time (the usual case: blocks hold what the head no longer
//! does) are read one after the other; overlapping ones (blocks being compacted, backfill) are
//! merged, a timestamp present in several pieces yielded once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use argus_model::{Labels, Sample, SampleIter, Series, TimeRange};
use tracing::warn;

use crate::block::MappedChunk;
use crate::chunk::{Encoding, XorIter, packed};

/// A chunk to decode, in the head's memory or in a block's mapped file.
#[derive(Clone)]
pub(crate) enum ChunkBytes {
    Head(Encoding, Arc<[u8]>),
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
    /// Overlapping pieces to merge.
    Merged(Vec<Piece>),
    /// Samples held uncompressed (the head's out-of-order samples), in time order.
    Samples(Vec<Sample>),
}

impl Piece {
    /// The part of `range` this piece answers for.
    fn clamp(&self, range: TimeRange) -> TimeRange {
        TimeRange::new(range.min.max(self.min_time), range.max.min(self.max_time))
    }

    fn into_iter(self, range: TimeRange) -> SampleIter {
        let range_here = self.clamp(range);
        match self.samples {
            PieceSamples::Chunks(chunks) => Box::new(ChunksIter::within(chunks, range_here)),
            PieceSamples::Latest(sample) => Box::new(std::iter::once(sample)),
            PieceSamples::Merged(pieces) => samples_of(pieces, range),
            PieceSamples::Samples(samples) => {
                Box::new(samples.into_iter().filter(move |s| range_here.contains(s.t)))
            }
        }
    }
}

/// Joins the pieces of each series by label set into one series each. With `latest_only`,
/// the caller reads only the newest sample in range (`SamplesWanted::Latest`).
pub(crate) fn join(pieces: Vec<(Labels, Piece)>, range: TimeRange, latest_only: bool) -> Vec<Series> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(pieces.len());
    let mut series: Vec<(Labels, Vec<Piece>)> = Vec::new();
    for (labels, piece) in pieces {
        match index.entry(labels) {
            Entry::Occupied(at) => series[*at.get()].1.push(piece),
            Entry::Vacant(slot) => {
                series.push((slot.key().clone(), vec![piece]));
                slot.insert(series.len() - 1);
            }
        }
    }
    series
        .into_iter()
        .map(|(labels, mut pieces)| {
            if latest_only && pieces.len() > 1 {
                pieces = vec![newest_chunk(pieces)];
            }
            Series { labels, samples: samples_of(pieces, range) }
        })
        .collect()
}

/// The series of one source, which holds each label set once, without joining.
pub(crate) fn single_source(pieces: Vec<(Labels, Piece)>, range: TimeRange) -> Vec<Series> {
    pieces.into_iter().map(|(labels, piece)| Series { labels, samples: piece.into_iter(range) }).collect()
}

/// What holds the newest sample of a series in range: the last chunk of its newest piece.
/// Pieces of one series do not overlap unless blocks await compaction; then the newest
/// pieces are kept whole.
fn newest_chunk(mut pieces: Vec<Piece>) -> Piece {
    pieces.sort_by_key(|p| (p.min_time, p.max_time));
    let newest = pieces.pop().expect("a series has pieces");
    if pieces.last().is_some_and(|p| p.max_time >= newest.min_time) {
        pieces.push(newest);
        return Piece {
            min_time: pieces[0].min_time,
            max_time: pieces.iter().map(|p| p.max_time).max().unwrap_or(i64::MAX),
            samples: PieceSamples::Merged(pieces),
        };
    }
    match newest.samples {
        PieceSamples::Chunks(mut chunks) if chunks.len() > 1 => {
            let last = chunks.pop().expect("more than one chunk");
            Piece { samples: PieceSamples::Chunks(vec![last]), ..newest }
        }
        _ => newest,
    }
}

/// One iterator over the pieces of a series: disjoint pieces are read chunk after chunk in
/// one decoder, overlapping ones merged.
pub(crate) fn samples_of(mut pieces: Vec<Piece>, range: TimeRange) -> SampleIter {
    if pieces.len() == 1 {
        return pieces.pop().expect("one piece").into_iter(range);
    }
    pieces.sort_by_key(|p| (p.min_time, p.max_time));
    let disjoint = pieces.windows(2).all(|w| w[0].max_time < w[1].min_time);
    if disjoint && let Some(PieceSamples::Latest(_)) = pieces.last().map(|p| &p.samples) {
        // Only the newest sample was asked for, and this piece holds it.
        return pieces.pop().expect("pieces").into_iter(range);
    }
    if !disjoint {
        let sources = pieces.into_iter().map(|p| p.into_iter(range).peekable()).collect();
        return Box::new(MergeIter { sources });
    }
    if !pieces.iter().all(|p| matches!(p.samples, PieceSamples::Chunks(_))) {
        return Box::new(pieces.into_iter().flat_map(move |p| p.into_iter(range)));
    }
    let mut chunks = Vec::new();
    for piece in pieces {
        let piece_range = piece.clamp(range);
        if let PieceSamples::Chunks(list) = piece.samples {
            chunks.extend(list.into_iter().map(|c| (c, piece_range)));
        }
    }
    Box::new(ChunksIter::new(chunks))
}

/// The newest sample of one chunk within `range`, or `None` when it has none there (or cannot
/// be decoded, which is logged).
pub(crate) fn latest_within(chunk: &ChunkBytes, range: TimeRange) -> Option<Sample> {
    thread_local! {
        /// Packed chunks decode whole; one buffer per thread serves every chunk it reads.
        static DECODED: std::cell::RefCell<Vec<Sample>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let (encoding, bytes): (Encoding, &[u8]) = match chunk {
        ChunkBytes::Head(encoding, bytes) => (*encoding, bytes),
        ChunkBytes::Block(encoding, bytes) => (*encoding, bytes.as_ref()),
    };
    let newest = match encoding {
        Encoding::Xor => XorIter::new(bytes)
            .map(|samples| samples.take_while(|s| s.t <= range.max).last())
            .map_err(|e| e.to_string()),
        Encoding::Packed => DECODED.with_borrow_mut(|decoded| {
            packed::decode(bytes, decoded).map_err(|e| e.to_string())?;
            let end = decoded.partition_point(|s| s.t <= range.max);
            Ok(end.checked_sub(1).map(|last| decoded[last]))
        }),
    };
    match newest {
        Ok(newest) => newest.filter(|s| s.t >= range.min),
        Err(error) => {
            warn!(%error, "skipping unreadable chunk");
            None
        }
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
    /// Each chunk with the part of it to yield.
    chunks: std::vec::IntoIter<(ChunkBytes, TimeRange)>,
    current: Decoding,
    range: TimeRange,
}

/// The chunk being read.
enum Decoding {
    None,
    Xor(XorIter<OwnedBytes>),
    /// Packed chunks decode whole: the samples, and the next one's index.
    Packed(Vec<Sample>, usize),
}

/// The owner of a chunk's bytes.
enum OwnedBytes {
    Head(Arc<[u8]>),
    Block(MappedChunk),
}

impl AsRef<[u8]> for OwnedBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            OwnedBytes::Head(bytes) => bytes,
            OwnedBytes::Block(chunk) => chunk.as_ref(),
        }
    }
}

impl ChunksIter {
    /// Reads `chunks` in order, yielding from each the samples within its range.
    pub fn new(chunks: Vec<(ChunkBytes, TimeRange)>) -> Self {
        Self { chunks: chunks.into_iter(), current: Decoding::None, range: TimeRange::new(0, -1) }
    }

    /// Reads `chunks` in order, yielding the samples within `range`.
    pub fn within(chunks: Vec<ChunkBytes>, range: TimeRange) -> Self {
        Self::new(chunks.into_iter().map(|c| (c, range)).collect())
    }

    /// Starts the next readable chunk; false when none is left.
    fn next_chunk(&mut self) -> bool {
        let mut spare = match std::mem::replace(&mut self.current, Decoding::None) {
            Decoding::Packed(samples, _) => samples,
            _ => Vec::new(),
        };
        for (chunk, range) in self.chunks.by_ref() {
            self.range = range;
            let (encoding, bytes) = match chunk {
                ChunkBytes::Head(encoding, bytes) => (encoding, OwnedBytes::Head(bytes)),
                ChunkBytes::Block(encoding, bytes) => (encoding, OwnedBytes::Block(bytes)),
            };
            let started = match encoding {
                Encoding::Xor => XorIter::new(bytes).map(Decoding::Xor).map_err(|e| e.to_string()),
                Encoding::Packed => packed::decode(bytes.as_ref(), &mut spare)
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
                    // Samples are in time order: nothing later in this chunk is in range.
                    if !self.next_chunk() {
                        return None;
                    }
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
            samples: PieceSamples::Chunks(vec![ChunkBytes::Head(Encoding::Xor, Arc::from(chunk.bytes()))]),
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

    /// A piece of several chunks, one per slice of samples.
    fn chunked_piece(chunks: &[&[(i64, f64)]]) -> Piece {
        let bytes = chunks
            .iter()
            .map(|samples| match piece(samples).samples {
                PieceSamples::Chunks(mut one) => one.pop().unwrap(),
                _ => unreachable!(),
            })
            .collect();
        let last = chunks[chunks.len() - 1];
        Piece {
            min_time: chunks[0][0].0,
            max_time: last[last.len() - 1].0,
            samples: PieceSamples::Chunks(bytes),
        }
    }

    #[test]
    fn the_newest_sample_is_read_from_the_last_chunk_alone() {
        let labels = Labels::from_pairs([("a", "1")]).unwrap();
        let older = chunked_piece(&[&[(1, 1.0), (2, 2.0)], &[(3, 3.0)]]);
        let newer = chunked_piece(&[&[(10, 10.0)], &[(20, 20.0), (30, 30.0)]]);
        let series = join(vec![(labels.clone(), newer), (labels.clone(), older)], TimeRange::ALL, true);
        let read: Vec<i64> = series.into_iter().flat_map(|s| s.samples.map(|x| x.t)).collect();
        assert_eq!(read, vec![20, 30]);

        // Overlapping pieces (blocks not yet compacted) are merged whole instead.
        let a = chunked_piece(&[&[(1, 1.0), (25, 25.0)]]);
        let b = chunked_piece(&[&[(10, 10.0)], &[(20, 20.0), (30, 30.0)]]);
        let series = join(vec![(labels.clone(), a), (labels, b)], TimeRange::ALL, true);
        let read: Vec<i64> = series.into_iter().flat_map(|s| s.samples.map(|x| x.t)).collect();
        assert_eq!(read.last(), Some(&30));
        assert!(read.contains(&25));
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
            false,
        );
        let got: Vec<(Labels, Vec<i64>)> =
            joined.into_iter().map(|s| (s.labels, s.samples.map(|x| x.t).collect())).collect();
        assert_eq!(got, vec![(a, vec![1, 2]), (b, vec![1])]);
    }
}
