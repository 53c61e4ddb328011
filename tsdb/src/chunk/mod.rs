//! Chunk encodings: how a run of one series' samples is compressed in memory and on disk.
//!
//! Only the Gorilla float encoding exists so far ([`XorChunk`] to append, [`XorIter`] to decode;
//! the byte layout is in `tsdb/docs/format/chunk.md`). This module encodes and decodes bytes and
//! nothing else: when to cut a chunk, where chunks live and how they are locked is the head's
//! business, and writing them to files is the block's.

mod bstream;
mod xor;

pub use xor::{ChunkError, XorChunk, XorIter};

/// The number of samples after which the head cuts a new chunk for a series.
///
/// The encoding compresses better the longer a chunk runs (the raw first sample and the first
/// delta are amortised, and the XOR window settles), but the gain flattens out past about a
/// hundred samples, while a reader must decode a chunk from its start to reach any sample in it,
/// so longer chunks make every query touching them slower. Prometheus settled on 120, which at the
/// common 15 s scrape interval is 30 minutes of data per chunk; Argus follows it so that sizes and
/// query costs compare directly.
pub const SAMPLES_PER_CHUNK: usize = 120;
