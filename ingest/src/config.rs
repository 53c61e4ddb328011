//! `IngestConfig`: limits and validation rules of the receivers (the `ingest` section of the
//! Argus config file).

use argus_model::time::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

pub use crate::ndjson::NdjsonFields;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted, measured after decompression (and also applied to the
    /// compressed body). Larger requests get `413 Payload Too Large`.
    pub max_request_size: ByteSize,
    /// Accept any UTF-8 metric and label names (Prometheus 3's `utf8` validation) instead of
    /// only the legacy `[a-zA-Z_:][a-zA-Z0-9_:]*` / `[a-zA-Z_][a-zA-Z0-9_]*` names.
    pub allow_utf8_names: bool,
    /// Limits on pushed log entries (Loki's defaults).
    pub logs: LogLimits,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { max_request_size: ByteSize(32 << 20), allow_utf8_names: false, logs: LogLimits::default() }
    }
}

/// What a pushed log stream and its entries may be; entries beyond a limit are refused with
/// Loki's message while the rest of the push is stored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogLimits {
    /// Longest line accepted.
    pub max_line_size: ByteSize,
    /// Most labels a stream may have.
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// How far in the future (by the server's clock) an entry's timestamp may be.
    pub creation_grace_period: HumanDuration,
    /// Where `POST /api/v1/logs/ndjson` finds an entry's time, message and labels.
    pub ndjson: NdjsonFields,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_line_size: ByteSize(256 << 10),
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            creation_grace_period: HumanDuration::from_secs(600),
            ndjson: NdjsonFields::default(),
        }
    }
}
