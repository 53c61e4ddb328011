//! The query service's error type, classified for the API layer (`api::error` turns the kind
//! into Prometheus's `errorType` and status code).

use argus_model::{ErrorKind, StorageError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text does not parse, or a parameter is malformed.
    #[error("{0}")]
    BadData(String),
    /// The query is valid but cannot be evaluated (e.g. duplicate label sets in a result).
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadData(_) => ErrorKind::BadData,
            Error::Execution(_) | Error::TooManySamples(_) => ErrorKind::Execution,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Storage(error) => error.kind,
        }
    }
}
