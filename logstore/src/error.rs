//! The log engine's error type.

use std::path::PathBuf;

use argus_model::{ErrorKind, StorageError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("log wal")]
    Wal(#[source] argus_wal::Error),
    #[error("log wal record")]
    Record(#[from] crate::record::RecordError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log partition {}", dir.display())]
    Index {
        dir: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("log partition {}: commit payload {payload:?} is not a WAL sequence number", dir.display())]
    Payload { dir: PathBuf, payload: String },
    #[error("log partition {}: document {address} is not a log entry", dir.display())]
    Document { dir: PathBuf, address: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Disk trouble: a retry (after the operator frees space, say) may succeed.
            Error::Wal(_) | Error::Io { .. } | Error::Index { .. } => ErrorKind::Unavailable,
            Error::Record(_) | Error::Payload { .. } | Error::Document { .. } => ErrorKind::Internal,
        }
    }
}

impl From<Error> for StorageError {
    fn from(error: Error) -> Self {
        StorageError::new(error.kind(), error)
    }
}
