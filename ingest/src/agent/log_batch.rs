//! What the log inputs share between reading and shipping: their entries batched into Loki
//! push requests ([`Batch`]), and those requests queued on every log output together with the
//! read position they bring their input to ([`InputQueues`]). The file input ([`super::logs`])
//! positions by file offsets, the journal input ([`super::journal`]) by journal cursor; here a
//! position is anything that serializes.
//!
//! Queueing a batch and moving its input's position are one durable step, because the position
//! travels inside the queued record: on start, reading resumes where the newest queued batch
//! left off. Each input has its own queue per log output; with several outputs, the first one's
//! queue decides and is written last, so a crash while queueing a batch can send it twice to
//! the others, never lose it. The position is also written to `positions-<key>.json` in the
//! state directory (temp file, fsync, rename) for when the queue no longer holds any batch.
//!
//! It does not read inputs, and does not send requests ([`super::ship`] does, with
//! [`request_of`]).
//!
//! A queued record is `position length (u32 LE) | position (JSON) | push request`, the push
//! request being a snappy-compressed `logproto.PushRequest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::proto::loki::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::queue::DiskQueue;

/// Most entries, and about the most line bytes, in one push request.
const BATCH_ENTRIES: usize = 20_000;
const BATCH_BYTES: usize = 1 << 20;
/// A partial batch is queued once this old.
const BATCH_AGE: Duration = Duration::from_secs(1);

/// What an entry's stream adds to its input's static labels (`filename`, `unit`, `level`…).
pub trait StreamLabels: Ord {
    fn add_to(&self, labels: &mut BTreeMap<String, String>);
}

/// Entries waiting to be queued, grouped by stream, each stream in the order its entries came.
pub struct Batch<S> {
    streams: BTreeMap<S, Vec<EntryAdapter>>,
    entries: usize,
    bytes: usize,
    /// When the first entry came.
    started: Instant,
}

impl<S: StreamLabels> Default for Batch<S> {
    fn default() -> Self {
        Self { streams: BTreeMap::new(), entries: 0, bytes: 0, started: Instant::now() }
    }
}

