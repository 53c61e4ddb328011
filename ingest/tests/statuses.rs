//! The receiver's status codes as seen by a sender, through the real router over a stand-in
//! engine: 204 when stored, 503 (retry) when the engine cannot make the batch durable, 400
//! (drop) when it refuses samples.

use std::sync::Arc;

use argus_ingest::{IngestConfig, IngestState, router};
use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use argus_model::{AppendReport, Appendable, ErrorKind, Labels, RejectReason, StorageError, WriteBatch};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use tower::ServiceExt;

/// An engine that answers every append the same way.
enum Engine {
    Stores,
    WalFails,
    RefusesAsOutOfOrder,
}

impl Appendable for Engine {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, StorageError> {
        match self {
            Engine::Stores => {
                Ok(AppendReport { accepted: batch.sample_count() as u64, ..Default::default() })
            }
            Engine::WalFails => Err(StorageError::new(ErrorKind::Unavailable, "wal of shard 0: disk full")),
            Engine::RefusesAsOutOfOrder => {
                let mut report = AppendReport::default();
                let labels = Labels::from_pairs([("__name__", "up")]).unwrap();
                report.reject(RejectReason::OutOfOrder, &labels.as_refs(), 1);
                Ok(report)
            }
        }
    }
}

fn body() -> Vec<u8> {
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label { name: "__name__".into(), value: "up".into() }],
            samples: vec![Sample { value: 1.0, timestamp: 1 }],
        }],
        metadata: vec![],
    };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap()
}

async fn write(engine: Engine) -> (StatusCode, serde_json::Value) {
    let app = router(IngestState::new(Arc::new(engine), IngestConfig::default()));
    let request = Request::post("/api/v1/write")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(Body::from(body()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn stored_is_204() {
    assert_eq!(write(Engine::Stores).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_wal_failure_is_a_retryable_503() {
    let (status, body) = write(Engine::WalFails).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errorType"], "unavailable");
    assert!(body["error"].as_str().unwrap().contains("disk full"), "{body}");
}

#[tokio::test]
async fn refused_samples_are_a_final_400() {
    let (status, body) = write(Engine::RefusesAsOutOfOrder).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().unwrap().contains("out of order"), "{body}");
}
