//! Loki helpers: pushes in both wire forms (our own protobuf pusher and JSON), and reading
//! streams back from `query_range`.

use argus_model::proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use prost::Message;
use serde_json::Value;

use crate::client::{Response, client, post_raw};

/// One entry to push: (nanoseconds, line, structured metadata).
pub type Entry = (i64, String, Vec<(String, String)>);

/// Pushes streams as snappy-compressed protobuf, as promtail and Alloy do.
pub fn push_protobuf(base: &str, streams: &[(&str, Vec<Entry>)]) -> Response {
    let request = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: labels.to_string(),
                entries: entries
                    .iter()
                    .map(|(ts, line, metadata)| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(*ts)),
                        line: line.clone(),
                        structured_metadata: metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter { name: n.clone(), value: v.clone() })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy");
    post_raw(base, "/loki/api/v1/push", body, &[("Content-Type", "application/x-protobuf")])
}

/// Pushes a JSON body (`{"streams":[…]}`) as is.
pub fn push_json(base: &str, body: &Value) -> Response {
    post_raw(
        base,
        "/loki/api/v1/push",
        body.to_string().into_bytes(),
        &[("Content-Type", "application/json")],
    )
}

/// `query_range` for a log query: every stream's (labels, [(ns, line)]).
pub fn query_streams(
    base: &str,
    query: &str,
    direction: &str,
    start: i64,
    end: i64,
) -> Vec<(Value, Vec<(i64, String)>)> {
    let response = client()
        .get(format!("{base}/loki/api/v1/query_range"))
        .query(&[
            ("query", query),
            ("direction", direction),
            ("limit", "5000"),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
        ])
        .send()
        .expect("query_range");
    let status = response.status();
    let body: Value = response.json().unwrap_or_default();
    assert!(status.is_success(), "query_range {query} answered {status}: {body}");
    assert_eq!(body["data"]["resultType"], "streams", "{body}");
    body["data"]["result"]
        .as_array()
        .expect("result array")
        .iter()
        .map(|stream| {
            let values = stream["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|v| (v[0].as_str().unwrap().parse().unwrap(), v[1].as_str().unwrap().to_string()))
                .collect();
            (stream["stream"].clone(), values)
        })
        .collect()
}

/// The lines of every stream matching `query`, merged in time order (oldest first).
pub fn all_lines(base: &str, query: &str, start: i64, end: i64) -> Vec<(i64, String)> {
    let mut lines: Vec<(i64, String)> = query_streams(base, query, "forward", start, end)
        .into_iter()
        .flat_map(|(_, values)| values)
        .collect();
    lines.sort_by_key(|(ts, _)| *ts);
    lines
}
