//! Decoding a Prometheus remote-write 1.0 body (pure): header checks, snappy block format with
//! a size limit checked before anything is allocated, then the `prometheus.WriteRequest`
//! protobuf, walked by hand straight into a [`WriteBatch`] whose labels borrow from the
//! decompressed bytes — no allocation per series or sample.
//!
//! Fields read (from `prompb/remote.proto`, `types.proto`): `WriteRequest.timeseries = 1`;
//! `TimeSeries.labels = 1`, `.samples = 2`; `Label.name = 1`, `.value = 2`;
//! `Sample.value = 1` (double), `.timestamp = 2` (int64). Everything else (metadata,
//! exemplars, native histograms, unknown fields) is skipped by wire type.

use argus_model::{Sample, WriteBatch};

use crate::error::{Error, Result};
use crate::validate::{Refusals, close_series};

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

/// Decompresses a snappy block, refusing with `TooLarge` one whose decompressed size exceeds
/// `limit` before decompressing it.
pub(crate) fn decompress(body: &[u8], limit: u64) -> Result<Vec<u8>> {
    let decompressed_len = snap::raw::decompress_len(body)?;
    if decompressed_len as u64 > limit {
        return Err(Error::TooLarge { limit });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Decodes a `WriteRequest` into `batch`. Series with invalid labels are left out and recorded
/// in `refusals`; a malformed message fails the whole request.
pub(crate) fn decode_into<'a>(
    raw: &'a [u8],
    batch: &mut WriteBatch<'a>,
    allow_utf8_names: bool,
    refusals: &mut Refusals,
) -> Result<()> {
    let mut request = Reader::new(raw);
    while !request.is_empty() {
        match request.key()? {
            (1, WireType::Len) => {
                decode_series(request.bytes()?, batch)?;
                close_series(batch, allow_utf8_names, refusals);
            }
            (_, wire_type) => request.skip(wire_type)?,
        }
    }
    Ok(())
}

fn decode_series<'a>(bytes: &'a [u8], batch: &mut WriteBatch<'a>) -> Result<()> {
    let mut series = Reader::new(bytes);
    while !series.is_empty() {
        match series.key()? {
            (1, WireType::Len) => {
                let (name, value) = decode_label(series.bytes()?)?;
                batch.push_label(name, value);
            }
            (2, WireType::Len) => batch.push_sample(decode_sample(series.bytes()?)?),
            (1 | 2, _) => return Err(malformed("a label or sample with the wrong wire type")),
            (_, wire_type) => series.skip(wire_type)?,
        }
    }
    Ok(())
}

fn decode_label(bytes: &[u8]) -> Result<(&str, &str)> {
    let (mut name, mut value) = ("", "");
    let mut label = Reader::new(bytes);
    while !label.is_empty() {
        match label.key()? {
            (1, WireType::Len) => name = label.string()?,
            (2, WireType::Len) => value = label.string()?,
            (1 | 2, _) => return Err(malformed("a label string with the wrong wire type")),
            (_, wire_type) => label.skip(wire_type)?,
        }
    }
    Ok((name, value))
}

fn decode_sample(bytes: &[u8]) -> Result<Sample> {
    let (mut value, mut timestamp) = (0.0, 0);
    let mut sample = Reader::new(bytes);
    while !sample.is_empty() {
        match sample.key()? {
            (1, WireType::Fixed64) => value = f64::from_bits(sample.fixed64()?),
            (2, WireType::Varint) => timestamp = sample.varint()? as i64,
            (1 | 2, _) => return Err(malformed("a sample field with the wrong wire type")),
            (_, wire_type) => sample.skip(wire_type)?,
        }
    }
    Ok(Sample::new(timestamp, value))
}

