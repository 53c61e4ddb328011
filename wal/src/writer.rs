//! The append path: a shared buffer filled by `append`, drained by one flusher thread per WAL.
//!
//! `append` frames a record into the buffer under a short mutex and returns its Lsn; it never
//! touches the disk, so callers may hold their own locks around it and rely on WAL order being
//! their order. The flusher swaps the buffer for an empty spare (double buffering, so steady
//! state allocates nothing), writes it to the current segment, fdatasyncs, and wakes the waiters.
//! Whatever is appended while an fsync runs goes out together in the next round: that is the
//! group commit, and it is why N concurrent writers need far fewer than N fsyncs.
//!
//! Failure model: a failed write, fsync or segment creation fails exactly the records of the
//! batch not yet made durable; their waiters get a retryable [`Error::Write`]. The segment is then
//! cut back to its last fsynced length so later records never follow garbage. If even that fails
//! the writer is *broken*: every later append is refused until the WAL is reopened (and replay
//! repairs the tail). Lsns of failed records are not reused, so after a failure an Lsn is a
//! logical position, not a file offset.
//!
//! Not here: reading (see `replay`), or deciding what a record means.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::options::{FsyncObserver, SyncPolicy, WalOptions};
use crate::segment::{self, MAX_RECORD_LEN};

/// Position of the end of a record in the log's total byte stream.
pub type Lsn = u64;

/// Under [`SyncPolicy::Interval`], a buffer this large is flushed without waiting for the tick,
/// which bounds memory when appends outrun the interval.
const EARLY_FLUSH_BYTES: usize = 4 * 1024 * 1024;

/// A spare buffer above this capacity is shrunk after a burst, so one huge batch does not pin
/// its memory for the life of the WAL.
const RETAINED_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Failed Lsn ranges remembered for late `wait_durable` calls. Adjacent failures merge, so this
/// only overflows under many separate failures, and by then the caller has long been told.
const MAX_REMEMBERED_FAILURES: usize = 1024;

/// The highest index an 8-digit segment name can hold.
const MAX_SEGMENT_INDEX: u32 = 99_999_999;

/// A snapshot of the WAL's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes written to segments and fsynced since open (framing included).
    pub bytes_written: u64,
    /// Records written to segments and fsynced since open.
    pub records_written: u64,
    /// Successful segment fsyncs since open (directory fsyncs are not counted).
    pub fsyncs: u64,
    /// Batches that failed to be written or fsynced since open.
    pub write_errors: u64,
    /// Segment files the log consists of.
    pub segments: u32,
    /// Index of the segment receiving appends.
    pub current_segment: u32,
    /// Lsn of the last appended record.
    pub appended_lsn: Lsn,
    /// Every record ending at or before this Lsn has been written and fsynced, or has failed.
    pub flushed_lsn: Lsn,
}

/// Names one `request_roll` call; tickets increase.
pub type RollTicket = u64;

/// Owns the flusher thread; dropping it flushes and stops the thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<Result<()>>>,
}

/// What `append`, `wait_durable` and the flusher share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the flusher: data to write (PerBatch), a full buffer (Interval), or close.
    work: Condvar,
    /// Wakes `wait_durable` callers after each round.
    durable: Condvar,
    policy: SyncPolicy,
    counters: Counters,
    #[cfg(test)]
    faults: Arc<Faults>,
}

struct State {
    /// Framed records not yet taken by the flusher.
    buf: Vec<u8>,
    /// How many records `buf` holds.
    buf_records: u64,
    appended_lsn: Lsn,
    /// Every record ending at or before this is settled: durable, or listed in `failures`.
    flushed_lsn: Lsn,
    /// Lsn ranges whose records failed, ascending and disjoint.
    failures: VecDeque<FailedRange>,
    broken: Option<Failure>,
    closing: bool,
    flusher_stopped: bool,
    /// A requested segment boundary: records ending at or before this Lsn go in segments
    /// before the next one started; with the newest ticket asking for it.
    roll_at: Option<(Lsn, RollTicket)>,
    /// Tickets handed out by `request_roll`.
    roll_tickets: RollTicket,
    /// The newest ticket served, and the first segment after its boundary (or why the roll
    /// failed).
    rolled: Option<(RollTicket, Result<u32, Failure>)>,
}

