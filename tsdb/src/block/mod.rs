//! Blocks: immutable on-disk spans of a shard's data, `[min_time, max_time)` of every series.
//!
//! A block is a directory named by its id, holding `chunks` ([`chunks`]), `index`
//! ([`index`]) and `meta.json` ([`meta`]); the byte layout is in `docs/format/block.md`. The
//! head is cut into level-1 blocks and compaction merges them into larger ones ([`writer`]
//! writes both). Files are read through `mmap`: opening a block reads its symbols and postings
//! table, never its chunks.

mod chunks;
mod index;
mod meta;
mod tombstones;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_model::{Labels, Matcher, SamplesWanted, TimeRange};
use memmap2::Mmap;
use tracing::{info, warn};

pub(crate) use chunks::MappedChunk;
pub(crate) use index::ChunkMeta;
#[cfg(test)]
pub(crate) use meta::BlockStats;
pub(crate) use meta::{BlockMeta, Compaction};
pub(crate) use writer::BlockWriter;

use crate::querier::{self, ChunkBytes, ChunksIter, Piece, PieceSamples};
use index::{IndexError, IndexReader};
use parking_lot::RwLock;
use tombstones::Tombstones;
use writer::{CHUNKS_FILE, INDEX_FILE, TMP_SUFFIX};

/// Why a block could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlockError {
    #[error("block {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("block {dir}: index: {source}")]
    Index { dir: PathBuf, source: IndexError },
}

