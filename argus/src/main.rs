//! The `argus` binary: parses the command line, loads the config and runs a role. It stays
//! small; the roles live in their modules and crates.

mod admin;
mod bench;
mod config;
mod memory;
mod metrics;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use argus_ingest::agent::AgentConfig;

use crate::config::Config;

#[derive(Parser)]
#[command(name = "argus", version, about = "Metrics and logs: ingest, storage, query, alerting.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server: remote write, the Prometheus API, /metrics.
    Server(ServerArgs),
    /// Load generator and checker for Argus, Prometheus and VictoriaMetrics.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Runs the agent: scrapes targets and ships what it scrapes over remote write.
    Agent(AgentArgs),
    /// Loads and validates a config file, then prints the effective config.
    CheckConfig {
        /// Config file to check.
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// YAML config file; without one the embedded defaults apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, overriding `listen` in the config.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory, overriding `data_dir` in the config.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve the admin API, overriding `enable_admin_api` in the config.
    #[arg(long)]
    enable_admin_api: bool,
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The agent's YAML config file (example: `config/agent.example.yaml`).
    #[arg(long)]
    config: PathBuf,
    /// Only load and validate the config, print it as understood, and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Server(args) => {
            let config = server_config(args)?;
            init_logging(&config.log.level)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(server::run(config))
        }
        Command::Bench(command) => bench::run(command),
        Command::Agent(args) => {
            let text = std::fs::read_to_string(&args.config)
                .with_context(|| format!("reading agent config {}", args.config.display()))?;
            let config = AgentConfig::parse(&text)
                .map_err(|e| anyhow::anyhow!("in agent config {}: {e}", args.config.display()))?;
            if args.check_config {
                print!("{}", serde_norway::to_string(&config)?);
                return Ok(());
            }
            // The agent's buffers come and go with every batch: one allocator arena, and freed
            // memory handed back often, keep its resident size small.
            memory::use_one_allocator_arena();
            init_logging("info")?;
            memory::release_freed_memory_every(std::time::Duration::from_secs(1));
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime
                .block_on(argus_ingest::agent::run(config, server::shutdown_signal()))
                .map_err(anyhow::Error::msg)
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config)?;
            print!("{}", serde_norway::to_string(&config)?);
            Ok(())
        }
    }
}

fn server_config(args: ServerArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.enable_admin_api {
        config.enable_admin_api = true;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    Ok(config)
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env),
        _ => EnvFilter::try_new(level),
    }
    .context("invalid log filter")?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    Ok(())
}