/// Records ending in `(start, end]` failed with `failure`.
struct FailedRange {
    start: Lsn,
    end: Lsn,
    failure: Failure,
}

/// A failure remembered so each affected waiter can get its own [`Error`].
#[derive(Debug, Clone)]
enum Failure {
    Write { op: &'static str, segment: u32, offset: u64, source: Arc<io::Error> },
    Broken { segment: u32, offset: u64, source: Arc<io::Error> },
}

impl Failure {
    fn to_error(&self) -> Error {
        match self.clone() {
            Failure::Write { op, segment, offset, source } => Error::Write { op, segment, offset, source },
            Failure::Broken { segment, offset, source } => Error::Broken { segment, offset, source },
        }
    }
}

#[derive(Default)]
struct Counters {
    bytes_written: AtomicU64,
    records_written: AtomicU64,
    fsyncs: AtomicU64,
    write_errors: AtomicU64,
    segments: AtomicU32,
    current_segment: AtomicU32,
    appended_lsn: AtomicU64,
    flushed_lsn: AtomicU64,
}

impl Writer {
    /// Starts the flusher on `segment`, with Lsns continuing from `start_lsn` and the log
    /// holding `segments` segment files.
    pub(crate) fn start(
        segment: ActiveSegment,
        options: &WalOptions,
        start_lsn: Lsn,
        segments: u32,
    ) -> Result<Writer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(start_lsn)),
            work: Condvar::new(),
            durable: Condvar::new(),
            policy: options.sync,
            counters: Counters::default(),
            #[cfg(test)]
            faults: Arc::clone(&segment.faults),
        });
        shared.counters.segments.store(segments, Ordering::Relaxed);
        shared.counters.current_segment.store(segment.index, Ordering::Release);
        shared.counters.appended_lsn.store(start_lsn, Ordering::Relaxed);
        shared.counters.flushed_lsn.store(start_lsn, Ordering::Relaxed);

        let flusher = Flusher {
            shared: Arc::clone(&shared),
            segment,
            segment_size: options.segment_size,
            observer: options.fsync_observer.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("argus-wal-flusher".to_owned())
            .spawn(move || flusher.run())
            .map_err(|source| Error::SpawnFlusher { source })?;
        Ok(Writer { shared, flusher: Some(handle) })
    }

    pub(crate) fn append(&self, record: &[u8]) -> Result<Lsn> {
        if record.is_empty() {
            return Err(Error::EmptyRecord);
        }
        if record.len() > MAX_RECORD_LEN as usize {
            return Err(Error::RecordTooLarge { len: record.len(), max: MAX_RECORD_LEN });
        }
        // Checksumming before taking the lock keeps the critical section to a memcpy.
        let header = segment::frame_header(record);
        let mut state = self.shared.state.lock();
        if let Some(broken) = &state.broken {
            return Err(broken.to_error());
        }
        if state.flusher_stopped {
            return Err(Error::FlusherStopped);
        }
        state.buf.extend_from_slice(&header);
        state.buf.extend_from_slice(record);
        state.buf_records += 1;
        state.appended_lsn += segment::frame_len(record.len()) as u64;
        let lsn = state.appended_lsn;
        // Published under the lock so a stats snapshot never shows flushed ahead of appended.
        self.shared.counters.appended_lsn.store(lsn, Ordering::Relaxed);
        let wake_flusher = match self.shared.policy {
            SyncPolicy::PerBatch => true,
            SyncPolicy::Interval(_) => state.buf.len() >= EARLY_FLUSH_BYTES,
        };
        drop(state);
        if wake_flusher {
            self.shared.work.notify_one();
        }
        Ok(lsn)
    }

    pub(crate) fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        let mut state = self.shared.state.lock();
        if lsn > state.appended_lsn {
            return Err(Error::LsnNotAppended { lsn, last: state.appended_lsn });
        }
        if let SyncPolicy::Interval(_) = self.shared.policy {
            return state.outcome_without_waiting(lsn);
        }
        loop {
            if lsn <= state.flushed_lsn {
                return match state.failure_covering(lsn) {
                    Some(failure) => Err(failure.to_error()),
                    None => Ok(()),
                };
            }
            if state.flusher_stopped {
                return Err(Error::FlusherStopped);
            }
            self.shared.durable.wait(&mut state);
        }
    }

    /// Asks the flusher to start a new segment after every record appended so far; returns the
    /// ticket to pass to [`Writer::wait_rolled`]. Cheap: callers may hold their own lock.
    pub(crate) fn request_roll(&self) -> RollTicket {
        let mut state = self.shared.state.lock();
        state.roll_tickets += 1;
        let ticket = state.roll_tickets;
        // A pending request is widened: its boundary only moves later, which keeps its promise.
        state.roll_at = Some((state.appended_lsn, ticket));
        drop(state);
        self.shared.work.notify_one();
        ticket
    }

    /// Waits until the roll of `ticket` happened and returns the first segment after its
    /// boundary: every record appended before the request is in an earlier segment. Requests
    /// made while one is pending share its roll; a request made after a roll was served gets a
    /// later segment.
    pub(crate) fn wait_rolled(&self, ticket: RollTicket) -> Result<u32> {
        let mut state = self.shared.state.lock();
        loop {
            if let Some((served, outcome)) = &state.rolled
                && *served >= ticket
            {
                return outcome.clone().map_err(|failure| failure.to_error());
            }
            if state.flusher_stopped {
                return Err(Error::FlusherStopped);
            }
            self.shared.durable.wait(&mut state);
        }
    }

    pub(crate) fn stats(&self) -> WalStats {
        let counters = &self.shared.counters;
        WalStats {
            bytes_written: counters.bytes_written.load(Ordering::Relaxed),
            records_written: counters.records_written.load(Ordering::Relaxed),
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
            write_errors: counters.write_errors.load(Ordering::Relaxed),
            segments: counters.segments.load(Ordering::Relaxed),
            current_segment: counters.current_segment.load(Ordering::Acquire),
            appended_lsn: counters.appended_lsn.load(Ordering::Relaxed),
            flushed_lsn: counters.flushed_lsn.load(Ordering::Relaxed),
        }
    }

    /// Flushes what is buffered, stops the flusher, and reports the last round's outcome.
    pub(crate) fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(handle) = self.flusher.take() else {
            return Ok(());
        };
        self.shared.state.lock().closing = true;
        self.shared.work.notify_one();
        handle.join().unwrap_or(Err(Error::FlusherStopped))
    }

    #[cfg(test)]
    pub(crate) fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "closing wal on drop failed; unflushed records may be lost");
        }
    }
}

