//! Everything the journal can refuse or fail with.

use std::path::PathBuf;

use thiserror::Error;

/// A journal error. Damage always names the file and byte offset.
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal damaged in {path} at byte {offset}: {reason}")]
    Damaged {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "journal segment {path} is in format version {found}; this build reads format version {version} only",
        version = crate::format::FORMAT_VERSION
    )]
    OtherVersion { path: PathBuf, found: u32 },
    #[error("journal directory {0} holds no segment files")]
    Empty(PathBuf),
    #[error("segment files are not contiguous: {0}")]
    MissingSegment(String),
    #[error("journal {0} is locked by another writer")]
    Locked(PathBuf),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("the writer has stopped after a failure and acknowledges nothing more: {0}")]
    WriterFailed(String),
    #[error("sequence {requested} is not in the journal (it holds {first}..={last})")]
    SeqOutOfRange {
        requested: u64,
        first: u64,
        last: u64,
    },
    #[error("snapshot store at {path}: {reason}")]
    Snapshot { path: PathBuf, reason: String },
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        JournalError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn damaged(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        JournalError::Damaged {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = JournalError> = std::result::Result<T, E>;
