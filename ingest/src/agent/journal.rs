//! The systemd journal input: runs `journalctl --output=json --follow` and ships each entry
//! it prints as a log line, batched and queued as file lines are ([`super::log_batch`]). The
//! journal cursor of the last entry read stands for the read position: it is queued with each
//! batch, and on start `journalctl --after-cursor=<it>` resumes right after the newest queued
//! entry (with no cursor yet, `--since` reads `max_age` back).
//!
//! Each line of output is one JSON object (see `journalctl(1)`, `--output=json`). Fields
//! used: `MESSAGE` (a string; an array of byte values when it is not UTF-8, turned into text
//! with U+FFFD for bad bytes; an array of values when the field occurs more than once, joined
//! by newlines), `__REALTIME_TIMESTAMP` (microseconds since the epoch, as a string),
//! `__CURSOR`, `PRIORITY` (`"0"`…`"7"`, the `level` label) and `_SYSTEMD_UNIT` (the `unit`
//! label). Other fields, PIDs among them, do not become labels: streams stay few. A line that
//! is not a JSON object is skipped, logged and counted.
//!
//! When `journalctl` cannot be started or exits, what it printed is queued, the error is
//! logged, and it is started again after a backoff; the agent's other inputs are unaffected.
//! Parsing ([`parse_line`]) and the command line ([`arguments`]) are pure; [`run`] is the
//! shell around them.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::AgentMetrics;
use super::config::JournalInputConfig;
use super::log_batch::{Batch, InputQueues, StreamLabels};

/// First wait before starting `journalctl` again; it doubles up to `RESTART_MAX`.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A `journalctl` that ran this long was working: the next restart waits `RESTART_MIN` again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// The levels of priorities 0 to 7 (`syslog(3)`), as Loki and Grafana name them.
const LEVELS: [&str; 8] = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"];

/// A journal input's stream: the entry's systemd unit and level, when it has them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct JournalStream {
    pub unit: Option<String>,
    pub level: Option<&'static str>,
}

impl StreamLabels for JournalStream {
    fn add_to(&self, labels: &mut BTreeMap<String, String>) {
        if let Some(unit) = &self.unit {
            labels.insert("unit".to_string(), unit.clone());
        }
        if let Some(level) = self.level {
            labels.insert("level".to_string(), level.to_string());
        }
    }
}

/// One journal entry as the agent ships it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Where the entry is in the journal (`__CURSOR`).
    pub cursor: Option<String>,
    /// Nanoseconds since the epoch (`__REALTIME_TIMESTAMP`).
    pub timestamp: Option<i64>,
    pub stream: JournalStream,
    /// `MESSAGE`; `None` when the entry has none (or `journalctl` left it out as `null`).
    pub line: Option<String>,
}

/// The fields of an output line the input uses; the others are skipped unread.
#[derive(Deserialize)]
struct RawEntry {
    #[serde(rename = "MESSAGE")]
    message: Option<Field>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Field>,
    #[serde(rename = "__CURSOR")]
    cursor: Option<Field>,
    #[serde(rename = "PRIORITY")]
    priority: Option<Field>,
    #[serde(rename = "_SYSTEMD_UNIT")]
    unit: Option<Field>,
}

/// A field's value as `journalctl --output=json` writes it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Field {
    Text(String),
    /// Not UTF-8: its bytes.
    Bytes(Vec<u8>),
    /// The field occurs more than once in the entry.
    Values(Vec<Field>),
    /// Anything else (a number…): not a journal value, ignored rather than losing the entry.
    Other(serde::de::IgnoredAny),
}

impl Field {
    /// The value as text, whatever form it came in.
    fn into_text(self) -> Option<String> {
        match self {
            Field::Text(text) => Some(text),
            Field::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Field::Values(values) => {
                let texts: Vec<String> = values.into_iter().filter_map(Field::into_text).collect();
                (!texts.is_empty()).then(|| texts.join("\n"))
            }
            Field::Other(_) => None,
        }
    }