impl State {
    fn new(start_lsn: Lsn) -> Self {
        State {
            buf: Vec::new(),
            buf_records: 0,
            appended_lsn: start_lsn,
            flushed_lsn: start_lsn,
            failures: VecDeque::new(),
            broken: None,
            closing: false,
            flusher_stopped: false,
            roll_at: None,
            roll_tickets: 0,
            rolled: None,
        }
    }

    /// Under `Interval`, `wait_durable` does not wait, but still reports what is already known.
    fn outcome_without_waiting(&self, lsn: Lsn) -> Result<()> {
        if let Some(failure) = self.failure_covering(lsn) {
            return Err(failure.to_error());
        }
        match &self.broken {
            Some(broken) => Err(broken.to_error()),
            None => Ok(()),
        }
    }

    fn failure_covering(&self, lsn: Lsn) -> Option<&Failure> {
        // Recent failures are the likely match, so search from the back.
        self.failures
            .iter()
            .rev()
            .take_while(|range| range.end >= lsn)
            .find(|range| range.start < lsn)
            .map(|range| &range.failure)
    }

    fn remember_failure(&mut self, start: Lsn, end: Lsn, failure: Failure) {
        if let Some(last) = self.failures.back_mut()
            && last.end == start
        {
            last.end = end;
            return;
        }
        if self.failures.len() == MAX_REMEMBERED_FAILURES {
            self.failures.pop_front();
        }
        self.failures.push_back(FailedRange { start, end, failure });
    }
}

/// The segment file receiving writes. Only the flusher thread touches it.
pub(crate) struct ActiveSegment {
    dir: PathBuf,
    index: u32,
    file: File,
    /// Bytes written and fsynced: the last good offset, where the next write goes.
    len: u64,
    /// The segment was just created and its directory entry is not yet durable.
    dir_sync_pending: bool,
    #[cfg(test)]
    faults: Arc<Faults>,
}

