//! A real client: the Debian `prometheus` binary scrapes itself every second and remote-writes
//! to Argus; Argus's `/api/v1/series` soon lists exactly the series Prometheus lists.

use std::time::{Duration, Instant};

use argus_tests::app::Argus;
use argus_tests::client::series_set;
use argus_tests::prometheus::Prometheus;
use argus_tests::require_tool;

#[test]
fn prometheus_remote_write_delivers_the_same_series() {
    let Some(binary) = require_tool("prometheus") else { return };
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{{{{LISTEN}}}}']\n\
         remote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        argus.url("/api/v1/write")
    );
    let prometheus = Prometheus::start(&binary, &config);

    let selector = r#"{job="prometheus"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut theirs, mut ours);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        theirs = series_set(&prometheus.url(""), selector);
        ours = series_set(&argus.url(""), selector);
        if !theirs.is_empty() && theirs == ours {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = theirs.iter().filter(|s| !ours.contains(s)).take(10).collect();
            let extra: Vec<_> = ours.iter().filter(|s| !theirs.contains(s)).take(10).collect();
            panic!(
                "after 30 s Argus has {} series, Prometheus {}; missing in Argus: {missing:#?}; extra: {extra:#?}\nargus log:\n{}\nprometheus log:\n{}",
                ours.len(),
                theirs.len(),
                argus.log(),
                prometheus.log()
            );
        }
    }
    assert!(theirs.len() > 100, "Prometheus exposes hundreds of its own series, got {}", theirs.len());
}
