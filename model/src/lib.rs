//! The shared vocabulary of Argus: what a series, a sample and a matcher are, the storage
//! traits engines implement, and the wire protobufs. It does no I/O and uses no async runtime.

pub mod cache;
pub mod calendar;
pub mod error;
pub mod labels;
pub mod logfmt;
pub mod logs;
pub mod matcher;
pub mod metrics;
pub mod proto;
pub mod quoted;
pub mod regex;
pub mod sample;
pub mod storage;
pub mod time;
pub mod write;

pub use error::{ErrorKind, StorageError, prometheus_error_body};
pub use labels::{Label, Labels, LabelsError, METRIC_NAME, PrehashedState};
pub use logs::{Direction, LogAppendable, LogEntry, LogIter, LogQueryable, LogRecord, LogSelect, LogStream};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{STALE_NAN_BITS, Sample, Timestamp, is_stale_nan, stale_nan};
pub use storage::{
    AppendReport, Appendable, Queryable, RejectReason, Rejection, SampleIter, SamplesWanted, SelectHints,
    Selection, Series, SeriesSamples,
};
pub use time::TimeRange;
pub use write::{BatchSeries, LabelRef, WriteBatch};