impl ActiveSegment {
    /// Reopens an existing segment (already repaired to `len` bytes) for appending.
    pub(crate) fn open(dir: &Path, index: u32, len: u64) -> Result<ActiveSegment> {
        let path = segment::segment_path(dir, index);
        let open_error = |source| Error::OpenSegment { path: path.clone(), source };
        let mut file = OpenOptions::new().write(true).open(&path).map_err(open_error)?;
        file.seek(SeekFrom::Start(len)).map_err(open_error)?;
        Ok(ActiveSegment::new(dir, index, file, len, false))
    }

    /// Creates segment `index` for a new log, making its directory entry durable before
    /// returning.
    pub(crate) fn create(dir: &Path, index: u32) -> Result<ActiveSegment> {
        let path = segment::segment_path(dir, index);
        let file =
            create_segment_file(&path).map_err(|source| Error::OpenSegment { path: path.clone(), source })?;
        crate::replay::sync_dir(dir)?;
        Ok(ActiveSegment::new(dir, index, file, 0, false))
    }

    fn new(dir: &Path, index: u32, file: File, len: u64, dir_sync_pending: bool) -> Self {
        ActiveSegment {
            dir: dir.to_path_buf(),
            index,
            file,
            len,
            dir_sync_pending,
            #[cfg(test)]
            faults: Arc::default(),
        }
    }

    /// Room left before `segment_size`.
    fn room(&self, segment_size: u64) -> usize {
        usize::try_from(segment_size.saturating_sub(self.len)).unwrap_or(usize::MAX)
    }

    /// Writes `chunk` at the last good offset and makes it durable. `len` advances only when
    /// everything succeeded, so on error it still names the offset to cut back to.
    fn write_durably(&mut self, chunk: &[u8], observer: Option<&FsyncObserver>) -> Result<(), Failure> {
        if self.dir_sync_pending {
            self.sync_dir().map_err(|source| self.failure("directory fsync", source))?;
            self.dir_sync_pending = false;
        }
        self.write_all(chunk).map_err(|source| self.failure("write", source))?;
        let started = Instant::now();
        self.sync_data().map_err(|source| self.failure("fsync", source))?;
        let elapsed = started.elapsed();
        self.len += chunk.len() as u64;
        if let Some(observer) = observer {
            observer(elapsed, chunk.len() as u64);
        }
        Ok(())
    }

    /// Closes this segment and starts the next one. The new segment's directory entry is made
    /// durable with its first write.
    fn roll(&mut self) -> Result<(), Failure> {
        let next = self.index + 1;
        let failure = |source: io::Error| Failure::Write {
            op: "segment creation",
            segment: next,
            offset: 0,
            source: Arc::new(source),
        };
        if next > MAX_SEGMENT_INDEX {
            return Err(failure(io::Error::other("segment index space exhausted")));
        }
        let file = self.create_file(&segment::segment_path(&self.dir, next)).map_err(failure)?;
        self.file = file;
        self.index = next;
        self.len = 0;
        self.dir_sync_pending = true;
        Ok(())
    }

    /// Removes whatever a failed write may have left past the last good offset, so the next
    /// record follows intact data. On failure the writer must stop: it no longer knows where
    /// good data ends.
    fn cut_back(&mut self) -> Result<(), Failure> {
        let offset = self.len;
        self.truncate_to(offset).map_err(|source| Failure::Broken {
            segment: self.index,
            offset,
            source: Arc::new(source),
        })
    }

    fn failure(&self, op: &'static str, source: io::Error) -> Failure {
        Failure::Write { op, segment: self.index, offset: self.len, source: Arc::new(source) }
    }

    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.writes.take() {
            // A realistic failure leaves part of the data behind.
            self.file.write_all(&chunk[..chunk.len() / 2])?;
            return Err(io::Error::other("injected write failure"));
        }
        self.file.write_all(chunk)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.syncs.take() {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir).and_then(|dir| dir.sync_all())
    }

    fn create_file(&self, path: &Path) -> io::Result<File> {
        #[cfg(test)]
        if self.faults.creates.take() {
            return Err(io::Error::other("injected create failure"));
        }
        create_segment_file(path)
    }

    fn truncate_to(&mut self, offset: u64) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.truncates.take() {
            return Err(io::Error::other("injected truncate failure"));
        }
        self.file.set_len(offset)?;
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.sync_data()
    }
}

