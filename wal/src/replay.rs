//! Reading the log back on open, and repairing whatever a crash left behind.
//!
//! Segments are read in index order, record by record, through a buffered reader (a segment is
//! never loaded whole). The first record that is torn, zero-length, too long or fails its
//! checksum — or a gap in the segment indices — marks the end of the log: everything after it is
//! dropped, because records after damage cannot be trusted to follow the records before it.
//!
//! Repair order matters for a crash *during* repair: later segments are deleted (highest first,
//! then the directory is fsynced) before the damaged segment is truncated. Had we truncated first,
//! a crash in between would leave an intact-looking segment followed by segments whose records
//! no longer follow it.
//!
//! Repair never fails on damage, only when the disk refuses a read, truncate or delete, so a
//! damaged WAL cannot put its owner into a crash loop.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::segment::{self, Damage, HEADER_LEN};

/// Read buffer per segment: large enough to amortise syscalls, small enough to not matter.
const READ_BUFFER: usize = 256 * 1024;

/// What `Wal::open` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// The checkpoint replayed first, by the index of the first segment after it.
    pub checkpoint: Option<u32>,
    /// Intact records passed to the replay callback, the checkpoint's included.
    pub records: u64,
    /// On-disk bytes of those records, framing included (the log's length after repair, which is
    /// also the Lsn the first new append starts from).
    pub bytes: u64,
    /// Segment files read (those deleted by repair are not counted).
    pub segments: u32,
    /// Set when damage was found and the log was cut back.
    pub truncation: Option<Truncation>,
}

/// Where the log was cut back on open, and what was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment the damage was found in; it now ends at `offset` and receives new appends.
    pub segment: u32,
    /// Byte offset in `segment` of the first damaged byte (the segment's new length).
    pub offset: u64,
    /// Bytes removed: the tail of `segment` plus the full length of every deleted segment.
    pub dropped_bytes: u64,
    /// Segments after `segment` that were deleted, ascending.
    pub deleted_segments: Vec<u32>,
    /// What was wrong at `offset`, e.g. `"checksum mismatch: …"`.
    pub reason: String,
}

/// The log as it stands after replay and repair: where appends continue.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub report: ReplayReport,
    /// The segment that receives the next append, or `None` if the directory holds no segment.
    pub last_segment: Option<u32>,
    /// The index a first segment must take when there is none (the checkpoint's, or 0).
    pub first_segment: u32,
    /// Its length in bytes after repair.
    pub last_segment_len: u64,
}

/// How one segment's scan ended.
struct SegmentScan {
    /// Offset just past the last intact record.
    intact_len: u64,
    /// The file's length when scanned.
    file_len: u64,
    /// Set when the scan stopped at damage rather than at end of file.
    damage: Option<Damage>,
}

/// Replays every intact record in `dir` into `replay`, in order, then repairs the tail.
pub(crate) fn replay_and_repair(dir: &Path, replay: &mut dyn FnMut(&[u8])) -> Result<Recovered> {
    let mut report = ReplayReport::default();
    let first_segment = match checkpoint::latest(dir)? {
        Some(index) => {
            // Segments below the checkpoint are a deletion a crash interrupted.
            checkpoint::remove_replaced(dir, index)?;
            let (records, _) = checkpoint::replay(dir, index, replay)?;
            report.checkpoint = Some(index);
            report.records = records;
            index
        }
        None => 0,
    };
    let indices = segment::list_segments(dir)?;
    let mut payload = Vec::new();

    for (position, &index) in indices.iter().enumerate() {
        if let Some(previous) = position.checked_sub(1).map(|p| indices[p])
            && index != previous + 1
        {
            // A missing segment in the middle: what follows does not follow what we replayed.
            let len = segment_len(dir, previous)?;
            let reason = format!("segment {} is missing", segment::segment_file_name(previous + 1));
            let truncation = repair(dir, previous, len, len, &indices[position..], reason)?;
            return Ok(finish(report, first_segment, previous, len, Some(truncation)));
        }

        let scan = scan_segment(dir, index, &mut payload, &mut report, replay)?;
        report.segments += 1;
        report.bytes += scan.intact_len;
        if let Some(damage) = scan.damage {
            let truncation = repair(
                dir,
                index,
                scan.intact_len,
                scan.file_len,
                &indices[position + 1..],
                damage.to_string(),
            )?;
            return Ok(finish(report, first_segment, index, scan.intact_len, Some(truncation)));
        }
        if position + 1 == indices.len() {
            return Ok(finish(report, first_segment, index, scan.intact_len, None));
        }
    }
    Ok(Recovered { report, last_segment: None, first_segment, last_segment_len: 0 })
}

