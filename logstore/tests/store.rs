//! The log store through its public traits: entries come back byte for byte in both
//! directions, required text is matched exactly, streams are selected by label matchers, and
//! everything survives a reopen exactly once.

use argus_logstore::{LogConfig, LogStore};
use argus_model::{
    Direction, Labels, LogAppendable, LogEntry, LogQueryable, LogRecord, LogSelect, LogStream, MatchOp,
    Matcher, TimeRange,
};

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;
/// 2026-11-20T00:00:00Z: inside the default 30-day retention of the tests' clock only when
/// retention is off, which these tests set.
const BASE: i64 = 20_412 * DAY;

fn config() -> LogConfig {
    LogConfig { retention: argus_model::time::HumanDuration::from_secs(0), ..LogConfig::default() }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string()))).unwrap()
}

fn entry(ts: i64, line: &str) -> LogEntry {
    LogEntry { timestamp: ts, line: line.to_string(), metadata: Labels::empty() }
}

fn select(matchers: Vec<Matcher>, direction: Direction, contains: &[&str]) -> LogSelect {
    LogSelect {
        matchers,
        range: TimeRange::new(BASE - 10 * DAY, BASE + 10 * DAY),
        direction,
        contains: contains.iter().map(|s| s.to_string()).collect(),
    }
}

fn read(store: &LogStore, select: &LogSelect) -> Vec<LogRecord> {
    store.select_logs(select).unwrap().map(Result::unwrap).collect()
}

fn lines(records: &[LogRecord]) -> Vec<&str> {
    records.iter().map(|r| r.entry.line.as_str()).collect()
}

fn api() -> Matcher {
    Matcher::equal("app", "api")
}

/// Two streams over three days: `app=api` with odd seconds, `app=web` with even ones.
fn corpus() -> Vec<LogStream> {
    let api = labels(&[("app", "api"), ("env", "prod")]);
    let web = labels(&[("app", "web"), ("env", "prod")]);
    let mut api_entries = Vec::new();
    let mut web_entries = Vec::new();
    for i in 0..30 {
        let ts = BASE + (i - 10) * DAY / 10;
        api_entries.push(entry(ts + SECOND, &format!("api line {i} GET /users/{i} 10.0.0.{i}")));
        web_entries.push(entry(ts, &format!("web line {i} ✓ unicode and \"quotes\"\t")));
    }
    vec![LogStream { labels: api, entries: api_entries }, LogStream { labels: web, entries: web_entries }]
}

#[test]
fn entries_come_back_byte_exact_in_both_directions_and_across_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), config()).unwrap();
    let streams = corpus();
    store.push(&streams).unwrap();
    store.commit().unwrap();
    assert_eq!(store.stats().partitions, 3, "three days");

    let forward = read(&store, &select(vec![api()], Direction::Forward, &[]));
    let want: Vec<&str> = streams[0].entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines(&forward), want);
    assert!(forward.iter().all(|r| r.stream == streams[0].labels));
    assert_eq!(
        forward.iter().map(|r| r.entry.timestamp).collect::<Vec<_>>(),
        streams[0].entries.iter().map(|e| e.timestamp).collect::<Vec<_>>()
    );

    let backward = read(&store, &select(vec![api()], Direction::Backward, &[]));
    assert_eq!(lines(&backward), want.iter().rev().copied().collect::<Vec<_>>());

    let both = read(&store, &select(vec![Matcher::equal("env", "prod")], Direction::Forward, &[]));
    assert_eq!(both.len(), 60);
    assert!(
        both.windows(2).all(|w| w[0].entry.timestamp <= w[1].entry.timestamp),
        "time order across streams"
    );
}

#[test]
fn required_text_is_matched_exactly_not_by_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), config()).unwrap();
    let app = labels(&[("app", "db")]);
    let texts = ["out of memory", "timeout of memory", "out  of memory", "Out of memory", "of course", "OOM"];
    let entries = texts.iter().enumerate().map(|(i, t)| entry(BASE + i as i64, t)).collect();
    store.push(&[LogStream { labels: app, entries }]).unwrap();
    store.commit().unwrap();
    let db = || vec![Matcher::equal("app", "db")];
    assert_eq!(
        lines(&read(&store, &select(db(), Direction::Forward, &["out of mem"]))),
        ["out of memory", "timeout of memory"]
    );
    assert_eq!(lines(&read(&store, &select(db(), Direction::Forward, &["of"]))).len(), 5);
    assert_eq!(
        lines(&read(&store, &select(db(), Direction::Forward, &["Out", "memory"]))),
        ["Out of memory"]
    );
    assert!(read(&store, &select(db(), Direction::Forward, &["nothing like it"])).is_empty());
}