fn create_segment_file(path: &Path) -> io::Result<File> {
    // `create_new`: an existing file of that name means our picture of the directory is wrong,
    // and overwriting it could destroy records.
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// The flusher thread's state.
struct Flusher {
    shared: Arc<Shared>,
    segment: ActiveSegment,
    segment_size: u64,
    observer: Option<FsyncObserver>,
}

/// What became of one batch.
struct BatchOutcome {
    /// Leading bytes of the batch that are durable.
    durable_bytes: usize,
    /// Why the rest failed, if it did.
    failure: Option<Failure>,
    /// Set when the segment could not be cut back after the failure.
    broken: Option<Failure>,
}

impl Flusher {
    fn run(mut self) -> Result<()> {
        let _stopped = StopSignal(Arc::clone(&self.shared));
        let mut spare = Vec::new();
        loop {
            let (closing, batch_start, records, broken, roll_at) = self.take_batch(&mut spare);
            let result = match roll_at {
                Some(roll) => self.flush_with_roll(&spare, batch_start, records, broken, roll),
                None if spare.is_empty() => Ok(()),
                None => self.flush(&spare, batch_start, records, broken),
            };
            spare.clear();
            spare.shrink_to(RETAINED_BUFFER_BYTES);
            if closing {
                return result.and_then(|()| self.broken_error());
            }
        }
    }

    /// Waits for work, then swaps the shared buffer with `spare` (which must be empty).
    fn take_batch(
        &self,
        spare: &mut Vec<u8>,
    ) -> (bool, Lsn, u64, Option<Failure>, Option<(Lsn, RollTicket)>) {
        let mut state = self.shared.state.lock();
        self.wait_for_work(&mut state);
        std::mem::swap(&mut state.buf, spare);
        let records = std::mem::take(&mut state.buf_records);
        (state.closing, state.flushed_lsn, records, state.broken.clone(), state.roll_at.take())
    }

    fn wait_for_work(&self, state: &mut MutexGuard<'_, State>) {
        match self.shared.policy {
            SyncPolicy::PerBatch => {
                while state.buf.is_empty() && !state.closing && state.roll_at.is_none() {
                    self.shared.work.wait(state);
                }
            }
            SyncPolicy::Interval(interval) => {
                let deadline = Instant::now() + interval;
                while !state.closing && state.buf.len() < EARLY_FLUSH_BYTES && state.roll_at.is_none() {
                    if self.shared.work.wait_until(state, deadline).timed_out() {
                        break;
                    }
                }
            }
        }
    }

    /// Writes one batch, then settles its Lsns and wakes the waiters. Returns the batch's error
    /// so `close` can report the final round.
    fn flush(&mut self, batch: &[u8], batch_start: Lsn, records: u64, broken: Option<Failure>) -> Result<()> {
        let outcome = match broken {
            Some(broken) => BatchOutcome { durable_bytes: 0, failure: Some(broken), broken: None },
            None => self.write_batch(batch),
        };
        let durable_records = if outcome.failure.is_none() {
            records
        } else {
            segment::split_frames(batch, outcome.durable_bytes).1
        };
        self.count(outcome.durable_bytes, durable_records, outcome.failure.is_some());
        if let Some(failure) = &outcome.failure {
            self.log_failure(failure, outcome.broken.as_ref());
        }
        let result = outcome.failure.as_ref().map_or(Ok(()), |f| Err(f.to_error()));
        self.settle(batch_start, batch.len(), outcome);
        result
    }

    /// Writes the records of `batch` up to the requested `boundary`, starts a new segment,
    /// publishes where the roll landed, and writes the rest.
    fn flush_with_roll(
        &mut self,
        batch: &[u8],
        batch_start: Lsn,
        records: u64,
        broken: Option<Failure>,
        (boundary, ticket): (Lsn, RollTicket),
    ) -> Result<()> {
        // The boundary is a record end, so it splits the batch between two frames.
        let split =
            usize::try_from(boundary.saturating_sub(batch_start)).unwrap_or(usize::MAX).min(batch.len());
        let (before, after) = batch.split_at(split);
        let records_before = segment::split_frames(batch, split).1;
        let mut result = Ok(());
        if !before.is_empty() {
            result = self.flush(before, batch_start, records_before, broken.clone());
        }
        // Even an empty current segment is rolled, so each boundary gets its own segment and a
        // checkpoint for it never collides with an earlier one.
        let outcome = match broken.clone() {
            Some(broken) => Err(broken),
            None => self.segment.roll().map(|()| {
                self.shared.counters.segments.fetch_add(1, Ordering::Relaxed);
                self.shared.counters.current_segment.store(self.segment.index, Ordering::Release);
                self.segment.index
            }),
        };
        let mut state = self.shared.state.lock();
        state.rolled = Some((ticket, outcome));
        drop(state);
        self.shared.durable.notify_all();
        if !after.is_empty() {
            let rest = self.flush(after, batch_start + split as u64, records - records_before, broken);
            result = result.and(rest);
        }
        result
    }

    /// Writes `batch` into as many segments as it needs, rolling at record boundaries.
    fn write_batch(&mut self, batch: &[u8]) -> BatchOutcome {
        let mut done = 0;
        while done < batch.len() {
            let rest = &batch[done..];
            let step = match self.next_chunk(rest) {
                Some(take) => self.segment.write_durably(&rest[..take], self.observer.as_ref()).map(|()| {
                    self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                    take
                }),
                None => self.segment.roll().map(|()| {
                    self.shared.counters.segments.fetch_add(1, Ordering::Relaxed);
                    self.shared.counters.current_segment.store(self.segment.index, Ordering::Relaxed);
                    0
                }),
            };
            match step {
                Ok(written) => done += written,
                Err(failure) => {
                    return BatchOutcome {
                        durable_bytes: done,
                        failure: Some(failure),
                        broken: self.segment.cut_back().err(),
                    };
                }
            }
        }
        BatchOutcome { durable_bytes: done, failure: None, broken: None }
    }

    /// How many leading bytes of `rest` go into the current segment, or `None` if it is full
    /// and the next segment must be started first.
    fn next_chunk(&self, rest: &[u8]) -> Option<usize> {
        let room = self.segment.room(self.segment_size);
        if rest.len() <= room {
            return Some(rest.len());
        }
        let (fits, _) = segment::split_frames(rest, room);
        if fits > 0 {
            Some(fits)
        } else if self.segment.len == 0 {
            // A record larger than a whole segment gets an empty segment to itself.
            Some(first_frame_len(rest))
        } else {
            None
        }
    }

    fn count(&self, bytes: usize, records: u64, failed: bool) {
        let counters = &self.shared.counters;
        counters.bytes_written.fetch_add(bytes as u64, Ordering::Relaxed);
        counters.records_written.fetch_add(records, Ordering::Relaxed);
        if failed {
            counters.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn log_failure(&self, failure: &Failure, broken: Option<&Failure>) {
        let error = failure.to_error();
        let source = match failure {
            Failure::Write { source, .. } | Failure::Broken { source, .. } => source,
        };
        // With PerBatch the waiters are told and will retry; with Interval the records were
        // already acknowledged, so they are lost.
        match self.shared.policy {
            SyncPolicy::PerBatch => tracing::warn!(%error, %source, "wal batch failed"),
            SyncPolicy::Interval(_) => {
                tracing::error!(%error, %source, "wal batch failed; acknowledged records lost")
            }
        }
        if let Some(broken) = broken {
            tracing::error!(error = %broken.to_error(), "wal refuses further appends until reopened");
        }
    }

    /// Publishes the batch's outcome to waiters.
    fn settle(&self, batch_start: Lsn, batch_len: usize, outcome: BatchOutcome) {
        let batch_end = batch_start + batch_len as u64;
        let mut state = self.shared.state.lock();
        if let Some(failure) = outcome.failure {
            let failed_from = batch_start + outcome.durable_bytes as u64;
            state.remember_failure(failed_from, batch_end, failure);
        }
        if let Some(broken) = outcome.broken {
            state.broken = Some(broken);
        }
        state.flushed_lsn = batch_end;
        // Published under the lock: a waiter that sees its record settled must also see it in
        // `stats()`, or a caller could observe durability that the counters deny.
        self.shared.counters.flushed_lsn.store(batch_end, Ordering::Relaxed);
        drop(state);
        self.shared.durable.notify_all();
    }

    fn broken_error(&self) -> Result<()> {
        match &self.shared.state.lock().broken {
            Some(broken) => Err(broken.to_error()),
            None => Ok(()),
        }
    }
}

/// The length of the first frame in `frames`.
fn first_frame_len(frames: &[u8]) -> usize {
    let len = u32::from_le_bytes([frames[0], frames[1], frames[2], frames[3]]);
    segment::frame_len(len as usize)
}

/// Marks the flusher as gone when its thread ends, even by panic (for example in the fsync
/// observer), so waiters get an error instead of blocking forever.
struct StopSignal(Arc<Shared>);

impl Drop for StopSignal {
    fn drop(&mut self) {
        self.0.state.lock().flusher_stopped = true;
        self.0.durable.notify_all();
    }
}

/// Test-only fault injection: each counter makes that many upcoming operations fail.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Faults {
    pub writes: FaultCounter,
    pub syncs: FaultCounter,
    pub creates: FaultCounter,
    pub truncates: FaultCounter,
}

#[cfg(test)]
#[derive(Default)]
pub(crate) struct FaultCounter(AtomicU32);

#[cfg(test)]
impl FaultCounter {
    pub fn arm(&self, times: u32) {
        self.0.store(times, Ordering::SeqCst);
    }

    fn take(&self) -> bool {
        self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::{ReplayReport, Wal};

    fn open(dir: &Path, options: WalOptions) -> (Wal, Vec<Vec<u8>>, ReplayReport) {
        let mut seen = Vec::new();
        let (wal, report) = Wal::open(dir, options, |r| seen.push(r.to_vec())).expect("open");
        (wal, seen, report)
    }

    fn append_durably(wal: &Wal, record: &[u8]) -> Result<Lsn> {
        let lsn = wal.append(record)?;
        wal.wait_durable(lsn).map(|()| lsn)
    }

    #[test]
    fn concurrent_appenders_share_fsyncs() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 200;
        let dir = tempfile::tempdir().expect("tempdir");
        // A slow "disk" makes appends pile up behind each fsync, as they do on real hardware,
        // so the test does not depend on how fast this machine's fsync is.
        let options = WalOptions {
            segment_size: 16 * 1024,
            fsync_observer: Some(Arc::new(|_, _| std::thread::sleep(Duration::from_micros(200)))),
            ..WalOptions::default()
        };
        let (wal, _, _) = open(dir.path(), options.clone());
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let wal = &wal;
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        let record = format!("{thread}:{i}");
                        append_durably(wal, record.as_bytes()).expect("durable");
                    }
                });
            }
        });
        let stats = wal.stats();
        let appends = (THREADS * PER_THREAD) as u64;
        assert_eq!(stats.records_written, appends);
        assert_eq!(stats.flushed_lsn, stats.appended_lsn);
        assert!(
            stats.fsyncs < appends / 2,
            "group commit should batch: {} fsyncs for {appends} appends",
            stats.fsyncs
        );
        wal.close().expect("close");

        let (_wal, replayed, _) = open(dir.path(), options);
        assert_eq!(replayed.len(), THREADS * PER_THREAD);
        // Each thread's records come back in the order that thread appended them.
        let mut next = [0usize; THREADS];
        for record in replayed {
            let text = String::from_utf8(record).expect("utf8");
            let (thread, i) = text.split_once(':').expect("thread:i");
            let thread: usize = thread.parse().expect("thread");
            assert_eq!(i.parse::<usize>().expect("i"), next[thread]);
            next[thread] += 1;
        }
    }

    /// A failed write or fsync fails only its batch, the segment is cut back, and the log goes
    /// on without a trace of the failed record.
    fn failed_batch_is_isolated(arm: impl Fn(&Faults), op: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append_durably(&wal, b"before").expect("durable");

        arm(wal.writer.faults());
        let error = append_durably(&wal, b"lost").expect_err("injected failure");
        assert!(error.is_retryable(), "{error}");
        assert!(
            matches!(&error, Error::Write { op: failed, segment: 0, offset: 14, .. } if *failed == op),
            "{error:?}"
        );
        assert_eq!(wal.stats().write_errors, 1);

        let after = append_durably(&wal, b"after").expect("later appends succeed");
        // The failed record keeps its Lsn range; it is reported failed, not durable.
        assert!(wal.wait_durable(after - 13).is_err());
        wal.close().expect("close");

        let (_wal, replayed, report) = open(dir.path(), WalOptions::default());
        assert_eq!(replayed, vec![b"before".to_vec(), b"after".to_vec()]);
        assert_eq!(report.truncation, None, "the segment was cut back at once");
    }

    #[test]
    fn failed_write_fails_only_its_batch() {
        failed_batch_is_isolated(|faults| faults.writes.arm(1), "write");
    }

    #[test]
    fn failed_fsync_fails_only_its_batch() {
        failed_batch_is_isolated(|faults| faults.syncs.arm(1), "fsync");
    }

    #[test]
    fn failed_segment_creation_is_retried_on_the_next_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = WalOptions { segment_size: 20, ..WalOptions::default() };
        let (wal, _, _) = open(dir.path(), options.clone());
        append_durably(&wal, b"first").expect("durable");
        wal.writer.faults().creates.arm(1);
        let error = append_durably(&wal, b"second").expect_err("creation fails");
        assert!(matches!(error, Error::Write { op: "segment creation", segment: 1, .. }));
        append_durably(&wal, b"third").expect("creation retried");
        assert_eq!(wal.stats().current_segment, 1);
        wal.close().expect("close");
        let (_wal, replayed, _) = open(dir.path(), options);
        assert_eq!(replayed, vec![b"first".to_vec(), b"third".to_vec()]);
    }

    #[test]
    fn failed_cut_back_breaks_the_wal_until_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append_durably(&wal, b"before").expect("durable");

        wal.writer.faults().writes.arm(1);
        wal.writer.faults().truncates.arm(1);
        let error = append_durably(&wal, b"lost record").expect_err("write fails");
        assert!(error.is_retryable(), "the record itself failed: {error}");
        let error = wal.append(b"refused").expect_err("broken");
        assert!(matches!(error, Error::Broken { segment: 0, offset: 14, .. }), "{error:?}");
        assert!(!error.is_retryable());
        assert!(matches!(wal.close(), Err(Error::Broken { .. })));

        // Half of the failed frame is still on disk; reopening repairs it.
        let (wal, replayed, report) = open(dir.path(), WalOptions::default());
        assert_eq!(replayed, vec![b"before".to_vec()]);
        let truncation = report.truncation.expect("torn tail repaired");
        assert_eq!((truncation.segment, truncation.offset), (0, 14));
        append_durably(&wal, b"after").expect("healthy again");
    }

    #[test]
    fn failed_interval_flush_is_reported_to_later_waiters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options =
            WalOptions { sync: SyncPolicy::Interval(Duration::from_millis(5)), ..WalOptions::default() };
        let (wal, _, _) = open(dir.path(), options);
        wal.writer.faults().syncs.arm(1);
        let lsn = wal.append(b"acknowledged").expect("append");
        wal.wait_durable(lsn).expect("interval acknowledges at once");
        let deadline = Instant::now() + Duration::from_secs(5);
        while wal.stats().flushed_lsn < lsn {
            assert!(Instant::now() < deadline, "flush never ran");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(matches!(wal.wait_durable(lsn), Err(Error::Write { op: "fsync", .. })));
    }

    #[test]
    fn waiters_do_not_hang_when_the_flusher_dies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = WalOptions {
            fsync_observer: Some(Arc::new(|_, _| panic!("observer bug"))),
            ..WalOptions::default()
        };
        let (wal, _, _) = open(dir.path(), options);
        let error = append_durably(&wal, b"x").expect_err("flusher died");
        assert!(matches!(error, Error::FlusherStopped), "{error:?}");
        assert!(matches!(wal.append(b"y"), Err(Error::FlusherStopped)));
        assert!(matches!(wal.close(), Err(Error::FlusherStopped)));
    }

    #[test]
    fn failure_ranges_merge_and_are_found() {
        let failure =
            Failure::Write { op: "write", segment: 0, offset: 0, source: Arc::new(io::Error::other("x")) };
        let mut state = State::new(100);
        state.remember_failure(10, 20, failure.clone());
        state.remember_failure(20, 30, failure.clone());
        state.remember_failure(50, 60, failure);
        assert_eq!(state.failures.len(), 2);
        for (lsn, failed) in [(10, false), (11, true), (30, true), (31, false), (55, true), (61, false)] {
            assert_eq!(state.failure_covering(lsn).is_some(), failed, "lsn {lsn}");
        }
    }
}
