//! `ApiError`: the one place where errors of the query API become Prometheus's JSON error shape
//! and status code (`bad_data` 400, `execution` 422, `timeout`/`unavailable` 503, …).

use argus_model::{ErrorKind, StorageError, prometheus_error_body};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::BadData, message: message.into() }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        Self { kind: error.kind, message: error.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.message, "query api request failed");
        }
        let body = prometheus_error_body(self.kind, &self.message);
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}
