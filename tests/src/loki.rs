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

/// One entry a [`PushSink`] received: (stream labels, nanoseconds, line).
pub type Received = (String, i64, String);

/// A Loki push endpoint on a loopback port picked at run time that stores nothing: it keeps
/// every entry of every snappy-compressed protobuf push it receives, in arrival order, and
/// answers 204. Unlike a server, it shows an entry sent twice as twice.
pub struct PushSink {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl PushSink {
    pub fn start() -> PushSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let url = format!("http://{}/loki/api/v1/push", listener.local_addr().expect("local address"));
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = received.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || serve_pushes(connection, &keep));
            }
        });
        PushSink { url, received }
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("sink lock").clone()
    }

    /// What arrived, once at least `count` entries did or `wait` passed.
    pub fn wait_for(&self, count: usize, wait: std::time::Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let received = self.received();
            if received.len() >= count || std::time::Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Answers the push requests of one HTTP/1.1 connection until the client closes it.
fn serve_pushes(connection: std::net::TcpStream, received: &std::sync::Mutex<Vec<Received>>) {
    use std::io::{BufRead, Read, Write};
    let Ok(mut writer) = connection.try_clone() else { return };
    let mut reader = std::io::BufReader::new(connection);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().expect("a Content-Length number");
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("a snappy body");
        let request = PushRequest::decode(raw.as_slice()).expect("a protobuf PushRequest");
        let mut received = received.lock().expect("sink lock");
        for stream in request.streams {
            for entry in stream.entries {
                let nanos = entry.timestamp.map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
                received.push((stream.labels.clone(), nanos, entry.line));
            }
        }
        drop(received);
        if writer.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
            return;
        }
    }
}
