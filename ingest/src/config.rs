//! `IngestConfig`: limits and validation rules of the receivers (the `ingest` section of the
//! Argus config file).

use argus_model::time::ByteSize;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted, measured after decompression (and also applied to the
    /// compressed body). Larger requests get `413 Payload Too Large`.
    pub max_request_size: ByteSize,
    /// Accept any UTF-8 metric and label names (Prometheus 3's `utf8` validation) instead of
    /// only the legacy `[a-zA-Z_:][a-zA-Z0-9_:]*` / `[a-zA-Z_][a-zA-Z0-9_]*` names.
    pub allow_utf8_names: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { max_request_size: ByteSize(32 << 20), allow_utf8_names: false }
    }
}