    /// The value when it is a single string.
    fn into_string(self) -> Option<String> {
        match self {
            Field::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Parses one line of `journalctl --output=json`. Missing or odd fields leave their part of
/// the entry empty; only a line that is not a JSON object is an error.
pub fn parse_line(line: &[u8]) -> Result<JournalEntry, serde_json::Error> {
    let raw: RawEntry = serde_json::from_slice(line)?;
    let timestamp = raw
        .realtime
        .and_then(Field::into_string)
        .and_then(|micros| micros.trim().parse::<i64>().ok())
        .and_then(|micros| micros.checked_mul(1_000));
    let level = raw.priority.and_then(Field::into_string).and_then(|p| level(&p));
    Ok(JournalEntry {
        cursor: raw.cursor.and_then(Field::into_string),
        timestamp,
        stream: JournalStream { unit: raw.unit.and_then(Field::into_string), level },
        line: raw.message.and_then(Field::into_text),
    })
}

/// The level label of a syslog priority (`"0"`…`"7"`).
fn level(priority: &str) -> Option<&'static str> {
    priority.trim().parse::<usize>().ok().and_then(|p| LEVELS.get(p).copied())
}

/// The `journalctl` command line: JSON, following, after `cursor` when one was saved, else
/// from `max_age` before `now`. `--no-tail` keeps `--follow` from starting at the last ten
/// entries; `--all` keeps messages over 4 KiB (printed as `null` without it).
pub fn arguments(input: &JournalInputConfig, cursor: Option<&str>, now: SystemTime) -> Vec<String> {
    let mut args: Vec<String> =
        ["--output=json", "--follow", "--no-pager", "--no-tail", "--all"].map(String::from).into();
    match cursor {
        Some(cursor) => args.push(format!("--after-cursor={cursor}")),
        None => {
            let since = now.checked_sub(input.max_age.0).unwrap_or(UNIX_EPOCH);
            let seconds = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            args.push(format!("--since=@{seconds}"));
        }
    }
    args.extend(input.units.iter().map(|unit| format!("--unit={unit}")));
    args
}

/// A stable name for an input's queues and positions file: its units, in any order.
pub fn input_key(input: &JournalInputConfig) -> u64 {
    let mut units: Vec<&str> = input.units.iter().map(String::as_str).collect();
    units.sort_unstable();
    units.dedup();
    xxhash_rust::xxh3::xxh3_64(format!("journal\n{}", units.join("\n")).as_bytes())
}

/// What a queued batch of a journal input carries: the cursor of the last entry read, `None`
/// only when `journalctl` printed no cursor at all.
#[derive(Debug, Serialize, Deserialize)]
struct JournalPosition {
    cursor: Option<String>,
}

/// Follows the journal forever, queueing its entries into `queues`, and starting `journalctl`
/// again (after a backoff) whenever it cannot be started or exits.
pub async fn run(input: JournalInputConfig, queues: InputQueues, metrics: Arc<AgentMetrics>) {
    let mut cursor = queues.resume::<JournalPosition>().and_then(|position| position.cursor);
    let mut backoff = RESTART_MIN;
    loop {
        let started = Instant::now();
        let error = follow(&input, &queues, &metrics, &mut cursor).await;
        if started.elapsed() >= HEALTHY_RUN {
            backoff = RESTART_MIN;
        }
        tracing::error!(%error, retry_in = ?backoff, "journal input stopped; starting journalctl again later");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RESTART_MAX);
    }
}

/// Runs `journalctl` once, from `cursor`, until it exits or its output cannot be read; each
/// queued batch moves `cursor`. Returns why it stopped.
async fn follow(
    input: &JournalInputConfig,
    queues: &InputQueues,
    metrics: &AgentMetrics,
    cursor: &mut Option<String>,
) -> String {
    let program = input.journalctl.display().to_string();
    let mut child = match tokio::process::Command::new(&input.journalctl)
        .args(arguments(input, cursor.as_deref(), SystemTime::now()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => return format!("starting {program}: {error}"),
    };
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(log_stderr(stderr, program.clone()));
    }
    let Some(stdout) = child.stdout.take() else { return format!("{program} has no stdout") };
    let mut reading = Reading { batch: Batch::default(), cursor: cursor.clone(), metrics };
    let stopped = reading.read(BufReader::new(stdout), input, queues, cursor).await;
    // What was read before it stopped is queued: a restart resumes after it.
    reading.queue(input, queues, cursor).await;
    match stopped {
        Ok(()) => match child.wait().await {
            Ok(status) => format!("{program} exited ({status})"),
            Err(error) => format!("waiting for {program}: {error}"),
        },
        Err(error) => format!("reading the output of {program}: {error}"),
    }
}

/// One run of `journalctl`: the batch being filled and the cursor of the last entry read.
struct Reading<'a> {
    batch: Batch<JournalStream>,
    cursor: Option<String>,
    metrics: &'a AgentMetrics,
}

