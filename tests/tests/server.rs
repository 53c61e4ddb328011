//! The server as an operator sees it: a config file with flags overriding it, health and
//! readiness, build info, and `/metrics` counting what happened.

use argus_tests::app::Argus;
use argus_tests::client::{api_get, client, remote_write, series};

const T0: i64 = 1_700_000_000_000;

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name_and_labels} not in /metrics:\n{text}"))
}

#[test]
fn config_file_flags_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file");
    let from_flag = dir.path().join("from-flag");
    let config = dir.path().join("argus.yaml");
    std::fs::write(&config, format!("data_dir: {}\nstorage:\n  tsdb:\n    shards: 3\n", from_file.display()))
        .unwrap();
    let argus = Argus::start_with(&from_flag, &["--config", config.to_str().unwrap()]);
    assert!(from_flag.join("tsdb/shard-002").is_dir(), "--data-dir wins over the file, shards come from it");
    assert!(!from_file.exists());

    let http = client();
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(http.get(argus.url(path)).send().unwrap().status(), 200, "{path}");
    }
    let build = api_get(&argus.url(""), "/api/v1/status/buildinfo", &[]);
    assert_eq!(build["data"]["version"], env!("CARGO_PKG_VERSION"));

    let base = argus.url("");
    let good = series(&[("__name__", "m"), ("job", "a")], &[(T0, 1.0), (T0 + 1, 2.0)]);
    assert_eq!(remote_write(&base, vec![good]).status, 204);
    let conflicting = series(&[("__name__", "m"), ("job", "a")], &[(T0, 7.0)]);
    assert_eq!(remote_write(&base, vec![conflicting]).status, 400);
    let invalid = series(&[("__name__", "m"), ("0", "a")], &[(T0, 1.0)]);
    assert_eq!(remote_write(&base, vec![invalid]).status, 400);

    let response = http.get(argus.url("/metrics")).send().unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().unwrap();
    assert_eq!(metric(&text, "argus_tsdb_samples_appended_total"), 2.0);
    assert_eq!(metric(&text, "argus_tsdb_series_created_total"), 1.0);
    assert_eq!(metric(&text, "argus_tsdb_samples_rejected_total{reason=\"duplicate_timestamp\"}"), 1.0);
    assert_eq!(metric(&text, "argus_tsdb_head_series"), 1.0);
    assert_eq!(metric(&text, "argus_tsdb_head_chunks"), 1.0);
    let build_info = format!("argus_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(metric(&text, &build_info), 1.0);
    assert_eq!(metric(&text, "argus_tsdb_shards"), 3.0);
    assert_eq!(metric(&text, "argus_ingest_samples_received_total"), 4.0);
    assert_eq!(metric(&text, "argus_ingest_samples_invalid_total"), 1.0);
    assert!(metric(&text, "argus_tsdb_wal_fsyncs_total") >= 1.0);
    assert!(metric(&text, "argus_tsdb_wal_bytes_written_total") > 0.0);
    assert!(metric(&text, "argus_tsdb_wal_fsync_duration_seconds_count") >= 1.0);
    assert_eq!(metric(&text, "argus_http_requests_total{handler=\"/api/v1/write\",code=\"204\"}"), 1.0);
    assert_eq!(metric(&text, "argus_http_requests_total{handler=\"/api/v1/write\",code=\"400\"}"), 2.0);
    assert!(metric(&text, "argus_http_request_duration_seconds_count{handler=\"/api/v1/write\"}") >= 3.0);
    assert!(argus.terminate(), "SIGTERM exits cleanly");
}