#[test]
fn streams_are_selected_by_every_kind_of_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), config()).unwrap();
    store.push(&corpus()).unwrap();
    store.commit().unwrap();
    let count = |matchers: Vec<Matcher>| read(&store, &select(matchers, Direction::Forward, &[])).len();
    assert_eq!(count(vec![Matcher::new(MatchOp::NotEqual, "app", "api").unwrap()]), 30);
    assert_eq!(count(vec![Matcher::new(MatchOp::RegexMatch, "app", "a.*|w.b").unwrap()]), 60);
    assert_eq!(
        count(vec![
            Matcher::new(MatchOp::RegexNoMatch, "app", "web").unwrap(),
            Matcher::equal("env", "prod")
        ]),
        30
    );
    assert_eq!(count(vec![Matcher::equal("app", "nope")]), 0);
    let streams = store.log_streams(&[Matcher::equal("env", "prod")], TimeRange::new(BASE, BASE)).unwrap();
    assert_eq!(
        streams,
        [labels(&[("app", "api"), ("env", "prod")]), labels(&[("app", "web"), ("env", "prod")])]
    );
    let before = store.log_streams(&[], TimeRange::new(0, BASE - 5 * DAY)).unwrap();
    assert!(before.is_empty(), "{before:?}");
}

#[test]
fn structured_metadata_and_a_reopen_keep_every_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let with_metadata = LogEntry {
        timestamp: BASE,
        line: "traced".into(),
        metadata: labels(&[("trace_id", "abc123"), ("span", "7")]),
    };
    {
        let store = LogStore::open(dir.path(), config()).unwrap();
        store.push(&corpus()).unwrap();
        store
            .push(&[LogStream {
                labels: labels(&[("app", "api"), ("env", "prod")]),
                entries: vec![with_metadata.clone()],
            }])
            .unwrap();
    }
    let store = LogStore::open(dir.path(), config()).unwrap();
    let records = read(&store, &select(vec![api()], Direction::Forward, &[]));
    assert_eq!(records.len(), 31);
    assert_eq!(records.iter().filter(|r| r.entry == with_metadata).count(), 1);
    store.push(&corpus()).unwrap();
    store.commit().unwrap();
    assert_eq!(
        read(&store, &select(vec![api()], Direction::Forward, &[])).len(),
        61,
        "pushed again: stored again"
    );
}

#[test]
fn entries_with_one_timestamp_keep_their_push_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), config()).unwrap();
    let app = labels(&[("app", "api")]);
    for batch in 0..3 {
        let entries = (0..4).map(|i| entry(BASE, &format!("batch {batch} entry {i}"))).collect();
        store.push(&[LogStream { labels: app.clone(), entries }]).unwrap();
    }
    store.commit().unwrap();
    let forward = read(&store, &select(vec![api()], Direction::Forward, &[]));
    let want: Vec<String> =
        (0..3).flat_map(|b| (0..4).map(move |i| format!("batch {b} entry {i}"))).collect();
    assert_eq!(lines(&forward), want);
    let backward = read(&store, &select(vec![api()], Direction::Backward, &[]));
    assert_eq!(lines(&backward), want.iter().rev().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn retention_drops_whole_partitions_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = argus_model::time::now() * 1_000_000;
    let config = LogConfig {
        retention: argus_model::time::HumanDuration::from_secs(2 * 86_400),
        ..LogConfig::default()
    };
    let store = LogStore::open(dir.path(), config).unwrap();
    let app = labels(&[("app", "api")]);
    let old = labels(&[("app", "old")]);
    store
        .push(&[
            LogStream { labels: old, entries: vec![entry(now - 5 * DAY, "five days ago")] },
            LogStream {
                labels: app,
                entries: vec![entry(now - 3 * DAY, "three days ago"), entry(now, "now")],
            },
        ])
        .unwrap();
    store.commit().unwrap();
    let range = TimeRange::new(now - 10 * DAY, now + DAY);
    let all = LogSelect { matchers: vec![], range, direction: Direction::Forward, contains: vec![] };
    assert_eq!(lines(&read(&store, &all)), ["now"], "partitions ending before now - 2 days are gone");
    assert_eq!(store.stats().partitions, 1);
    assert_eq!(
        store.log_streams(&[], range).unwrap(),
        [labels(&[("app", "api")])],
        "the old stream is forgotten"
    );
}