/// An open block.
pub(crate) struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: Arc<Mmap>,
    size_bytes: u64,
    /// Deleted ranges, replaced whole by each deletion.
    tombstones: RwLock<Arc<Tombstones>>,
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let io = |source| BlockError::Io { dir: dir.to_path_buf(), source };
        let meta = BlockMeta::read(dir).map_err(io)?;
        let index_map = map_file(&dir.join(INDEX_FILE)).map_err(io)?;
        let chunks = map_file(&dir.join(CHUNKS_FILE)).map_err(io)?;
        if !chunks::has_valid_header(&chunks) {
            return Err(io(std::io::Error::other("chunks file has no valid header")));
        }
        let files = meta.files;
        if index_map.len() as u64 != files.index_bytes || chunks.len() as u64 != files.chunks_bytes {
            return Err(io(std::io::Error::other("file sizes differ from meta.json: truncated or replaced")));
        }
        if crc32c::crc32c(&index_map) != files.index_crc32c {
            return Err(io(std::io::Error::other("index fails the checksum in meta.json")));
        }
        let size_bytes = (index_map.len() + chunks.len()) as u64;
        let index = IndexReader::open(Arc::new(index_map), meta.min_time)
            .map_err(|source| BlockError::Index { dir: dir.to_path_buf(), source })?;
        let tombstones = RwLock::new(Arc::new(tombstones::read(dir).map_err(io)?));
        Ok(Block { dir: dir.to_path_buf(), meta, index, chunks: Arc::new(chunks), size_bytes, tombstones })
    }

    /// Whether samples were deleted from the block (compaction should rewrite it).
    pub fn has_tombstones(&self) -> bool {
        !self.tombstones.read().is_empty()
    }

    /// Deletes the samples within `range` of the series matching `matchers`, durably; returns
    /// how many series were affected.
    pub fn delete(&self, matchers: &[Matcher], range: TimeRange) -> std::io::Result<usize> {
        if !self.meta.overlaps(range.min, range.max) {
            return Ok(0);
        }
        let mut updated = Tombstones::clone(&self.tombstones.read());
        let mut affected = 0;
        let (mut labels, mut chunks) = (Vec::new(), Vec::new());
        for id in self.index.select(matchers) {
            if self.index.read_series(id, &mut labels, &mut chunks).is_none() {
                continue;
            }
            if chunks.iter().any(|m| range.overlaps(m.min_time, m.max_time)) {
                updated.entry(id).or_default().push((range.min, range.max));
                affected += 1;
            }
        }
        if affected > 0 {
            tombstones::write(&self.dir, &updated)?;
            *self.tombstones.write() = Arc::new(updated);
        }
        Ok(affected)
    }

    /// How many series `matchers` select in this block: an upper bound of what
    /// [`Block::select`] returns, at the cost of the postings lookup alone.
    pub fn count_matching(&self, matchers: &[Matcher]) -> u64 {
        self.index.select(matchers).len()
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of the block's files.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The block's tombstones as they stand, for one read.
    fn tombstones(&self) -> Arc<Tombstones> {
        self.tombstones.read().clone()
    }

    /// Reads and verifies the chunks at `metas`; those that fail are described in `damaged`.
    fn read_chunks(&self, metas: &[ChunkMeta], damaged: &mut Vec<String>) -> Vec<ChunkBytes> {
        let mut chunks = Vec::with_capacity(metas.len());
        for meta in metas {
            match chunks::read_chunk(&self.chunks, meta.offset) {
                Ok((encoding, bytes)) => chunks.push(ChunkBytes::Block(encoding, bytes)),
                Err(error) => damaged.push(format!("block {}: {error}", self.meta.id)),
            }
        }
        chunks
    }

    /// Series matching `matchers` with chunks overlapping `range`, each as a piece to read
    /// (without chunks when `wanted` is `None`). Chunks that fail their checksum are left out
    /// and described in `damaged`.
    pub fn select(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        wanted: SamplesWanted,
        damaged: &mut Vec<String>,
    ) -> Vec<(Labels, Piece)> {
        if !self.meta.overlaps(range.min, range.max) {
            return Vec::new();
        }
        let tombstones = self.tombstones();
        let ids = self.index.select(matchers);
        let mut selected = Vec::with_capacity(ids.len() as usize);
        let (mut label_buffer, mut metas) = (Vec::new(), Vec::new());
        for id in ids {
            let Some((labels, newest_sample)) = self.index.read_series(id, &mut label_buffer, &mut metas)
            else {
                damaged.push(format!("block {}: series {id} is malformed", self.meta.id));
                continue;
            };
            let deleted = keep_live_chunks(&tombstones, id, &mut metas, range);
            let (Some(first), Some(last)) = (metas.first(), metas.last()) else { continue };
            let (min_time, max_time) = (first.min_time, last.max_time);
            let samples = match wanted {
                SamplesWanted::None => PieceSamples::Chunks(Vec::new()),
                // The index keeps each series' newest sample: when the range ends at or after
                // it, no chunk needs reading.
                SamplesWanted::Latest
                    if deleted.is_empty()
                        && newest_sample.t == last.max_time
                        && range.contains(newest_sample.t) =>
                {
                    PieceSamples::Latest(newest_sample)
                }
                // The newest chunk overlapping the range holds the newest sample in it, if any
                // chunk does: every older chunk ends before this one starts. When it is
                // damaged, the older chunks answer.
                SamplesWanted::Latest if deleted.is_empty() => {
                    match self.read_chunks(std::slice::from_ref(last), damaged).first() {
                        Some(newest) => match querier::latest_within(newest, range) {
                            Some(sample) => PieceSamples::Latest(sample),
                            None => PieceSamples::Samples(Vec::new()),
                        },
                        None => PieceSamples::Chunks(self.read_chunks(&metas[..metas.len() - 1], damaged)),
                    }
                }
                SamplesWanted::Latest | SamplesWanted::All => {
                    without_deleted(self.read_chunks(&metas, damaged), deleted, range)
                }
            };
            selected.push((labels, Piece { min_time, max_time, samples }));
        }
        selected
    }

    /// Label sets of the series matching `matchers` that have a chunk overlapping `range`,
    /// without reading chunks.
    pub fn series_labels(&self, matchers: &[Matcher], range: TimeRange) -> Vec<Labels> {
        if !self.meta.overlaps(range.min, range.max) {
            return Vec::new();
        }
        let tombstones = self.tombstones();
        let (mut label_buffer, mut chunks) = (Vec::new(), Vec::new());
        self.index
            .select(matchers)
            .into_iter()
            .filter_map(|id| {
                let (labels, _) = self.index.read_series(id, &mut label_buffer, &mut chunks)?;
                keep_live_chunks(&tombstones, id, &mut chunks, range);
                (!chunks.is_empty()).then_some(labels)
            })
            .collect()
    }

    /// Every series of the block, in label order, as a piece holding all its samples that were
    /// not deleted (for compaction). Damaged chunks are logged and left out.
    pub fn all_series(&self) -> impl Iterator<Item = (Labels, Piece)> + '_ {
        let tombstones = self.tombstones();
        let (mut label_buffer, mut metas) = (Vec::new(), Vec::new());
        (0..self.index.series_count()).filter_map(move |id| {
            let (labels, _) = self.index.read_series(id, &mut label_buffer, &mut metas)?;
            let deleted = keep_live_chunks(&tombstones, id, &mut metas, TimeRange::ALL);
            let (min_time, max_time) = (metas.first()?.min_time, metas.last()?.max_time);
            let mut damaged = Vec::new();
            let chunks = self.read_chunks(&metas, &mut damaged);
            for damage in damaged {
                warn!(%damage, "compaction leaves out a damaged chunk");
            }
            let samples = without_deleted(chunks, deleted, TimeRange::ALL);
            Some((labels, Piece { min_time, max_time, samples }))
        })
    }
}

