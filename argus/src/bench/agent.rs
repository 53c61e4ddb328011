//! Benchmarks of `argus agent`, run as a separate process whose CPU time and peak RSS are read
//! from `/proc/<pid>`; what it sends goes to a sink in this process that decodes each request
//! to count it and answers 204.
//!
//! - `agent-tail`: a file of log lines is written and the agent follows it; measured when
//!   every line has arrived.
//! - `agent-scrape`: the agent scrapes many targets (one server here, one metrics path per
//!   target) every interval; measured over a window after the first round.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_model::proto::loki::PushRequest;
use argus_model::proto::prometheus::WriteRequest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use prost::Message;

/// Clock ticks per second in `/proc/<pid>/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

pub struct TailReport {
    pub megabytes: f64,
    pub lines: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

impl TailReport {
    pub fn print(&self) {
        println!("log bytes             {:.0} MiB in {} lines", self.megabytes, self.lines);
        println!("elapsed               {:.1} s", self.seconds);
        println!("throughput            {:.1} MiB/s", self.megabytes / self.seconds);
        println!(
            "agent cpu             {:.2} s ({:.2} cores)",
            self.cpu_seconds,
            self.cpu_seconds / self.seconds
        );
        println!("agent peak rss        {:.1} MiB (1 GiB disk queue configured)", self.peak_rss_mib);
    }
}

/// Starts `argus agent` (this binary) on `config`.
fn spawn_agent(config: &Path) -> anyhow::Result<std::process::Child> {
    Command::new(std::env::current_exe()?)
        .args(["agent", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting argus agent")
}

/// Counts what the sinks received.
#[derive(Default)]
struct Received {
    lines: AtomicU64,
    samples: AtomicU64,
}

pub fn tail(megabytes: u64, work_dir: &Path) -> anyhow::Result<TailReport> {
    std::fs::create_dir_all(work_dir.join("logs"))?;
    let log_file = work_dir.join("logs/app.log");
    let lines = write_log_file(&log_file, megabytes << 20)?;
    let received = Arc::new(Received::default());
    let sink = start_sink(received.clone())?;
    let config = work_dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndata_dir: {}\nlog_outputs: [{{url: 'http://{sink}/loki/api/v1/push', queue_max_size: 1GiB}}]\n\
             logs: [{{paths: ['{}'], labels: {{job: bench}}}}]\n",
            work_dir.join("agent-data").display(),
            log_file.display()
        ),
    )?;
    let started = Instant::now();
    let mut agent = spawn_agent(&config)?;
    let pid = agent.id();
    let deadline = started + Duration::from_secs(600);
    while received.lines.load(Ordering::Relaxed) < lines {
        if Instant::now() > deadline {
            let _ = agent.kill();
            bail!("only {} of {lines} lines arrived in 10 minutes", received.lines.load(Ordering::Relaxed));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds(pid)?;
    let peak_rss_mib = peak_rss_kib(pid)? / 1024.0;
    let _ = agent.kill();
    let _ = agent.wait();
    Ok(TailReport {
        megabytes: (megabytes << 20) as f64 / (1 << 20) as f64,
        lines,
        seconds,
        cpu_seconds,
        peak_rss_mib,
    })
}

/// Writes about `bytes` of varied access-log lines; returns how many.
fn write_log_file(path: &Path, bytes: u64) -> anyhow::Result<u64> {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let (mut written, mut lines) = (0u64, 0u64);
    while written < bytes {
        let line = format!(
            "2026-11-25T12:00:{:02}.{:06}Z level=info request_id={:016x} method=GET path=/api/v1/items/{} status={} duration={}ms bytes={} msg=\"served request\" ua=\"bench/1.0\"\n",
            lines % 60,
            lines % 1_000_000,
            lines.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            lines % 10_007,
            if lines % 97 == 0 { 500 } else { 200 },
            lines % 250,
            lines % 65_536
        );
        file.write_all(line.as_bytes())?;
        written += line.len() as u64;
        lines += 1;
    }
    file.flush()?;
    Ok(lines)
}

/// Loki push and remote-write endpoints that count what arrives and store nothing.
fn start_sink(received: Arc<Received>) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new()
        .route("/loki/api/v1/push", axum::routing::post(count_lines))
        .route("/api/v1/write", axum::routing::post(count_samples))
        .with_state(received);
    serve(app)
}

/// Serves `app` on a loopback port from a thread of its own.
fn serve(app: axum::Router) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(addr)
}

async fn count_samples(State(received): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let Some(request) = decode_snappy_proto::<WriteRequest>(&body) else { return StatusCode::BAD_REQUEST };
    let samples: usize = request.timeseries.iter().map(|s| s.samples.len()).sum();
    received.samples.fetch_add(samples as u64, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn count_lines(State(received): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let Some(request) = decode_snappy_proto::<PushRequest>(&body) else { return StatusCode::BAD_REQUEST };
    let lines: usize = request.streams.iter().map(|s| s.entries.len()).sum();
    received.lines.fetch_add(lines as u64, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

/// The protobuf message in a snappy-compressed push body, or `None` when it is not one.
fn decode_snappy_proto<M: Message + Default>(body: &[u8]) -> Option<M> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    M::decode(raw.as_slice()).ok()
}

pub struct ScrapeReport {
    pub targets: usize,
    pub series: usize,
    pub interval_seconds: u64,
    pub window_seconds: f64,
    pub samples_received: u64,
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

impl ScrapeReport {
    pub fn print(&self) {
        println!(
            "targets × series      {} × {} every {} s",
            self.targets, self.series, self.interval_seconds
        );
        println!(
            "window                {:.0} s, {} samples received",
            self.window_seconds, self.samples_received
        );
        let share = self.cpu_seconds / self.window_seconds;
        println!("agent cpu             {:.2} s ({:.1}% of one core)", self.cpu_seconds, share * 100.0);
        println!("agent peak rss        {:.1} MiB", self.peak_rss_mib);
    }
}

/// Scrapes `targets` targets of `series` series each every `interval_seconds` and measures
/// the agent over `rounds` intervals after the first.
pub fn scrape(
    targets: usize,
    series: usize,
    interval_seconds: u64,
    rounds: u64,
    work_dir: &Path,
) -> anyhow::Result<ScrapeReport> {
    std::fs::create_dir_all(work_dir)?;
    let received = Arc::new(Received::default());
    let sink = start_sink(received.clone())?;
    let body: Arc<str> = exposition(series).into();
    let app = axum::Router::new().route(
        "/t/{n}/metrics",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body.to_string() }
        }),
    );
    let target_addr = serve(app)?;
    let mut config = format!(
        "listen: 127.0.0.1:0\ndata_dir: {}\noutputs: [{{url: 'http://{sink}/api/v1/write'}}]\nscrape_configs:\n- job_name: bench\n  scrape_interval: {interval_seconds}s\n  relabel_configs: [{{source_labels: [n], regex: '(.*)', target_label: __metrics_path__, replacement: '/t/$1/metrics'}}]\n  static_configs:\n",
        work_dir.join("agent-data").display()
    );
    for n in 0..targets {
        config.push_str(&format!("  - {{targets: ['{target_addr}'], labels: {{n: '{n}'}}}}\n"));
    }
    let config_path = work_dir.join("agent.yaml");
    std::fs::write(&config_path, config)?;
    let mut agent = spawn_agent(&config_path)?;
    let pid = agent.id();
    // The first round starts every target's loop; measure from the second.
    std::thread::sleep(Duration::from_secs(interval_seconds + 1));
    let (cpu_before, samples_before, started) =
        (cpu_seconds(pid)?, received.samples.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(interval_seconds * rounds));
    let cpu = cpu_seconds(pid)? - cpu_before;
    let window_seconds = started.elapsed().as_secs_f64();
    let samples_received = received.samples.load(Ordering::Relaxed) - samples_before;
    let peak_rss_mib = peak_rss_kib(pid)? / 1024.0;
    let _ = agent.kill();
    let _ = agent.wait();
    if samples_received == 0 {
        bail!("the sink received nothing: the agent did not scrape or send");
    }
    Ok(ScrapeReport {
        targets,
        series,
        interval_seconds,
        window_seconds,
        samples_received,
        cpu_seconds: cpu,
        peak_rss_mib,
    })
}

/// An exposition of `series` node-exporter-like series.
fn exposition(series: usize) -> String {
    let mut text = String::from("# TYPE node_cpu_seconds_total counter\n");
    for i in 0..series {
        text.push_str(&format!(
            "node_cpu_seconds_total{{cpu=\"{}\",mode=\"{}\"}} {}.{}\n",
            i / 8,
            i % 8,
            1000 + i * 37,
            i % 100
        ));
    }
    text
}

/// User plus system CPU seconds of process `pid`.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .context("short /proc/<pid>/stat")?
        .iter()
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    Ok(ticks / TICKS_PER_SECOND)
}

/// Peak resident memory (`VmHWM`) of process `pid`, KiB.
fn peak_rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("malformed VmHWM")?.parse()?)
}
