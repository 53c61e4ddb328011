//! Decoding a Prometheus remote-write 1.0 body (pure): header checks, snappy block format with
//! a size limit checked before anything is allocated, then the `WriteRequest` protobuf.

use argus_model::proto::prometheus::WriteRequest;
use prost::Message;

use crate::error::{Error, Result};

/// Accepts remote write 1.0 only. Missing headers are tolerated (old senders omit them); a
/// present but different content type or encoding gets `415`, as the 2.0 spec asks of a
/// receiver that does not speak the requested version.
pub(crate) fn check_headers(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<()> {
    if let Some(value) = content_encoding
        && !value.trim().eq_ignore_ascii_case("snappy")
    {
        return Err(Error::UnsupportedMediaType {
            header: "Content-Encoding",
            value: value.to_string(),
            expected: "remote write needs snappy",
        });
    }
    if let Some(value) = content_type {
        let mut parts = value.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        let proto = parts.find_map(|p| p.strip_prefix("proto="));
        let v1 = media_type.eq_ignore_ascii_case("application/x-protobuf")
            && proto.is_none_or(|p| p == "prometheus.WriteRequest");
        if !v1 {
            return Err(Error::UnsupportedMediaType {
                header: "Content-Type",
                value: value.to_string(),
                expected: "only remote write 1.0, application/x-protobuf;proto=prometheus.WriteRequest, is supported",
            });
        }
    }
    Ok(())
}

/// Decompresses (snappy block format) and decodes a body, refusing with `TooLarge` a body
/// whose decompressed size exceeds `limit` before decompressing it.
pub(crate) fn decode(body: &[u8], limit: u64) -> Result<WriteRequest> {
    let decompressed_len = snap::raw::decompress_len(body)?;
    if decompressed_len as u64 > limit {
        return Err(Error::TooLarge { limit });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use argus_model::proto::prometheus::{Label, Sample, TimeSeries};

    use super::*;

    fn encoded(request: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap()
    }

    fn one_series() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![Sample { value: 1.0, timestamp: 5 }],
            }],
            metadata: vec![],
        }
    }

    #[test]
    fn decodes_a_valid_body() {
        assert_eq!(decode(&encoded(&one_series()), 1 << 20).unwrap(), one_series());
    }

    #[test]
    fn garbage_and_gzip_are_snappy_errors() {
        assert!(matches!(decode(b"\xff\xff\xff\xff\xff\xff", 1 << 20), Err(Error::Snappy(_))));
        let gzip_magic = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03];
        assert!(decode(&gzip_magic, 1 << 20).is_err());
    }

    #[test]
    fn snappy_of_garbage_is_a_protobuf_error() {
        let body = snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff\xff\xff\x0f").unwrap();
        assert!(matches!(decode(&body, 1 << 20), Err(Error::Protobuf(_))));
    }

    #[test]
    fn size_limit_applies_to_decompressed_size() {
        let body = snap::raw::Encoder::new().compress_vec(&vec![0u8; 10_000]).unwrap();
        assert!(body.len() < 1_000);
        assert!(matches!(decode(&body, 1_000), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn headers() {
        assert!(check_headers(None, None).is_ok());
        assert!(check_headers(Some("application/x-protobuf"), Some("snappy")).is_ok());
        assert!(check_headers(Some("application/x-protobuf;proto=prometheus.WriteRequest"), None).is_ok());
        for (ct, ce) in [
            (Some("application/json"), None),
            (Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None),
            (None, Some("gzip")),
        ] {
            assert!(matches!(check_headers(ct, ce), Err(Error::UnsupportedMediaType { .. })));
        }
    }
}
