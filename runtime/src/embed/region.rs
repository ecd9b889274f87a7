//! A shared-memory file mapped as words. All access goes through `AtomicU64`, so memory
//! another process writes at the same time is read and written without data races; the
//! wire structs are copied in and out word by word (`wire::load`, `wire::store`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

use super::EmbedError;

/// A mapped file: its words, shared with other processes.
pub struct Region {
    map: MmapRaw,
    words: usize,
    path: PathBuf,
    /// Kept open: a client's lock on its slot lives as long as this descriptor.
    file: File,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Region({}, {} words)", self.path.display(), self.words)
    }
}

impl Region {
    /// Creates (or re-creates, zeroed) a file of `bytes` bytes, readable and writable by
    /// its owner only, and maps it writable.
    pub fn create(path: &Path, bytes: usize) -> Result<Region, EmbedError> {
        let io = |error| EmbedError::Io {
            path: path.to_path_buf(),
            error,
        };
        // A new inode each start: processes still mapping an old file keep it (and see it
        // stopped), and nobody sees a file shrink under them.
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.set_len(bytes as u64).map_err(io)?;
        let map = MmapOptions::new().len(bytes).map_raw(&file).map_err(io)?;
        Ok(Region {
            map,
            words: bytes / 8,
            path: path.to_path_buf(),
            file,
        })
    }

    /// Maps an existing file: writable, or read-only (then only loads are made).
    pub fn open(path: &Path, writable: bool) -> Result<Region, EmbedError> {
        let io = |error| EmbedError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    EmbedError::NoEngine(path.to_path_buf())
                } else {
                    io(error)
                }
            })?;
        let bytes = file.metadata().map_err(io)?.len();
        let bytes = usize::try_from(bytes).map_err(|_| EmbedError::Layout {
            path: path.to_path_buf(),
            what: "file size",
        })?;
        if bytes < 64 || bytes % 8 != 0 {
            return Err(EmbedError::Layout {
                path: path.to_path_buf(),
                what: "file size",
            });
        }
        let options = {
            let mut options = MmapOptions::new();
            options.len(bytes);
            options
        };
        let map = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(io)?;
        Ok(Region {
            map,
            words: bytes / 8,
            path: path.to_path_buf(),
            file,
        })
    }

    /// Every word of the file.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned and `words * 8` bytes long, and lives as long
        // as `self` (the borrow). `AtomicU64` has the size, alignment and bit validity of
        // `u64`, so the bytes are valid atomics whatever another process wrote; every
        // access in this process goes through these atomics. A read-only mapping is only
        // loaded from (clients never store into the engine file).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.words) }
    }

    /// Words `offset .. offset + len` (word units), or `None` past the end.
    pub fn slice(&self, offset: usize, len: usize) -> Option<&[AtomicU64]> {
        self.words().get(offset..offset.checked_add(len)?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}
