//! The Argus config file: one YAML document composing each crate's config section. Every key
//! is documented in `config/argus.example.yaml`, which a test loads so it cannot rot. With no
//! file, the embedded defaults apply; command-line flags override single fields.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use argus_ingest::IngestConfig;
use argus_logstore::LogConfig as LogStoreConfig;
use argus_query::QueryConfig;
use argus_tsdb::TsdbConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the HTTP server (all APIs, `/metrics` and the dashboard).
    pub listen: SocketAddr,
    /// Directory under which all data is kept (`tsdb/` for metrics, `logs/` for logs).
    pub data_dir: PathBuf,
    /// Serve the admin API (`/api/v1/admin/tsdb/...`), which changes stored data.
    pub enable_admin_api: bool,
    pub storage: StorageConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9797)),
            data_dir: PathBuf::from("./data"),
            enable_admin_api: false,
            storage: StorageConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub tsdb: TsdbConfig,
    pub logs: LogStoreConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Log filter in `tracing` syntax (`info`, `argus_tsdb=debug,info`); the `RUST_LOG`
    /// environment variable wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_string() }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let config = Self::parse(&text).with_context(|| format!("in config file {}", path.display()))?;
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = serde_norway::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what single fields cannot: relations and ranges.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.storage.tsdb.block_range.0.as_millis() < 2 {
            bail!("storage.tsdb.block_range must be at least 2ms");
        }
        if self.storage.tsdb.wal.segment_size.0 < 64 << 10 {
            bail!("storage.tsdb.wal.segment_size must be at least 64KiB");
        }
        if self.query.max_samples == 0 {
            bail!("query.max_samples must be positive");
        }
        if self.ingest.max_request_size.0 == 0 {
            bail!("ingest.max_request_size must be positive");
        }
        Ok(())
    }

    pub fn tsdb_dir(&self) -> PathBuf {
        self.data_dir.join("tsdb")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/argus.example.yaml");

    #[test]
    fn shipped_example_parses_and_equals_the_defaults() {
        assert_eq!(Config::parse(EXAMPLE).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(Config::parse("{}").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Config::parse("storage:\n  tsdb:\n    shardz: 4\n").unwrap_err();
        assert!(format!("{error:#}").contains("shardz"), "{error:#}");
    }

    #[test]
    fn human_durations_and_sizes() {
        let config = Config::parse("storage:\n  tsdb:\n    block_range: 30m\n    wal:\n      segment_size: 1MiB\n      fsync: interval\n").unwrap();
        assert_eq!(config.storage.tsdb.block_range.0.as_secs(), 1800);
        assert_eq!(config.storage.tsdb.wal.segment_size.0, 1 << 20);
        assert_eq!(config.storage.tsdb.wal.fsync, argus_tsdb::FsyncPolicy::Interval);
    }

    #[test]
    fn invalid_values_are_rejected() {
        assert!(Config::parse("listen: nowhere\n").is_err());
        assert!(Config::parse("ingest:\n  max_request_size: 0\n").is_err());
        assert!(Config::parse("storage:\n  tsdb:\n    wal:\n      fsync: sometimes\n").is_err());
    }
}
