//! A block's `tombstones` file: the time ranges deleted from its series, applied on read and
//! purged when compaction rewrites the block. The block's other files never change; this one
//! is replaced whole (temporary file, fsync, rename) on every deletion.
//!
//! ```text
//! file   := magic "ARGUSTMB" | version u8 = 1 | count uvarint | entry{count} | crc32c u32
//! entry  := series id uvarint | intervals uvarint | (min varint, max varint){intervals}
//! ```
//!
//! The checksum covers everything before it; intervals are inclusive, in milliseconds.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::encoding::{Decoder, put_uvarint, put_varint};

pub(crate) const TOMBSTONES_FILE: &str = "tombstones";
const MAGIC: &[u8; 8] = b"ARGUSTMB";
const VERSION: u8 = 1;

/// Deleted ranges by series id.
pub(crate) type Tombstones = BTreeMap<u32, Vec<(i64, i64)>>;

/// Whether `t` falls in one of `intervals`.
pub(crate) fn covers(intervals: &[(i64, i64)], t: i64) -> bool {
    intervals.iter().any(|&(min, max)| (min..=max).contains(&t))
}

/// Reads a block's tombstones; a block without the file has none.
pub(crate) fn read(dir: &Path) -> io::Result<Tombstones> {
    let bytes = match std::fs::read(dir.join(TOMBSTONES_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Tombstones::new()),
        Err(e) => return Err(e),
    };
    decode(&bytes).ok_or_else(|| io::Error::other("tombstones file is damaged"))
}

fn decode(bytes: &[u8]) -> Option<Tombstones> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) || !body.starts_with(MAGIC) {
        return None;
    }
    let mut decoder = Decoder::new(&body[MAGIC.len()..]);
    (decoder.u8()? == VERSION).then_some(())?;
    let mut tombstones = Tombstones::new();
    for _ in 0..decoder.uvarint()? {
        let id = u32::try_from(decoder.uvarint()?).ok()?;
        let count = decoder.uvarint()? as usize;
        let mut intervals = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            intervals.push((decoder.varint()?, decoder.varint()?));
        }
        tombstones.insert(id, intervals);
    }
    Some(tombstones)
}

/// Replaces a block's tombstones file, durably and atomically.
pub(crate) fn write(dir: &Path, tombstones: &Tombstones) -> io::Result<()> {
    let mut bytes = MAGIC.to_vec();
    bytes.push(VERSION);
    put_uvarint(&mut bytes, tombstones.len() as u64);
    for (&id, intervals) in tombstones {
        put_uvarint(&mut bytes, u64::from(id));
        put_uvarint(&mut bytes, intervals.len() as u64);
        for &(min, max) in intervals {
            put_varint(&mut bytes, min);
            put_varint(&mut bytes, max);
        }
    }
    bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
    let tmp = dir.join(format!("{TOMBSTONES_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(TOMBSTONES_FILE))?;
    super::writer::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        let tombstones = Tombstones::from([(3, vec![(10, 20), (-5, -1)]), (9, vec![(i64::MIN, i64::MAX)])]);
        write(dir.path(), &tombstones).unwrap();
        assert_eq!(read(dir.path()).unwrap(), tombstones);
        assert!(covers(&tombstones[&3], 15) && !covers(&tombstones[&3], 21));

        let path = dir.path().join(TOMBSTONES_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(read(dir.path()).is_err());
    }
}
