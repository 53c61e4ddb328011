//! Log inputs: each follows the files its globs match ([`super::tail`]), joins multi-line
//! entries, takes the time and level from JSON or logfmt lines when asked, and batches entries
//! into Loki push requests written to every log output's on-disk queue.
//!
//! A queued batch carries the read positions it brings the files to, so that queueing it and
//! moving the positions are one durable step: on start, reading resumes where the newest
//! queued batch left off, and nothing is read twice or skipped (a multi-line entry still being
//! joined is read again). Each input has its own queue per log output; with several outputs,
//! the first one's queue decides and is written last, so a crash while queueing a batch can
//! send it twice to the others, never lose it. The positions are also written to a file (temp
//! file, fsync, rename) for when the queue no longer holds any batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::proto::loki::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use prost::Message;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::config::LogInputConfig;
use super::queue::DiskQueue;
use super::tail::{Line, Position, Tailer};

/// How often files are checked for new lines.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Most entries, and about the most line bytes, in one push request.
const BATCH_ENTRIES: usize = 20_000;
const BATCH_BYTES: usize = 1 << 20;
/// A partial batch is queued once this old.
const BATCH_AGE: Duration = Duration::from_secs(1);

/// An entry on its way: the stream labels (beyond the input's) and the entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    path: PathBuf,
    /// Where the entry's first line starts in its file.
    start: Position,
    level: Option<String>,
    timestamp: i64,
    line: String,
}

/// Follows one input forever, queueing its entries into `queues`.
pub async fn run(input: LogInputConfig, state_dir: PathBuf, queues: Vec<Arc<DiskQueue>>) {
    let positions_file = state_dir.join(format!("positions-{:016x}.json", input_key(&input)));
    let positions = match queues.first().and_then(|q| q.last_on_open()).and_then(positions_of) {
        Some(positions) => positions,
        None => read_positions(&positions_file),
    };
    let multiline = input.multiline_start.as_deref().and_then(|p| Regex::new(p).ok());
    let mut tailer = Some(Tailer::new(input.paths.clone(), input.flush_partial_after.0, &positions));
    let mut pending: Vec<Entry> = Vec::new();
    let mut joining: BTreeMap<PathBuf, (Entry, Instant)> = BTreeMap::new();
    let mut oldest = Instant::now();
    let mut last_time = 0i64;
    let mut pending_bytes = 0;
    loop {
        if !tailer.as_ref().expect("present").has_more() {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let mut polling = tailer.take().expect("put back after every poll");
        let (polled, lines) = tokio::task::spawn_blocking(move || {
            let lines = polling.poll();
            (polling, lines)
        })
        .await
        .expect("polling files does not panic");
        tailer = Some(polled);
        for line in lines {
            pending_bytes += line.text.len();
            let entry = to_entry(&input, line, &mut last_time);
            match &multiline {
                Some(start) => join(start, entry, &mut joining, &mut pending),
                None => pending.push(entry),
            }
        }
        // A joined entry waits for its next start line at most flush_partial_after.
        let waited: Vec<PathBuf> = joining
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= input.flush_partial_after.0)
            .map(|(path, _)| path.clone())
            .collect();
        for path in waited {
            pending.push(joining.remove(&path).expect("listed").0);
        }
        if pending.is_empty() {
            oldest = Instant::now();
            continue;
        }
        if pending.len() >= BATCH_ENTRIES || pending_bytes >= BATCH_BYTES || oldest.elapsed() >= BATCH_AGE {
            pending_bytes = 0;
            // A multi-line entry still being joined is read again after a restart.
            let mut positions = tailer.as_ref().expect("present").positions();
            for (path, (entry, _)) in &joining {
                positions.insert(path.clone(), entry.start);
            }
            let record = queued_record(&positions, &push_request(&input, std::mem::take(&mut pending)));
            // The first queue's positions decide where reading resumes: it is written last,
            // so a crash in between re-reads the batch rather than skipping it.
            for queue in queues.iter().skip(1).chain(queues.first()) {
                if let Err(error) = queue.push(&record).await {
                    tracing::error!(%error, "cannot write to a log output queue");
                }
            }
            if let Err(error) = write_positions(&positions_file, &positions) {
                tracing::warn!(%error, "cannot save log read positions");
            }
            oldest = Instant::now();
        }
    }
}

