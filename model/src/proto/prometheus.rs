//! Prometheus remote write 1.0 (`prometheus.WriteRequest`, from `prompb/remote.proto` and
//! `prompb/types.proto`). Exemplars (field 3 of `TimeSeries`) and native histograms (field 4)
//! are not modelled: the decoder skips them.

/// The body of a remote-write request, after snappy block decompression.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Should be sorted by name; receivers must not rely on it.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType` enum: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn round_trips_and_skips_unknown_fields() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![Sample { value: 1.0, timestamp: 1000 }],
            }],
            metadata: vec![],
        };
        let mut bytes = request.encode_to_vec();
        assert_eq!(WriteRequest::decode(bytes.as_slice()).unwrap(), request);
        // An unknown field (number 15, varint) is skipped.
        bytes.extend_from_slice(&[15 << 3, 42]);
        assert_eq!(WriteRequest::decode(bytes.as_slice()).unwrap(), request);
    }
}
