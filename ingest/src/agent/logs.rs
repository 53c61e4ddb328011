//! Log inputs: each follows the files its globs match ([`super::tail`]), joins multi-line
//! entries, takes the time and level from JSON or logfmt lines when asked, and batches entries
//! into Loki push requests written to every log output's on-disk queue.
//!
//! A queued batch carries the read positions (file, inode, offset) it brings the files to
//! ([`super::log_batch`], shared with the journal input), so that on start reading resumes
//! where the newest queued batch left off, and nothing is read twice or skipped (a multi-line
//! entry still being joined is read again).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::AgentMetrics;
use super::config::LogInputConfig;
use super::log_batch::{Batch, InputQueues, StreamLabels};
use super::tail::{Line, Position, Tailer};

/// How often files are checked for new lines.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

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

/// A file input's stream: its file, and the level extracted from its lines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FileStream {
    path: PathBuf,
    level: Option<String>,
}

impl StreamLabels for FileStream {
    fn add_to(&self, labels: &mut BTreeMap<String, String>) {
        labels.insert("filename".to_string(), self.path.display().to_string());
        if let Some(level) = &self.level {
            labels.insert("level".to_string(), level.clone());
        }
    }
}

/// Follows one input forever, queueing its entries into `queues`.
pub async fn run(input: LogInputConfig, queues: InputQueues, metrics: Arc<AgentMetrics>) {
    let positions: BTreeMap<PathBuf, Position> = queues.resume().unwrap_or_default();
    let multiline = input.multiline_start.as_deref().and_then(|p| Regex::new(p).ok());
    let mut tailer = Some(Tailer::new(input.paths.clone(), input.flush_partial_after.0, &positions));
    let mut batch: Batch<FileStream> = Batch::default();
    let mut joining: BTreeMap<PathBuf, (Entry, Instant)> = BTreeMap::new();
    let mut last_time = 0i64;
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
        metrics.log_lines_read.fetch_add(lines.len() as u64, Ordering::Relaxed);
        for line in lines {
            let entry = to_entry(&input, line, &mut last_time);
            let finished = match &multiline {
                Some(start) => join(start, entry, &mut joining),
                None => Some(entry),
            };
            if let Some(entry) = finished {
                add(&mut batch, entry);
            }
        }
        // A joined entry waits for its next start line at most flush_partial_after.
        let waited: Vec<PathBuf> = joining
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= input.flush_partial_after.0)
            .map(|(path, _)| path.clone())
            .collect();
        for path in waited {
            add(&mut batch, joining.remove(&path).expect("listed").0);
        }
        if batch.is_due() {
            // A multi-line entry still being joined is read again after a restart.
            let mut positions = tailer.as_ref().expect("present").positions();
            for (path, (entry, _)) in &joining {
                positions.insert(path.clone(), entry.start);
            }
            queues.queue(&positions, &batch.take_request(&input.labels)).await;
        }
    }
}

fn add(batch: &mut Batch<FileStream>, entry: Entry) {
    batch.push(FileStream { path: entry.path, level: entry.level }, entry.timestamp, entry.line);
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

/// Appends `entry` to the entry being joined for its file when it does not start a new one;
/// returns the entry it finished, if any.
fn join(start: &Regex, entry: Entry, joining: &mut BTreeMap<PathBuf, (Entry, Instant)>) -> Option<Entry> {
    match joining.get_mut(&entry.path) {
        Some((current, since)) if !start.is_match(&entry.line) => {
            current.line.push('\n');
            current.line.push_str(&entry.line);
            // The wait for the next start line counts from the last line joined.
            *since = Instant::now();
            None
        }
        _ => joining.insert(entry.path.clone(), (entry, Instant::now())).map(|(finished, _)| finished),
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

#[cfg(test)]
mod tests {
    use prost::Message;

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
        let mut joining = BTreeMap::new();
        let mut last = 0;
        let finished: Vec<Entry> = ["2026-11-25 error", "  at frame 1", "  at frame 2", "2026-11-25 next"]
            .into_iter()
            .filter_map(|text| join(&start, to_entry(&input(None), line(text), &mut last), &mut joining))
            .collect();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].line, "2026-11-25 error\n  at frame 1\n  at frame 2");
        assert_eq!(joining.values().next().unwrap().0.line, "2026-11-25 next");
    }

    #[test]
    fn batches_become_push_requests_with_file_and_level_streams() {
        let mut batch = Batch::default();
        for (level, timestamp, text) in [(None, 1, "x"), (Some("error"), 2, "y")] {
            let stream = FileStream { path: "/a.log".into(), level: level.map(str::to_string) };
            batch.push(stream, timestamp, text.to_string());
        }
        let body = batch.take_request(&input(None).labels);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = argus_model::proto::loki::PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.streams.len(), 2);
        assert_eq!(request.streams[0].labels, r#"{filename="/a.log", job="app"}"#);
        assert_eq!(request.streams[1].labels, r#"{filename="/a.log", job="app", level="error"}"#);
    }
}