/// A stable name for an input's queues and positions file.
pub fn input_key(input: &LogInputConfig) -> u64 {
    xxhash_rust::xxh3::xxh3_64(input.paths.join("\n").as_bytes())
}

fn to_entry(input: &LogInputConfig, line: Line, last_time: &mut i64) -> Entry {
    let (time, level) = match input.extract {
        Some(format) => extract(format, &line.text, input),
        None => (None, None),
    };
    // Without a time of their own, entries get the time they were read, kept increasing so
    // that they sort in file order.
    let now = argus_model::time::now().saturating_mul(1_000_000).max(*last_time + 1);
    let timestamp = time.unwrap_or(now);
    if time.is_none() {
        *last_time = now;
    }
    Entry { path: line.path, start: line.start, level, timestamp, line: line.text }
}

/// Appends `entry` to the entry being joined for its file when it does not start a new one.
fn join(
    start: &Regex,
    entry: Entry,
    joining: &mut BTreeMap<PathBuf, (Entry, Instant)>,
    pending: &mut Vec<Entry>,
) {
    match joining.get_mut(&entry.path) {
        Some((current, since)) if !start.is_match(&entry.line) => {
            current.line.push('\n');
            current.line.push_str(&entry.line);
            // The wait for the next start line counts from the last line joined.
            *since = Instant::now();
        }
        _ => {
            if let Some((finished, _)) = joining.insert(entry.path.clone(), (entry, Instant::now())) {
                pending.push(finished);
            }
        }
    }
}

/// Which structured form lines are in, for taking their time and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Extract {
    Json,
    Logfmt,
}

/// The time (nanoseconds) and level a structured line carries, if any.
fn extract(format: Extract, text: &str, input: &LogInputConfig) -> (Option<i64>, Option<String>) {
    let fields: BTreeMap<String, String> = match format {
        Extract::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(object)) => object
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect(),
            _ => BTreeMap::new(),
        },
        Extract::Logfmt => argus_model::logfmt::parse(text, false).unwrap_or_default().into_iter().collect(),
    };
    let time = fields.get(&input.time_field).and_then(|t| argus_model::calendar::parse_rfc3339_nanos(t));
    let level = fields.get(&input.level_field).map(|l| l.to_lowercase());
    (time, level)
}

/// The snappy-compressed Loki push request of a batch: one stream per file (and level).
fn push_request(input: &LogInputConfig, entries: Vec<Entry>) -> Vec<u8> {
    let mut streams: BTreeMap<(PathBuf, Option<String>), Vec<EntryAdapter>> = BTreeMap::new();
    for entry in entries {
        let adapter = EntryAdapter {
            timestamp: Some(Timestamp::from_nanos(entry.timestamp)),
            line: entry.line,
            structured_metadata: Vec::new(),
        };
        streams.entry((entry.path, entry.level)).or_default().push(adapter);
    }
    let streams = streams
        .into_iter()
        .map(|((path, level), entries)| {
            let mut labels = input.labels.clone();
            labels.insert("filename".to_string(), path.display().to_string());
            if let Some(level) = level {
                labels.insert("level".to_string(), level);
            }
            StreamAdapter { labels: label_string(&labels), entries }
        })
        .collect();
    snap::raw::Encoder::new()
        .compress_vec(&PushRequest { streams }.encode_to_vec())
        .expect("snappy compresses any input")
}

