//! The classification every crate's errors map to, so the HTTP layer can choose a status code
//! and a Prometheus/Loki error type in one place.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is wrong: bad syntax, bad parameters, invalid data. Retrying will not help.
    BadData,
    NotFound,
    /// A dependency (disk, WAL, a remote node) failed in a way a retry may fix.
    Unavailable,
    Timeout,
    Canceled,
    TooManyRequests,
    /// The request was valid but could not be carried out (e.g. a query hit a limit).
    Execution,
    /// A bug or broken invariant.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::TooManyRequests => "too_many_requests",
            ErrorKind::Execution => "execution",
            ErrorKind::Internal => "internal",
        }
    }
}

impl ErrorKind {
    /// The HTTP status the Prometheus API answers this kind of error with
    /// (`web/api/v1/api.go`); kinds Prometheus lacks get the status that tells a client whether
    /// to retry: 429 and 503 are retried by remote-write senders, other 4xx are not.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Execution => 422,
            ErrorKind::Canceled => 499,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable | ErrorKind::Timeout => 503,
        }
    }
}

/// The JSON body of a Prometheus API error:
/// `{"status":"error","errorType":"bad_data","error":"..."}`.
pub fn prometheus_error_body(kind: ErrorKind, message: &str) -> String {
    serde_json::json!({"status": "error", "errorType": kind.as_str(), "error": message}).to_string()
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error crossing the storage traits: the engine's own error, classified.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StorageError {
    pub kind: ErrorKind,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    pub fn new(kind: ErrorKind, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind, source: source.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_prometheus_shaped() {
        let body: serde_json::Value =
            serde_json::from_str(&prometheus_error_body(ErrorKind::BadData, "bad \"x\"")).unwrap();
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "bad_data");
        assert_eq!(body["error"], "bad \"x\"");
        assert_eq!(ErrorKind::Execution.http_status(), 422);
    }
}
