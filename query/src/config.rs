//! `QueryConfig`: the `query` section of the Argus config file.

use argus_model::time::HumanDuration;
use serde::{Deserialize, Serialize};

use crate::promql::EngineOptions;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a series' latest sample (Prometheus's
    /// `--query.lookback-delta`).
    pub lookback_delta: HumanDuration,
    /// Most samples one query may load before it fails with an `execution` error, so an
    /// expensive dashboard cannot exhaust memory (Prometheus's `--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run before it fails with a `timeout` error; a request's own
    /// `timeout` parameter can only shorten it.
    pub timeout: HumanDuration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            lookback_delta: HumanDuration::from_secs(300),
            max_samples: 50_000_000,
            timeout: HumanDuration::from_secs(120),
        }
    }
}

impl QueryConfig {
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            lookback_delta: self.lookback_delta.0,
            max_samples: self.max_samples,
            timeout: self.timeout.0,
            ..EngineOptions::default()
        }
    }
}
