//! HTTP helpers: remote-write requests built from plain tuples, and Prometheus API calls
//! returning parsed JSON.

use std::time::Duration;

use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;
use reqwest::blocking::Client;
use serde_json::Value;

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().expect("http client")
}

/// A series for a write request from `(name, value)` pairs and `(timestamp_ms, value)` samples.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
    }
}

/// Snappy block format of the encoded request, as remote write sends it.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy")
}

/// A remote-write response: status and body.
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

const REMOTE_WRITE_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

pub fn remote_write(base: &str, series: Vec<TimeSeries>) -> Response {
    try_remote_write(base, series).expect("sending request")
}

/// [`remote_write`] to a server that may be gone: `Err` when the request could not complete.
pub fn try_remote_write(base: &str, series: Vec<TimeSeries>) -> reqwest::Result<Response> {
    let body = encode(&WriteRequest { timeseries: series, metadata: vec![] });
    try_post_raw(base, "/api/v1/write", body, &REMOTE_WRITE_HEADERS)
}

pub fn post_raw(base: &str, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
    try_post_raw(base, path, body, headers).expect("sending request")
}

fn try_post_raw(
    base: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> reqwest::Result<Response> {
    let mut request = client().post(format!("{base}{path}")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send()?;
    Ok(Response { status: response.status().as_u16(), body: response.text()? })
}

/// GET a Prometheus API path with query parameters; panics unless the answer is a success.
pub fn api_get(base: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let response = client().get(format!("{base}{path}")).query(query).send().expect("sending request");
    let status = response.status();
    let body: Value = response.json().expect("json body");
    assert!(status.is_success() && body["status"] == "success", "{path} answered {status}: {body}");
    body
}

/// The label sets `/api/v1/series` returns for one selector, as sorted JSON strings.
pub fn series_set(base: &str, selector: &str) -> Vec<String> {
    let body = api_get(base, "/api/v1/series", &[("match[]", selector)]);
    let mut sets: Vec<String> =
        body["data"].as_array().expect("data array").iter().map(|s| s.to_string()).collect();
    sets.sort();
    sets
}

/// One exported series: its labels as a JSON object and its `(timestamp_ms, value)` samples.
pub type ExportedSeries = (serde_json::Map<String, Value>, Vec<(i64, f64)>);

/// `/api/v1/export` for one selector: each series' labels and samples (special values as NaN
/// and ±Inf).
pub fn export(base: &str, selector: &str) -> Vec<ExportedSeries> {
    let response = client()
        .get(format!("{base}/api/v1/export"))
        .query(&[("match[]", selector)])
        .send()
        .expect("sending export request");
    assert!(response.status().is_success(), "export answered {}", response.status());
    let text = response.text().expect("export body");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("export line is JSON");
            let metric = value["metric"].as_object().expect("metric").clone();
            let timestamps = value["timestamps"].as_array().expect("timestamps");
            let values = value["values"].as_array().expect("values");
            let samples = timestamps
                .iter()
                .zip(values)
                .map(|(t, v)| (t.as_i64().expect("integer timestamp"), sample_value(v)))
                .collect();
            (metric, samples)
        })
        .collect()
}

fn sample_value(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "+Inf" => f64::INFINITY,
        Value::String(s) if s == "-Inf" => f64::NEG_INFINITY,
        other => other.as_f64().expect("numeric sample value"),
    }
}
