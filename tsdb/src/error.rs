//! The engine's error type.

use std::path::PathBuf;

use argus_model::{ErrorKind, StorageError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wal of shard {shard}")]
    Wal {
        shard: usize,
        #[source]
        source: argus_wal::Error,
    },
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening shard {shard} failed: its replay thread panicked")]
    ReplayPanicked { shard: usize },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Disk trouble: a retry (after the operator frees space, say) may succeed.
            Error::Wal { .. } | Error::Io { .. } => ErrorKind::Unavailable,
            Error::ReplayPanicked { .. } => ErrorKind::Internal,
        }
    }
}

impl From<Error> for StorageError {
    fn from(error: Error) -> Self {
        StorageError::new(error.kind(), error)
    }
}