fn finish(
    mut report: ReplayReport,
    first_segment: u32,
    segment: u32,
    len: u64,
    truncation: Option<Truncation>,
) -> Recovered {
    report.truncation = truncation;
    Recovered { report, last_segment: Some(segment), first_segment, last_segment_len: len }
}

fn segment_len(dir: &Path, index: u32) -> Result<u64> {
    let path = segment::segment_path(dir, index);
    fs::metadata(&path).map(|meta| meta.len()).map_err(|source| Error::OpenSegment { path, source })
}

/// Reads one segment record by record, calling `replay` for each intact one, until end of file
/// or damage.
fn scan_segment(
    dir: &Path,
    index: u32,
    payload: &mut Vec<u8>,
    report: &mut ReplayReport,
    replay: &mut dyn FnMut(&[u8]),
) -> Result<SegmentScan> {
    let path = segment::segment_path(dir, index);
    let file = File::open(&path).map_err(|source| Error::OpenSegment { path: path.clone(), source })?;
    let file_len = file.metadata().map_err(|source| Error::OpenSegment { path, source })?.len();
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let mut offset = 0u64;
    let read_error = |offset, source| Error::ReadSegment { segment: index, offset, source };

    while offset < file_len {
        match read_record(&mut reader, file_len - offset, payload) {
            Ok(Ok(frame_len)) => {
                replay(payload);
                report.records += 1;
                offset += frame_len;
            }
            Ok(Err(damage)) => {
                return Ok(SegmentScan { intact_len: offset, file_len, damage: Some(damage) });
            }
            Err(source) => return Err(read_error(offset, source)),
        }
    }
    Ok(SegmentScan { intact_len: offset, file_len, damage: None })
}

/// Reads the next record into `payload` given `remaining` bytes left in the file. The outer
/// `Result` is the disk; the inner one is the data.
pub(crate) fn read_record(
    reader: &mut impl Read,
    remaining: u64,
    payload: &mut Vec<u8>,
) -> io::Result<Result<u64, Damage>> {
    if remaining < HEADER_LEN as u64 {
        return Ok(Err(Damage::TornHeader { available: remaining }));
    }
    let mut header = [0; HEADER_LEN];
    reader.read_exact(&mut header)?;
    // The length is checked against the file before allocating, so garbage cannot make us
    // reserve gigabytes.
    let header = match segment::parse_header(header, remaining - HEADER_LEN as u64) {
        Ok(header) => header,
        Err(damage) => return Ok(Err(damage)),
    };
    payload.resize(header.len as usize, 0);
    reader.read_exact(payload)?;
    Ok(segment::verify_payload(header, payload).map(|()| segment::frame_len(header.len as usize) as u64))
}

/// Cuts the log back to `offset` in `segment` and deletes `later` segments, logging and
/// returning what was dropped.
fn repair(
    dir: &Path,
    segment: u32,
    offset: u64,
    file_len: u64,
    later: &[u32],
    reason: String,
) -> Result<Truncation> {
    let mut dropped_bytes = file_len - offset;
    for &index in later.iter().rev() {
        dropped_bytes += delete_segment(dir, index)?;
    }
    if !later.is_empty() {
        sync_dir(dir)?;
    }
    if offset < file_len {
        truncate_segment(dir, segment, offset)?;
    }
    let truncation = Truncation { segment, offset, dropped_bytes, deleted_segments: later.to_vec(), reason };
    tracing::warn!(
        segment = truncation.segment,
        offset = truncation.offset,
        dropped_bytes = truncation.dropped_bytes,
        deleted_segments = ?truncation.deleted_segments,
        reason = %truncation.reason,
        dir = %dir.display(),
        "truncating damaged wal tail"
    );
    Ok(truncation)
}

/// Deletes one segment, returning its length for the dropped-bytes count.
fn delete_segment(dir: &Path, index: u32) -> Result<u64> {
    let path = segment::segment_path(dir, index);
    // A segment we cannot stat is still deleted; it only makes the dropped count less exact.
    let len = fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
    fs::remove_file(&path).map_err(|source| Error::DeleteSegment { path, source })?;
    Ok(len)
}

