//! The body of a successful query (`/api/v1/query`, `/api/v1/query_range` and Loki's metric
//! queries), in Prometheus's shape:
//! `{"status":"success","data":{"resultType":…,"result":…},"warnings":[…],"infos":[…]}`.
//!
//! Points are written straight into the body: a range query's answer is mostly
//! `[<seconds>,"<value>"]` pairs, and going through serde's tuple machinery for each cost
//! twice what printing its two numbers does. Label sets, strings and annotations still go
//! through `serde_json`, which escapes them.

use argus_model::{Labels, Sample};

use crate::promql::Evaluated;
use crate::promql::value::{Value, with_formatted_float};

/// Encodes a query's result and its annotations as the success response body.
pub fn encode(evaluated: &Evaluated) -> Vec<u8> {
    let Evaluated { value, annotations } = evaluated;
    let mut body = Body(Vec::with_capacity(estimated_size(value)));
    body.raw(r#"{"status":"success","data":{"resultType":""#);
    body.raw(value.type_name());
    body.raw(r#"","result":"#);
    match value {
        Value::Scalar { t, v } => body.point(*t, *v),
        Value::String { t, v } => {
            body.raw("[");
            body.seconds(*t);
            body.raw(",");
            body.serialized(v);
            body.raw("]");
        }
        Value::Vector(vector) => body.list(vector, |body, sample| {
            body.raw(r#"{"metric":"#);
            body.serialized(&sample.labels);
            body.raw(r#","value":"#);
            body.point(sample.t, sample.v);
            body.raw("}");
        }),
        Value::Matrix(matrix) => body.list(matrix, |body, series| {
            body.series(&series.labels, &series.samples);
        }),
    }
    body.raw("}");
    body.messages("warnings", &annotations.warnings);
    body.messages("infos", &annotations.infos);
    body.raw("}");
    body.0
}

/// About how long the body of `value` is, so that it is not grown copy after copy: a label
/// set and a point take a few dozen bytes each.
fn estimated_size(value: &Value) -> usize {
    const ENVELOPE: usize = 128;
    const LABELS: usize = 128;
    const POINT: usize = 28;
    match value {
        Value::Scalar { .. } | Value::String { .. } => ENVELOPE,
        Value::Vector(vector) => ENVELOPE + vector.len() * (LABELS + POINT),
        Value::Matrix(matrix) => {
            ENVELOPE + matrix.iter().map(|series| LABELS + series.samples.len() * POINT).sum::<usize>()
        }
    }
}

/// A response body being written.
struct Body(Vec<u8>);

impl Body {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    /// `value` as `serde_json` writes it (label sets, strings: escaped as JSON needs).
    fn serialized<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        serde_json::to_writer(&mut self.0, value).expect("label sets and strings always serialize");
    }

    /// `[a,b,…]`, each item written by `write`.
    fn list<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        self.raw("[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            write(self, item);
        }
        self.raw("]");
    }

    /// `{"metric":{…},"values":[[t,"v"],…]}`.
    fn series(&mut self, labels: &Labels, samples: &[Sample]) {
        self.raw(r#"{"metric":"#);
        self.serialized(labels);
        self.raw(r#","values":"#);
        self.list(samples, |body, sample| body.point(sample.t, sample.v));
        self.raw("}");
    }

    /// `[<seconds>,"<value>"]`; a printed value never needs escaping.
    fn point(&mut self, t: i64, v: f64) {
        self.raw("[");
        self.seconds(t);
        self.raw(",\"");
        with_formatted_float(v, |text| self.raw(text));
        self.raw("\"]");
    }

    /// Milliseconds as seconds: an integer when whole, else the shortest float that reads
    /// back (as `serde_json` writes an `f64`).
    fn seconds(&mut self, t: i64) {
        if t % 1000 == 0 {
            self.raw(itoa::Buffer::new().format(t / 1000));
        } else {
            self.raw(zmij::Buffer::new().format_finite(t as f64 / 1000.0));
        }
    }

    /// `,"<key>":[…]` when there are messages.
    fn messages(&mut self, key: &str, messages: &[String]) {
        if messages.is_empty() {
            return;
        }
        self.raw(",\"");
        self.raw(key);
        self.raw("\":");
        self.serialized(messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Annotations;
    use crate::promql::value::{RangeSeries, VectorSample};

    fn body_of(value: Value, annotations: Annotations) -> Vec<u8> {
        encode(&Evaluated { value, annotations })
    }

    fn encoded(value: Value, annotations: Annotations) -> serde_json::Value {
        let body = body_of(value, annotations);
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn every_result_type_has_prometheus_shape() {
        let none = Annotations::default;
        assert_eq!(
            encoded(Value::Scalar { t: 1_500, v: f64::INFINITY }, none()),
            serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [1.5, "+Inf"]}})
        );
        assert_eq!(
            encoded(Value::String { t: 2_000, v: "a \"quoted\"\nline".into() }, none())["data"]["result"],
            serde_json::json!([2, "a \"quoted\"\nline"])
        );
        let vector = vec![
            VectorSample::new(labels(&[("__name__", "up"), ("job", "a\\b")]), 3_000, 1.0),
            VectorSample::new(labels(&[]), 3_000, f64::NAN),
        ];
        assert_eq!(
            encoded(Value::Vector(vector), none())["data"],
            serde_json::json!({"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "a\\b"}, "value": [3, "1"]},
                {"metric": {}, "value": [3, "NaN"]},
            ]})
        );
        let matrix = vec![RangeSeries {
            labels: labels(&[("i", "0")]),
            samples: vec![Sample::new(1_001, -0.5), Sample::new(2_000, 1e-7)],
            drop_name: false,
        }];
        assert_eq!(
            encoded(Value::Matrix(matrix), none())["data"]["result"],
            serde_json::json!([{"metric": {"i": "0"}, "values": [[1.001, "-0.5"], [2, "0.0000001"]]}])
        );
        assert_eq!(
            encoded(Value::Matrix(Vec::new()), none())["data"],
            serde_json::json!({"resultType": "matrix", "result": []})
        );
    }

    #[test]
    fn annotations_follow_the_data_only_when_there_are_some() {
        let annotations = Annotations { warnings: vec!["w \"1\"".into()], infos: Vec::new() };
        let body = String::from_utf8(body_of(Value::Vector(Vec::new()), annotations)).unwrap();
        assert_eq!(
            body,
            r#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w \"1\""]}"#
        );
        let annotations = Annotations { warnings: Vec::new(), infos: vec!["i".into()] };
        assert_eq!(encoded(Value::Vector(Vec::new()), annotations)["infos"], serde_json::json!(["i"]));
    }
}
