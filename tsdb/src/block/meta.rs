//! `meta.json`: what a block covers and where it came from. Written last into a block's
//! temporary directory, so a block without one never became visible.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub(crate) const META_FILE: &str = "meta.json";
pub(crate) const META_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub version: u32,
    /// Time-sortable unique name, also the directory name.
    pub id: String,
    /// Earliest sample time the block may hold (inclusive, ms).
    pub min_time: i64,
    /// End of the block's range (exclusive, ms): every sample is below it.
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    /// Sizes and checksums of the block's files, checked when the block is opened.
    pub files: BlockFiles,
}

/// What the block's files must look like: a size for each, and the index's CRC-32C (chunks
/// carry one each, so the whole file is not read on open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockFiles {
    pub index_bytes: u64,
    pub index_crc32c: u32,
    pub chunks_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockStats {
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Compaction {
    /// 1 for a block cut from the head; one more than its highest input for a compacted one.
    pub level: u32,
    /// The blocks this one replaces. On open, any of them still present is deleted: the crash
    /// came after this block was in place and before they were removed.
    pub parents: Vec<String>,
}

impl BlockMeta {
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(dir.join(META_FILE))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        if meta.version != META_VERSION {
            return Err(std::io::Error::other(format!("unknown block meta version {}", meta.version)));
        }
        Ok(meta)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a block meta serializes")
    }

    /// Whether the block holds samples in `[min, max]` (inclusive bounds).
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.min_time <= max && min < self.max_time
    }
}

/// A new block id: milliseconds since the epoch and 64 random bits, in hex, so names sort by
/// creation time and never collide.
pub(crate) fn new_block_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let random = std::collections::hash_map::RandomState::new();
    let noise =
        std::hash::BuildHasher::hash_one(&random, (now, std::process::id(), std::thread::current().id()));
    format!("{now:012x}{noise:016x}")
}
