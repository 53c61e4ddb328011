//! The one error type of `argus-wal`.
//!
//! Every variant names what was being done and where (directory, segment, offset), so a log line
//! or an HTTP 5xx body says which file to look at. Damage found while replaying is *not* an error:
//! it is repaired and reported in [`crate::ReplayReport`]; only the disk itself failing ends `open`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// `Result` with this crate's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `WalOptions` that cannot work (for example a zero segment size).
    #[error("invalid wal options: {reason}")]
    InvalidOptions { reason: &'static str },

    /// The WAL directory could not be created or opened.
    #[error("cannot create wal directory {path}")]
    CreateDir { path: PathBuf, source: io::Error },

    /// The WAL directory could not be listed.
    #[error("cannot list wal directory {path}")]
    ListDir { path: PathBuf, source: io::Error },

    /// The directory could not be fsynced (after creating or deleting a segment).
    #[error("cannot fsync wal directory {path}")]
    SyncDir { path: PathBuf, source: io::Error },

    /// Another `Wal` (in this or another process) holds the directory's lock file.
    #[error("wal directory is locked by another writer: {path}")]
    Locked { path: PathBuf },

    /// The lock file could not be created or locked.
    #[error("cannot lock wal directory with {path}")]
    Lock { path: PathBuf, source: io::Error },

    /// A segment file could not be opened or created.
    #[error("cannot open wal segment {path}")]
    OpenSegment { path: PathBuf, source: io::Error },

    /// Reading a segment during replay failed (the disk, not the data, is broken).
    #[error("cannot read wal segment {segment:08} at offset {offset}")]
    ReadSegment { segment: u32, offset: u64, source: io::Error },

    /// Truncating a damaged segment during replay failed.
    #[error("cannot truncate wal segment {segment:08} to offset {offset}")]
    TruncateSegment { segment: u32, offset: u64, source: io::Error },

    /// Deleting a segment that follows damage failed.
    #[error("cannot delete wal segment {path}")]
    DeleteSegment { path: PathBuf, source: io::Error },

    /// Writing or installing a checkpoint failed; the segments it was to replace are kept.
    #[error("cannot write wal checkpoint {path}")]
    Checkpoint { path: PathBuf, source: io::Error },

    /// A checkpoint was asked to replace segments that do not exist yet.
    #[error("cannot checkpoint up to segment {first_kept:08}: the log is at segment {current:08}")]
    CheckpointPastLog { first_kept: u32, current: u32 },

    /// `append` was given an empty record; empty records are reserved so that a zero-filled tail
    /// is recognised as damage.
    #[error("wal record is empty")]
    EmptyRecord,

    /// `append` was given a record above [`crate::segment::MAX_RECORD_LEN`].
    #[error("wal record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { len: usize, max: u32 },

    /// `wait_durable` was asked about an Lsn that no append has returned yet.
    #[error("lsn {lsn} has not been appended yet (last appended lsn is {last})")]
    LsnNotAppended { lsn: u64, last: u64 },

    /// The write, fsync or segment creation that covered this record failed; the record is not
    /// in the log. Retrying the request is safe: the log was cut back to the last good record.
    #[error("wal {op} failed in segment {segment:08} at offset {offset}")]
    Write { op: &'static str, segment: u32, offset: u64, source: Arc<io::Error> },

    /// A write failed and the segment could not be cut back to its last good offset, so further
    /// records could land after garbage; the WAL refuses all work until it is reopened.
    #[error("wal is broken: segment {segment:08} could not be truncated back to offset {offset}")]
    Broken { segment: u32, offset: u64, source: Arc<io::Error> },

    /// The flusher thread could not be started.
    #[error("cannot start the wal flusher thread")]
    SpawnFlusher { source: io::Error },

    /// The flusher thread is gone (it panicked); nothing more can become durable.
    #[error("wal flusher thread has stopped")]
    FlusherStopped,
}

impl Error {
    /// True when the same request may succeed if retried later (a failed write or fsync, after
    /// which the log was repaired), as opposed to bad input or a WAL that must be reopened.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Write { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_carry_context() {
        let error = Error::Write {
            op: "fsync",
            segment: 12,
            offset: 40960,
            source: Arc::new(io::Error::other("disk on fire")),
        };
        assert_eq!(error.to_string(), "wal fsync failed in segment 00000012 at offset 40960");
        assert!(error.is_retryable());
        assert!(!Error::EmptyRecord.is_retryable());
    }
}
