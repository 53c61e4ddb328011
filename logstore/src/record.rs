//! The log store's WAL record: one pushed batch, with the sequence number that orders it.
//!
//! ```text
//! record := seq u64 LE | protobuf WalBatch
//! WalBatch  { repeated WalStream streams = 1; }
//! WalStream { repeated LabelPairAdapter labels = 1; repeated EntryAdapter entries = 2; }
//! ```
//!
//! Entries are Loki's `EntryAdapter` (timestamp, line, structured metadata). Sequence numbers
//! grow by one per record and survive restarts; a partition's tantivy commit records the last
//! sequence it holds, so replay re-indexes exactly what no commit covered.

use argus_model::proto::loki::{EntryAdapter, LabelPairAdapter, Timestamp};
use argus_model::{Label, Labels, LogEntry, LogStream};
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct WalBatch {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<WalStream>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WalStream {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<LabelPairAdapter>,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("log WAL record is malformed: {0}")]
pub struct RecordError(&'static str);

pub fn encode(seq: u64, streams: &[LogStream]) -> Vec<u8> {
    let batch = WalBatch {
        streams: streams
            .iter()
            .map(|stream| WalStream {
                labels: pairs(&stream.labels),
                entries: stream.entries.iter().map(entry).collect(),
            })
            .collect(),
    };
    let mut out = Vec::with_capacity(8 + batch.encoded_len());
    out.extend_from_slice(&seq.to_le_bytes());
    batch.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// Writes `seq` into an encoded record (encoding happens before the sequence is known).
pub fn set_seq(record: &mut [u8], seq: u64) {
    record[..8].copy_from_slice(&seq.to_le_bytes());
}

pub fn decode(record: &[u8]) -> Result<(u64, Vec<LogStream>), RecordError> {
    let (seq, body) =
        record.split_first_chunk::<8>().ok_or(RecordError("shorter than its sequence number"))?;
    let batch = WalBatch::decode(body).map_err(|_| RecordError("undecodable body"))?;
    let streams = batch
        .streams
        .into_iter()
        .map(|stream| {
            let entries = stream.entries.into_iter().map(log_entry).collect::<Result<_, _>>()?;
            Ok(LogStream { labels: labels(stream.labels)?, entries })
        })
        .collect::<Result<_, RecordError>>()?;
    Ok((u64::from_le_bytes(*seq), streams))
}

fn pairs(labels: &Labels) -> Vec<LabelPairAdapter> {
    labels.iter().map(|l| LabelPairAdapter { name: l.name.to_string(), value: l.value.to_string() }).collect()
}

fn labels(pairs: Vec<LabelPairAdapter>) -> Result<Labels, RecordError> {
    Labels::new(pairs.into_iter().map(|p| Label::new(p.name, p.value)).collect())
        .map_err(|_| RecordError("invalid labels"))
}

fn entry(entry: &LogEntry) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp::from_nanos(entry.timestamp)),
        line: entry.line.clone(),
        structured_metadata: pairs(&entry.metadata),
    }
}

fn log_entry(entry: EntryAdapter) -> Result<LogEntry, RecordError> {
    let timestamp =
        entry.timestamp.and_then(|t| t.as_nanos()).ok_or(RecordError("entry without a valid timestamp"))?;
    Ok(LogEntry { timestamp, line: entry.line, metadata: labels(entry.structured_metadata)? })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-z_]{1,6}", ".{1,8}", 0..4)
            .prop_map(|pairs| Labels::from_pairs(pairs).unwrap())
    }

    fn arb_stream() -> impl Strategy<Value = LogStream> {
        let entry = (any::<i64>(), ".{0,40}", arb_labels())
            .prop_map(|(timestamp, line, metadata)| LogEntry { timestamp, line, metadata });
        (arb_labels(), proptest::collection::vec(entry, 0..5))
            .prop_map(|(labels, entries)| LogStream { labels, entries })
    }

    proptest! {
        #[test]
        fn records_round_trip(seq in any::<u64>(), streams in proptest::collection::vec(arb_stream(), 0..4)) {
            let (got_seq, got) = decode(&encode(seq, &streams)).unwrap();
            prop_assert_eq!(got_seq, seq);
            prop_assert_eq!(got, streams);
        }
    }

    #[test]
    fn truncated_records_are_errors() {
        assert!(decode(&[1, 2, 3]).is_err());
        let record = encode(7, &[LogStream { labels: Labels::empty(), entries: Vec::new() }]);
        assert!(decode(&record[..record.len() - 1]).is_err());
    }
}