impl Reading<'_> {
    /// Reads output lines until the end of the output, queueing batches as they are due.
    async fn read(
        &mut self,
        mut output: impl tokio::io::AsyncBufRead + Unpin,
        input: &JournalInputConfig,
        queues: &InputQueues,
        queued_cursor: &mut Option<String>,
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        loop {
            let deadline = self.batch.deadline().unwrap_or_else(Instant::now);
            tokio::select! {
                // On the other branch a partly read line stays in `line`; reading continues it.
                read = output.read_until(b'\n', &mut line) => {
                    if read? == 0 {
                        return Ok(());
                    }
                    self.add(&line);
                    line.clear();
                }
                _ = tokio::time::sleep_until(deadline.into()), if !self.batch.is_empty() => {}
            }
            if self.batch.is_due() {
                self.queue(input, queues, queued_cursor).await;
            }
        }
    }

    /// Adds one output line to the batch, or counts and logs it when it is not an entry.
    fn add(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        self.metrics.log_lines_read.fetch_add(1, Ordering::Relaxed);
        match parse_line(line) {
            Ok(entry) => {
                if entry.cursor.is_some() {
                    self.cursor = entry.cursor;
                }
                if let Some(text) = entry.line {
                    let timestamp =
                        entry.timestamp.unwrap_or_else(|| argus_model::time::now().saturating_mul(1_000_000));
                    self.batch.push(entry.stream, timestamp, text);
                }
            }
            Err(error) => {
                self.metrics.journal_lines_invalid.fetch_add(1, Ordering::Relaxed);
                let start = String::from_utf8_lossy(&line[..line.len().min(200)]);
                tracing::warn!(%error, line = %start, "skipping a journalctl output line that is not a JSON entry");
            }
        }
    }

    /// Queues the batch, if it holds anything, with the cursor of the last entry read.
    async fn queue(
        &mut self,
        input: &JournalInputConfig,
        queues: &InputQueues,
        queued_cursor: &mut Option<String>,
    ) {
        if self.batch.is_empty() {
            return;
        }
        let position = JournalPosition { cursor: self.cursor.clone() };
        queues.queue(&position, &self.batch.take_request(&input.labels)).await;
        queued_cursor.clone_from(&self.cursor);
    }
}

