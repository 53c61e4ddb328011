//! Logs end to end: real Loki clients push (the `python-logging-loki` package and our own
//! protobuf pusher), every line comes back byte for byte from `query_range` in both
//! directions, bad entries get Loki's 400 while good ones are stored, and lines acknowledged
//! before a SIGKILL are all there exactly once after a restart.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argus_tests::app::Argus;
use argus_tests::loki::{Entry, all_lines, push_json, push_protobuf, query_streams};
use serde_json::json;

const SECOND: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// Polls until `query` returns `want` lines (commits happen every second), then returns them.
fn wait_for_lines(argus: &Argus, query: &str, want: usize, start: i64, end: i64) -> Vec<(i64, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = all_lines(&argus.url(""), query, start, end);
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Lines that stress byte-exactness: Unicode, quotes, escapes, tabs, JSON, long lines.
fn tricky_line(i: usize) -> String {
    match i % 5 {
        0 => format!("plain line {i}"),
        1 => format!("ünïcödé ✓ {i} \"quoted\" back\\slash\ttab"),
        2 => format!(r#"{{"level":"error","i":{i},"msg":"out of memory"}}"#),
        3 => format!("level=info i={i} msg=\"all good\" path=/api/v1/users/{i}"),
        _ => format!("{i} {}", "x".repeat(2000 + i)),
    }
}

#[test]
fn protobuf_pushes_come_back_byte_exact_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let base = now_ns() - 600 * SECOND;
    let entries = |stream: usize| -> Vec<Entry> {
        (0..200)
            .map(|i| {
                let metadata =
                    if i % 7 == 0 { vec![("trace_id".to_string(), format!("t{i}"))] } else { vec![] };
                (base + (i as i64) * SECOND + stream as i64, tricky_line(i), metadata)
            })
            .collect()
    };
    let response = push_protobuf(
        &argus.url(""),
        &[(r#"{app="proto", stream="a"}"#, entries(0)), (r#"{app="proto", stream="b"}"#, entries(1))],
    );
    assert_eq!(response.status, 204, "{}", response.body);
    let (start, end) = (base - SECOND, base + 300 * SECOND);
    let lines = wait_for_lines(&argus, r#"{app="proto"}"#, 400, start, end);
    assert_eq!(lines.len(), 400);

    for (stream, entries) in [("a", entries(0)), ("b", entries(1))] {
        let query = format!(r#"{{app="proto", stream="{stream}"}}"#);
        let want: Vec<(i64, String)> = entries.iter().map(|(ts, line, _)| (*ts, line.clone())).collect();
        let forward = query_streams(&argus.url(""), &query, "forward", start, end);
        // Entries with metadata form their own result stream (metadata are labels there).
        let mut merged: Vec<(i64, String)> = forward.iter().flat_map(|(_, v)| v.clone()).collect();
        merged.sort_by_key(|(ts, _)| *ts);
        assert_eq!(merged, want, "stream {stream}, forward");
        for (labels, values) in &forward {
            assert!(values.windows(2).all(|w| w[0].0 < w[1].0), "{labels}: forward is oldest first");
        }
        let backward = query_streams(&argus.url(""), &query, "backward", start, end);
        for (labels, values) in &backward {
            assert!(values.windows(2).all(|w| w[0].0 > w[1].0), "{labels}: backward is newest first");
        }
        let traced =
            backward.iter().find(|(labels, _)| labels["trace_id"] == "t7").expect("metadata as labels");
        assert_eq!(traced.1.len(), 1);
    }
}

#[test]
fn python_logging_loki_lines_come_back_byte_exact_and_in_order() {
    let Some(python) = python_with_logging_loki() else { return };
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let started = now_ns();
    let script = r#"
import logging, sys
import logging_loki
handler = logging_loki.LokiHandler(url=sys.argv[1], tags={"app": "pyclient"}, version="1")
logger = logging.getLogger("argus-test")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
for i in range(int(sys.argv[2])):
    logger.warning(sys.argv[3].replace("{i}", str(i)))
"#;
    let template = "py line {i} ✓ \"quoted\" tab\there {\"json\": {i}} end";
    let count = 150;
    let status = Command::new(&python)
        .args(["-c", script, &argus.url("/loki/api/v1/push"), &count.to_string(), template])
        .status()
        .expect("running python");
    assert!(status.success(), "the Loki handler raises unless every push got 204");
    let (start, end) = (started - 60 * SECOND, now_ns() + 60 * SECOND);
    let lines = wait_for_lines(&argus, r#"{app="pyclient"}"#, count, start, end);
    let want: Vec<String> = (0..count).map(|i| template.replace("{i}", &i.to_string())).collect();
    assert_eq!(
        lines.into_iter().map(|(_, line)| line).collect::<Vec<_>>(),
        want,
        "forward order, byte exact"
    );
    let volume = argus_tests::client::api_get(
        &argus.url(""),
        "/loki/api/v1/index/volume",
        &[
            ("query", r#"{app="pyclient"}"#),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("targetLabels", "app"),
            ("aggregateBy", "labels"),
        ],
    );
    let bytes: usize = want.iter().map(String::len).sum();
    assert_eq!(volume["data"]["result"][0]["metric"], json!({"app": "pyclient"}));
    assert_eq!(volume["data"]["result"][0]["value"][1], bytes.to_string(), "{volume}");
    let backward =
        query_streams(&argus.url(""), r#"{app="pyclient", severity="warning"}"#, "backward", start, end);
    assert_eq!(backward.len(), 1, "one stream: {backward:?}");
    let got: Vec<&str> = backward[0].1.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(got, want.iter().rev().map(String::as_str).collect::<Vec<_>>(), "backward order");
    assert_eq!(backward[0].0["logger"], "argus-test");
}

/// A Python with the `logging_loki` package: `$ARGUS_TEST_PYTHON` (which `.ci/run` sets to a
/// virtualenv with it), else `python3`. Missing: skipped, but a failure under CI.
fn python_with_logging_loki() -> Option<String> {
    let python = std::env::var("ARGUS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let usable =
        Command::new(&python).args(["-c", "import logging_loki"]).status().is_ok_and(|s| s.success());
    if !usable {
        assert!(
            !argus_tests::in_ci(),
            "{python} cannot import logging_loki under CI=true (.ci/run installs it)"
        );
        eprintln!("SKIPPED: {python} has no logging_loki (pip install python-logging-loki)");
        return None;
    }
    Some(python)
}

#[test]
fn bad_entries_get_lokis_400_and_good_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let now = now_ns();
    let body = json!({"streams": [
        {"stream": {"app": "limits"}, "values": [
            [now.to_string(), "fine"],
            [now.to_string(), "y".repeat(300 * 1024)],
            [(now + 3600 * SECOND).to_string(), "from the future"],
            [(now - 40 * 86_400 * SECOND).to_string(), "older than retention"],
        ]},
        {"stream": {"bad-name": "x"}, "values": [[now.to_string(), "bad label"]]},
    ]});
    let response = push_json(&argus.url(""), &body);
    assert_eq!(response.status, 400);
    assert!(
        response.body.contains("max entry size '262144' bytes exceeded for stream '{app=\"limits\"}'"),
        "{}",
        response.body
    );
    assert!(response.body.contains("has timestamp too new"), "{}", response.body);
    assert!(response.body.contains("has timestamp too old"), "{}", response.body);
    assert!(response.body.contains("invalid label name"), "{}", response.body);
    let lines = wait_for_lines(&argus, r#"{app="limits"}"#, 1, now - SECOND, now + SECOND);
    assert_eq!(lines, [(now, "fine".to_string())]);

    let numeric = json!({"streams": [{"stream": {"app": "x"}, "values": [[now, "numeric timestamp"]]}]});
    let response = push_json(&argus.url(""), &numeric);
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("timestamp must be a string"), "{}", response.body);
    let response = argus_tests::client::post_raw(&argus.url(""), "/loki/api/v1/push", b"junk".to_vec(), &[]);
    assert_eq!(response.status, 400, "{}", response.body);

    let bad_query = argus_tests::client::client()
        .get(argus.url("/loki/api/v1/query_range"))
        .query(&[("query", r#"{app="x"} | json | status >"#)])
        .send()
        .unwrap();
    assert_eq!(bad_query.status().as_u16(), 400);
    let message = bad_query.text().unwrap();
    assert!(message.starts_with("parse error at line 1, col 28: expected a number"), "{message}");
    assert!(argus.url("").starts_with("http://127.0.0.1:"));
}

#[test]
fn lines_acknowledged_before_sigkill_are_all_there_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let base = argus.url("");
    let start = now_ns();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for batch in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let lines: Vec<String> = (0..20).map(|i| format!("writer {writer} batch {batch} line {i}")).collect();
                    let values: Vec<_> = lines.iter().enumerate().map(|(i, l)| json!([(start + batch * 1000 + i as i64).to_string(), l])).collect();
                    let body = json!({"streams": [{"stream": {"app": "durable", "writer": writer.to_string()}, "values": values}]});
                    match argus_tests::client::client()
                        .post(format!("{base}/loki/api/v1/push"))
                        .header("Content-Type", "application/json")
                        .body(body.to_string())
                        .send()
                    {
                        Ok(response) if response.status().as_u16() == 204 => acknowledged.extend(lines),
                        _ => break,
                    }
                    // Paced so that every writer's lines fit in one query (limit 5000).
                    std::thread::sleep(Duration::from_millis(15));
                }
                acknowledged
            })
        })
        .collect();
    // Long enough for commits to happen mid-stream, and to kill between them.
    std::thread::sleep(Duration::from_millis(2500));
    argus.kill();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(acknowledged.len() > 200, "only {} lines acknowledged", acknowledged.len());

    let argus = Argus::start(dir.path());
    let end = now_ns() + SECOND;
    let stored: Vec<(i64, String)> = (0..3)
        .flat_map(|writer| {
            all_lines(
                &argus.url(""),
                &format!(r#"{{app="durable", writer="{writer}"}}"#),
                start - SECOND,
                end,
            )
        })
        .collect();
    assert!(stored.len() < 5000 * 3, "each writer's lines fit in one query");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, line) in &stored {
        *counts.entry(line.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "lines stored twice: {:?}", &duplicated[..duplicated.len().min(5)]);
    let missing: Vec<_> = acknowledged.iter().filter(|l| !counts.contains_key(l.as_str())).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged lines lost, e.g. {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(5)],
        argus.log()
    );
    assert!(argus.terminate(), "clean shutdown");
}

#[test]
fn ndjson_objects_are_split_into_time_line_labels_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let now = now_ns();
    let body = format!(
        "{}\n{}\nnot json\n",
        json!({"ts": now.to_string(), "msg": "first ✓", "app": "nd", "user": {"id": 7}}),
        json!({"ts": (now + 1).to_string(), "message": "second", "app": "nd", "code": 200}),
    );
    let response = argus_tests::client::post_raw(
        &argus.url(""),
        "/api/v1/logs/ndjson?label_fields=app",
        body.into_bytes(),
        &[],
    );
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.body, "line 3: not a JSON object\n");
    let lines = wait_for_lines(&argus, r#"{app="nd"}"#, 2, now - SECOND, now + SECOND);
    assert_eq!(lines, [(now, "first ✓".to_string()), (now + 1, "second".to_string())]);
    let streams =
        query_streams(&argus.url(""), r#"{app="nd"} | code="200""#, "forward", now - SECOND, now + SECOND);
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].0, json!({"app": "nd", "code": "200"}), "other fields are structured metadata");
}

#[test]
fn tail_streams_new_entries_over_websocket_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let now = now_ns();
    let push = |offset: i64, line: &str| {
        let body = json!({"streams": [{"stream": {"app": "tailed"}, "values": [[(now + offset).to_string(), line]]}]});
        assert_eq!(push_json(&argus.url(""), &body).status, 204);
    };
    push(0, "before the tail");
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={}&start={}",
        argus.addr,
        "%7Bapp%3D%22tailed%22%7D%20%21%3D%20%22skip%22",
        now - SECOND
    );
    let (mut socket, _) = tungstenite::connect(url).expect("websocket handshake");
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_mut() {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    push(1, "skip me");
    push(2, "after the tail");
    let mut received: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while received.len() < 2 && Instant::now() < deadline {
        let message = socket.read().expect("a tail message");
        let tungstenite::Message::Text(text) = message else { continue };
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(body["dropped_entries"].is_array(), "{body}");
        for stream in body["streams"].as_array().unwrap() {
            assert_eq!(stream["stream"], json!({"app": "tailed"}));
            received.extend(
                stream["values"].as_array().unwrap().iter().map(|v| v[1].as_str().unwrap().to_string()),
            );
        }
    }
    assert_eq!(received, ["before the tail", "after the tail"], "each once, filtered, in order");
    socket.close(None).unwrap();

    let refused = argus_tests::client::client()
        .get(argus.url("/loki/api/v1/tail"))
        .query(&[("query", r#"{app="tailed"}"#), ("delay_for", "6")])
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
}
