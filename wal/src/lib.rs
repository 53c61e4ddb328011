//! A segmented write-ahead log of opaque byte records, with group commit and torn-tail repair.
//!
//! The time-series engine keeps one per shard; the log store and the agent's disk queue are meant
//! to follow. Callers encode their own records; this crate only guarantees that the records come
//! back, in order, after a crash.
//!
//! # Shape
//!
//! - A WAL is a directory of segment files `00000000`, `00000001`, … each holding back-to-back
//!   records framed as `[u32 LE length][u32 LE crc32c(length ++ payload)][payload]`
//!   ([`segment`], byte-level description in `wal/docs/format.md`).
//! - [`Wal::append`] only copies the framed record into memory and returns its [`Lsn`]; one
//!   flusher thread per WAL writes and fdatasyncs batches; [`Wal::wait_durable`] blocks until a
//!   record's batch is durable ([`SyncPolicy::PerBatch`]) or returns at once
//!   ([`SyncPolicy::Interval`]).
//! - [`Wal::open`] replays every intact record, then cuts the log back at the first damaged one.
//!
//! # Invariants
//!
//! - Records are replayed in exactly the order `append` returned their Lsns.
//! - A record is either replayed whole and checksum-verified, or not at all; nothing after the
//!   first damaged record is ever replayed, and repair deletes it.
//! - A record never spans segments; segment indices are contiguous.
//! - Once `wait_durable(lsn)` returned `Ok` under `PerBatch`, that record survives a crash.
//! - Damage never makes `open` fail; only a disk that refuses to read, truncate or delete does.
//! - One `Wal` per directory at a time, enforced by a lock on the file `LOCK` in it.
//!
//! # What it is not
//!
//! Not a database: there is no random access by Lsn, no record types and no compression; Lsns
//! are positions within one opened WAL, used for `wait_durable`, not stable identifiers to
//! persist. Old segments go only through checkpoints ([`Wal::request_roll`],
//! [`Wal::checkpoint`]): the owner restates what it still needs of them, and they are deleted.

mod checkpoint;
mod error;
mod options;
mod replay;
pub mod segment;
mod writer;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use options::{FsyncObserver, SyncPolicy, WalOptions};
pub use replay::{ReplayReport, Truncation};
pub use writer::{Lsn, RollTicket, WalStats};

use writer::{ActiveSegment, Writer};

/// Name of the lock file that keeps a second writer out of the directory.
const LOCK_FILE: &str = "LOCK";

/// An open write-ahead log. Share it by reference or `Arc`; `append` and `wait_durable` take
/// `&self` and are safe to call from many threads.
pub struct Wal {
    // Field order is drop order: the writer flushes and stops before the lock is released.
    writer: Writer,
    dir: PathBuf,
    _lock: File,
}

impl Wal {
    /// Opens or creates the WAL in `dir`, calls `replay` with every intact record in order,
    /// repairs a torn or corrupt tail, then starts the background flusher thread.
    pub fn open(
        dir: &Path,
        options: WalOptions,
        mut replay: impl FnMut(&[u8]),
    ) -> Result<(Wal, ReplayReport)> {
        options.validate()?;
        fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
        let lock = lock_dir(dir)?;
        let recovered = replay::replay_and_repair(dir, &mut replay)?;
        let (segment, segments) = match recovered.last_segment {
            Some(index) => {
                (ActiveSegment::open(dir, index, recovered.last_segment_len)?, recovered.report.segments)
            }
            None => (ActiveSegment::create(dir, recovered.first_segment)?, 1),
        };
        let writer = Writer::start(segment, &options, recovered.report.bytes, segments)?;
        let wal = Wal { writer, dir: dir.to_path_buf(), _lock: lock };
        Ok((wal, recovered.report))
    }

    /// Appends one record (must be non-empty, at most [`segment::MAX_RECORD_LEN`] bytes) to the
    /// in-memory buffer and returns its Lsn. Never does I/O, so it is cheap to call while the
    /// caller holds its own lock (WAL order is then the caller's order).
    pub fn append(&self, record: &[u8]) -> Result<Lsn> {
        self.writer.append(record)
    }