/// Logs what `journalctl` says on stderr (a cursor it cannot seek to, a missing journal…).
async fn log_stderr(stderr: tokio::process::ChildStderr, program: String) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(journalctl = %program, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(yaml: &str) -> JournalInputConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn entry(json: &str) -> JournalEntry {
        parse_line(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_whole_entry_becomes_line_time_cursor_unit_and_level() {
        let parsed = entry(
            r#"{"__CURSOR":"s=ab;i=1f","__REALTIME_TIMESTAMP":"1764072000123456","PRIORITY":"3","_SYSTEMD_UNIT":"nginx.service","SYSLOG_IDENTIFIER":"nginx","_PID":"812","MESSAGE":"upstream timed out"}"#,
        );
        assert_eq!(
            parsed,
            JournalEntry {
                cursor: Some("s=ab;i=1f".into()),
                timestamp: Some(1_764_072_000_123_456_000),
                stream: JournalStream { unit: Some("nginx.service".into()), level: Some("error") },
                line: Some("upstream timed out".into()),
            }
        );
    }

    #[test]
    fn messages_in_bytes_or_repeated_become_text() {
        let bytes = entry(r#"{"MESSAGE":[104,105,255,33]}"#);
        assert_eq!(bytes.line.as_deref(), Some("hi\u{fffd}!"), "not UTF-8: bad bytes replaced");
        let repeated = entry(r#"{"MESSAGE":["one",[116,119,111]]}"#);
        assert_eq!(repeated.line.as_deref(), Some("one\ntwo"));
        assert_eq!(entry(r#"{"MESSAGE":"käse ✓"}"#).line.as_deref(), Some("käse ✓"));
    }

    #[test]
    fn missing_and_odd_fields_leave_their_part_empty() {
        let bare = entry("{}");
        assert_eq!(
            bare,
            JournalEntry {
                cursor: None,
                timestamp: None,
                stream: JournalStream { unit: None, level: None },
                line: None
            }
        );
        let null = entry(r#"{"MESSAGE":null,"__CURSOR":"c1","PRIORITY":"9","__REALTIME_TIMESTAMP":"soon"}"#);
        assert_eq!(
            (null.line, null.cursor.as_deref(), null.stream.level, null.timestamp),
            (None, Some("c1"), None, None)
        );
        let odd = entry(r#"{"MESSAGE":"m","PRIORITY":6,"_SYSTEMD_UNIT":["a","b"]}"#);
        assert_eq!((odd.line.as_deref(), odd.stream.level, odd.stream.unit), (Some("m"), None, None));
    }

    #[test]
    fn lines_that_are_not_json_objects_are_errors() {
        for line in ["not json", "", "42", r#"["MESSAGE"]"#, r#"{"MESSAGE":"cut"#] {
            assert!(parse_line(line.as_bytes()).is_err(), "{line:?}");
        }
    }

    #[test]
    fn priorities_map_to_syslog_level_names() {
        let levels: Vec<Option<&str>> =
            ["0", "1", "2", "3", "4", "5", "6", "7", "8", "-1", "x"].map(level).into();
        assert_eq!(
            levels,
            [
                Some("emerg"),
                Some("alert"),
                Some("crit"),
                Some("error"),
                Some("warning"),
                Some("notice"),
                Some("info"),
                Some("debug"),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn the_command_line_resumes_after_the_cursor_or_reads_max_age_back() {
        let config = input("units: [a.service, 'b@*.service']\nmax_age: 2h\n");
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        let fresh = arguments(&config, None, now);
        assert_eq!(
            fresh,
            [
                "--output=json",
                "--follow",
                "--no-pager",
                "--no-tail",
                "--all",
                "--since=@92800",
                "--unit=a.service",
                "--unit=b@*.service"
            ]
        );
        let resumed = arguments(&config, Some("s=1;i=2"), now);
        assert!(resumed.contains(&"--after-cursor=s=1;i=2".to_string()));
        assert!(!resumed.iter().any(|a| a.starts_with("--since")));
        let long_ago = arguments(&input("max_age: 100y\n"), None, now);
        assert!(long_ago.contains(&"--since=@0".to_string()), "{long_ago:?}");
    }

    #[test]
    fn the_key_is_the_set_of_units() {
        let key = |yaml| input_key(&input(yaml));
        assert_eq!(key("units: [a, b]"), key("units: [b, a, a]\nlabels: {x: y}"));
        assert_ne!(key("units: [a]"), key("units: [b]"));
        assert_ne!(key("{}"), key("units: [a]"));
    }

    #[test]
    fn entries_join_the_batch_and_bad_lines_are_counted() {
        let metrics = AgentMetrics::default();
        let mut reading = Reading { batch: Batch::default(), cursor: None, metrics: &metrics };
        for line in [
            r#"{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"5","MESSAGE":"one","PRIORITY":"6"}"#,
            "garbage",
            r#"{"__CURSOR":"c2","MESSAGE":null}"#,
            "  ",
        ] {
            reading.add(line.as_bytes());
        }
        assert_eq!(
            reading.cursor.as_deref(),
            Some("c2"),
            "an entry without a message still moves the cursor"
        );
        assert_eq!(metrics.log_lines_read.load(Ordering::Relaxed), 3, "blank lines are not lines");
        assert_eq!(metrics.journal_lines_invalid.load(Ordering::Relaxed), 1);
        let body = reading.batch.take_request(&input("labels: {job: journal}").labels);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request =
            <argus_model::proto::loki::PushRequest as prost::Message>::decode(raw.as_slice()).unwrap();
        assert_eq!(request.streams.len(), 1);
        assert_eq!(request.streams[0].labels, r#"{job="journal", level="info"}"#);
        assert_eq!(request.streams[0].entries[0].line, "one");
        assert_eq!(
            request.streams[0].entries[0].timestamp,
            Some(argus_model::proto::loki::Timestamp::from_nanos(5_000))
        );
    }

    /// A `journalctl` stand-in: a shell script printing `output` and exiting with status 3.
    fn fake_journalctl(dir: &std::path::Path, output: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("journalctl");
        std::fs::write(dir.join("output"), output).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\ncat '{}'\nexit 3\n", dir.join("output").display()))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn what_journalctl_printed_before_exiting_is_queued_with_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_journalctl(
            dir.path(),
            "{\"__CURSOR\":\"c1\",\"MESSAGE\":\"one\"}\n{\"__CURSOR\":\"c2\",\"MESSAGE\":\"two\"}",
        );
        let config = input(&format!("journalctl: '{}'", program.display()));
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let queue_dir = dir.path().join("queue");
        let open = || vec![Arc::new(super::super::queue::DiskQueue::open(&queue_dir, 1 << 30).unwrap())];
        let queues = InputQueues::new("journal".into(), dir.path(), 1, open());
        let metrics = AgentMetrics::default();
        let mut cursor = None;
        let stopped = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), follow(&config, &queues, &metrics, &mut cursor))
                .await
        });
        assert!(stopped.as_ref().is_ok_and(|s| s.contains("exited (exit status: 3)")), "{stopped:?}");
        assert_eq!(cursor.as_deref(), Some("c2"), "a last line without its newline still counts");
        drop(queues);
        let reopened = InputQueues::new("journal".into(), dir.path(), 1, open());
        assert_eq!(reopened.resume::<JournalPosition>().and_then(|p| p.cursor).as_deref(), Some("c2"));

        let missing = input("journalctl: /nonexistent/journalctl");
        let stopped = runtime.block_on(follow(&missing, &reopened, &metrics, &mut cursor));
        assert!(stopped.starts_with("starting /nonexistent/journalctl: "), "{stopped}");
    }
}
