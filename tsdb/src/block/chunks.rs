//! A block's `chunks` file: every chunk of the block back to back, each with its encoding and
//! a checksum, addressed by byte offset from the index (layout in `docs/format/block.md`).
//!
//! ```text
//! file   := magic "ARGUSCHK" | version u8 = 1 | chunk*
//! chunk  := len uvarint | encoding u8 | data [len] | crc32c(encoding ++ data) u32 LE
//! ```

use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use memmap2::Mmap;

use crate::chunk::Encoding;
use crate::encoding::{Decoder, put_uvarint};

const MAGIC: &[u8; 8] = b"ARGUSCHK";
const VERSION: u8 = 1;
/// Bytes before the first chunk.
const HEADER_LEN: u64 = 9;

/// Whether `file` starts like a `chunks` file of a known version.
pub(crate) fn has_valid_header(file: &[u8]) -> bool {
    file.len() >= HEADER_LEN as usize && &file[..8] == MAGIC && file[8] == VERSION
}

/// Why a chunk could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkReadError {
    #[error("chunk at offset {offset} runs past the end of the file")]
    Truncated { offset: u64 },
    #[error("chunk at offset {offset} has unknown encoding {encoding}")]
    UnknownEncoding { offset: u64, encoding: u8 },
    #[error("chunk at offset {offset} fails its checksum")]
    Checksum { offset: u64 },
}

/// Appends chunks to a `chunks` file being written, tracking their offsets.
pub(crate) struct ChunkWriter<W: Write> {
    out: W,
    offset: u64,
    frame: Vec<u8>,
}

impl<W: Write> ChunkWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        out.write_all(&[VERSION])?;
        Ok(Self { out, offset: HEADER_LEN, frame: Vec::new() })
    }

    /// Writes one chunk and returns its offset.
    pub fn write(&mut self, encoding: Encoding, data: &[u8]) -> io::Result<u64> {
        let offset = self.offset;
        self.frame.clear();
        put_uvarint(&mut self.frame, data.len() as u64);
        self.frame.push(encoding as u8);
        self.frame.extend_from_slice(data);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[encoding as u8]), data);
        self.frame.extend_from_slice(&crc.to_le_bytes());
        self.out.write_all(&self.frame)?;
        self.offset += self.frame.len() as u64;
        Ok(offset)
    }

    /// Bytes written so far, header included.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One chunk's bytes inside a mapped `chunks` file: shares the mapping, so a query can hold it
/// after the index lookup that found it.
#[derive(Clone)]
pub(crate) struct MappedChunk {
    map: Arc<Mmap>,
    data: Range<usize>,
}

impl std::fmt::Debug for MappedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedChunk").field("data", &self.data).finish()
    }
}

impl AsRef<[u8]> for MappedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.data.clone()]
    }
}

/// Reads and verifies the chunk at `offset` of a mapped `chunks` file.
pub(crate) fn read_chunk(map: &Arc<Mmap>, offset: u64) -> Result<(Encoding, MappedChunk), ChunkReadError> {
    let truncated = ChunkReadError::Truncated { offset };
    let start = usize::try_from(offset).map_err(|_| truncated.clone())?;
    let mut decoder = Decoder::new(map.get(start..).ok_or(truncated.clone())?);
    let len = decoder.uvarint().ok_or(truncated.clone())? as usize;
    let header_len = map.len() - start - decoder.remaining();
    let encoding_at = start + header_len;
    let data = encoding_at + 1..(encoding_at + 1).checked_add(len).ok_or(truncated.clone())?;
    let crc_bytes = map.get(data.end..data.end + 4).ok_or(truncated)?;
    let stored = u32::from_le_bytes(crc_bytes.try_into().expect("four bytes"));
    if crc32c::crc32c(&map[encoding_at..data.end]) != stored {
        return Err(ChunkReadError::Checksum { offset });
    }
    let byte = map[encoding_at];
    let encoding =
        Encoding::from_byte(byte).ok_or(ChunkReadError::UnknownEncoding { offset, encoding: byte })?;
    Ok((encoding, MappedChunk { map: map.clone(), data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(bytes: &[u8]) -> Arc<Mmap> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        Arc::new(unsafe { Mmap::map(&file) }.unwrap())
    }

    #[test]
    fn chunks_read_back_and_damage_is_detected() {
        let mut writer = ChunkWriter::new(Vec::new()).unwrap();
        let first = writer.write(Encoding::Xor, b"first chunk").unwrap();
        let second = writer.write(Encoding::Xor, &[7; 300]).unwrap();
        let mut bytes = writer.into_inner();
        assert_eq!(first, HEADER_LEN);

        let map = mapped(&bytes);
        assert_eq!(read_chunk(&map, first).unwrap().1.as_ref(), b"first chunk");
        assert_eq!(read_chunk(&map, second).unwrap().1.as_ref(), &[7; 300][..]);

        bytes[first as usize + 3] ^= 1;
        let map = mapped(&bytes);
        assert_eq!(read_chunk(&map, first).unwrap_err(), ChunkReadError::Checksum { offset: first });
        assert!(read_chunk(&map, second).is_ok(), "damage stays local to its chunk");
        assert!(matches!(read_chunk(&map, bytes.len() as u64 - 2), Err(ChunkReadError::Truncated { .. })));
    }
}
