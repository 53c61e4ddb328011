//! Decoding a Loki push body (pure): gzip when the request says so, then either JSON
//! (`Content-Type: application/json`) or snappy-compressed protobuf `logproto.PushRequest`
//! (any other type, as Loki does), into streams whose labels and entries are not validated yet.
//!
//! JSON: `{"streams":[{"stream":{"app":"api"},"values":[["<ns as a string>","line",{"k":"v"}]]}]}`
//! where the third element of a value (structured metadata) is optional and timestamps must be
//! strings.

use std::io::Read;

use argus_model::proto::loki::PushRequest;
use prost::Message;
use serde_json::Value;

use crate::error::{Error, Result};

/// A pushed stream before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawStream {
    pub labels: RawLabels,
    pub entries: Vec<RawEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawLabels {
    /// The Prometheus-style string protobuf pushes carry, `{app="api"}`, still to parse.
    Text(String),
    /// The pairs of a JSON `stream` object.
    Pairs(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawEntry {
    /// Nanoseconds since the epoch.
    pub timestamp: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// How the body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn of(content_type: Option<&str>) -> Format {
        if crate::http::is_media_type(content_type, "application/json") {
            Format::Json
        } else {
            Format::Protobuf
        }
    }
}

/// Undoes `Content-Encoding` (none or gzip), refusing more than `limit` bytes of output.
pub(crate) fn decode_content(body: &[u8], content_encoding: Option<&str>, limit: u64) -> Result<Vec<u8>> {
    match content_encoding.map(str::trim) {
        None | Some("") => Ok(body.to_vec()),
        Some(encoding) if encoding.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(body).take(limit + 1);
            reader.read_to_end(&mut out).map_err(|e| Error::Parse(format!("gzip decoding failed: {e}")))?;
            if out.len() as u64 > limit {
                return Err(Error::TooLarge { limit });
            }
            Ok(out)
        }
        Some(other) => Err(Error::UnsupportedMediaType {
            header: "Content-Encoding",
            value: other.to_string(),
            expected: "Loki push accepts gzip or no encoding",
        }),
    }
}

pub(crate) fn decode(body: &[u8], format: Format, limit: u64) -> Result<Vec<RawStream>> {
    match format {
        Format::Json => decode_json(body),
        Format::Protobuf => decode_protobuf(body, limit),
    }
}

fn decode_protobuf(body: &[u8], limit: u64) -> Result<Vec<RawStream>> {
    let raw = crate::remote_write::decompress(body, limit)?;
    let request = PushRequest::decode(raw.as_slice()).map_err(|e| Error::Protobuf(e.to_string()))?;
    request
        .streams
        .into_iter()
        .map(|stream| {
            let entries = stream
                .entries
                .into_iter()
                .map(|entry| {
                    let timestamp = entry.timestamp.unwrap_or_default().as_nanos().ok_or_else(|| {
                        Error::Parse("entry timestamp is outside the range of nanosecond timestamps".into())
                    })?;
                    let metadata = entry.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect();
                    Ok(RawEntry { timestamp, line: entry.line, metadata })
                })
                .collect::<Result<_>>()?;
            Ok(RawStream { labels: RawLabels::Text(stream.labels), entries })
        })
        .collect()
}

fn decode_json(body: &[u8]) -> Result<Vec<RawStream>> {
    let bad = |message: String| Error::Parse(message);
    let root: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let streams = root
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing \"streams\" array".into()))?;
    streams
        .iter()
        .map(|stream| {
            let labels = string_pairs(stream.get("stream").unwrap_or(&Value::Null), "stream")?;
            let values = stream
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("stream without a \"values\" array".into()))?;
            let entries = values.iter().map(json_entry).collect::<Result<_>>()?;
            Ok(RawStream { labels: RawLabels::Pairs(labels), entries })
        })
        .collect()
}

/// One `[ts, line]` or `[ts, line, {metadata}]` value.
fn json_entry(value: &Value) -> Result<RawEntry> {
    let bad = |message: &str| Error::Parse(message.to_string());
    let items = value.as_array().filter(|a| (2..=3).contains(&a.len())).ok_or_else(|| {
        bad("each value must be [\"<timestamp in ns>\", \"<line>\"] or [\"<timestamp>\", \"<line>\", {metadata}]")
    })?;
    let timestamp = items[0]
        .as_str()
        .ok_or_else(|| bad("timestamp must be a string of nanoseconds since the epoch, not a number"))?
        .parse::<i64>()
        .map_err(|_| bad("timestamp must be a string of nanoseconds since the epoch"))?;
    let line = items[1].as_str().ok_or_else(|| bad("log line must be a string"))?.to_string();
    let metadata = match items.get(2) {
        Some(metadata) => string_pairs(metadata, "structured metadata")?,
        None => Vec::new(),
    };
    Ok(RawEntry { timestamp, line, metadata })
}

