//! Bad input gets the documented status and a Prometheus-style JSON error; the server stays up
//! and what it stored before is intact.

use argus_model::proto::prometheus::WriteRequest;
use argus_tests::app::Argus;
use argus_tests::client::{Response, encode, export, post_raw, remote_write, series};

const T0: i64 = 1_700_000_000_000;

fn assert_error(response: &Response, status: u16, fragment: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    let body = response.json();
    assert_eq!(body["status"], "error", "{body}");
    if status < 500 && status != 413 && status != 415 {
        assert_eq!(body["errorType"], "bad_data", "{body}");
    }
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(fragment), "{message:?} should mention {fragment:?}");
}

const SNAPPY: &[(&str, &str)] = &[("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy")];

#[test]
fn bad_requests_get_prometheus_errors_and_leave_data_intact() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let base = argus.url("");
    let good = series(&[("__name__", "kept"), ("job", "a")], &[(T0, 1.0), (T0 + 1000, 2.0)]);
    assert_eq!(remote_write(&base, vec![good]).status, 204);
    let before = export(&base, "kept");

    // Garbage: not snappy at all.
    assert_error(&post_raw(&base, "/api/v1/write", vec![0xff; 64], SNAPPY), 400, "snappy");
    // A gzip body labelled snappy.
    let gzip = vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x4b, 0x4c, 0x04, 0x00];
    assert_error(&post_raw(&base, "/api/v1/write", gzip, SNAPPY), 400, "snappy");
    // Valid snappy around bytes that are not a WriteRequest.
    let not_proto = snap::raw::Encoder::new().compress_vec(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap();
    assert_error(&post_raw(&base, "/api/v1/write", not_proto, SNAPPY), 400, "protobuf");
    // A 100 MiB body.
    assert_error(&post_raw(&base, "/api/v1/write", vec![0u8; 100 << 20], SNAPPY), 413, "larger than");
    // A small body that would decompress past the 32 MiB limit.
    let bomb = snap::raw::Encoder::new().compress_vec(&vec![0u8; 40 << 20]).unwrap();
    assert_error(&post_raw(&base, "/api/v1/write", bomb, SNAPPY), 413, "larger than");
    // Unsupported encodings and remote write 2.0.
    let body = encode(&WriteRequest { timeseries: vec![], metadata: vec![] });
    let gzip_header = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")];
    assert_error(&post_raw(&base, "/api/v1/write", body.clone(), &gzip_header), 415, "Content-Encoding");
    let v2 = [
        ("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"),
        ("Content-Encoding", "snappy"),
    ];
    assert_error(&post_raw(&base, "/api/v1/write", body, &v2), 415, "Content-Type");
    // Invalid label names, an empty label set, a missing metric name, duplicate names.
    let invalid = [
        (series(&[("__name__", "x"), ("0bad", "v")], &[(T0, 1.0)]), "invalid label name"),
        (series(&[("__name__", "x"), ("la-bel", "v")], &[(T0, 1.0)]), "invalid label name"),
        (series(&[("__name__", "bad-name")], &[(T0, 1.0)]), "invalid metric name"),
        (series(&[], &[(T0, 1.0)]), "empty label set"),
        (series(&[("job", "x")], &[(T0, 1.0)]), "missing metric name"),
        (series(&[("__name__", "x"), ("a", "1"), ("a", "2")], &[(T0, 1.0)]), "duplicate label name"),
    ];
    for (bad, fragment) in invalid {
        assert_error(&remote_write(&base, vec![bad]), 400, fragment);
    }

    // Mixed: the good series and the good samples (one out of order, inside the window) are
    // stored; a second value for a stored timestamp and the invalid series are refused, 400.
    let mixed = vec![
        series(
            &[("__name__", "kept"), ("job", "a")],
            &[(T0 + 2000, 3.0), (T0 + 500, 9.0), (T0 + 1000, 7.0), (T0 + 3000, 4.0)],
        ),
        series(&[("__name__", "kept"), ("job", "b")], &[(T0, 5.0)]),
        series(&[("__name__", "kept"), ("0bad", "x")], &[(T0, 1.0)]),
    ];
    let response = remote_write(&base, mixed);
    assert_error(&response, 400, "duplicate sample for timestamp");
    assert!(response.json()["error"].as_str().unwrap().contains("invalid label name"));

    assert_eq!(client_get(&argus.url("/-/healthy")), 200, "the server stays up");
    let after = export(&base, "kept");
    let job_a: Vec<_> = after.iter().filter(|(m, _)| m["job"] == "a").map(|(_, s)| s.clone()).collect();
    let mut expected_a = before[0].1.clone();
    expected_a.extend([(T0 + 500, 9.0), (T0 + 2000, 3.0), (T0 + 3000, 4.0)]);
    expected_a.sort_by_key(|&(t, _)| t);
    assert_eq!(job_a, [expected_a], "old data intact, good new samples stored");
    assert!(after.iter().any(|(m, s)| m["job"] == "b" && s == &[(T0, 5.0)]));
    assert_eq!(after.len(), 2, "nothing from invalid series stored");
}

#[test]
fn import_rejects_bad_text_and_stores_good_text() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let base = argus.url("");
    let text = "# TYPE imported gauge\nimported{job=\"a\"} 1.5 1700000000000\nimported{job=\"a\"} 2.5 1700000015000\n";
    let response = post_raw(&base, "/api/v1/import/prometheus", text.as_bytes().to_vec(), &[]);
    assert_eq!(response.status, 204, "{}", response.body);
    assert_eq!(
        export(&base, "imported"),
        [(
            serde_json::from_str(r#"{"__name__":"imported","job":"a"}"#).unwrap(),
            vec![(T0, 1.5), (T0 + 15_000, 2.5)]
        )]
    );
    let response = post_raw(&base, "/api/v1/import/prometheus", b"ok 1\nbroken{job=\"a} 1\n".to_vec(), &[]);
    assert_error(&response, 400, "line 2");
}

fn client_get(url: &str) -> u16 {
    argus_tests::client::client().get(url).send().map(|r| r.status().as_u16()).unwrap_or(0)
}