fn truncate_segment(dir: &Path, segment: u32, offset: u64) -> Result<()> {
    let path = segment::segment_path(dir, segment);
    let file =
        OpenOptions::new().write(true).open(&path).map_err(|source| Error::OpenSegment { path, source })?;
    let truncate_error = |source| Error::TruncateSegment { segment, offset, source };
    file.set_len(offset).map_err(truncate_error)?;
    file.sync_all().map_err(truncate_error)
}

/// Makes creations and deletions of directory entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| Error::SyncDir { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::encode_record;

    /// Writes `segments` as files, each a list of payloads.
    fn write_segments(dir: &Path, segments: &[&[&[u8]]]) {
        for (index, records) in segments.iter().enumerate() {
            let mut bytes = Vec::new();
            for record in *records {
                encode_record(record, &mut bytes);
            }
            fs::write(segment::segment_path(dir, index as u32), bytes).expect("write segment");
        }
    }

    fn replay_all(dir: &Path) -> (Vec<Vec<u8>>, Recovered) {
        let mut seen = Vec::new();
        let recovered = replay_and_repair(dir, &mut |record| seen.push(record.to_vec())).expect("replay");
        (seen, recovered)
    }

    fn append_raw(dir: &Path, index: u32, bytes: &[u8]) {
        let path = segment::segment_path(dir, index);
        let mut content = fs::read(&path).expect("read");
        content.extend_from_slice(bytes);
        fs::write(&path, content).expect("write");
    }

    #[test]
    fn empty_directory_has_no_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seen, recovered) = replay_all(dir.path());
        assert!(seen.is_empty());
        assert_eq!(recovered.last_segment, None);
        assert_eq!(recovered.report, ReplayReport::default());
    }

    #[test]
    fn intact_segments_replay_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[b"a", b"bb"], &[b"ccc"]]);
        let (seen, recovered) = replay_all(dir.path());
        assert_eq!(seen, vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
        assert_eq!(recovered.report.records, 3);
        assert_eq!(recovered.report.bytes, 9 + 10 + 11);
        assert_eq!(recovered.report.segments, 2);
        assert_eq!(recovered.report.truncation, None);
        assert_eq!(recovered.last_segment, Some(1));
        assert_eq!(recovered.last_segment_len, 11);
    }

    #[test]
    fn gap_in_segment_indices_drops_everything_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[b"a"], &[b"b"], &[b"c"], &[b"d"]]);
        fs::remove_file(segment::segment_path(dir.path(), 2)).expect("remove");
        let (seen, recovered) = replay_all(dir.path());
        assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec()]);
        let truncation = recovered.report.truncation.expect("truncation");
        assert_eq!(truncation.segment, 1);
        assert_eq!(truncation.offset, 9);
        assert_eq!(truncation.deleted_segments, vec![3]);
        assert_eq!(truncation.dropped_bytes, 9);
        assert_eq!(truncation.reason, "segment 00000002 is missing");
        assert_eq!(segment::list_segments(dir.path()).expect("list"), vec![0, 1]);
    }

    #[test]
    fn torn_header_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[b"abc"]]);
        append_raw(dir.path(), 0, &[5, 0, 0]);
        let (seen, recovered) = replay_all(dir.path());
        assert_eq!(seen, vec![b"abc".to_vec()]);
        let truncation = recovered.report.truncation.expect("truncation");
        assert_eq!((truncation.offset, truncation.dropped_bytes), (11, 3));
        assert!(truncation.reason.starts_with("torn record header"));
        let len = fs::metadata(segment::segment_path(dir.path(), 0)).expect("stat").len();
        assert_eq!(len, 11);
    }

    #[test]
    fn huge_garbage_length_is_damage_without_allocating() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[b"abc"]]);
        append_raw(dir.path(), 0, &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5]);
        let (seen, recovered) = replay_all(dir.path());
        assert_eq!(seen, vec![b"abc".to_vec()]);
        let truncation = recovered.report.truncation.expect("truncation");
        assert_eq!(truncation.offset, 11);
        assert!(truncation.reason.contains("exceeds the limit"));
    }

    #[test]
    fn repair_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[b"a", b"b"], &[b"c"]]);
        append_raw(dir.path(), 0, &[0; 20]);
        let (first, _) = replay_all(dir.path());
        let (second, recovered) = replay_all(dir.path());
        assert_eq!(first, second);
        assert_eq!(recovered.report.truncation, None);
        assert_eq!(recovered.last_segment, Some(0));
    }

    mod through_the_wal {
        //! Damage applied to files a real `Wal` wrote, checked through `Wal::open`.

        use proptest::prelude::*;

        use super::*;
        use crate::{Wal, WalOptions};

        /// 19-byte frames in 64-byte segments: three records per segment.
        const SEGMENT_SIZE: u64 = 64;

        fn record(i: usize) -> Vec<u8> {
            format!("record-{i:04}").into_bytes()
        }

        fn write_wal(dir: &Path, records: &[Vec<u8>], segment_size: u64) {
            let options = WalOptions { segment_size, ..WalOptions::default() };
            let (wal, _) = Wal::open(dir, options, |_| {}).expect("open");
            for record in records {
                wal.append(record).expect("append");
            }
            wal.close().expect("close");
        }

        fn reopen(dir: &Path, segment_size: u64) -> (Wal, Vec<Vec<u8>>, ReplayReport) {
            let options = WalOptions { segment_size, ..WalOptions::default() };
            let mut seen = Vec::new();
            let (wal, report) = Wal::open(dir, options, |r| seen.push(r.to_vec())).expect("reopen");
            (wal, seen, report)
        }

        fn segment_bytes(dir: &Path, index: u32) -> Vec<u8> {
            fs::read(segment::segment_path(dir, index)).expect("read segment")
        }

        fn set_segment_bytes(dir: &Path, index: u32, bytes: &[u8]) {
            fs::write(segment::segment_path(dir, index), bytes).expect("write segment")
        }

        /// Ten records over four segments (3+3+3+1), damaged by `damage`, then reopened.
        fn damage_and_reopen(damage: impl FnOnce(&Path)) -> (tempfile::TempDir, Vec<Vec<u8>>, Truncation) {
            let dir = tempfile::tempdir().expect("tempdir");
            let written: Vec<_> = (0..10).map(record).collect();
            write_wal(dir.path(), &written, SEGMENT_SIZE);
            assert_eq!(segment::list_segments(dir.path()).expect("list"), vec![0, 1, 2, 3]);
            damage(dir.path());
            let (wal, seen, report) = reopen(dir.path(), SEGMENT_SIZE);
            let truncation = report.truncation.clone().expect("damage is reported");
            assert_eq!(report.records as usize, seen.len());
            assert_eq!(seen[..], written[..seen.len()], "replay is a prefix");

            // The repaired log takes new appends, and they replay after the survivors.
            let lsn = wal.append(b"after repair").expect("append");
            wal.wait_durable(lsn).expect("durable");
            wal.close().expect("close");
            let (_wal, again, report) = reopen(dir.path(), SEGMENT_SIZE);
            assert_eq!(report.truncation, None, "repair is complete after one open");
            assert_eq!(again[..seen.len()], seen[..]);
            assert_eq!(again[seen.len()..], [b"after repair".to_vec()]);
            (dir, seen, truncation)
        }

        #[test]
        fn cut_mid_record() {
            let (_dir, seen, truncation) = damage_and_reopen(|dir| {
                let bytes = segment_bytes(dir, 2);
                set_segment_bytes(dir, 2, &bytes[..bytes.len() - 5]);
            });
            assert_eq!(seen.len(), 8);
            assert_eq!((truncation.segment, truncation.offset), (2, 38));
            assert_eq!(truncation.dropped_bytes, 14 + 19, "torn tail plus segment 3");
            assert_eq!(truncation.deleted_segments, vec![3]);
            assert!(truncation.reason.starts_with("torn record"), "{}", truncation.reason);
        }

        #[test]
        fn garbage_appended() {
            let (_dir, seen, truncation) = damage_and_reopen(|dir| {
                let mut bytes = segment_bytes(dir, 3);
                bytes.extend_from_slice(b"\x07\x00\x00\x00garbage!garbage!");
                set_segment_bytes(dir, 3, &bytes);
            });
            assert_eq!(seen.len(), 10);
            assert_eq!((truncation.segment, truncation.offset), (3, 19));
            assert_eq!(truncation.dropped_bytes, 20);
            assert!(truncation.deleted_segments.is_empty());
            assert!(truncation.reason.starts_with("checksum mismatch"), "{}", truncation.reason);
        }

        #[test]
        fn flipped_bit_in_a_payload() {
            let (_dir, seen, truncation) = damage_and_reopen(|dir| {
                let mut bytes = segment_bytes(dir, 2);
                bytes[19 + 8 + 3] ^= 0x04;
                set_segment_bytes(dir, 2, &bytes);
            });
            assert_eq!(seen.len(), 7);
            assert_eq!((truncation.segment, truncation.offset), (2, 19));
            assert_eq!(truncation.dropped_bytes, 38 + 19);
            assert_eq!(truncation.deleted_segments, vec![3]);
        }

        #[test]
        fn zero_filled_tail() {
            let (_dir, seen, truncation) = damage_and_reopen(|dir| {
                let mut bytes = segment_bytes(dir, 3);
                bytes.resize(bytes.len() + 4096, 0);
                set_segment_bytes(dir, 3, &bytes);
            });
            assert_eq!(seen.len(), 10);
            assert_eq!((truncation.segment, truncation.offset), (3, 19));
            assert_eq!(truncation.dropped_bytes, 4096);
            assert_eq!(truncation.reason, "zero-length record");
        }

        #[test]
        fn damage_in_a_middle_segment_deletes_later_segments() {
            let (dir, seen, truncation) = damage_and_reopen(|dir| {
                let mut bytes = segment_bytes(dir, 1);
                bytes[5] ^= 0xff; // the first record's checksum
                set_segment_bytes(dir, 1, &bytes);
            });
            assert_eq!(seen.len(), 3);
            assert_eq!((truncation.segment, truncation.offset), (1, 0));
            assert_eq!(truncation.deleted_segments, vec![2, 3]);
            assert_eq!(truncation.dropped_bytes, 57 + 57 + 19);
            // Only segment 1 receives appends; nothing was created past it.
            assert_eq!(segment::list_segments(dir.path()).expect("list"), vec![0, 1]);
        }

        #[derive(Debug, Clone)]
        enum Damage {
            /// Cut the last segment to this fraction of its length.
            Truncate(prop::sample::Index),
            /// Flip this bit of the last segment.
            FlipBit(prop::sample::Index),
        }

        fn damage_strategy() -> impl Strategy<Value = Damage> {
            prop_oneof![
                any::<prop::sample::Index>().prop_map(Damage::Truncate),
                any::<prop::sample::Index>().prop_map(Damage::FlipBit),
            ]
        }

        /// End offsets of the frames in an intact segment.
        fn frame_ends(bytes: &[u8]) -> Vec<usize> {
            let mut ends = Vec::new();
            let mut offset = 0;
            while let Some((_, len)) = segment::decode_record(&bytes[offset..]).expect("intact") {
                offset += len;
                ends.push(offset);
            }
            ends
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]

            #[test]
            fn damaged_last_segment_replays_a_prefix_and_keeps_working(
                records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 1..24),
                damage in damage_strategy(),
            ) {
                const SEGMENT: u64 = 128;
                let dir = tempfile::tempdir().expect("tempdir");
                write_wal(dir.path(), &records, SEGMENT);

                let last = *segment::list_segments(dir.path()).expect("list").last().expect("a segment");
                let mut bytes = segment_bytes(dir.path(), last);
                let ends = frame_ends(&bytes);
                let earlier = records.len() - ends.len();
                // Records whose frames end at or before the first damaged byte survive.
                let damaged_at = match &damage {
                    Damage::Truncate(at) => {
                        let at = at.index(bytes.len());
                        bytes.truncate(at);
                        at
                    }
                    Damage::FlipBit(bit) => {
                        let bit = bit.index(bytes.len() * 8);
                        bytes[bit / 8] ^= 1 << (bit % 8);
                        bit / 8
                    }
                };
                set_segment_bytes(dir.path(), last, &bytes);
                let survivors = earlier + ends.iter().filter(|&&end| end <= damaged_at).count();

                let (wal, seen, report) = reopen(dir.path(), SEGMENT);
                prop_assert_eq!(&seen[..], &records[..survivors]);
                if let Some(truncation) = &report.truncation {
                    prop_assert_eq!(truncation.segment, last);
                }

                let extra: Vec<Vec<u8>> = vec![b"x".to_vec(), vec![9; 50], b"yz".to_vec()];
                for record in &extra {
                    wal.append(record).expect("append after repair");
                }
                wal.close().expect("close");
                let (_wal, again, report) = reopen(dir.path(), SEGMENT);
                prop_assert_eq!(report.truncation, None);
                prop_assert_eq!(&again[..survivors], &records[..survivors]);
                prop_assert_eq!(&again[survivors..], &extra[..]);
            }
        }
    }
}