    /// Blocks until the record ending at `lsn` is written and fsynced (PerBatch); returns `Err`
    /// if the write or fsync that covered it failed. Under Interval it returns at once (`Err`
    /// only for a failure already known).
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        self.writer.wait_durable(lsn)
    }

    /// Writes and fsyncs whatever is buffered and stops the flusher thread. Also done on drop
    /// (best effort, errors logged).
    pub fn close(self) -> Result<()> {
        self.writer.close()
    }

    /// Asks for a new segment to start after every record appended so far and returns a
    /// ticket for [`Wal::wait_rolled`]. Never does I/O, so the caller can hold the lock that
    /// orders its appends, making the boundary match a consistent view of its own state.
    pub fn request_roll(&self) -> RollTicket {
        self.writer.request_roll()
    }

    /// Waits for the roll of `ticket`; returns the first segment after its boundary. Every
    /// record appended before the request is in an earlier segment, so a checkpoint of them
    /// can replace those segments ([`Wal::checkpoint`]). A request made after another was
    /// served gets a later segment, so two checkpoints never share an index.
    pub fn wait_rolled(&self, ticket: RollTicket) -> Result<u32> {
        self.writer.wait_rolled(ticket)
    }

    /// Durably stores `records` as a checkpoint standing for every segment below `first_kept`,
    /// then deletes those segments. On the next open the checkpoint's records are replayed
    /// first, then the segments from `first_kept` on. Returns the checkpoint's size in bytes.
    pub fn checkpoint(
        &self,
        first_kept: u32,
        records: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<u64> {
        let current = self.stats().current_segment;
        if first_kept > current {
            return Err(Error::CheckpointPastLog { first_kept, current });
        }
        checkpoint::write(&self.dir, first_kept, records)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WalStats {
        self.writer.stats()
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).field("stats", &self.stats()).finish()
    }
}