/// The members of a JSON object whose values are all strings.
fn string_pairs(value: &Value, what: &str) -> Result<Vec<(String, String)>> {
    let object = value.as_object().ok_or_else(|| Error::Parse(format!("{what} must be an object")))?;
    object
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(v) => Ok((name.clone(), v.to_string())),
            None => Err(Error::Parse(format!("{what} value of {name:?} must be a string"))),
        })
        .collect()
}

/// Parses a stream's label string as Loki does, `{name="value", ...}` with Go-quoted values,
/// into pairs in the order given.
pub(crate) fn parse_label_string(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut rest = text.trim().strip_prefix('{').ok_or("labels must start with '{'")?;
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return if after.trim().is_empty() { Ok(pairs) } else { Err("unexpected text after '}'".into()) };
        }
        if !pairs.is_empty() {
            rest = rest.strip_prefix(',').ok_or("expected ',' or '}'")?.trim_start();
        }
        let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() {
            return Err("expected a label name".into());
        }
        rest = rest[name_len..]
            .trim_start()
            .strip_prefix('=')
            .ok_or("expected '=' after a label name")?
            .trim_start();
        let (value, used) = argus_model::quoted::read_quoted(rest)?;
        pairs.push((name.to_string(), value));
        rest = &rest[used..];
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use argus_model::proto::loki::{EntryAdapter, LabelPairAdapter, StreamAdapter, Timestamp};

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_strings_parse_like_loki() {
        assert_eq!(
            parse_label_string(r#"{app="api", env="prod"}"#),
            Ok(pairs(&[("app", "api"), ("env", "prod")]))
        );
        assert_eq!(
            parse_label_string(r#" {a="x\"y\\z",b=`raw\n`} "#),
            Ok(pairs(&[("a", "x\"y\\z"), ("b", r"raw\n")]))
        );
        assert_eq!(parse_label_string("{}"), Ok(Vec::new()));
        for bad in [
            "app=\"api\"",
            "{app=api}",
            "{app=\"api\"",
            "{=\"x\"}",
            "{a=\"x\" b=\"y\"}",
            "{a=\"x\"} z",
            "{a-b=\"x\"}",
        ] {
            assert!(parse_label_string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_bodies_decode_with_optional_metadata_and_string_timestamps_only() {
        let body = br#"{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000001","one"],["1700000000000000002","two",{"trace_id":"abc"}]]}]}"#;
        let streams = decode(body, Format::Json, 1 << 20).unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].labels, RawLabels::Pairs(pairs(&[("app", "api")])));
        assert_eq!(
            streams[0].entries,
            [
                RawEntry { timestamp: 1_700_000_000_000_000_001, line: "one".into(), metadata: vec![] },
                RawEntry {
                    timestamp: 1_700_000_000_000_000_002,
                    line: "two".into(),
                    metadata: pairs(&[("trace_id", "abc")])
                },
            ]
        );
        for bad in [
            &br#"{"streams":[{"stream":{"app":"api"},"values":[[1700000000000000001,"one"]]}]}"#[..],
            br#"{"streams":[{"stream":{"app":"api"},"values":[["1","one",{"k":1}]]}]}"#,
            br#"{"streams":[{"stream":{"app":1},"values":[]}]}"#,
            br#"{"streams":[{"stream":{},"values":[["x","one"]]}]}"#,
            br#"{"nothing":[]}"#,
            b"not json",
        ] {
            assert!(
                matches!(decode(bad, Format::Json, 1 << 20), Err(Error::Parse(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn protobuf_bodies_decode_after_snappy() {
        let request = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="api"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp { seconds: 1_700_000_000, nanos: 5 }),
                    line: "hello ✓".into(),
                    structured_metadata: vec![LabelPairAdapter { name: "k".into(), value: "v".into() }],
                }],
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        let streams = decode(&body, Format::Protobuf, 1 << 20).unwrap();
        assert_eq!(streams[0].labels, RawLabels::Text(r#"{app="api"}"#.into()));
        assert_eq!(
            streams[0].entries[0],
            RawEntry {
                timestamp: 1_700_000_000_000_000_005,
                line: "hello ✓".into(),
                metadata: pairs(&[("k", "v")])
            }
        );
        assert!(decode(b"not snappy", Format::Protobuf, 1 << 20).is_err());
    }

    #[test]
    fn gzip_is_undone_within_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b'x'; 1000]).unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(decode_content(&body, Some("gzip"), 1000).unwrap().len(), 1000);
        assert!(matches!(decode_content(&body, Some("gzip"), 999), Err(Error::TooLarge { .. })));
        assert!(matches!(decode_content(b"plain", Some("br"), 10), Err(Error::UnsupportedMediaType { .. })));
        assert_eq!(decode_content(b"plain", None, 10).unwrap(), b"plain");
        assert_eq!(Format::of(Some("application/json; charset=utf-8")), Format::Json);
        assert_eq!(Format::of(Some("application/x-protobuf")), Format::Protobuf);
        assert_eq!(Format::of(None), Format::Protobuf);
    }
}
