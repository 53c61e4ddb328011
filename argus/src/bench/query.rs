//! `argus bench query`: runs a file of PromQL dashboard queries against a Prometheus-compatible
//! API, each at least `repeat` times and for at least `min_seconds`, and reports median and p90
//! latency, series and points returned. Latency is the time from sending the request to having
//! the whole response body; reading the JSON afterwards is not counted.
//!
//! The file is a YAML list; see `bench/queries.yaml` (the default, compiled in):
//! `{name, query, kind: instant|range, range: 1h, step: 1m}`. Instant queries and the end of
//! range queries are at `end`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use argus_model::time::HumanDuration;
use reqwest::blocking::Client;
use serde::{Deserialize, Serialize};

use super::stats::percentile;

/// The query file shipped with Argus.
pub const DEFAULT_QUERIES: &str = include_str!("../../../bench/queries.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    pub name: String,
    pub query: String,
    pub kind: QueryKind,
    /// For range queries: how far back from `end` they start.
    pub range: Option<HumanDuration>,
    /// For range queries: the resolution.
    pub step: Option<HumanDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryKind {
    Instant,
    Range,
}

#[derive(Debug, Serialize)]
pub struct QueryResult {
    pub name: String,
    pub query: String,
    pub kind: QueryKind,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub series: u64,
    pub points: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueryReport {
    pub queries: Vec<QueryResult>,
}

pub fn load(path: Option<&Path>) -> anyhow::Result<Vec<QuerySpec>> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => DEFAULT_QUERIES.to_string(),
    };
    let specs: Vec<QuerySpec> = serde_norway::from_str(&text).context("parsing the query file")?;
    for spec in &specs {
        if spec.kind == QueryKind::Range && (spec.range.is_none() || spec.step.is_none()) {
            anyhow::bail!("range query {} needs `range` and `step`", spec.name);
        }
    }
    Ok(specs)
}

/// How many times each query runs: at least `at_least` times, and until `for_at_least` has
/// passed, but never more than [`Runs::MAX`] times.
#[derive(Debug, Clone, Copy)]
pub struct Runs {
    pub at_least: usize,
    pub for_at_least: Duration,
}

impl Runs {
    const MAX: usize = 2000;

    /// Whether to run the query again after `done` runs over `elapsed`.
    fn another(&self, done: usize, elapsed: Duration) -> bool {
        done < self.at_least || (done < Self::MAX && elapsed < self.for_at_least)
    }
}

pub fn run(url: &str, specs: &[QuerySpec], runs: Runs, end_ms: i64) -> anyhow::Result<QueryReport> {
    let client = Client::builder().timeout(Duration::from_secs(300)).build()?;
    let base = url.trim_end_matches('/');
    let queries = specs.iter().map(|spec| run_one(&client, base, spec, runs, end_ms)).collect();
    Ok(QueryReport { queries })
}

fn run_one(client: &Client, base: &str, spec: &QuerySpec, runs: Runs, end_ms: i64) -> QueryResult {
    let seconds = |ms: i64| format!("{:.3}", ms as f64 / 1e3);
    let (path, params) = match (spec.kind, spec.range, spec.step) {
        (QueryKind::Range, Some(range), Some(step)) => (
            "/api/v1/query_range",
            vec![
                ("query", spec.query.clone()),
                ("start", seconds(end_ms - range.0.as_millis() as i64)),
                ("end", seconds(end_ms)),
                ("step", format!("{:.3}", step.0.as_secs_f64())),
            ],
        ),
        _ => ("/api/v1/query", vec![("query", spec.query.clone()), ("time", seconds(end_ms))]),
    };
    let url = format!("{base}{path}");
    let mut latencies = Vec::new();
    let mut shape = Ok((0, 0));
    let started = Instant::now();
    while runs.another(latencies.len(), started.elapsed()) {
        let sent = Instant::now();
        let answer = client
            .post(&url)
            .form(&params)
            .send()
            .and_then(|response| Ok((response.status(), response.bytes()?)))
            .map_err(|e| e.to_string());
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
        shape = answer.and_then(|(status, body)| result_shape(status, &body));
        if shape.is_err() {
            break;
        }
    }
    let (series, points, error) = match shape {
        Ok((series, points)) => (series, points, None),
        Err(error) => (0, 0, Some(error)),
    };
    QueryResult {
        name: spec.name.clone(),
        query: spec.query.clone(),
        kind: spec.kind,
        median_ms: if error.is_some() { f64::NAN } else { percentile(&latencies, 50.0) },
        p90_ms: if error.is_some() { f64::NAN } else { percentile(&latencies, 90.0) },
        series,
        points,
        error,
    }
}

/// (series, points) of a successful answer, or why it failed.
fn result_shape(status: reqwest::StatusCode, body: &[u8]) -> Result<(u64, u64), String> {
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("{status}: not JSON: {e}"))?;
    if !status.is_success() || body["status"] != "success" {
        let message = body["error"].as_str().unwrap_or("no error message");
        return Err(format!("{status}: {message}"));
    }
    let result = &body["data"]["result"];
    Ok(match body["data"]["resultType"].as_str() {
        Some("matrix") => {
            let series = result.as_array().map_or(0, Vec::len) as u64;
            let points = result.as_array().map_or(0, |all| {
                all.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum::<usize>()
            });
            (series, points as u64)
        }
        Some("vector") => {
            let n = result.as_array().map_or(0, Vec::len) as u64;
            (n, n)
        }
        _ => (0, 1),
    })
}

impl QueryReport {
    pub fn print(&self) {
        println!("{:<36} {:>10} {:>10} {:>8} {:>10}", "query", "median ms", "p90 ms", "series", "points");
        for q in &self.queries {
            match &q.error {
                None => println!(
                    "{:<36} {:>10.1} {:>10.1} {:>8} {:>10}",
                    q.name, q.median_ms, q.p90_ms, q.series, q.points
                ),
                Some(error) => println!("{:<36} error: {error}", q.name),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_queries_run_until_the_time_is_up_and_slow_ones_their_count() {
        let runs = Runs { at_least: 5, for_at_least: Duration::from_secs(1) };
        let early = Duration::from_millis(10);
        assert!(runs.another(4, early) && runs.another(5, early) && runs.another(Runs::MAX - 1, early));
        assert!(!runs.another(Runs::MAX, early));
        let late = Duration::from_secs(2);
        assert!(runs.another(4, late));
        assert!(!runs.another(5, late));
    }

    #[test]
    fn the_shipped_query_file_parses() {
        let specs = load(None).unwrap();
        assert!(specs.len() >= 10, "a dozen dashboard queries ship by default");
        assert!(specs.iter().any(|s| s.kind == QueryKind::Range));
        assert!(specs.iter().any(|s| s.query.contains("histogram_quantile")));
    }
}
