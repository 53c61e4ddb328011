//! Chunk encodings: how a run of one series' samples is compressed in memory and on disk.
//!
//! The head appends to Gorilla float chunks ([`XorChunk`] to append, [`XorIter`] to decode).
//! Blocks store each chunk packed (`packed`: decimal integers, several times smaller) when its
//! values allow it exactly, else as XOR. The byte layouts are in `tsdb/docs/format/chunk.md`.
//! This module encodes and decodes bytes and nothing else: when to cut a chunk, where chunks
//! live and how they are locked is the head's business, and writing them to files is the
//! block's.

mod bstream;
pub(crate) mod packed;
mod xor;

pub use xor::{ChunkError, XorChunk, XorIter};

/// How a chunk's bytes are encoded; stored as one byte before each chunk in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Encoding {
    /// Gorilla XOR floats ([`XorChunk`]).
    Xor = 1,
    /// Decimal integers (`packed`).
    Packed = 2,
}

impl Encoding {
    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Packed),
            _ => None,
        }
    }
}

/// The number of samples after which the head cuts a new chunk for a series.
///
/// The encoding compresses better the longer a chunk runs (the raw first sample and the first
/// delta are amortised, and the XOR window settles), but the gain flattens out past about a
/// hundred samples, while a reader must decode a chunk from its start to reach any sample in it,
/// so longer chunks make every query touching them slower. Prometheus settled on 120, which at the
/// common 15 s scrape interval is 30 minutes of data per chunk; Argus follows it so that sizes and
/// query costs compare directly.
pub const SAMPLES_PER_CHUNK: usize = 120;
