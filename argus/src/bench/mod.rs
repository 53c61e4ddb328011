//! `argus bench`: Argus's own load generator and checker, usable against any system that
//! speaks Prometheus remote write and the Prometheus query API (Argus, Prometheus,
//! VictoriaMetrics), so the same workload measures all of them. `bench/compare.sh` runs it
//! against each in turn; `docs/benchmarks.md` explains the figures.

mod agent;
mod query;
mod requests;
mod stats;
mod verify;
mod workload;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use argus_model::time::HumanDuration;
use clap::{Args, Subcommand};
use serde::Serialize;

pub use workload::Workload;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Generates the workload, sends it over remote write and reports throughput and latency.
    Write {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Samples per request (about).
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Concurrent senders, each owning a disjoint set of series.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Afterwards, check that the target holds exactly what was sent.
        #[arg(long)]
        verify: bool,
    },
    /// Checks that the target holds exactly the workload's series and samples.
    Verify {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        workload: WorkloadArgs,
    },
    /// Measures how fast `argus agent` tails and ships a log file: MiB/s, CPU and peak RSS.
    AgentTail {
        /// Size of the log file to ship, MiB.
        #[arg(long, default_value_t = 1024)]
        megabytes: u64,
        /// Where to write the file and the agent's state (default: a new temporary directory,
        /// deleted afterwards).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Measures what `argus agent` costs to scrape many targets: CPU share and peak RSS.
    AgentScrape {
        #[arg(long, default_value_t = 1000)]
        targets: usize,
        /// Series per target.
        #[arg(long, default_value_t = 1000)]
        series: usize,
        /// Scrape interval, seconds.
        #[arg(long, default_value_t = 15)]
        interval: u64,
        /// Intervals measured after the first.
        #[arg(long, default_value_t = 4)]
        rounds: u64,
    },
    /// Runs PromQL dashboard queries and reports latency and result sizes.
    Query {
        #[command(flatten)]
        target: Target,
        /// YAML query file (default: the shipped `bench/queries.yaml`).
        #[arg(long)]
        queries: Option<PathBuf>,
        /// Runs of each query, at least.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Seconds each query is run for, at least: quick queries run more than `repeat` times
        /// (up to 2000), so that their median is not one machine hiccup.
        #[arg(long, default_value_t = 1.0)]
        min_seconds: f64,
        /// Evaluation time (end of range queries), Unix seconds; default now.
        #[arg(long)]
        end: Option<f64>,
    },
}

#[derive(Args)]
pub struct Target {
    /// Base URL of the system under test, e.g. http://127.0.0.1:9797.
    #[arg(long)]
    url: String,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
pub struct WorkloadArgs {
    /// Number of series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Samples per series.
    #[arg(long, default_value_t = 240)]
    samples_per_series: usize,
    /// Time between two samples of a series.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    interval: HumanDuration,
    /// Seed of the deterministic value generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// End of the data, Unix seconds; default now, rounded down to the interval.
    #[arg(long)]
    end: Option<f64>,
}

fn parse_duration(text: &str) -> Result<HumanDuration, String> {
    argus_model::time::parse_duration(text).map(HumanDuration).map_err(|e| e.to_string())
}

impl WorkloadArgs {
    fn workload(&self) -> anyhow::Result<Workload> {
        let interval_ms = self.interval.0.as_millis() as i64;
        if interval_ms == 0 || self.series == 0 || self.samples_per_series == 0 {
            bail!("--series, --samples-per-series and --interval must be positive");
        }
        let end_ms = match self.end {
            Some(seconds) => (seconds * 1e3) as i64,
            None => argus_model::time::now() / interval_ms * interval_ms,
        };
        Ok(Workload {
            series: self.series,
            samples_per_series: self.samples_per_series,
            interval_ms,
            seed: self.seed,
            end_ms,
        })
    }
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::AgentScrape { targets, series, interval, rounds } => {
            let dir = std::env::temp_dir().join(format!("argus-bench-agent-{}", std::process::id()));
            let report = agent::scrape(targets, series, interval, rounds, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            report?.print();
            Ok(())
        }
        BenchCommand::AgentTail { megabytes, work_dir } => {
            let temporary = std::env::temp_dir().join(format!("argus-bench-agent-{}", std::process::id()));
            let dir = work_dir.clone().unwrap_or_else(|| temporary.clone());
            let report = agent::tail(megabytes, &dir);
            if work_dir.is_none() {
                let _ = std::fs::remove_dir_all(&temporary);
            }
            report?.print();
            Ok(())
        }
        BenchCommand::Write { target, workload, batch, concurrency, verify } => {
            let workload = workload.workload()?;
            let report = write::run(&target.url, &workload, batch, concurrency)?;
            report.print();
            let verified = if verify { Some(verify::run(&target.url, &workload)?) } else { None };
            if let Some(verified) = &verified {
                verified.print();
            }
            #[derive(Serialize)]
            struct Combined<'a> {
                #[serde(flatten)]
                write: &'a write::WriteReport,
                verify: Option<&'a verify::VerifyReport>,
            }
            write_json(&target, &Combined { write: &report, verify: verified.as_ref() })?;
            write::check_no_errors(&report)?;
            check_verified(verified.as_ref())
        }
        BenchCommand::Verify { target, workload } => {
            let report = verify::run(&target.url, &workload.workload()?)?;
            report.print();
            write_json(&target, &report)?;
            check_verified(Some(&report))
        }
        BenchCommand::Query { target, queries, repeat, min_seconds, end } => {
            let specs = query::load(queries.as_deref())?;
            let end_ms = end.map_or_else(argus_model::time::now, |s| (s * 1e3) as i64);
            let runs = query::Runs {
                at_least: repeat.max(1),
                for_at_least: Duration::from_secs_f64(min_seconds.max(0.0)),
            };
            let report = query::run(&target.url, &specs, runs, end_ms)?;
            report.print();
            write_json(&target, &report)
        }
    }
}

fn check_verified(report: Option<&verify::VerifyReport>) -> anyhow::Result<()> {
    match report {
        Some(report) if !report.ok => bail!(
            "the target holds {} series and {} samples, the workload sent {} and {}",
            report.found_series,
            report.found_samples,
            report.expected_series,
            report.expected_samples
        ),
        _ => Ok(()),
    }
}

fn write_json(target: &Target, report: &impl Serialize) -> anyhow::Result<()> {
    let Some(path) = &target.json else { return Ok(()) };
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
