//! Blocks through the real server: SIGKILL at random moments while the head is being cut into
//! blocks, the WAL checkpointed and blocks compacted loses no acknowledged sample, duplicates
//! none and leaves no half-written block visible; the admin flush answers as Prometheus's
//! admin API does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argus_tests::app::Argus;
use argus_tests::client::{client, export, post_raw, series, try_remote_write};

const T0: i64 = 1_700_000_000_000;
/// Seconds of data per request: a 2-minute block range fills every 12 requests.
const STEP_MS: i64 = 10_000;
const SERIES: usize = 400;

/// A server cutting 2-minute blocks and looking for maintenance work ten times a second.
fn start(dir: &std::path::Path) -> Argus {
    let config = dir.join("argus.yaml");
    std::fs::write(
        &config,
        "storage:\n  tsdb:\n    shards: 2\n    block_range: 2m\n    compaction_interval: 100ms\n    retention:\n      time: 0s\n",
    )
    .unwrap();
    Argus::start_with(&dir.join("data"), &["--config", config.to_str().unwrap(), "--enable-admin-api"])
}

fn value(series: usize, step: i64) -> f64 {
    (series * 1_000_000) as f64 + step as f64 * 0.25
}

/// Sends one sample per series per request, step after step from `first_step`, until `done`
/// says so or a request fails (the server was killed); returns the first step not
/// acknowledged.
fn write_until(base: &str, first_step: i64, done: impl Fn(i64) -> bool) -> i64 {
    let mut step = first_step;
    while !done(step) {
        let t = T0 + step * STEP_MS;
        let batch = (0..SERIES)
            .map(|i| series(&[("__name__", "kill_loop"), ("i", &i.to_string())], &[(t, value(i, step))]))
            .collect();
        // A request cut short by the kill is neither acknowledged nor counted.
        match try_remote_write(base, batch) {
            Ok(response) if response.status == 204 => step += 1,
            _ => break,
        }
    }
    step
}

/// Checks that the server holds, for every series, each acknowledged step exactly once and
/// nothing but steps that were sent.
fn check(argus: &Argus, acknowledged: i64, sent: i64, round: usize) {
    let stored: BTreeMap<String, Vec<(i64, f64)>> = export(&argus.url(""), "kill_loop")
        .into_iter()
        .map(|(labels, samples)| (labels["i"].as_str().unwrap().to_string(), samples))
        .collect();
    assert_eq!(stored.len(), SERIES, "round {round}: every series is there");
    for (i, samples) in &stored {
        let i: usize = i.parse().unwrap();
        let steps: Vec<i64> = samples.iter().map(|(t, _)| (t - T0) / STEP_MS).collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "round {round}: series {i} has a duplicate or disorder"
        );
        assert!(steps.len() as i64 >= acknowledged, "round {round}: series {i} lost acknowledged samples");
        assert!(steps.len() as i64 <= sent + 1 && steps.iter().enumerate().all(|(k, &s)| s == k as i64));
        assert!(
            samples.iter().all(|&(t, v)| v == value(i, (t - T0) / STEP_MS)),
            "round {round}: series {i} values"
        );
    }
}

#[test]
fn sigkill_during_block_cuts_and_compactions_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut next_step = 0;
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..6 {
        let argus = start(dir.path());
        if round > 0 {
            check(&argus, next_step, next_step, round);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (base, stop) = (argus.url(""), stop.clone());
            let first = next_step;
            std::thread::spawn(move || write_until(&base, first, |_| stop.load(Ordering::Relaxed)))
        };
        // Kill after a pseudo-random 0.8–2.3 s: several cuts, checkpoints and compactions in.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(800 + seed % 1500));
        argus.kill();
        stop.store(true, Ordering::Relaxed);
        let acknowledged = writer.join().unwrap();
        assert!(acknowledged > next_step + 12, "round {round}: the writer made progress ({acknowledged})");
        next_step = acknowledged;
    }
    let argus = start(dir.path());
    check(&argus, next_step, next_step, 6);
    assert!(block_count(dir.path()) > 0, "blocks were cut");
    assert!(
        argus.log().contains("compacted blocks") || log_has_compaction(dir.path()),
        "blocks were compacted"
    );
    // Opening removed what the kills left half-written; a clean stop finishes the step under
    // way, so nothing half-written is left now either.
    assert!(argus.terminate());
    for shard in ["shard-000", "shard-001"] {
        for entry in std::fs::read_dir(dir.path().join("data/tsdb").join(shard).join("blocks")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "no half-written block is left: {name}");
        }
    }
}

