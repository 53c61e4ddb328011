//! Logs as Loki models them: a *stream* is a label set, and each stream holds timestamped lines,
//! each with optional structured metadata. Also the two traits a log engine implements: the
//! write side ([`LogAppendable`]) and the read side ([`LogQueryable`]).
//!
//! Timestamps of log entries are nanoseconds since the epoch (Loki's precision), unlike
//! samples, which are milliseconds.

use std::fmt;

use crate::{Labels, Matcher, StorageError, TimeRange};

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the epoch.
    pub timestamp: i64,
    /// The line exactly as it was received.
    pub line: String,
    /// Structured metadata: labels attached to this entry only, not to its stream.
    pub metadata: Labels,
}

/// Entries of one stream, as a push request carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// The write side of a log engine.
pub trait LogAppendable: Send + Sync {
    /// Stores every entry and returns once they are durable: after `Ok`, a crash loses none
    /// of them. An `Err` promises nothing about the batch; the sender should retry it.
    fn push(&self, streams: &[LogStream]) -> Result<(), StorageError>;
}

/// In which order [`LogQueryable::select_logs`] yields entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// What [`LogQueryable::select_logs`] reads.
#[derive(Debug, Clone)]
pub struct LogSelect {
    /// Stream selector: entries of streams whose labels satisfy every matcher.
    pub matchers: Vec<Matcher>,
    /// Nanoseconds, both ends included.
    pub range: TimeRange,
    pub direction: Direction,
    /// Text every selected line contains, byte for byte (LogQL `|= "text"`). The engine uses
    /// its index to skip lines that cannot match and checks the rest exactly.
    pub contains: Vec<String>,
}

/// A selected entry with the labels of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: Labels,
    pub entry: LogEntry,
}

/// Selected entries in the requested order. Reading may fail part-way (a damaged partition);
/// the error is then yielded and the iteration ends.
pub type LogIter = Box<dyn Iterator<Item = Result<LogRecord, StorageError>> + Send>;

/// The read side of a log engine.
pub trait LogQueryable: Send + Sync {
    /// Entries matching `select`, in its direction; entries with the same timestamp come in
    /// the order they were pushed (reversed when going backward).
    fn select_logs(&self, select: &LogSelect) -> Result<LogIter, StorageError>;

    /// Label sets of the streams that match `matchers` (all streams when empty) and have
    /// entries in `range` (nanoseconds, both ends included), sorted.
    fn log_streams(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Labels>, StorageError>;
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        })
    }
}
