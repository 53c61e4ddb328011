//! Checkpoints: a compact restatement of the log's oldest segments, so they can be deleted.
//!
//! The owner decides what a checkpoint holds (the time-series engine writes the series and
//! samples its head still needs once older data is in blocks); this module only stores such
//! records durably and in order, and makes them the start of the log:
//!
//! - [`write`] frames the records into `checkpoint.NNNNNNNN.tmp/00000000` (the segment format),
//!   fsyncs it, renames the directory to `checkpoint.NNNNNNNN` and fsyncs the WAL directory.
//!   `NNNNNNNN` is the first segment the checkpoint does *not* replace. Only then are the
//!   replaced segments and older checkpoints deleted.
//! - On open, [`latest`] finds the newest complete checkpoint (leftover `.tmp` directories are
//!   removed: their rename never happened, so the segments they were to replace still exist);
//!   its records are replayed first, then the segments from its index on. Segments below the
//!   index are deletions a crash interrupted, and are finished.
//!
//! A checkpoint is never appended to or repaired: it is complete once renamed. Damage found in
//! one later (a failing disk) ends its replay at the damage, with a warning.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::replay::{read_record, sync_dir};
use crate::segment;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// The directory of the checkpoint that replaces the segments below `first_kept`.
fn checkpoint_dir(dir: &Path, first_kept: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{}", segment::segment_file_name(first_kept)))
}

/// The segment index a checkpoint directory name carries, and whether it is unfinished.
fn parse_name(name: &str) -> Option<(u32, bool)> {
    let rest = name.strip_prefix(PREFIX)?;
    match rest.strip_suffix(TMP_SUFFIX) {
        Some(index) => segment::parse_segment_name(index).map(|i| (i, true)),
        None => segment::parse_segment_name(rest).map(|i| (i, false)),
    }
}

/// The complete checkpoints in `dir` by index, ascending, after removing unfinished ones.
fn list(dir: &Path) -> Result<Vec<u32>> {
    let list_error = |source| Error::ListDir { path: dir.to_path_buf(), source };
    let mut complete = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let Some((index, unfinished)) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        if unfinished {
            remove_dir(&entry.path())?;
        } else {
            complete.push(index);
        }
    }
    complete.sort_unstable();
    Ok(complete)
}

/// The newest complete checkpoint's index, deleting what it makes obsolete: unfinished and
/// older checkpoints.
pub(crate) fn latest(dir: &Path) -> Result<Option<u32>> {
    let mut complete = list(dir)?;
    let Some(newest) = complete.pop() else { return Ok(None) };
    for older in complete {
        remove_dir(&checkpoint_dir(dir, older))?;
    }
    Ok(Some(newest))
}

/// Calls `replay` with every record of checkpoint `index`, in order; returns how many there
/// were and their framed size.
pub(crate) fn replay(dir: &Path, index: u32, replay: &mut dyn FnMut(&[u8])) -> Result<(u64, u64)> {
    let path = segment::segment_path(&checkpoint_dir(dir, index), 0);
    let file = File::open(&path).map_err(|source| Error::OpenSegment { path: path.clone(), source })?;
    let len = file.metadata().map_err(|source| Error::OpenSegment { path: path.clone(), source })?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (mut records, mut offset, mut payload) = (0u64, 0u64, Vec::new());
    while offset < len {
        match read_record(&mut reader, len - offset, &mut payload) {
            Ok(Ok(frame_len)) => {
                replay(&payload);
                records += 1;
                offset += frame_len;
            }
            Ok(Err(damage)) => {
                tracing::error!(path = %path.display(), offset, %damage, "damaged wal checkpoint; replaying what precedes the damage");
                break;
            }
            Err(source) => return Err(Error::ReadSegment { segment: index, offset, source }),
        }
    }
    Ok((records, offset))
}

/// Writes `records` as the checkpoint replacing every segment below `first_kept`, then deletes
/// those segments and any older checkpoint. Returns the checkpoint's size in bytes.
pub(crate) fn write(
    dir: &Path,
    first_kept: u32,
    records: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<u64> {
    let done = checkpoint_dir(dir, first_kept);
    let tmp = done.with_file_name(format!("{PREFIX}{}{TMP_SUFFIX}", segment::segment_file_name(first_kept)));
    if tmp.exists() {
        remove_dir(&tmp)?;
    }
    let write_error = |source| Error::Checkpoint { path: tmp.clone(), source };
    fs::create_dir(&tmp).map_err(write_error)?;
    let file = File::create(segment::segment_path(&tmp, 0)).map_err(write_error)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut frame = Vec::new();
    let mut bytes = 0u64;
    for record in records {
        frame.clear();
        segment::encode_record(record.as_ref(), &mut frame);
        out.write_all(&frame).map_err(write_error)?;
        bytes += frame.len() as u64;
    }
    let file = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    file.sync_all().map_err(write_error)?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, &done).map_err(write_error)?;
    sync_dir(dir)?;
    remove_replaced(dir, first_kept)?;
    Ok(bytes)
}

/// Deletes the segments below `first_kept` and the checkpoints older than it.
pub(crate) fn remove_replaced(dir: &Path, first_kept: u32) -> Result<()> {
    for index in segment::list_segments(dir)?.into_iter().take_while(|&i| i < first_kept) {
        let path = segment::segment_path(dir, index);
        fs::remove_file(&path).map_err(|source| Error::DeleteSegment { path, source })?;
    }
    for index in list(dir)?.into_iter().filter(|&i| i < first_kept) {
        remove_dir(&checkpoint_dir(dir, index))?;
    }
    sync_dir(dir)
}

fn remove_dir(path: &Path) -> Result<()> {
    fs::remove_dir_all(path).map_err(|source| Error::DeleteSegment { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(dir: &Path, index: u32) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        replay(dir, index, &mut |r| seen.push(r.to_vec())).unwrap();
        seen
    }

    #[test]
    fn a_checkpoint_replaces_the_segments_below_it() {
        let dir = tempfile::tempdir().unwrap();
        for index in 0..4 {
            fs::write(segment::segment_path(dir.path(), index), b"").unwrap();
        }
        let records: [&[u8]; 2] = [b"series", b"samples"];
        write(dir.path(), 2, records).unwrap();
        assert_eq!(segment::list_segments(dir.path()).unwrap(), vec![2, 3]);
        assert_eq!(latest(dir.path()).unwrap(), Some(2));
        assert_eq!(replayed(dir.path(), 2), vec![b"series".to_vec(), b"samples".to_vec()]);

        // A newer checkpoint supersedes the older one.
        write(dir.path(), 3, [b"newer".as_slice()]).unwrap();
        assert_eq!(latest(dir.path()).unwrap(), Some(3));
        assert!(!checkpoint_dir(dir.path(), 2).exists());
        assert_eq!(segment::list_segments(dir.path()).unwrap(), vec![3]);
    }

    #[test]
    fn an_unfinished_checkpoint_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("checkpoint.00000005.tmp");
        fs::create_dir(&tmp).unwrap();
        fs::write(segment::segment_path(&tmp, 0), b"half").unwrap();
        assert_eq!(latest(dir.path()).unwrap(), None);
        assert!(!tmp.exists());
    }
}