/// How many blocks the server's shards hold.
fn block_count(dir: &std::path::Path) -> usize {
    ["shard-000", "shard-001"]
        .iter()
        .map(|shard| std::fs::read_dir(dir.join("data/tsdb").join(shard).join("blocks")).unwrap().count())
        .sum()
}

/// Whether a compacted block (level 2 or more) exists: compaction may have happened in an
/// earlier, killed run whose log is gone, and its output may have been compacted again since.
fn log_has_compaction(dir: &std::path::Path) -> bool {
    ["shard-000", "shard-001"].iter().any(|shard| {
        std::fs::read_dir(dir.join("data/tsdb").join(shard).join("blocks")).unwrap().any(|entry| {
            let meta = std::fs::read(entry.unwrap().path().join("meta.json")).unwrap_or_default();
            let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap_or_default();
            meta["compaction"]["level"].as_u64().is_some_and(|level| level >= 2)
        })
    })
}

#[test]
fn the_admin_flush_writes_the_head_to_blocks_and_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Argus::start(&dir.path().join("plain"));
    for path in ["/api/v1/admin/tsdb/flush", "/api/v1/admin/tsdb/delete_series?match[]=up"] {
        let refused = post_raw(&plain.url(""), path, Vec::new(), &[]);
        assert_eq!(refused.status, 503, "{path}");
        assert_eq!(refused.json()["errorType"], "unavailable");
        assert_eq!(refused.json()["error"], "admin APIs disabled");
    }

    let argus = start(dir.path());
    let step = write_until(&argus.url(""), 0, |step| step == 5);
    assert_eq!(step, 5);
    let response = client().post(argus.url("/api/v1/admin/tsdb/flush")).send().unwrap();
    assert_eq!(response.status(), 204);
    let metrics = client().get(argus.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("argus_tsdb_head_series 0\n"), "the head is empty after a flush");
    check(&argus, step, step, 0);
}

#[test]
fn delete_series_answers_as_prometheus_and_clean_tombstones_purges() {
    let dir = tempfile::tempdir().unwrap();
    let argus = start(dir.path());
    let base = argus.url("");
    let step = write_until(&base, 0, |step| step == 30);
    let http = client();
    // Steps 5–9 of series 0, in the head and (after a flush) in a block.
    http.post(argus.url("/api/v1/admin/tsdb/flush")).send().unwrap();
    let (from, to) = ((T0 + 5 * STEP_MS) as f64 / 1000.0, (T0 + 9 * STEP_MS) as f64 / 1000.0);
    let response = http
        .post(argus.url("/api/v1/admin/tsdb/delete_series"))
        .form(&[("match[]", "kill_loop{i=\"0\"}"), ("start", &from.to_string()), ("end", &to.to_string())])
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    let missing = post_raw(&base, "/api/v1/admin/tsdb/delete_series", Vec::new(), &[]);
    assert_eq!((missing.status, missing.json()["errorType"].clone()), (400, "bad_data".into()));
    assert_eq!(missing.json()["error"], "no match[] parameter provided");

    let series_0 = |argus: &Argus| -> Vec<i64> {
        let stored = export(&argus.url(""), "kill_loop{i=\"0\"}");
        stored[0].1.iter().map(|(t, _)| (t - T0) / STEP_MS).collect()
    };
    let expected: Vec<i64> = (0..step).filter(|s| !(5..=9).contains(s)).collect();
    assert_eq!(series_0(&argus), expected);
    let response = http.post(argus.url("/api/v1/admin/tsdb/clean_tombstones")).send().unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(series_0(&argus), expected, "after compaction");
    assert!(argus.terminate());
    let argus = start(dir.path());
    assert_eq!(series_0(&argus), expected, "after a restart");
    assert_eq!(export(&argus.url(""), "kill_loop").len(), SERIES, "the other series are untouched");
}

#[test]
fn queries_over_a_damaged_chunk_answer_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let argus = start(dir.path());
    write_until(&argus.url(""), 0, |step| step == 30);
    assert_eq!(client().post(argus.url("/api/v1/admin/tsdb/flush")).send().unwrap().status(), 204);
    assert!(argus.terminate());
    let blocks = dir.path().join("data/tsdb/shard-000/blocks");
    let block = std::fs::read_dir(&blocks).unwrap().next().unwrap().unwrap().path();
    let chunks = block.join("chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&chunks, bytes).unwrap();

    let argus = start(dir.path());
    let end = ((T0 + 30 * STEP_MS) / 1000).to_string();
    let body = argus_tests::client::api_get(
        &argus.url(""),
        "/api/v1/query",
        &[("query", "count(count_over_time(kill_loop[1h]))"), ("time", &end)],
    );
    let warnings = body["warnings"].as_array().cloned().unwrap_or_default();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("chunk at offset")), "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], SERIES.to_string(), "every series still answers");
}
