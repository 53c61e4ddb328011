//! The on-disk queue of one output: encoded remote-write requests waiting to be sent, in a
//! write-ahead log (`argus_wal`), so that an output down for an hour, and an agent restarted
//! meanwhile, lose nothing.
//!
//! - [`DiskQueue::push`] appends a request and returns once it is fsynced; when the queue holds
//!   `max_bytes` it waits for room first, which holds the scrapers back (backpressure).
//! - [`DiskQueue::next`] reads requests in order from the segment files, from a cursor
//!   `(segment, offset)`, waiting for more when it has read everything, and for the log to
//!   report a request durable before it hands it out.
//! - [`DiskQueue::ack`] moves the cursor past a request the output accepted, writes it to the
//!   `cursor` file (temp file, fsync, rename) and deletes the segments wholly behind it. After a
//!   crash, sending resumes at the last acknowledged request: at most the requests in flight are
//!   sent twice, never lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use argus_wal::segment::{decode_record, list_segments, segment_path};
use argus_wal::{Wal, WalOptions};
use parking_lot::Mutex;
use tokio::sync::Notify;

const CURSOR_FILE: &str = "cursor";

/// Where the next unsent request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u32,
    pub offset: u64,
}

pub struct DiskQueue {
    dir: PathBuf,
    wal: Wal,
    max_bytes: u64,
    /// Bytes appended and not yet acknowledged (framing included).
    pending_bytes: AtomicU64,
    cursor: Mutex<Position>,
    /// Signalled when a request is appended.
    appended: Notify,
    /// Signalled when an acknowledgement frees room.
    freed: Notify,
    /// The newest request found on open.
    last_on_open: Option<Vec<u8>>,
    /// Where the log ended on open. Requests from there on were pushed since, and are read only
    /// once the log reports them durable: one sent before its fsync and lost in a crash would
    /// leave the cursor past the end of what survived.
    end_on_open: Position,
    /// Requests from `end_on_open` on that `next` returned.
    pushed_read: AtomicU64,
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`; what was queued and not acknowledged is sent
    /// again.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<DiskQueue, String> {
        let wal_dir = dir.join("wal");
        // Segments of an eighth of the queue (1–16 MiB): sent ones are deleted whole.
        let segment_size = (max_bytes / 8).clamp(1 << 20, 16 << 20);
        let options = WalOptions { segment_size, ..WalOptions::default() };
        let mut last_on_open = None;
        let (wal, _) = Wal::open(&wal_dir, options, |record| last_on_open = Some(record.to_vec()))
            .map_err(|e| format!("opening queue {}: {e}", dir.display()))?;
        let segments = list_segments(&wal_dir).map_err(|e| e.to_string())?;
        let first = segments.first().copied().unwrap_or(0);
        let last = segments.last().copied().unwrap_or(0);
        let mut cursor = read_cursor(dir).unwrap_or(Position { segment: first, offset: 0 });
        if cursor.segment < first {
            cursor = Position { segment: first, offset: 0 };
        }
        // A cursor past what survived (a repaired tail) resumes at the end of the log.
        let last_len = std::fs::metadata(segment_path(&wal_dir, last)).map_or(0, |m| m.len());
        let end_on_open = Position { segment: last, offset: last_len };
        cursor = cursor.min(end_on_open);
        let pending = pending_bytes(&wal_dir, &segments, cursor);
        Ok(DiskQueue {
            dir: dir.to_path_buf(),
            wal,
            max_bytes,
            pending_bytes: AtomicU64::new(pending),
            cursor: Mutex::new(cursor),
            appended: Notify::new(),
            freed: Notify::new(),
            last_on_open,
            end_on_open,
            pushed_read: AtomicU64::new(0),
        })
    }

    /// The newest request the queue held when it was opened, sent or not: what was being
    /// queued last before a restart.
    pub fn last_on_open(&self) -> Option<&[u8]> {
        self.last_on_open.as_deref()
    }

    /// Bytes waiting to be sent.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Acquire)
    }

    /// Queues `request` durably, first waiting while the queue is full.
    pub async fn push(&self, request: &[u8]) -> Result<(), String> {
        loop {
            let freed = self.freed.notified();
            if self.pending_bytes() < self.max_bytes {
                break;
            }
            freed.await;
        }
        let lsn = self.wal.append(request).map_err(|e| e.to_string())?;
        self.pending_bytes.fetch_add(argus_wal::segment::frame_len(request.len()) as u64, Ordering::AcqRel);
        let wal = &self.wal;
        tokio::task::block_in_place(|| wal.wait_durable(lsn)).map_err(|e| e.to_string())?;
        self.appended.notify_waiters();
        Ok(())
    }

    /// The next request after `from` and the position after it, waiting until there is one.
    pub async fn next(&self, from: Position) -> (Vec<u8>, Position) {
        let mut at = from;
        loop {
            let appended = self.appended.notified();
            match self.read_at(at) {
                Read::Record(request, next) if self.take_if_durable(at) => return (request, next),
                Read::NextSegment => at = Position { segment: at.segment + 1, offset: 0 },
                Read::Record(..) | Read::Wait => {
                    // Bounded, in case a notification raced with the read.
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), appended).await;
                }
            }
        }
    }

    /// Whether the request at `at` may be sent, counting it as read if it was pushed since open.
    fn take_if_durable(&self, at: Position) -> bool {
        if at < self.end_on_open {
            return true;
        }
        let durable = self.wal.stats().records_written;
        self.pushed_read
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |read| (read < durable).then_some(read + 1))
            .is_ok()
    }

    /// Where sending resumes: the first unacknowledged request.
    pub fn cursor(&self) -> Position {
        *self.cursor.lock()
    }

    /// Records that the request of `request_len` bytes ending at `next` was sent: the cursor
    /// moves there durably, and segments wholly before it are deleted.
    pub fn ack(&self, next: Position, request_len: usize) -> Result<(), String> {
        let previous = std::mem::replace(&mut *self.cursor.lock(), next);
        write_cursor(&self.dir, next).map_err(|e| format!("writing queue cursor: {e}"))?;
        let bytes = argus_wal::segment::frame_len(request_len) as u64;
        self.pending_bytes.fetch_sub(bytes.min(self.pending_bytes()), Ordering::AcqRel);
        if next.segment > previous.segment {
            self.wal.checkpoint(next.segment, std::iter::empty::<&[u8]>()).map_err(|e| e.to_string())?;
        }
        self.freed.notify_waiters();
        Ok(())
    }

    fn read_at(&self, at: Position) -> Read {
        // Whether a later segment exists is known before reading: records written to this
        // segment after the read are then still found by the next read, not skipped.
        let later = self.wal.stats().current_segment > at.segment;
        if let Some(frame) = read_frame(&segment_path(&self.dir.join("wal"), at.segment), at.offset)
            && let Ok(Some((payload, len))) = decode_record(&frame)
        {
            return Read::Record(
                payload.to_vec(),
                Position { segment: at.segment, offset: at.offset + len as u64 },
            );
        }
        // Nothing (complete) here: the segment is finished if a later one existed before.
        if later { Read::NextSegment } else { Read::Wait }
    }
}

/// The bytes of the record framed at `offset` in a segment file (header and payload), or
/// `None` when the file ends before a whole frame.
fn read_frame(path: &Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read as _, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut header = [0u8; argus_wal::segment::HEADER_LEN];
    file.read_exact(&mut header).ok()?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    if len > argus_wal::segment::MAX_RECORD_LEN as usize {
        return None;
    }
    let mut frame = header.to_vec();
    frame.resize(header.len() + len, 0);
    file.read_exact(&mut frame[header.len()..]).ok()?;
    Some(frame)
}

enum Read {
    Record(Vec<u8>, Position),
    NextSegment,
    Wait,
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(dir.join(CURSOR_FILE)).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some(Position { segment: segment.parse().ok()?, offset: offset.parse().ok()? })
}

fn write_cursor(dir: &Path, position: Position) -> std::io::Result<()> {
    super::write_durably(
        &dir.join(CURSOR_FILE),
        format!("{} {}\n", position.segment, position.offset).as_bytes(),
    )
}

/// Bytes of the segments from `cursor` on.
fn pending_bytes(wal_dir: &Path, segments: &[u32], cursor: Position) -> u64 {
    segments
        .iter()
        .filter(|&&s| s >= cursor.segment)
        .filter_map(|&s| std::fs::metadata(segment_path(wal_dir, s)).ok().map(|m| (s, m.len())))
        .map(|(s, len)| if s == cursor.segment { len.saturating_sub(cursor.offset) } else { len })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn requests_come_out_in_order_and_unacknowledged_ones_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let queue = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for i in 0..5u8 {
                queue.push(&[i; 100]).await.unwrap();
            }
            let (first, after_first) = queue.next(queue.cursor()).await;
            assert_eq!(first, vec![0; 100]);
            queue.ack(after_first, 100).unwrap();
            let (second, _) = queue.next(after_first).await;
            assert_eq!(second, vec![1; 100], "sent but not acknowledged");
            assert_eq!(queue.pending_bytes(), 4 * 108);
        });
        runtime().block_on(async {
            let queue = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            let mut at = queue.cursor();
            for i in 1..5u8 {
                let (request, next) = queue.next(at).await;
                assert_eq!(request, vec![i; 100], "resumes at the first unacknowledged request");
                queue.ack(next, request.len()).unwrap();
                at = next;
            }
            assert_eq!(queue.pending_bytes(), 0);
        });
    }

    #[test]
    fn a_request_the_log_has_not_made_durable_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let queue = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            queue.push(&[1; 100]).await.unwrap();
            // A frame in the segment file that the log never reported durable: what a reader
            // could see between a write and its fsync.
            let segment = segment_path(&dir.path().join("wal"), queue.wal.stats().current_segment);
            let mut frame = Vec::new();
            argus_wal::segment::encode_record(&[2; 100], &mut frame);
            std::fs::OpenOptions::new().append(true).open(segment).unwrap().write_all(&frame).unwrap();
            let (first, next) = queue.next(queue.cursor()).await;
            assert_eq!(first, vec![1; 100]);
            let unsynced = tokio::time::timeout(std::time::Duration::from_secs(1), queue.next(next)).await;
            assert!(unsynced.is_err(), "not sent before the log says it is durable");
        });
    }

    #[test]
    fn a_full_queue_holds_writers_until_an_ack_frees_room() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let queue = std::sync::Arc::new(DiskQueue::open(dir.path(), 250).unwrap());
            queue.push(&[1; 100]).await.unwrap();
            queue.push(&[2; 100]).await.unwrap();
            queue.push(&[3; 100]).await.unwrap();
            let writer = {
                let queue = queue.clone();
                tokio::spawn(async move { queue.push(&[4; 100]).await })
            };
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            assert!(!writer.is_finished(), "the queue is over its size: the writer waits");
            let (request, next) = queue.next(queue.cursor()).await;
            queue.ack(next, request.len()).unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), writer).await.unwrap().unwrap().unwrap();
        });
    }

    #[test]
    fn reading_crosses_segments_and_deletes_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            // 1 MiB segments: 3 requests of 400 KiB span two segments.
            let queue = DiskQueue::open(dir.path(), 8 << 20).unwrap();
            for i in 0..3u8 {
                queue.push(&vec![i; 400 << 10]).await.unwrap();
            }
            let mut at = queue.cursor();
            for i in 0..3u8 {
                let (request, next) = queue.next(at).await;
                assert_eq!(request[0], i);
                queue.ack(next, request.len()).unwrap();
                at = next;
            }
            assert!(at.segment >= 1, "{at:?}");
            let segments = list_segments(&dir.path().join("wal")).unwrap();
            assert!(segments.iter().all(|&s| s >= at.segment), "sent segments deleted: {segments:?}");
        });
    }
}
