//! `/api/v1/query` and `/api/v1/query_range` through the real router over a real engine:
//! result shapes as Prometheus writes them, and errors with Prometheus's types and statuses.

use std::sync::Arc;

use argus_model::{Appendable, Labels, Sample, SeriesSamples, WriteBatch};
use argus_query::{BuildInfo, QueryConfig, QueryState, router};
use argus_tsdb::{Shards, TsdbConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// `http_requests_total{job="api", instance="a"|"b"}` counting up by 60 a minute from t=0 for
/// 10 minutes; `temperature` with NaN and +Inf.
fn app(config: QueryConfig) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let shards = Shards::open(dir.path(), &TsdbConfig { shards: 2, ..TsdbConfig::default() }).unwrap();
    let counter = |instance: &str| SeriesSamples {
        labels: Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", instance),
        ])
        .unwrap(),
        samples: (0..=10).map(|m| Sample::new(m * 60_000, (m * 60) as f64)).collect(),
    };
    let temperature = SeriesSamples {
        labels: Labels::from_pairs([("__name__", "temperature")]).unwrap(),
        samples: vec![Sample::new(0, f64::NAN), Sample::new(60_000, f64::INFINITY)],
    };
    let owned = [counter("a"), counter("b"), temperature];
    shards.append(&WriteBatch::from_series(&owned)).unwrap();
    let state = QueryState::new(
        Arc::new(shards),
        &config,
        BuildInfo { version: "t".into(), revision: String::new() },
    );
    (router(state), dir)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let response = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn instant_vector_scalar_and_string_results() {
    let (app, _dir) = app(QueryConfig::default());
    let query = enc("sum by (job) (rate(http_requests_total[5m]))");
    let (status, body) = get(&app, &format!("/api/v1/query?query={query}&time=600")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "api"}, "value": [600, "2"]}
        ]}})
    );
    let (_, body) = get(&app, &format!("/api/v1/query?query={}&time=1.5", enc("1 + 1"))).await;
    assert_eq!(body["data"], json!({"resultType": "scalar", "result": [1.5, "2"]}));
    let (_, body) = get(&app, &format!("/api/v1/query?query={}&time=0", enc("\"hello\""))).await;
    assert_eq!(body["data"], json!({"resultType": "string", "result": [0, "hello"]}));
    let (_, body) = get(&app, &format!("/api/v1/query?query={}&time=60", enc("temperature"))).await;
    assert_eq!(body["data"]["result"][0]["value"], json!([60, "+Inf"]));
}

#[tokio::test]
async fn range_query_matrix() {
    let (app, _dir) = app(QueryConfig::default());
    let query = enc("http_requests_total{instance=\"a\"} / 60");
    let (status, body) =
        get(&app, &format!("/api/v1/query_range?query={query}&start=0&end=180&step=60s")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {"instance": "a", "job": "api"}, "values": [[0, "0"], [60, "1"], [120, "2"], [180, "3"]]}
        ]})
    );
    let (_, body) =
        get(&app, &format!("/api/v1/query_range?query={}&start=0&end=60&step=30", enc("temperature"))).await;
    assert_eq!(body["data"]["result"][0]["values"], json!([[0, "NaN"], [30, "NaN"], [60, "+Inf"]]));
}

