//! `argus bench verify`: asks the target how many series and samples of the workload it holds
//! and compares with what the workload sent. Where the target speaks PromQL, both are counted
//! with `count_over_time` (Prometheus needs `--query.max-samples` above the workload's sample
//! count); otherwise series come from `/api/v1/series` and samples from `/api/v1/export`.

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::blocking::Client;
use serde::{Deserialize, Serialize};

use super::workload::Workload;

/// Every workload series carries this label set.
const SELECTOR: &str = r#"{job="node"}"#;

#[derive(Debug, Serialize, PartialEq)]
pub struct VerifyReport {
    pub ok: bool,
    pub expected_series: u64,
    pub found_series: u64,
    pub expected_samples: u64,
    pub found_samples: u64,
    /// How series and samples were counted: `promql` or `export`.
    pub method: &'static str,
}

pub fn run(url: &str, workload: &Workload) -> anyhow::Result<VerifyReport> {
    let client = Client::builder().timeout(Duration::from_secs(600)).build()?;
    let base = url.trim_end_matches('/');
    let report = match count_by_promql(&client, base, workload)? {
        Some((series, samples)) => compare(workload, series, samples, "promql"),
        None => {
            let series = count_series(&client, base, workload)?;
            compare(workload, series, count_samples_export(&client, base, workload)?, "export")
        }
    };
    Ok(report)
}

/// The verdict: everything sent is there, nothing more.
pub fn compare(
    workload: &Workload,
    found_series: u64,
    found_samples: u64,
    method: &'static str,
) -> VerifyReport {
    let expected_series = workload.series as u64;
    let expected_samples = workload.total_samples();
    VerifyReport {
        ok: found_series == expected_series && found_samples == expected_samples,
        expected_series,
        found_series,
        expected_samples,
        found_samples,
        method,
    }
}

fn time_params(workload: &Workload) -> [(&'static str, String); 2] {
    [
        ("start", format!("{:.3}", workload.start_ms() as f64 / 1e3)),
        ("end", format!("{:.3}", workload.end_ms as f64 / 1e3)),
    ]
}

/// GET `path` for the workload's selector and time range; fails unless the answer is 2xx.
fn get_for_workload(
    client: &Client,
    base: &str,
    path: &str,
    workload: &Workload,
) -> anyhow::Result<reqwest::blocking::Response> {
    let [start, end] = time_params(workload);
    let response = client
        .get(format!("{base}{path}"))
        .query(&[("match[]", SELECTOR.to_string()), start, end])
        .send()
        .with_context(|| format!("querying {path}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{path} answered {status}: {}", response.text().unwrap_or_default());
    }
    Ok(response)
}

fn count_series(client: &Client, base: &str, workload: &Workload) -> anyhow::Result<u64> {
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<serde_json::Value>,
    }
    let response = get_for_workload(client, base, "/api/v1/series", workload)?;
    Ok(response.json::<Answer>().context("parsing /api/v1/series")?.data.len() as u64)
}

/// (series, samples) counted with `count_over_time`, one metric name at a time: the function
/// drops `__name__`, and Prometheus 2.x refuses a result in which two series then collide.
/// `None` when the target has no PromQL.
fn count_by_promql(client: &Client, base: &str, workload: &Workload) -> anyhow::Result<Option<(u64, u64)>> {
    let names = metric_names(client, base, workload)?;
    let range_ms = (workload.samples_per_series as i64 + 1) * workload.interval_ms;
    let (mut series, mut samples) = (0, 0);
    for name in names {
        let selector = format!(r#"{{__name__="{name}",job="node"}}"#);
        let over_range =
            |aggregation: &str| format!("{aggregation}(count_over_time({selector}[{range_ms}ms]))");
        let Some(name_samples) = promql_count(client, base, workload, &over_range("sum"))? else {
            return Ok(None);
        };
        samples += name_samples;
        series += promql_count(client, base, workload, &over_range("count"))?.unwrap_or(0);
    }
    Ok(Some((series, samples)))
}

fn metric_names(client: &Client, base: &str, workload: &Workload) -> anyhow::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<String>,
    }
    let response = get_for_workload(client, base, "/api/v1/label/__name__/values", workload)?;
    Ok(response.json::<Answer>().context("parsing metric names")?.data)
}

/// A single-number PromQL query at the end of the data; `None` when the target has no PromQL.
fn promql_count(
    client: &Client,
    base: &str,
    workload: &Workload,
    query: &str,
) -> anyhow::Result<Option<u64>> {
    let time = format!("{:.3}", workload.end_ms as f64 / 1e3);
    let response = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query), ("time", time.as_str())])
        .send()
        .context("querying /api/v1/query")?;
    if matches!(response.status().as_u16(), 404 | 405) {
        return Ok(None);
    }
    let status = response.status();
    let body: serde_json::Value = response.json().context("parsing /api/v1/query")?;
    if !status.is_success() {
        bail!("/api/v1/query answered {status}: {body}");
    }
    let Some(value) = body["data"]["result"].get(0) else { return Ok(Some(0)) };
    let count: f64 = value["value"][1].as_str().context("a sample value string")?.parse()?;
    Ok(Some(count as u64))
}

/// Counts the samples of every exported series, one line at a time.
fn count_samples_export(client: &Client, base: &str, workload: &Workload) -> anyhow::Result<u64> {
    #[derive(Deserialize)]
    struct Line {
        timestamps: Vec<i64>,
    }
    let response = get_for_workload(client, base, "/api/v1/export", workload)?;
    let mut total = 0;
    for line in std::io::BufReader::new(response).lines() {
        let line = line.context("reading /api/v1/export")?;
        if !line.trim().is_empty() {
            total += serde_json::from_str::<Line>(&line).context("parsing an export line")?.timestamps.len()
                as u64;
        }
    }
    Ok(total)
}

impl VerifyReport {
    pub fn print(&self) {
        let verdict = if self.ok { "OK" } else { "MISMATCH" };
        println!("verify                {verdict} (counted by {})", self.method);
        println!("series                {} of {} expected", self.found_series, self.expected_series);
        println!("samples               {} of {} expected", self.found_samples, self.expected_samples);
        if self.found_samples < self.expected_samples {
            println!("missing samples       {}", self.expected_samples - self.found_samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_fails_on_any_difference() {
        let w = Workload { series: 10, samples_per_series: 5, interval_ms: 1000, seed: 1, end_ms: 100_000 };
        assert!(compare(&w, 10, 50, "export").ok);
        assert!(!compare(&w, 10, 49, "export").ok, "one sample missing");
        assert!(!compare(&w, 9, 50, "export").ok, "one series missing");
        assert!(!compare(&w, 10, 51, "export").ok, "one sample too many");
    }
}