/// Takes an exclusive lock on `dir/LOCK`; two writers interleaving appends would corrupt the log.
/// The lock is released when the returned file is closed, including when the process dies.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Lock { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(TryLockError::Error(source)) => Err(Error::Lock { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn small_segments() -> WalOptions {
        WalOptions { segment_size: 64, ..WalOptions::default() }
    }

    fn open_collect(dir: &Path, options: WalOptions) -> (Wal, Vec<Vec<u8>>, ReplayReport) {
        let mut records = Vec::new();
        let (wal, report) = Wal::open(dir, options, |record| records.push(record.to_vec())).expect("open");
        (wal, records, report)
    }

    fn record(i: usize) -> Vec<u8> {
        format!("record-{i:04}").into_bytes()
    }

    #[test]
    fn round_trip_across_segments_and_continue_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, replayed, report) = open_collect(dir.path(), small_segments());
        assert!(replayed.is_empty());
        assert_eq!(report, ReplayReport::default());

        let mut lsn = 0;
        for i in 0..20 {
            let next = wal.append(&record(i)).expect("append");
            assert_eq!(next, lsn + 19, "lsn is the end of the frame in the byte stream");
            lsn = next;
        }
        wal.wait_durable(lsn).expect("durable");
        let stats = wal.stats();
        assert_eq!(stats.records_written, 20);
        assert_eq!(stats.bytes_written, 20 * 19);
        assert!(stats.segments >= 6, "64-byte segments hold 3 records: {stats:?}");
        assert_eq!(stats.segments, stats.current_segment + 1);
        wal.close().expect("close");

        let listed = segment::list_segments(dir.path()).expect("list");
        assert_eq!(listed, (0..7).collect::<Vec<_>>());
        let (wal, replayed, report) = open_collect(dir.path(), small_segments());
        assert_eq!(replayed, (0..20).map(record).collect::<Vec<_>>());
        assert_eq!((report.records, report.bytes, report.segments), (20, 380, 7));
        assert_eq!(report.truncation, None);

        let lsn = wal.append(&record(20)).expect("append after reopen");
        assert_eq!(lsn, 380 + 19, "lsns continue from the replayed length");
        wal.wait_durable(lsn).expect("durable");
        drop(wal);
        let (_wal, replayed, _) = open_collect(dir.path(), small_segments());
        assert_eq!(replayed, (0..21).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn record_larger_than_a_segment_gets_its_own_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), small_segments());
        wal.append(b"small").expect("append");
        let big = vec![7u8; 200];
        let lsn = wal.append(&big).expect("append");
        wal.append(b"after").expect("append");
        wal.wait_durable(lsn + 13).expect("durable");
        wal.close().expect("close");
        let (_wal, replayed, report) = open_collect(dir.path(), small_segments());
        assert_eq!(replayed, vec![b"small".to_vec(), big, b"after".to_vec()]);
        assert_eq!(report.segments, 3);
    }

    #[test]
    fn a_checkpoint_stands_for_the_segments_before_a_roll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        for i in 0..5 {
            wal.append(&record(i)).expect("append");
        }
        // Records 0..5 end up before the boundary, whatever the flusher was doing.
        let ticket = wal.request_roll();
        let lsn = wal.append(&record(5)).expect("append");
        let first_kept = wal.wait_rolled(ticket).expect("rolled");
        assert_eq!(first_kept, 1);
        wal.wait_durable(lsn).expect("durable");
        // The checkpoint restates 0..5 more compactly: here, as one record.
        let summary = b"records 0..5".as_slice();
        wal.checkpoint(first_kept, [summary]).expect("checkpoint");
        assert_eq!(segment::list_segments(dir.path()).expect("list"), vec![1]);
        assert!(matches!(wal.checkpoint(7, [summary]), Err(Error::CheckpointPastLog { .. })));
        wal.close().expect("close");

        let (wal, replayed, report) = open_collect(dir.path(), WalOptions::default());
        assert_eq!(replayed, vec![summary.to_vec(), record(5)]);
        assert_eq!((report.checkpoint, report.records), (Some(1), 2));
        assert_eq!(wal.wait_rolled(wal.request_roll()).expect("rolled"), 2);
        // Each roll gets a segment of its own, even with nothing new since the last one.
        assert_eq!(wal.wait_rolled(wal.request_roll()).expect("rolled"), 3);
    }

    #[test]
    fn a_checkpoint_of_an_empty_log_starts_the_log_at_its_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        wal.append(&record(0)).expect("append");
        let first_kept = wal.wait_rolled(wal.request_roll()).expect("rolled");
        wal.checkpoint(first_kept, [b"state".as_slice()]).expect("checkpoint");
        wal.close().expect("close");
        // The segment after the roll never got a record; lose it as a crash might.
        std::fs::remove_file(segment::segment_path(dir.path(), first_kept)).expect("remove");
        let (wal, replayed, _) = open_collect(dir.path(), WalOptions::default());
        assert_eq!(replayed, vec![b"state".to_vec()]);
        wal.wait_durable(wal.append(&record(1)).expect("append")).expect("durable");
        assert_eq!(segment::list_segments(dir.path()).expect("list"), vec![first_kept]);
    }

    #[test]
    fn invalid_records_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        assert!(matches!(wal.append(b""), Err(Error::EmptyRecord)));
        let lsn = wal.append(b"x").expect("append");
        assert!(matches!(wal.wait_durable(lsn + 1), Err(Error::LsnNotAppended { .. })));
        wal.wait_durable(0).expect("lsn 0 is trivially durable");
    }

    #[test]
    fn oversized_record_is_rejected_before_copying() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        // Only the length is inspected, so a zeroed allocation of that size stays untouched.
        let huge = vec![0u8; segment::MAX_RECORD_LEN as usize + 1];
        assert!(matches!(wal.append(&huge), Err(Error::RecordTooLarge { .. })));
    }

    #[test]
    fn second_writer_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        let second = Wal::open(dir.path(), WalOptions::default(), |_| {});
        assert!(matches!(second, Err(Error::Locked { .. })));
        wal.close().expect("close");
        let (_wal, _, _) = open_collect(dir.path(), WalOptions::default());
    }

    #[test]
    fn close_then_reopen_sees_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("shard-0").join("wal");
        let (wal, _, _) = open_collect(&nested, WalOptions::default());
        assert_eq!(wal.dir(), nested);
        for i in 0..100 {
            wal.append(&record(i)).expect("append");
        }
        // No wait_durable: close alone must flush.
        wal.close().expect("close");
        let (_wal, replayed, report) = open_collect(&nested, WalOptions::default());
        assert_eq!(replayed, (0..100).map(record).collect::<Vec<_>>());
        assert_eq!(report.segments, 1);
    }

    #[test]
    fn drop_flushes_like_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open_collect(dir.path(), WalOptions::default());
        wal.append(b"kept").expect("append");
        drop(wal);
        let (_wal, replayed, _) = open_collect(dir.path(), WalOptions::default());
        assert_eq!(replayed, vec![b"kept".to_vec()]);
    }

    #[test]
    fn interval_policy_acknowledges_at_once_and_flushes_on_the_tick() {
        let dir = tempfile::tempdir().expect("tempdir");
        let observed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let observer_bytes = Arc::clone(&observed);
        let options = WalOptions {
            sync: SyncPolicy::Interval(Duration::from_millis(10)),
            fsync_observer: Some(Arc::new(move |_, bytes| {
                observer_bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            })),
            ..WalOptions::default()
        };
        let (wal, _, _) = open_collect(dir.path(), options.clone());
        let mut lsn = 0;
        for i in 0..10 {
            lsn = wal.append(&record(i)).expect("append");
            wal.wait_durable(lsn).expect("returns at once");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while wal.stats().flushed_lsn < lsn {
            assert!(std::time::Instant::now() < deadline, "interval flush never ran");
            std::thread::sleep(Duration::from_millis(2));
        }
        let stats = wal.stats();
        assert!(stats.fsyncs >= 1);
        assert_eq!(stats.bytes_written, lsn);
        assert_eq!(
            observed.load(std::sync::atomic::Ordering::Relaxed),
            lsn,
            "the observer sees every durable byte"
        );
        wal.append(&record(10)).expect("append");
        wal.close().expect("close flushes the rest");
        let (_wal, replayed, _) = open_collect(dir.path(), options);
        assert_eq!(replayed, (0..11).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn wal_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Wal>();
    }

    #[test]
    fn other_files_in_the_directory_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("checkpoint.json"), b"{}").expect("write");
        let (wal, _, _) = open_collect(dir.path(), small_segments());
        wal.append(b"a").expect("append");
        wal.close().expect("close");
        let (_wal, replayed, _) = open_collect(dir.path(), small_segments());
        assert_eq!(replayed, vec![b"a".to_vec()]);
        assert!(dir.path().join("checkpoint.json").exists());
    }
}
