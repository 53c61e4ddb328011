//! The Prometheus read API through the real router (no socket) over a real engine: response
//! shapes, matcher semantics, time ranges, `limit`, and errors.

use std::sync::Arc;

use argus_model::{Appendable, Labels, Sample, SeriesSamples, WriteBatch};
use argus_query::{BuildInfo, QueryConfig, QueryState, router};
use argus_tsdb::{Shards, TsdbConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const T0: i64 = 1_700_000_000_000;

struct Fixture {
    app: axum::Router,
    _dir: tempfile::TempDir,
}

/// Four series: two `up` (jobs api and web, web has env=dev), one `http_requests_total` with a
/// newline in a label value, and one `late` whose only sample is an hour after the others.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let shards = Shards::open(dir.path(), &TsdbConfig { shards: 2, ..TsdbConfig::default() }).unwrap();
    let series = |pairs: &[(&str, &str)], t: i64| SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()).unwrap(),
        samples: vec![Sample::new(t, 1.0)],
    };
    let owned = [
        series(&[("__name__", "up"), ("job", "api")], T0),
        series(&[("__name__", "up"), ("job", "web"), ("env", "dev")], T0),
        series(&[("__name__", "http_requests_total"), ("job", "api"), ("path", "/a\nb")], T0),
        series(&[("__name__", "late"), ("job", "batch")], T0 + 3_600_000),
    ];
    let report = shards.append(&WriteBatch::from_series(&owned)).unwrap();
    assert_eq!(report.accepted, 4);
    let build_info = BuildInfo { version: "9.9.9".into(), revision: "abc".into() };
    let state = QueryState::new(Arc::new(shards), &QueryConfig::default(), build_info);
    Fixture { app: router(state), _dir: dir }
}

async fn call(fixture: &Fixture, request: Request<Body>) -> (StatusCode, Value) {
    let response = fixture.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get(fixture: &Fixture, uri: &str) -> (StatusCode, Value) {
    call(fixture, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn series_by_matchers() {
    let f = fixture();
    let (status, body) = get(&f, &format!("/api/v1/series?match[]={}", enc("up"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        // Prometheus's order: label by label, names before values ("env" < "job").
        json!({"status": "success", "data": [
            {"__name__": "up", "env": "dev", "job": "web"},
            {"__name__": "up", "job": "api"},
        ]})
    );
    let names = |body: &Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|s| s["__name__"].as_str().unwrap().to_string()).collect()
    };
    // env="" selects series without env; a regex matching "" too.
    let (_, body) = get(&f, &format!("/api/v1/series?match[]={}", enc(r#"{job=~".+", env=""}"#))).await;
    assert_eq!(names(&body), ["http_requests_total", "late", "up"]);
    let (_, body) =
        get(&f, &format!("/api/v1/series?match[]={}", enc(r#"{job=~"api|batch", env=~"dev|"}"#))).await;
    assert_eq!(names(&body), ["http_requests_total", "late", "up"]);
    let (_, body) = get(&f, &format!("/api/v1/series?match[]={}", enc(r#"{path=~"/a.b"}"#))).await;
    assert_eq!(names(&body), ["http_requests_total"], "regex dot matches a newline");
    let (_, body) = get(&f, &format!("/api/v1/series?match[]={}", enc(r#"up{job!~"a.*"}"#))).await;
    assert_eq!(body["data"], json!([{"__name__": "up", "env": "dev", "job": "web"}]));
    // Several match[] are a union, without duplicates.
    let uri = format!("/api/v1/series?match[]={}&match[]={}", enc("up"), enc(r#"{job="api"}"#));
    let (_, body) = get(&f, &uri).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn series_by_time_range_and_post_form() {
    let f = fixture();
    let selector = enc(r#"{job=~".+"}"#);
    let (_, body) =
        get(&f, &format!("/api/v1/series?match[]={selector}&start=1700001000&end=1700009999")).await;
    assert_eq!(body["data"], json!([{"__name__": "late", "job": "batch"}]));
    let request = Request::post("/api/v1/series")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("match[]={selector}&end=2023-11-14T22:13:20Z")))
        .unwrap();
    let (status, body) = call(&f, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body}");
}

#[tokio::test]
async fn labels_and_values() {
    let f = fixture();
    let (_, body) = get(&f, "/api/v1/labels").await;
    assert_eq!(body["data"], json!(["__name__", "env", "job", "path"]));
    let (_, body) = get(&f, &format!("/api/v1/labels?match[]={}", enc("up"))).await;
    assert_eq!(body["data"], json!(["__name__", "env", "job"]));
    let (_, body) = get(&f, "/api/v1/label/job/values").await;
    assert_eq!(body["data"], json!(["api", "batch", "web"]));
    let (_, body) = get(&f, "/api/v1/label/__name__/values?start=1700001000").await;
    assert_eq!(body["data"], json!(["late"]));
    let (_, body) = get(&f, &format!("/api/v1/label/job/values?match[]={}", enc("up"))).await;
    assert_eq!(body["data"], json!(["api", "web"]));
    let (_, body) = get(&f, "/api/v1/label/nope/values").await;
    assert_eq!(body, json!({"status": "success", "data": []}));
}

#[tokio::test]
async fn limit_truncates_with_a_warning() {
    let f = fixture();
    let (_, body) = get(&f, "/api/v1/label/job/values?limit=2").await;
    assert_eq!(
        body,
        json!({"status": "success", "data": ["api", "batch"], "warnings": ["results truncated due to limit"]})
    );
    let (_, body) = get(&f, "/api/v1/label/job/values?limit=3").await;
    assert!(body.get("warnings").is_none());
}

#[tokio::test]
async fn bad_parameters_are_bad_data() {
    let f = fixture();
    for uri in [
        "/api/v1/series".to_string(),
        format!("/api/v1/series?match[]={}", enc("up{")),
        format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#)),
        format!("/api/v1/series?match[]={}", enc("rate(up[5m])")),
        format!("/api/v1/series?match[]={}&start=yesterday", enc("up")),
        format!("/api/v1/series?match[]={}&start=10&end=5", enc("up")),
        "/api/v1/labels?limit=many".to_string(),
        "/api/v1/label/0bad/values".to_string(),
    ] {
        let (status, body) = get(&f, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "bad_data", "{uri}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[tokio::test]
async fn buildinfo_and_export() {
    let f = fixture();
    let (_, body) = get(&f, "/api/v1/status/buildinfo").await;
    assert_eq!(body["data"]["version"], "9.9.9");
    let response = f
        .app
        .clone()
        .oneshot(Request::get(format!("/api/v1/export?match[]={}", enc("up"))).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines[1],
        json!({"metric": {"__name__": "up", "job": "api"}, "values": [1.0], "timestamps": [T0]})
    );
    assert_eq!(lines.len(), 2);
}