impl<S: StreamLabels> Batch<S> {
    /// Adds an entry (`timestamp` in nanoseconds) to its stream.
    pub fn push(&mut self, stream: S, timestamp: i64, line: String) {
        if self.entries == 0 {
            self.started = Instant::now();
        }
        self.entries += 1;
        self.bytes += line.len();
        let entry = EntryAdapter {
            timestamp: Some(Timestamp::from_nanos(timestamp)),
            line,
            structured_metadata: Vec::new(),
        };
        self.streams.entry(stream).or_default().push(entry);
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Whether the batch should be queued now: it is full, or its first entry waited long
    /// enough.
    pub fn is_due(&self) -> bool {
        self.entries >= BATCH_ENTRIES
            || self.bytes >= BATCH_BYTES
            || (self.entries > 0 && self.started.elapsed() >= BATCH_AGE)
    }

    /// When the batch is due by age, if it holds anything.
    pub fn deadline(&self) -> Option<Instant> {
        (self.entries > 0).then(|| self.started + BATCH_AGE)
    }

    /// The batch as a snappy-compressed Loki push request, each stream labelled with `labels`
    /// and its own; the batch is left empty.
    pub fn take_request(&mut self, labels: &BTreeMap<String, String>) -> Vec<u8> {
        let streams = std::mem::take(&mut self.streams)
            .into_iter()
            .map(|(stream, entries)| {
                let mut labels = labels.clone();
                stream.add_to(&mut labels);
                StreamAdapter { labels: label_string(&labels), entries }
            })
            .collect();
        (self.entries, self.bytes) = (0, 0);
        snap::raw::Encoder::new()
            .compress_vec(&PushRequest { streams }.encode_to_vec())
            .expect("snappy compresses any input")
    }
}

/// Labels in the `{name="value", ...}` form push requests carry them in.
fn label_string(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> =
        labels.iter().map(|(n, v)| format!("{n}={}", serde_json::Value::String(v.clone()))).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Where one input's batches go: its own queue on every log output, and its positions file.
pub struct InputQueues {
    /// What the input reads, for log messages.
    input: String,
    queues: Vec<Arc<DiskQueue>>,
    positions_file: PathBuf,
}

impl InputQueues {
    /// The queues of the input named `input` (for log messages) whose stable key is `key`; its
    /// positions file is `state_dir/positions-<key>.json`.
    pub fn new(input: String, state_dir: &Path, key: u64, queues: Vec<Arc<DiskQueue>>) -> InputQueues {
        let positions_file = state_dir.join(format!("positions-{key:016x}.json"));
        InputQueues { input, queues, positions_file }
    }

    /// Where reading resumes: the position of the newest batch queued before a restart, else
    /// the one in the positions file; `None` on the very first start.
    pub fn resume<P: DeserializeOwned>(&self) -> Option<P> {
        self.queues
            .first()
            .and_then(|queue| queue.last_on_open())
            .and_then(position_of)
            .or_else(|| read_position(&self.positions_file))
    }

    /// Queues `request` on every output together with the `position` it brings the input to,
    /// then writes the positions file. Returns once the queues hold it durably (waiting while
    /// one is full).
    pub async fn queue<P: Serialize>(&self, position: &P, request: &[u8]) {
        let record = match queued_record(position, request) {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(input = %self.input, %error, "cannot encode the read position; the batch is dropped");
                return;
            }
        };
        // The first queue's position decides where reading resumes: it is written last, so a
        // crash in between re-reads the batch rather than skipping it.
        for queue in self.queues.iter().skip(1).chain(self.queues.first()) {
            if let Err(error) = queue.push(&record).await {
                tracing::error!(input = %self.input, %error, "cannot write to a log output queue");
            }
        }
        if let Err(error) = write_position(&self.positions_file, position) {
            tracing::warn!(input = %self.input, file = %self.positions_file.display(), %error, "cannot save the read position");
        }
    }
}

/// A queued batch: `position length u32 LE | position JSON | push request`.
fn queued_record<P: Serialize>(position: &P, request: &[u8]) -> serde_json::Result<Vec<u8>> {
    let position = serde_json::to_vec(position)?;
    let mut record = Vec::with_capacity(4 + position.len() + request.len());
    record.extend_from_slice(&(position.len() as u32).to_le_bytes());
    record.extend_from_slice(&position);
    record.extend_from_slice(request);
    Ok(record)
}

/// The read position a queued batch carries.
fn position_of<P: DeserializeOwned>(record: &[u8]) -> Option<P> {
    let (len, rest) = record.split_first_chunk::<4>()?;
    serde_json::from_slice(rest.get(..u32::from_le_bytes(*len) as usize)?).ok()
}

/// The push request of a queued batch.
pub fn request_of(record: &[u8]) -> &[u8] {
    let Some((len, rest)) = record.split_first_chunk::<4>() else { return &[] };
    rest.get(u32::from_le_bytes(*len) as usize..).unwrap_or_default()
}

fn read_position<P: DeserializeOwned>(path: &Path) -> Option<P> {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

fn write_position<P: Serialize>(path: &Path, position: &P) -> std::io::Result<()> {
    super::write_durably(path, &serde_json::to_vec(position)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    struct Level(Option<&'static str>);

    impl StreamLabels for Level {
        fn add_to(&self, labels: &mut BTreeMap<String, String>) {
            if let Some(level) = self.0 {
                labels.insert("level".to_string(), level.to_string());
            }
        }
    }

    fn decode(body: &[u8]) -> PushRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        PushRequest::decode(raw.as_slice()).unwrap()
    }

    #[test]
    fn queued_records_carry_any_position_and_the_request() {
        let positions: BTreeMap<PathBuf, u64> = [(PathBuf::from("/a.log"), 3)].into_iter().collect();
        let record = queued_record(&positions, b"request").unwrap();
        assert_eq!(position_of(&record), Some(positions));
        assert_eq!(request_of(&record), b"request");
        let cursor = queued_record(&"s=1;i=2", b"r").unwrap();
        assert_eq!(position_of::<String>(&cursor).as_deref(), Some("s=1;i=2"));
        assert_eq!(position_of::<String>(b"xx"), None);
        assert_eq!(request_of(b"xx"), b"");
    }

    #[test]
    fn batches_group_streams_keep_order_and_empty_when_taken() {
        let mut batch = Batch::default();
        assert!(batch.is_empty() && !batch.is_due() && batch.deadline().is_none());
        batch.push(Level(Some("error")), 2, "b".into());
        batch.push(Level(None), 1, "a".into());
        batch.push(Level(Some("error")), 3, "c".into());
        assert!(!batch.is_due(), "neither full nor a second old");
        assert!(batch.deadline().is_some());
        let labels = [("job".to_string(), "app".to_string())].into_iter().collect();
        let request = decode(&batch.take_request(&labels));
        assert!(batch.is_empty());
        let streams: Vec<(&str, Vec<&str>)> = request
            .streams
            .iter()
            .map(|s| (s.labels.as_str(), s.entries.iter().map(|e| e.line.as_str()).collect()))
            .collect();
        assert_eq!(
            streams,
            [(r#"{job="app"}"#, vec!["a"]), (r#"{job="app", level="error"}"#, vec!["b", "c"])]
        );
        assert_eq!(request.streams[1].entries[1].timestamp, Some(Timestamp::from_nanos(3)));
    }

    #[test]
    fn a_batch_is_due_when_full() {
        let mut batch = Batch::default();
        for _ in 0..BATCH_ENTRIES {
            batch.push(Level(None), 1, String::new());
        }
        assert!(batch.is_due());
        let mut big = Batch::default();
        big.push(Level(None), 1, "x".repeat(BATCH_BYTES));
        assert!(big.is_due());
    }

    #[test]
    fn positions_resume_from_the_newest_queued_batch_else_the_positions_file() {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let open = || Arc::new(DiskQueue::open(&dir.path().join("queue"), 1 << 30).unwrap());
        let queues = InputQueues::new("test".into(), dir.path(), 7, vec![open()]);
        assert_eq!(queues.resume::<String>(), None, "the very first start");
        runtime.block_on(queues.queue(&"c1".to_string(), b"one"));
        runtime.block_on(queues.queue(&"c2".to_string(), b"two"));
        drop(queues);
        let reopened = InputQueues::new("test".into(), dir.path(), 7, vec![open()]);
        assert_eq!(reopened.resume::<String>().as_deref(), Some("c2"));
        let without_queue = InputQueues::new("test".into(), dir.path(), 7, Vec::new());
        assert_eq!(without_queue.resume::<String>().as_deref(), Some("c2"), "from positions-…7.json");
    }
}