/// The `warnings` and `infos` of a query's response, empty when the field is left out.
async fn annotations_of(app: &axum::Router, uri: &str) -> (Value, Value) {
    let (status, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    let field = |name: &str| body.get(name).cloned().unwrap_or(json!([]));
    (field("warnings"), field("infos"))
}

#[tokio::test]
async fn annotations_come_back_as_warnings_and_infos() {
    let (app, _dir) = app(QueryConfig::default());
    let instant = |query: &str, time: i64| format!("/api/v1/query?query={}&time={time}", enc(query));
    let range = |query: &str| format!("/api/v1/query_range?query={}&start=60&end=180&step=60", enc(query));
    let not_a_counter = json!([
        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"temperature\""
    ]);
    let none = (json!([]), json!([]));

    // `rate` of a name unlike a counter's, once it gives a value: instant, over the grid,
    // fused into an aggregation, and through a subquery that keeps the name.
    assert_eq!(
        annotations_of(&app, &instant("rate(temperature[5m])", 120)).await,
        (json!([]), not_a_counter.clone())
    );
    assert_eq!(
        annotations_of(&app, &range("rate(temperature[5m])")).await,
        (json!([]), not_a_counter.clone())
    );
    assert_eq!(
        annotations_of(&app, &range("sum(increase(temperature[5m]))")).await,
        (json!([]), not_a_counter.clone())
    );
    assert_eq!(
        annotations_of(&app, &instant("rate(temperature[5m:1m])", 120)).await,
        (json!([]), not_a_counter)
    );
    assert_eq!(annotations_of(&app, &instant("rate(temperature[5m])", 600)).await, none, "no value, no info");
    assert_eq!(annotations_of(&app, &instant("rate(abs(temperature)[5m:1m])", 120)).await, none);
    assert_eq!(annotations_of(&app, &range("rate(http_requests_total[5m])")).await, none);

    let sort = json!([
        "PromQL warning: sort is ineffective for range queries since results are always ordered by labels"
    ]);
    assert_eq!(
        annotations_of(&app, &range("sum(sort(http_requests_total))")).await,
        (sort.clone(), json!([]))
    );
    assert_eq!(annotations_of(&app, &instant("sort(http_requests_total)", 60)).await, none);
    assert_eq!(
        annotations_of(&app, &instant("max_over_time(sort(http_requests_total)[2m:1m])", 60)).await.0,
        sort
    );

    let quantile =
        |q: &str| json!([format!("PromQL warning: quantile value should be between 0 and 1, got {q}")]);
    assert_eq!(annotations_of(&app, &instant("quantile(2, http_requests_total)", 60)).await.0, quantile("2"));
    assert_eq!(
        annotations_of(&app, &range("quantile_over_time(NaN, http_requests_total[5m])")).await.0,
        quantile("NaN")
    );
    let (warnings, _) =
        annotations_of(&app, &instant("histogram_quantile(-0.5, http_requests_total)", 60)).await;
    assert_eq!(
        warnings,
        json!([
            "PromQL warning: quantile value should be between 0 and 1, got -0.5",
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\" for metric name \"http_requests_total\""
        ])
    );
}

#[tokio::test]
async fn errors_have_prometheus_types_and_statuses() {
    let (app, _dir) = app(QueryConfig { max_samples: 5, ..QueryConfig::default() });
    let cases = [
        (format!("/api/v1/query?query={}", enc("sum(")), StatusCode::BAD_REQUEST, "bad_data"),
        (format!("/api/v1/query?query={}", enc("nosuchfunction(up)")), StatusCode::BAD_REQUEST, "bad_data"),
        (
            format!("/api/v1/query?query={}", enc("rate(http_requests_total)")),
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100&step=0".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        ("/api/v1/query_range?query=up&end=100&step=10".to_string(), StatusCode::BAD_REQUEST, "bad_data"),
        (
            format!("/api/v1/query?query={}&time=600", enc("count_over_time(http_requests_total[10m])")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
        ),
        // A range query counts the samples it decodes while it streams them.
        (
            format!(
                "/api/v1/query_range?query={}&start=0&end=600&step=60",
                enc("sum(rate(http_requests_total[10m]))")
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
        ),
    ];
    for (uri, status, error_type) in cases {
        let (got, body) = get(&app, &uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(body["errorType"], error_type, "{uri}: {body}");
    }
    let (_, body) = get(&app, "/api/v1/query_range?query=up&start=0&end=100000&step=1").await;
    assert!(body["error"].as_str().unwrap().contains("11,000 points"), "{body}");
}

#[tokio::test]
async fn a_query_past_its_timeout_fails_with_timeout() {
    let (app, _dir) = app(QueryConfig::default());
    let query = enc("sum_over_time(http_requests_total[1m:1s])");
    let (status, body) =
        get(&app, &format!("/api/v1/query_range?query={query}&start=0&end=600&step=1&timeout=1ms")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "timeout");
}
