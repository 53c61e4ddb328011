//! The receivers' error type and its one mapping to HTTP: Prometheus's status codes and JSON
//! error shape, with the remote-write rule that only server-side failures get a 5xx (which
//! senders retry) and bad data gets a 4xx (which they drop).

use argus_model::{ErrorKind, StorageError, prometheus_error_body};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading request body: {0}")]
    Body(String),
    #[error("unsupported {header}: {value:?} ({expected})")]
    UnsupportedMediaType { header: &'static str, value: String, expected: &'static str },
    #[error("snappy decoding failed: {0}")]
    Snappy(#[from] snap::Error),
    #[error("protobuf decoding failed: {0}")]
    Protobuf(String),
    #[error("{0}")]
    Parse(String),
    /// Some series or samples were refused; the rest was stored.
    #[error("{0}")]
    PartiallyRejected(String),
    #[error("storing samples: {0}")]
    Storage(#[from] StorageError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Storage(e) => e.kind,
            Error::Body(_) => ErrorKind::Unavailable,
            _ => ErrorKind::BadData,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::from_u16(self.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "ingest request failed");
        }
        let body = prometheus_error_body(self.kind(), &self.to_string());
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}
