//! The agent end to end: `argus agent` scrapes a target over HTTP and ships to a real Argus
//! server; the target's series arrive with `job` and `instance`, `up` and the scrape series are
//! synthesized, a series that disappears and a target that goes down get staleness markers, and
//! an output that is down for a while loses nothing once it is back, even when the agent is
//! SIGKILLed and restarted during the outage; log files and the systemd journal (through a
//! stand-in `journalctl`) arrive line for line, once, across a SIGKILL and restart.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_tests::app::{Argus, argus_bin};
use argus_tests::client::{api_get, export};

/// A scrape target serving whatever `body` holds (or 503 when it is `None`).
fn serve_target(body: Arc<Mutex<Option<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = match body.lock().unwrap().clone() {
                Some(text) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                ),
                None => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    addr
}

/// A child process killed when the test lets go of it.
struct Process(Child);

impl Process {
    fn spawn(command: &mut Command) -> Process {
        Process(command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }
}

/// Starts `argus agent --config <config>`.
fn spawn_agent(config: &std::path::Path) -> Process {
    Process::spawn(Command::new(argus_bin()).args(["agent", "--config"]).arg(config))
}

/// A running Debian `prometheus-node-exporter` with only `collectors` enabled, on a loopback
/// port picked at run time; `None` when the tool is missing outside CI.
struct NodeExporter {
    addr: String,
    _process: Process,
}

impl NodeExporter {
    fn start(collectors: &[&str]) -> Option<NodeExporter> {
        let exporter = argus_tests::require_tool("prometheus-node-exporter")?;
        let addr = argus_tests::prometheus::free_loopback_addr();
        let mut args =
            vec![format!("--web.listen-address={addr}"), "--collector.disable-defaults".to_string()];
        args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
        let process = Process::spawn(Command::new(exporter).args(&args));
        Some(NodeExporter { addr, _process: process })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(dir: &std::path::Path, output: &str, target: &str) -> Process {
    let config = format!(
        "listen: 127.0.0.1:0\ndata_dir: {}\noutputs: [{{url: '{output}/api/v1/write', batch_send_deadline: 200ms, max_backoff: 500ms}}]\n\
         scrape_configs:\n- job_name: fake\n  scrape_interval: 500ms\n  static_configs: [{{targets: ['{target}'], labels: {{env: test}}}}]\n",
        dir.join("agent-data").display()
    );
    let path = dir.join("agent.yaml");
    std::fs::write(&path, config).unwrap();
    let check =
        Command::new(argus_bin()).args(["agent", "--check-config", "--config"]).arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    spawn_agent(&path)
}

/// The samples Argus holds for `selector`, once at least `want` of them arrived.
fn wait_for(argus: &Argus, selector: &str, want: usize) -> Vec<(i64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples: Vec<(i64, f64)> =
            export(&argus.url(""), selector).into_iter().flat_map(|(_, s)| s).collect();
        if samples.len() >= want || Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn scraped_series_arrive_labelled_with_up_staleness_and_no_loss_over_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(&dir.path().join("argus"));
    let body = Arc::new(Mutex::new(Some(
        "# TYPE requests_total counter\nrequests_total{code=\"200\"} 7\ngone_soon 1\n".to_string(),
    )));
    let target = serve_target(body.clone());
    let agent = start_agent(dir.path(), &argus.url(""), &target);

    let requests = wait_for(
        &argus,
        &format!("requests_total{{job=\"fake\",instance=\"{target}\",env=\"test\",code=\"200\"}}"),
        2,
    );
    assert!(requests.len() >= 2 && requests.iter().all(|(_, v)| *v == 7.0), "{requests:?}");
    let up = wait_for(&argus, "up{job=\"fake\"}", 1);
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    assert!(!wait_for(&argus, "scrape_samples_scraped{job=\"fake\"}", 1).is_empty());

    // A series that disappears ends with a staleness marker: an instant query no longer sees it.
    *body.lock().unwrap() = Some("requests_total{code=\"200\"} 8\n".to_string());
    std::thread::sleep(Duration::from_millis(2000));
    let gone = api_get(&argus.url(""), "/api/v1/query", &[("query", "gone_soon")]);
    assert_eq!(gone["data"]["result"], serde_json::json!([]), "stale: {gone}");

    // The target goes down: up turns 0 and its series go stale.
    *body.lock().unwrap() = None;
    std::thread::sleep(Duration::from_millis(2000));
    let up_now = api_get(&argus.url(""), "/api/v1/query", &[("query", "up{job=\"fake\"}")]);
    assert_eq!(up_now["data"]["result"][0]["value"][1], "0", "{up_now}");
    let requests_now = api_get(&argus.url(""), "/api/v1/query", &[("query", "requests_total")]);
    assert_eq!(requests_now["data"]["result"], serde_json::json!([]), "stale after the target went down");

    // The output goes away; the agent queues on disk, is SIGKILLed and restarted meanwhile;
    // once the output is back, every scrape made while it was down arrives.
    *body.lock().unwrap() = Some("during_outage 1\n".to_string());
    let data_dir = argus.data_dir.clone();
    let addr = argus.addr.clone();
    argus.kill();
    let down_from = now_ms();
    std::thread::sleep(Duration::from_secs(3));
    drop(agent);
    let agent_killed = now_ms();
    let _agent = start_agent(dir.path(), &addr_url(&addr), &target);
    std::thread::sleep(Duration::from_secs(1));
    let argus = Argus::start_on(&data_dir, &addr, &[]);
    let during = wait_for(&argus, "during_outage{job=\"fake\"}", 10);
    let before_kill = during.iter().filter(|(t, _)| (down_from..agent_killed).contains(t)).count();
    assert!(before_kill >= 4, "scrapes queued before the agent was killed arrived: {during:?}");
    assert!(during.windows(2).all(|w| w[0].0 < w[1].0), "each scrape once, in order: {during:?}");
}

fn addr_url(addr: &str) -> String {
    format!("http://{addr}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Appends lines to `path`, one at a time, recording what was written.
fn write_lines(path: &std::path::Path, prefix: &str, from: usize, to: usize, written: &mut Vec<String>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for n in from..to {
        let line = format!("{prefix} line {n:05} ✓ \"quoted\"");
        writeln!(file, "{line}").unwrap();
        written.push(line);
    }
}

/// Checks that Argus holds, for each file, exactly the lines written to it (waiting up to
/// `wait` for them to arrive), in order and byte for byte.
fn assert_files_arrived(
    argus: &Argus,
    job: &str,
    files: &[std::path::PathBuf],
    written: &[Vec<String>],
    start_ns: i64,
    wait: Duration,
) {
    let end = (now_ms() + 60_000) * 1_000_000;
    let deadline = Instant::now() + wait;
    for (i, file) in files.iter().enumerate() {
        let query = format!("{{job=\"{job}\", filename=\"{}\"}}", file.display());
        let got: Vec<String> = loop {
            let lines: Vec<String> = argus_tests::loki::all_lines(&argus.url(""), &query, start_ns, end)
                .into_iter()
                .map(|(_, l)| l)
                .collect();
            if lines.len() >= written[i].len() || Instant::now() > deadline {
                break lines;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        assert_eq!(got.len(), written[i].len(), "file {i}: every line once ({} written)", written[i].len());
        let first_difference = got.iter().zip(&written[i]).position(|(a, b)| a != b);
        assert!(
            first_difference.is_none(),
            "file {i}: lines in order, byte exact; first difference at {first_difference:?}"
        );
    }
}

fn start_log_agent(dir: &std::path::Path, argus: &str) -> Process {
    let config = format!(
        "listen: 127.0.0.1:0\ndata_dir: {data}\nlog_outputs: [{{url: '{argus}/loki/api/v1/push', max_backoff: 500ms}}]\n\
         logs: [{{paths: ['{logs}/*.log'], labels: {{job: files}}, flush_partial_after: 1s}}]\n",
        data = dir.join("agent-data").display(),
        logs = dir.join("logs").display(),
    );
    let path = dir.join("log-agent.yaml");
    std::fs::write(&path, config).unwrap();
    spawn_agent(&path)
}

#[test]
fn tailed_lines_arrive_once_in_order_through_rotations_outages_and_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let argus = Argus::start(&dir.path().join("argus"));
    let files = ["plain", "renamed", "truncated"].map(|name| logs.join(format!("{name}.log")));
    let mut written: [Vec<String>; 3] = Default::default();
    let mut next = [0usize; 3];
    let mut write_round = |count: usize, written: &mut [Vec<String>; 3]| {
        for (i, file) in files.iter().enumerate() {
            write_lines(file, &format!("f{i}"), next[i], next[i] + count, &mut written[i]);
            next[i] += count;
        }
    };
    write_round(50, &mut written);
    let agent = start_log_agent(dir.path(), &argus.url(""));
    std::thread::sleep(Duration::from_millis(1500));

    // Rotation by rename: the old file's tail is read, then the new file.
    write_round(20, &mut written);
    std::fs::rename(&files[1], logs.join("renamed.log.1")).unwrap();
    write_round(20, &mut written);
    // Rotation by copytruncate, once the agent has read what is there.
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::copy(&files[2], logs.join("truncated.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).truncate(true).open(&files[2]).unwrap();
    write_round(20, &mut written);

    // The server goes down; lines keep coming; the agent is SIGKILLed and restarted meanwhile.
    let (data_dir, addr) = (argus.data_dir.clone(), argus.addr.clone());
    argus.kill();
    write_round(30, &mut written);
    std::thread::sleep(Duration::from_millis(1500));
    drop(agent);
    write_round(30, &mut written);
    let _agent = start_log_agent(dir.path(), &format!("http://{addr}"));
    std::thread::sleep(Duration::from_millis(1500));
    write_round(30, &mut written);
    let argus = Argus::start_on(&data_dir, &addr, &[]);
    write_round(20, &mut written);
    // An unterminated last line is sent after flush_partial_after.
    std::fs::OpenOptions::new().append(true).open(&files[0]).unwrap().write_all(b"f0 no newline").unwrap();
    written[0].push("f0 no newline".to_string());

    assert_files_arrived(
        &argus,
        "files",
        &files,
        &written,
        now_ms() * 1_000_000 - 600_000_000_000,
        Duration::from_secs(30),
    );
}

/// Series identities (name and labels) of an exposition, for the metric names `keep` accepts.
fn series_set(text: &str, keep: impl Fn(&str) -> bool) -> std::collections::BTreeSet<String> {
    argus_ingest::exposition::parse(text)
        .unwrap()
        .into_iter()
        .filter(|s| s.labels.metric_name().is_some_and(&keep))
        .map(|s| s.labels.to_string())
        .collect()
}

#[test]
fn the_host_input_names_series_as_node_exporter_does() {
    let collectors = ["cpu", "meminfo", "loadavg", "diskstats", "filesystem", "netdev"];
    let Some(exporter) = NodeExporter::start(&collectors) else { return };
    let addr = &exporter.addr;
    let client = argus_tests::client::client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let theirs = loop {
        match client.get(format!("http://{addr}/metrics")).send().and_then(|r| r.text()) {
            Ok(text) => break text,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => panic!("node exporter did not answer: {error}"),
        }
    };
    let ours = argus_ingest::agent::host::exposition(std::path::Path::new("/proc"));
    // What the collectors serve beyond the series of /proc and statvfs (udev details, the
    // exporter's own scrape series) is not the host input's.
    let compared = |name: &str| {
        name.starts_with("node_")
            && !name.starts_with("node_scrape_")
            && !matches!(name, "node_disk_info" | "node_exporter_build_info")
    };
    let (theirs, ours) = (series_set(&theirs, compared), series_set(&ours, compared));
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "node_exporter has, we lack: {missing:#?}\nwe have, node_exporter lacks: {extra:#?}"
    );
    assert!(theirs.len() > 50, "a meaningful comparison: {} series", theirs.len());
}

/// The issue's whole scenario in one run: a real node exporter scraped every second, three log
/// files written continuously (one rotated by rename, one by copytruncate), the server down for
/// 20 s mid-stream, the agent SIGKILLed and restarted once. Every line arrives once and in
/// order; the scraped series have no gap longer than an interval except while the agent itself
/// was down.
#[test]
fn node_exporter_and_files_through_a_20s_outage_and_an_agent_sigkill() {
    let Some(exporter) = NodeExporter::start(&["loadavg"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let exporter_addr = &exporter.addr;
    let argus = Argus::start(&dir.path().join("argus"));
    let (data_dir, addr) = (argus.data_dir.clone(), argus.addr.clone());
    let config_path = dir.path().join("agent.yaml");
    std::fs::write(
        &config_path,
        format!(
            "listen: 127.0.0.1:0\ndata_dir: {data}\noutputs: [{{url: 'http://{addr}/api/v1/write', batch_send_deadline: 200ms, max_backoff: 1s}}]\n\
             log_outputs: [{{url: 'http://{addr}/loki/api/v1/push', max_backoff: 1s}}]\n\
             scrape_configs: [{{job_name: node, scrape_interval: 1s, static_configs: [{{targets: ['{exporter_addr}']}}]}}]\n\
             logs: [{{paths: ['{logs}/*.log'], labels: {{job: soak}}}}]\n",
            data = dir.path().join("agent-data").display(),
            logs = logs.display(),
        ),
    )
    .unwrap();
    let start_agent = || spawn_agent(&config_path);

    let files = ["plain", "renamed", "truncated"].map(|name| logs.join(format!("{name}.log")));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (files, logs, stop) = (files.clone(), logs.clone(), stop.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut written: [Vec<String>; 3] = Default::default();
            let (mut renamed, mut truncated) = (false, false);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, file) in files.iter().enumerate() {
                    write_lines(file, &format!("f{i}"), n, n + 1, &mut written[i]);
                }
                n += 1;
                if !renamed && started.elapsed() > Duration::from_secs(4) {
                    std::fs::rename(&files[1], logs.join("renamed.log.1")).unwrap();
                    renamed = true;
                }
                if !truncated && started.elapsed() > Duration::from_secs(14) {
                    // copytruncate, once the agent has read what is there.
                    std::thread::sleep(Duration::from_millis(1000));
                    std::fs::copy(&files[2], logs.join("truncated.log.1")).unwrap();
                    std::fs::OpenOptions::new().write(true).truncate(true).open(&files[2]).unwrap();
                    truncated = true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            written
        })
    };

    let agent = start_agent();
    std::thread::sleep(Duration::from_secs(3));
    argus.kill();
    let outage = (now_ms(), now_ms() + 20_000);
    std::thread::sleep(Duration::from_secs(7));
    drop(agent);
    let agent_down = (now_ms(), 0);
    let _agent = start_agent();
    let agent_down = (agent_down.0, now_ms() + 1_000);
    std::thread::sleep(Duration::from_secs(13));
    let argus = Argus::start_on(&data_dir, &addr, &[]);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();

    assert_files_arrived(
        &argus,
        "soak",
        &files,
        &written,
        (outage.0 - 120_000) * 1_000_000,
        Duration::from_secs(60),
    );
    let up = wait_for(&argus, &format!("up{{job=\"node\",instance=\"{exporter_addr}\"}}"), 20);
    assert!(up.iter().all(|(_, v)| *v == 1.0), "the exporter was up throughout");
    let gaps: Vec<(i64, i64)> = up
        .windows(2)
        .map(|w| (w[0].0, w[1].0))
        .filter(|(a, b)| b - a > 1_500 && !(*a <= agent_down.1 && *b >= agent_down.0))
        .collect();
    assert!(
        gaps.is_empty(),
        "gaps over an interval outside the agent's restart: {gaps:?} (outage {outage:?})"
    );
    assert!(
        up.iter().filter(|(t, _)| (outage.0..outage.1).contains(t)).count() >= 15,
        "scrapes during the outage arrived"
    );
    assert!(!wait_for(&argus, &format!("node_load1{{instance=\"{exporter_addr}\"}}"), 1).is_empty());
}

/// A stand-in for `journalctl` in `dir`: it records its arguments (a line per call in
/// `dir/calls`), prints the entries of `dir/journal.jsonl` after the one `--after-cursor` names
/// (all of them without it), and follows the file as `--follow` does until the agent that
/// started it is gone.
fn fake_journalctl(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$*" >> '{calls}'
start=1
for arg in "$@"; do
  case "$arg" in
    --after-cursor=*)
      line=$(grep -n -F "\"__CURSOR\":\"${{arg#--after-cursor=}}\"" '{journal}' | head -n 1 | cut -d: -f1)
      start=$((line + 1));;
  esac
done
exec tail -n "+$start" -f --pid="$PPID" '{journal}'
"#,
        calls = dir.join("calls").display(),
        journal = dir.join("journal.jsonl").display(),
    );
    let path = dir.join("journalctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Journal entry `n` as `journalctl --output=json` prints it, and the entry the sink should
/// receive for it: every third has no unit and no priority, every fourth a message that is not
/// UTF-8 (printed as its bytes).
fn journal_entry(n: i64) -> (String, argus_tests::loki::Received) {
    let micros = 1_764_072_000_000_000 + n * 1_000;
    let (message, line) = if n % 4 == 0 {
        (r#"[98,121,116,101,115,255]"#.to_string(), "bytes\u{fffd}".to_string())
    } else {
        (format!("\"entry {n} ✓ \\\"quoted\\\"\""), format!("entry {n} ✓ \"quoted\""))
    };
    let (fields, labels) = if n % 3 == 0 {
        (String::new(), r#"{job="journal"}"#)
    } else {
        (
            r#""PRIORITY":"4","_SYSTEMD_UNIT":"app.service","_PID":"42","#.to_string(),
            r#"{job="journal", level="warning", unit="app.service"}"#,
        )
    };
    let json = format!(
        r#"{{"__CURSOR":"s=fake;i={n:x}","__REALTIME_TIMESTAMP":"{micros}",{fields}"SYSLOG_IDENTIFIER":"app","MESSAGE":{message}}}"#
    );
    (json, (labels.to_string(), micros * 1_000, line))
}

/// Appends entries `from..to` to the fake journal, one write each; returns what should arrive.
fn append_journal(path: &std::path::Path, from: i64, to: i64) -> Vec<argus_tests::loki::Received> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    (from..to)
        .map(|n| {
            let (json, expected) = journal_entry(n);
            file.write_all(format!("{json}\n").as_bytes()).unwrap();
            expected
        })
        .collect()
}

/// The agent's own `/metrics` value of `name`.
fn agent_metric(addr: &str, name: &str) -> Option<f64> {
    let text =
        argus_tests::client::client().get(format!("http://{addr}/metrics")).send().ok()?.text().ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn journal_entries_arrive_once_and_a_restarted_agent_resumes_after_the_last_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let fake = fake_journalctl(dir.path());
    let sink = argus_tests::loki::PushSink::start();
    let listen = argus_tests::prometheus::free_loopback_addr();
    let config_path = dir.path().join("journal-agent.yaml");
    std::fs::write(
        &config_path,
        format!(
            "listen: {listen}\ndata_dir: {data}\nlog_outputs: [{{url: '{url}', max_backoff: 500ms}}]\n\
             journal: [{{labels: {{job: journal}}, units: [app.service], max_age: 1h, journalctl: '{fake}'}}]\n",
            data = dir.path().join("agent-data").display(),
            url = sink.url,
            fake = fake.display(),
        ),
    )
    .unwrap();
    let check = Command::new(argus_bin())
        .args(["agent", "--check-config", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let understood = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(understood.contains("journal:") && understood.contains("max_age: 1h"), "{understood}");

    // Entries already in the journal, a line that is not JSON, then entries while following.
    let mut expected = append_journal(&journal, 1, 6);
    std::fs::OpenOptions::new().append(true).open(&journal).unwrap().write_all(b"not json\n").unwrap();
    let agent = spawn_agent(&config_path);
    sink.wait_for(expected.len(), Duration::from_secs(20));
    expected.extend(append_journal(&journal, 6, 10));
    let received = sink.wait_for(expected.len(), Duration::from_secs(20));
    assert_eq!(received.len(), expected.len(), "{received:#?}");
    assert_eq!(
        agent_metric(&listen, "argus_agent_log_lines_read_total"),
        Some(10.0),
        "9 entries and the bad line"
    );
    assert_eq!(agent_metric(&listen, "argus_agent_journal_lines_invalid_total"), Some(1.0));

    // The agent is SIGKILLed (once its output acknowledged everything) and the journal grows
    // meanwhile; restarted, it asks for what follows the last entry it queued.
    std::thread::sleep(Duration::from_millis(1000));
    drop(agent);
    expected.extend(append_journal(&journal, 10, 13));
    let _agent = spawn_agent(&config_path);
    sink.wait_for(expected.len(), Duration::from_secs(20));
    // Room for anything sent twice to show up.
    std::thread::sleep(Duration::from_millis(1500));
    let mut received = sink.received();
    received.sort_by_key(|(_, nanos, _)| *nanos);
    assert_eq!(received, expected, "every entry once, with its labels, time and text");

    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "one journalctl per agent start: {calls:?}");
    for flag in ["--output=json", "--follow", "--no-pager", "--unit=app.service"] {
        assert!(calls.iter().all(|call| call.split(' ').any(|a| a == flag)), "{flag} in {calls:?}");
    }
    assert!(calls[0].contains("--since=@") && !calls[0].contains("--after-cursor"), "{}", calls[0]);
    assert!(calls[1].split(' ').any(|a| a == "--after-cursor=s=fake;i=9"), "{}", calls[1]);
}
