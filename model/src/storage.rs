//! The storage traits every engine implements and every consumer uses: a write side
//! ([`Appendable`]) and a read side ([`Queryable`]). Ingest and query see storage only through
//! these, so a local shard, all local shards and (later) a remote node look the same to them.

use std::fmt;

use crate::{LabelRef, Labels, Matcher, Sample, StorageError, TimeRange, WriteBatch};

/// The samples of one series in a write, in the order the sender gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Why an engine refused a sample. Each maps to a `400` for remote write: a retry cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Older than the newest sample already stored for its series.
    OutOfOrder,
    /// Same timestamp as a stored sample of its series but a different value.
    DuplicateTimestamp,
    /// Older than the engine accepts at all (before the head's lower bound).
    TooOld,
}

impl RejectReason {
    pub const ALL: [RejectReason; 3] =
        [RejectReason::OutOfOrder, RejectReason::DuplicateTimestamp, RejectReason::TooOld];

    /// Stable snake_case name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::DuplicateTimestamp => "duplicate_timestamp",
            RejectReason::TooOld => "too_old",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::DuplicateTimestamp => "duplicate sample for timestamp",
            RejectReason::TooOld => "out of bounds (too old)",
        }
    }
}

/// One refused sample, kept as an example for the error message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub labels: Labels,
    pub timestamp: i64,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for series {} at timestamp {}", self.reason.describe(), self.labels, self.timestamp)
    }
}

/// What an append did: how many samples were stored, how many were refused and why (with the
/// first example of each reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendReport {
    pub accepted: u64,
    pub rejected: [u64; 3],
    pub examples: Vec<Rejection>,
}

impl AppendReport {
    /// Counts a refused sample; the first of each reason is kept as an example.
    pub fn reject(&mut self, reason: RejectReason, labels: &[LabelRef<'_>], timestamp: i64) {
        let count = &mut self.rejected[reason as usize];
        if *count == 0 {
            self.examples.push(Rejection { reason, labels: Labels::from_sorted_refs(labels), timestamp });
        }
        *count += 1;
    }

    pub fn rejected_count(&self, reason: RejectReason) -> u64 {
        self.rejected[reason as usize]
    }

    pub fn total_rejected(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// The write side of an engine.
pub trait Appendable: Send + Sync {
    /// Stores the batch and returns once every accepted sample is durable under the engine's
    /// sync policy. Refused samples do not fail the call; they are counted in the report. An
    /// `Err` means nothing can be promised about the batch (e.g. the WAL could not be written)
    /// and the sender should retry it; re-appending identical samples is harmless.
    fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, StorageError>;

    /// As [`Appendable::append`], for data imported in bulk, which may be far older than what
    /// live writes may bring: an engine that can stores such samples apart (in blocks of their
    /// own) instead of refusing them as too old. By default, the same as `append`.
    fn import(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, StorageError> {
        self.append(batch)
    }
}

/// Iterator over a series' samples in time order.
pub type SampleIter = Box<dyn Iterator<Item = Sample> + Send>;

/// A selected series: its labels and its samples within the selected range.
pub struct Series {
    pub labels: Labels,
    pub samples: SampleIter,
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series").field("labels", &self.labels).finish_non_exhaustive()
    }
}

/// What [`Queryable::select`] found: the series, and warnings about data it could not read
/// (a damaged block or chunk), which queries pass on to their callers.
#[derive(Debug, Default)]
pub struct Selection {
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
}

/// What a caller of [`Queryable::select`] wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectHints {
    /// Only series with at least one sample in this range are returned, and only their samples
    /// in it.
    pub range: TimeRange,
    /// Which of those samples the caller will read.
    pub samples: SamplesWanted,
}

/// Which samples in range a caller of [`Queryable::select`] reads, so that storage can skip
/// decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplesWanted {
    /// Every sample in range, in time order.
    All,
    /// Only the newest sample in range (an instant selector evaluated at one time); storage
    /// may yield just that one, or all of them.
    Latest,
    /// None: the label sets only (series API); the samples iterator may be empty.
    None,
}

/// The read side of an engine.
pub trait Queryable: Send + Sync {
    /// Series matching every matcher (a missing label matches as `""`), in no particular order
    /// (callers that need an order sort; PromQL does not).
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Selection, StorageError>;

    /// Sorted label names of the series that match `matchers` (all series when empty) and have
    /// samples in `range`.
    fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<String>, StorageError>;

    /// Sorted distinct values of label `name` over the series that match `matchers` and have
    /// samples in `range`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keeps_one_example_per_reason() {
        let owned = Labels::from_pairs([("__name__", "x")]).unwrap();
        let labels = owned.as_refs();
        let mut a = AppendReport { accepted: 3, ..Default::default() };
        a.reject(RejectReason::OutOfOrder, &labels, 1);
        a.reject(RejectReason::OutOfOrder, &labels, 2);
        a.reject(RejectReason::OutOfOrder, &labels, 3);
        a.reject(RejectReason::TooOld, &labels, 4);
        assert_eq!(a.accepted, 3);
        assert_eq!(a.rejected_count(RejectReason::OutOfOrder), 3);
        assert_eq!(a.rejected_count(RejectReason::TooOld), 1);
        assert_eq!(a.examples.len(), 2);
        assert_eq!(a.total_rejected(), 4);
    }
}