/// Keeps in `metas` the chunks of series `id` overlapping `range` that tombstones leave
/// something of; returns the deleted ranges that still apply to them.
fn keep_live_chunks<'t>(
    tombstones: &'t Tombstones,
    id: u32,
    metas: &mut Vec<ChunkMeta>,
    range: TimeRange,
) -> &'t [(i64, i64)] {
    let deleted = tombstones.get(&id).map(Vec::as_slice).unwrap_or_default();
    metas.retain(|m| {
        range.overlaps(m.min_time, m.max_time)
            && !deleted.iter().any(|&(min, max)| min <= m.min_time && m.max_time <= max)
    });
    deleted
}

/// Chunks as a piece's samples; with deleted ranges, decoded now and filtered.
fn without_deleted(chunks: Vec<ChunkBytes>, deleted: &[(i64, i64)], range: TimeRange) -> PieceSamples {
    if deleted.is_empty() {
        return PieceSamples::Chunks(chunks);
    }
    let kept = ChunksIter::within(chunks, range).filter(|s| !tombstones::covers(deleted, s.t));
    PieceSamples::Samples(kept.collect())
}

fn map_file(path: &Path) -> std::io::Result<Mmap> {
    let file = File::open(path)?;
    // SAFETY: block files are written once, renamed into place and never modified; they are
    // deleted only after every reader of the block is gone (blocks are shared by `Arc`, and
    // unlinking a mapped file keeps the mapping valid on Linux).
    unsafe { Mmap::map(&file) }
}

/// The blocks of a shard that opened, in time order, and what was wrong with those that did
/// not.
pub(crate) struct OpenedBlocks {
    pub blocks: Vec<Arc<Block>>,
    pub skipped: Vec<String>,
}

/// Opens every block under `dir`: unfinished `.tmp` directories are removed, blocks that a
/// later block replaced (a crash between compaction and cleanup) are deleted, and a block that
/// fails to open is logged and skipped, never fatal.
pub(crate) fn open_all(dir: &Path) -> std::io::Result<OpenedBlocks> {
    std::fs::create_dir_all(dir)?;
    let (mut blocks, mut skipped) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if name.ends_with(TMP_SUFFIX) {
            info!(dir = %path.display(), "removing unfinished block");
            std::fs::remove_dir_all(&path)?;
            continue;
        }
        if !entry.file_type()?.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(block) => blocks.push(Arc::new(block)),
            Err(error) => {
                warn!(%error, "skipping a block that cannot be opened");
                skipped.push(format!("skipped a damaged block: {error}"));
            }
        }
    }
    let replaced: std::collections::HashSet<String> =
        blocks.iter().flat_map(|b| b.meta.compaction.parents.iter().cloned()).collect();
    let (obsolete, mut live): (Vec<_>, Vec<_>) =
        blocks.into_iter().partition(|b| replaced.contains(&b.meta.id));
    for block in obsolete {
        info!(block = %block.meta.id, "removing a block its compacted successor replaced");
        std::fs::remove_dir_all(&block.dir)?;
    }
    live.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
    Ok(OpenedBlocks { blocks: live, skipped })
}
