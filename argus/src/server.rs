//! `argus server`: opens the engines (replaying their WALs), starts the tsdb's maintenance
//! thread, mounts every crate's router on one axum server, serves until SIGINT/SIGTERM, then
//! drains requests, stops maintenance and closes the WALs (the log store commits last when its
//! final handle is dropped).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argus_ingest::{IngestState, LogIngestState};
use argus_logstore::LogStore;
use argus_query::{BuildInfo, QueryState};
use argus_tsdb::Shards;
use axum::Router;
use axum::routing::get;
use tracing::{info, warn};

use crate::admin;
use crate::config::Config;
use crate::memory;
use crate::metrics::{self, HttpMetrics, MetricsSources};

pub async fn run(config: Config) -> anyhow::Result<()> {
    let tsdb_dir = config.tsdb_dir();
    let tsdb_config = config.storage.tsdb.clone();
    let storage = tokio::task::spawn_blocking(move || Shards::open(&tsdb_dir, &tsdb_config))
        .await?
        .with_context(|| format!("opening the time-series engine in {}", config.tsdb_dir().display()))?;
    let storage = Arc::new(storage);
    let (logs_dir, logs_config) = (config.logs_dir(), config.storage.logs.clone());
    let logs = tokio::task::spawn_blocking(move || LogStore::open(&logs_dir, logs_config))
        .await?
        .with_context(|| format!("opening the log store in {}", config.logs_dir().display()))?;
    let maintenance = Shards::start_maintenance(&storage, config.storage.tsdb.compaction_interval.0);
    memory::release_freed_memory_every(Duration::from_secs(10));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    info!(address = %listener.local_addr()?, data_dir = %config.data_dir.display(), "argus is ready");
    axum::serve(listener, app(&config, storage.clone(), logs))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving http")?;
    info!("shutting down: finishing maintenance, closing the wal");
    maintenance.stop();
    close(storage)
}

/// The whole HTTP surface on one router.
pub fn app(config: &Config, storage: Arc<Shards>, logs: LogStore) -> Router {
    let ingest = IngestState::new(storage.clone(), config.ingest.clone());
    let log_ingest = LogIngestState {
        storage: Arc::new(logs.clone()),
        config: ingest.config.clone(),
        metrics: ingest.metrics.clone(),
        retention_ns: logs.config().retention_ns(),
    };
    let http_metrics = Arc::new(HttpMetrics::default());
    let sources = MetricsSources {
        storage: storage.clone(),
        logs: logs.clone(),
        ingest: ingest.metrics.clone(),
        http: http_metrics.clone(),
    };
    let build_info = BuildInfo { version: env!("CARGO_PKG_VERSION").to_string(), revision: String::new() };
    let admin = admin::router(storage.clone(), config.enable_admin_api);
    let query = QueryState::new(storage, &config.query, build_info).with_logs(Arc::new(logs));
    Router::new()
        .merge(argus_ingest::router(ingest))
        .merge(argus_ingest::log_router(log_ingest))
        .merge(argus_query::router(query))
        .merge(admin)
        .route("/metrics", get(metrics::render).with_state(sources))
        .route("/-/healthy", get(|| async { "Argus is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Argus is Ready.\n" }))
        .layer(axum::middleware::from_fn_with_state(http_metrics, metrics::record_http))
}

fn close(storage: Arc<Shards>) -> anyhow::Result<()> {
    match Arc::try_unwrap(storage) {
        Ok(shards) => shards.close().context("closing the time-series engine"),
        Err(_) => {
            // A request still holds the engine; its WAL is flushed when the last handle drops.
            warn!("engine still in use at shutdown; the wal is closed when the last request ends");
            Ok(())
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => info!("received SIGINT"),
        _ = terminate => info!("received SIGTERM"),
    }
}
