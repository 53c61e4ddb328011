//! Writing a block: chunks streamed to a temporary directory series by series, then the index
//! and `meta.json`, every file fsynced, and one rename to make the block visible. A crash at
//! any point leaves either no block or a whole one (plus a `.tmp` directory that opening the
//! shard removes).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use argus_model::{Labels, Sample};

use super::chunks::ChunkWriter;
use super::index::{self, ChunkMeta, SeriesEntry};
use super::meta::{BlockFiles, BlockMeta, BlockStats, Compaction, META_FILE, META_VERSION, new_block_id};
use crate::chunk::{Encoding, SAMPLES_PER_CHUNK, XorChunk, packed};

pub(crate) const TMP_SUFFIX: &str = ".tmp";
pub(crate) const INDEX_FILE: &str = "index";
pub(crate) const CHUNKS_FILE: &str = "chunks";

/// A block being written. Series must be added in label order.
pub(crate) struct BlockWriter {
    tmp: PathBuf,
    done: PathBuf,
    chunks: ChunkWriter<BufWriter<File>>,
    series: Vec<SeriesEntry>,
    meta: BlockMeta,
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` in `blocks_dir`.
    pub fn create(
        blocks_dir: &Path,
        min_time: i64,
        max_time: i64,
        compaction: Compaction,
    ) -> io::Result<Self> {
        let id = new_block_id();
        let done = blocks_dir.join(&id);
        let tmp = blocks_dir.join(format!("{id}{TMP_SUFFIX}"));
        fs::create_dir_all(&tmp)?;
        let chunks =
            ChunkWriter::new(BufWriter::with_capacity(1 << 20, File::create(tmp.join(CHUNKS_FILE))?))?;
        let meta = BlockMeta {
            version: META_VERSION,
            id,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction,
            files: BlockFiles::default(),
        };
        Ok(Self { tmp, done, chunks, series: Vec::new(), meta })
    }

    /// Adds a series with its samples in time order; samples outside the block's range are
    /// left out, and a series with none is not added.
    pub fn add_series(&mut self, labels: Labels, samples: impl Iterator<Item = Sample>) -> io::Result<()> {
        debug_assert!(self.series.last().is_none_or(|last| last.labels < labels), "series out of order");
        let (min, max) = (self.meta.min_time, self.meta.max_time);
        let mut metas = Vec::new();
        let mut chunk: Vec<Sample> = Vec::with_capacity(SAMPLES_PER_CHUNK);
        let mut last = None;
        for sample in samples.filter(|s| (min..max).contains(&s.t)) {
            last = Some(sample);
            chunk.push(sample);
            if chunk.len() == SAMPLES_PER_CHUNK {
                metas.push(self.write_chunk(&chunk)?);
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            metas.push(self.write_chunk(&chunk)?);
        }
        if let Some(last) = last {
            self.meta.stats.series += 1;
            self.meta.stats.chunks += metas.len() as u64;
            self.series.push(SeriesEntry { labels, chunks: metas, last });
        }
        Ok(())
    }

    /// Writes one chunk, packed when its values allow it, else XOR.
    fn write_chunk(&mut self, samples: &[Sample]) -> io::Result<ChunkMeta> {
        let offset = match packed::encode(samples) {
            Some(bytes) => self.chunks.write(Encoding::Packed, &bytes)?,
            None => {
                let mut xor = XorChunk::new();
                for sample in samples {
                    xor.append(sample.t, sample.v).map_err(io::Error::other)?;
                }
                self.chunks.write(Encoding::Xor, xor.bytes())?
            }
        };
        self.meta.stats.samples += samples.len() as u64;
        let (first, last) = (samples[0].t, samples[samples.len() - 1].t);
        Ok(ChunkMeta { min_time: first, max_time: last, offset })
    }

    /// Writes the index and meta, makes everything durable and moves the block into place.
    /// Returns `None`, leaving nothing behind, when no series had samples in range.
    pub fn finish(mut self) -> io::Result<Option<BlockMeta>> {
        if self.series.is_empty() {
            fs::remove_dir_all(&self.tmp)?;
            return Ok(None);
        }
        let chunks_bytes = self.chunks.offset();
        let chunks = self.chunks.into_inner().into_inner().map_err(|e| e.into_error())?;
        chunks.sync_all()?;
        let index = index::encode(&self.series, self.meta.min_time)?;
        write_synced(&self.tmp.join(INDEX_FILE), &index)?;
        self.meta.files = BlockFiles {
            index_bytes: index.len() as u64,
            index_crc32c: crc32c::crc32c(&index),
            chunks_bytes,
        };
        write_synced(&self.tmp.join(META_FILE), &self.meta.to_json())?;
        sync_dir(&self.tmp)?;
        fs::rename(&self.tmp, &self.done)?;
        sync_dir(self.done.parent().expect("a block directory has a parent"))?;
        Ok(Some(self.meta))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
