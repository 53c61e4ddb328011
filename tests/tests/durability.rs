//! Nothing acknowledged is lost: samples answered with 204 survive SIGKILL, and a damaged WAL
//! tail costs only what lies after the damage, with a log line saying so.

use std::collections::BTreeMap;

use argus_tests::app::Argus;
use argus_tests::client::{export, remote_write, series};

const T0: i64 = 1_700_000_000_000;

/// Sends `requests` remote-write requests of `per_request` series × 10 samples, numbering
/// series from `first_series`; asserts each is acknowledged and returns the samples sent.
fn write_series(
    base: &str,
    first_series: usize,
    requests: usize,
    per_request: usize,
) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut sent = BTreeMap::new();
    for request in 0..requests {
        let batch: Vec<_> = (0..per_request)
            .map(|i| {
                let instance = format!("host-{:06}", first_series + request * per_request + i);
                let samples: Vec<(i64, f64)> =
                    (0..10).map(|s| (T0 + s * 15_000, (s * s) as f64 + 0.5)).collect();
                sent.insert(instance.clone(), samples.clone());
                series(&[("__name__", "durable_total"), ("instance", &instance)], &samples)
            })
            .collect();
        let response = remote_write(base, batch);
        assert_eq!(response.status, 204, "{}", response.body);
    }
    sent
}

/// Everything the server has for `durable_total`, by instance.
fn stored(argus: &Argus) -> BTreeMap<String, Vec<(i64, f64)>> {
    export(&argus.url(""), "durable_total")
        .into_iter()
        .map(|(labels, samples)| (labels["instance"].as_str().unwrap().to_string(), samples))
        .collect()
}

#[test]
fn acknowledged_samples_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    // Concurrent writers, so group commit shares fsyncs between them.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = argus.url("");
            std::thread::spawn(move || write_series(&base, w * 1000, 50, 20))
        })
        .collect();
    let mut sent = BTreeMap::new();
    for writer in writers {
        sent.extend(writer.join().unwrap());
    }
    assert_eq!(sent.len(), 4000);
    argus.kill();

    let argus = Argus::start(dir.path());
    assert!(stored(&argus) == sent, "every acknowledged sample is back after SIGKILL");
    assert!(argus.terminate(), "clean shutdown on SIGTERM");

    let argus = Argus::start(dir.path());
    assert!(stored(&argus) == sent, "and after a clean shutdown");
}

#[test]
fn damaged_wal_tail_is_truncated_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start_with(dir.path(), &[]);
    let before = write_series(&argus.url(""), 0, 5, 10);
    argus.kill();

    // Append garbage to the newest segment of every shard, as a torn write would leave.
    let wal_dirs = wal_dirs(dir.path());
    assert!(!wal_dirs.is_empty());
    for wal in &wal_dirs {
        let newest = newest_segment(wal);
        let mut bytes = std::fs::read(&newest).unwrap();
        bytes.extend_from_slice(&[0x13, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
        std::fs::write(&newest, bytes).unwrap();
    }

    let argus = Argus::start(dir.path());
    assert!(stored(&argus) == before, "everything before the damage is kept");
    let log = argus.log();
    assert!(log.contains("truncat"), "the repair is logged:\n{log}");
    // The server keeps accepting writes after the repair, and they survive a restart.
    let after = write_series(&argus.url(""), 100, 2, 10);
    argus.kill();
    let argus = Argus::start(dir.path());
    let mut expected = before;
    expected.extend(after);
    assert!(stored(&argus) == expected);
}

#[test]
fn garbled_middle_of_last_segment_keeps_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start_with(dir.path(), &[]);
    let first = write_series(&argus.url(""), 0, 3, 10);
    let second = write_series(&argus.url(""), 500, 3, 10);
    argus.kill();
    // Flip bytes near the end of each shard's newest segment: the last records are lost, the
    // first ones must not be.
    let mut lengths = Vec::new();
    for wal in wal_dirs(dir.path()) {
        let newest = newest_segment(&wal);
        let mut bytes = std::fs::read(&newest).unwrap();
        let len = bytes.len();
        lengths.push(len);
        if len > 16 {
            for b in &mut bytes[len - 8..] {
                *b ^= 0xa5;
            }
        }
        std::fs::write(&newest, bytes).unwrap();
    }
    let argus = Argus::start(dir.path());
    let kept = stored(&argus);
    // Damage hits only the newest records, so every series of the first writes is intact and
    // whatever of the second writes survived is exact.
    for (instance, samples) in &kept {
        let expected = first.get(instance).or_else(|| second.get(instance)).expect("no invented series");
        assert_eq!(samples, expected, "{instance}");
    }
    assert!(kept.len() >= first.len(), "{} < {}", kept.len(), first.len());
    assert!(argus.log().contains("truncat"), "{}", argus.log());
}

fn wal_dirs(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let tsdb = data_dir.join("tsdb");
    let mut dirs: Vec<_> = std::fs::read_dir(&tsdb)
        .unwrap()
        .map(|e| e.unwrap().path().join("wal"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn newest_segment(wal: &std::path::Path) -> std::path::PathBuf {
    // Segments are the files named by digits only (the WAL also keeps a LOCK file).
    let mut segments: Vec<_> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().bytes().all(|b| b.is_ascii_digit()))
        .collect();
    segments.sort();
    segments.pop().expect("a wal segment")
}