fn malformed(what: &str) -> Error {
    Error::Protobuf(what.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A cursor over protobuf bytes; every read checks bounds and fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(malformed("a truncated or overlong varint"))
    }

    fn key(&mut self) -> Result<(u64, WireType)> {
        let key = self.varint()?;
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            _ => return Err(malformed("an unsupported wire type")),
        };
        Ok((key >> 3, wire_type))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.bytes.len() {
            return Err(malformed("a field longer than its message"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| malformed("a huge length"))?;
        self.take(len)
    }

    fn string(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| malformed("a string that is not UTF-8"))
    }

    fn fixed64(&mut self) -> Result<u64> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("take returned 8 bytes")))
    }

    fn skip(&mut self, wire_type: WireType) -> Result<()> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use argus_model::proto::prometheus::{
        Label, MetricMetadata, Sample as ProtoSample, TimeSeries, WriteRequest,
    };
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    /// A test series: label pairs and (timestamp, value) samples.
    type TestSeries<'a> = (Vec<(&'a str, &'a str)>, Vec<(i64, f64)>);
    /// A decoded series: its label set printed, and (timestamp, value bits) samples.
    type Decoded = Vec<(String, Vec<(i64, u64)>)>;

    fn request(series: Vec<TestSeries>) -> WriteRequest {
        WriteRequest {
            timeseries: series
                .into_iter()
                .map(|(labels, samples)| TimeSeries {
                    labels: labels
                        .into_iter()
                        .map(|(n, v)| Label { name: n.into(), value: v.into() })
                        .collect(),
                    samples: samples
                        .into_iter()
                        .map(|(timestamp, value)| ProtoSample { value, timestamp })
                        .collect(),
                })
                .collect(),
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "x".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        }
    }

    fn decode(raw: &[u8]) -> Result<(Decoded, Refusals)> {
        let mut batch = WriteBatch::new();
        let mut refusals = Refusals::default();
        decode_into(raw, &mut batch, false, &mut refusals)?;
        let series = batch
            .iter()
            .map(|s| (s.to_labels().to_string(), s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect()))
            .collect();
        Ok((series, refusals))
    }

    #[test]
    fn decodes_what_prost_encodes_skipping_metadata() {
        let raw = request(vec![
            (vec![("job", "a"), ("__name__", "up")], vec![(1, 1.0), (2, f64::NAN)]),
            (vec![("__name__", "down")], vec![(-5, -1.5)]),
        ])
        .encode_to_vec();
        let (series, refusals) = decode(&raw).unwrap();
        assert_eq!(refusals.invalid_samples(), 0);
        assert_eq!(series[0].0, r#"{__name__="up", job="a"}"#, "labels sorted on arrival");
        assert_eq!(series[0].1, [(1, 1f64.to_bits()), (2, f64::NAN.to_bits())]);
        assert_eq!(series[1].1, [(-5, (-1.5f64).to_bits())]);
    }

    #[test]
    fn invalid_series_are_refused_and_the_rest_kept() {
        let raw = request(vec![
            (vec![("__name__", "ok")], vec![(1, 1.0)]),
            (vec![("__name__", "x"), ("0bad", "v")], vec![(1, 1.0), (2, 2.0)]),
            (vec![("job", "no_name")], vec![(1, 1.0)]),
        ])
        .encode_to_vec();
        let (series, refusals) = decode(&raw).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(refusals.invalid_samples(), 3);
    }

    #[test]
    fn malformed_messages_are_protobuf_errors() {
        let valid = request(vec![(vec![("__name__", "up")], vec![(1, 1.0)])]).encode_to_vec();
        // Any cut inside the first TimeSeries (tag, one-byte length, body) is an error.
        let series_end = 2 + usize::from(valid[1]);
        for cut in 1..series_end {
            assert!(decode(&valid[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(Error::Protobuf(_))));
        assert!(matches!(decode(&[0x0b]), Err(Error::Protobuf(_))), "wire type 3 (groups)");
        // A label name that is not UTF-8.
        assert!(matches!(decode(&[0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]), Err(Error::Protobuf(_))));
    }

    #[test]
    fn size_limit_applies_to_decompressed_size() {
        let body = snap::raw::Encoder::new().compress_vec(&vec![0u8; 10_000]).unwrap();
        assert!(body.len() < 1_000);
        assert!(matches!(decompress(&body, 1_000), Err(Error::TooLarge { .. })));
        assert_eq!(decompress(&body, 10_000).unwrap().len(), 10_000);
        assert!(matches!(decompress(b"\xff\xff\xff\xff\xff\xff", 1 << 20), Err(Error::Snappy(_))));
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

    proptest! {
        #[test]
        fn agrees_with_prost_on_any_request(
            series in prop::collection::vec(
                (prop::collection::btree_map("[a-z_]{1,6}", "\\PC{0,8}", 0..4),
                 prop::collection::vec((any::<i64>(), any::<u64>()), 0..4)),
                0..6),
        ) {
            type Owned = (Vec<(String, String)>, Vec<(i64, f64)>);
            let named: Vec<Owned> = series
                .into_iter()
                .map(|(labels, samples)| {
                    let mut labels: Vec<(String, String)> = labels.into_iter().collect();
                    labels.push(("__name__".into(), "m".into()));
                    (labels, samples.into_iter().map(|(t, bits)| (t, f64::from_bits(bits))).collect())
                })
                .collect();
            let borrowed = named.iter().map(|(l, s)| (l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(), s.clone())).collect();
            let raw = request(borrowed).encode_to_vec();
            let (decoded, _) = decode(&raw).unwrap();
            let expected = WriteRequest::decode(raw.as_slice()).unwrap();
            prop_assert_eq!(decoded.len(), expected.timeseries.len());
            for (ours, theirs) in decoded.iter().zip(&expected.timeseries) {
                let bits: Vec<(i64, u64)> = theirs.samples.iter().map(|s| (s.timestamp, s.value.to_bits())).collect();
                prop_assert_eq!(&ours.1, &bits);
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