/// Labels in the `{name="value", ...}` form push requests carry them in.
fn label_string(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> =
        labels.iter().map(|(n, v)| format!("{n}={}", serde_json::Value::String(v.clone()))).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A queued batch: `positions length u32 LE | positions JSON | push request`.
fn queued_record(positions: &BTreeMap<PathBuf, Position>, request: &[u8]) -> Vec<u8> {
    let positions = serde_json::to_vec(positions).expect("positions serialize");
    let mut record = Vec::with_capacity(4 + positions.len() + request.len());
    record.extend_from_slice(&(positions.len() as u32).to_le_bytes());
    record.extend_from_slice(&positions);
    record.extend_from_slice(request);
    record
}

/// The read positions a queued batch carries.
fn positions_of(record: &[u8]) -> Option<BTreeMap<PathBuf, Position>> {
    let (len, rest) = record.split_first_chunk::<4>()?;
    serde_json::from_slice(rest.get(..u32::from_le_bytes(*len) as usize)?).ok()
}

/// The push request of a queued batch.
pub fn request_of(record: &[u8]) -> &[u8] {
    let Some((len, rest)) = record.split_first_chunk::<4>() else { return &[] };
    rest.get(u32::from_le_bytes(*len) as usize..).unwrap_or_default()
}

fn read_positions(path: &Path) -> BTreeMap<PathBuf, Position> {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

fn write_positions(path: &Path, positions: &BTreeMap<PathBuf, Position>) -> std::io::Result<()> {
    super::write_durably(path, &serde_json::to_vec(positions)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(extract: Option<Extract>) -> LogInputConfig {
        serde_norway::from_str::<LogInputConfig>(&format!(
            "paths: [/tmp/x.log]\nlabels: {{job: app}}\n{}",
            extract.map_or(String::new(), |e| format!("extract: {}\n", serde_norway::to_string(&e).unwrap()))
        ))
        .unwrap()
    }

    fn line(text: &str) -> Line {
        Line {
            path: PathBuf::from("/tmp/x.log"),
            text: text.to_string(),
            start: Position { dev: 0, inode: 0, offset: 0 },
        }
    }

    #[test]
    fn time_and_level_come_from_json_and_logfmt_lines() {
        let mut last = 0;
        let json = to_entry(
            &input(Some(Extract::Json)),
            line(r#"{"time":"2026-11-25T12:00:00Z","level":"WARN","msg":"x"}"#),
            &mut last,
        );
        assert_eq!(
            json.timestamp,
            argus_model::calendar::parse_rfc3339_nanos("2026-11-25T12:00:00Z").unwrap()
        );
        assert_eq!(json.level.as_deref(), Some("warn"));
        let logfmt = to_entry(
            &input(Some(Extract::Logfmt)),
            line(r#"time=2026-11-25T12:00:01Z level=error msg="disk full""#),
            &mut last,
        );
        assert_eq!(logfmt.level.as_deref(), Some("error"));
        let plain = to_entry(&input(None), line("no structure"), &mut last);
        let plain2 = to_entry(&input(None), line("again"), &mut last);
        assert!(plain2.timestamp > plain.timestamp, "read times keep file order");
    }

    #[test]
    fn multiline_entries_join_until_the_next_start() {
        let start = Regex::new(r"^\d{4}-").unwrap();
        let (mut joining, mut pending) = (BTreeMap::new(), Vec::new());
        let mut last = 0;
        for text in ["2026-11-25 error", "  at frame 1", "  at frame 2", "2026-11-25 next"] {
            join(&start, to_entry(&input(None), line(text), &mut last), &mut joining, &mut pending);
        }
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].line, "2026-11-25 error\n  at frame 1\n  at frame 2");
        assert_eq!(joining.values().next().unwrap().0.line, "2026-11-25 next");
    }

    #[test]
    fn queued_records_carry_positions_and_the_request() {
        let positions: BTreeMap<PathBuf, Position> =
            [(PathBuf::from("/a.log"), Position { dev: 1, inode: 2, offset: 3 })].into_iter().collect();
        let record = queued_record(&positions, b"request");
        assert_eq!(positions_of(&record), Some(positions));
        assert_eq!(request_of(&record), b"request");
        assert_eq!(positions_of(b"xx"), None);
        assert_eq!(request_of(b"xx"), b"");
    }

    #[test]
    fn batches_become_push_requests_with_file_and_level_streams() {
        let entries = vec![
            Entry {
                path: "/a.log".into(),
                start: Position { dev: 0, inode: 0, offset: 0 },
                level: None,
                timestamp: 1,
                line: "x".into(),
            },
            Entry {
                path: "/a.log".into(),
                start: Position { dev: 0, inode: 0, offset: 2 },
                level: Some("error".into()),
                timestamp: 2,
                line: "y".into(),
            },
        ];
        let body = push_request(&input(None), entries);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.streams.len(), 2);
        assert_eq!(request.streams[0].labels, r#"{filename="/a.log", job="app"}"#);
        assert_eq!(request.streams[1].labels, r#"{filename="/a.log", job="app", level="error"}"#);
    }
}
