//! Sparse index files: one per closed segment (`00000003.idx` beside `00000003.seg`),
//! listing where every [`INDEX_INTERVAL_RECORDS`]-th record starts, so a reader seeks
//! without scanning the segment. Written atomically (tmp → fsync → rename); a missing or
//! damaged index is rebuilt from the segment by scanning it.
//!
//! [`INDEX_INTERVAL_RECORDS`]: crate::scan::INDEX_INTERVAL_RECORDS

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::read_u64;
use crate::scan::{IndexEntry, scan};
use crate::segment::Segment;

const INDEX_MAGIC: [u8; 8] = *b"KEELIDX1";

/// The index file that belongs to a segment file.
pub fn index_path(segment_path: &Path) -> PathBuf {
    segment_path.with_extension("idx")
}

/// Writes `entries` as the index of `segment_path`, atomically and durably.
pub fn write_index(segment_path: &Path, entries: &[IndexEntry]) -> Result<()> {
    let path = index_path(segment_path);
    let tmp = path.with_extension("idx.tmp");
    let mut bytes = Vec::with_capacity(16 + entries.len() * 16 + 4);
    bytes.extend_from_slice(&INDEX_MAGIC);
    bytes.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for entry in entries {
        bytes.extend_from_slice(&entry.seq.to_le_bytes());
        bytes.extend_from_slice(&entry.offset.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| JournalError::io(&path, e))?;
    if let Some(dir) = path.parent() {
        crate::segment::sync_dir(dir)?;
    }
    Ok(())
}

/// Reads a segment's index; `None` if it is missing or damaged in any way.
pub fn read_index(segment_path: &Path) -> Option<Vec<IndexEntry>> {
    let bytes = std::fs::read(index_path(segment_path)).ok()?;
    if bytes.len() < 20 || bytes[0..8] != INDEX_MAGIC {
        return None;
    }
    let count = usize::try_from(read_u64(&bytes, 8)).ok()?;
    let body_len = 16usize.checked_add(count.checked_mul(16)?)?;
    if bytes.len() != body_len + 4 {
        return None;
    }
    let stored_crc = u32::from_le_bytes(bytes[body_len..].try_into().ok()?);
    if crc32c::crc32c(&bytes[..body_len]) != stored_crc {
        return None;
    }
    Some(
        (0..count)
            .map(|i| IndexEntry {
                seq: read_u64(&bytes, 16 + i * 16),
                offset: read_u64(&bytes, 24 + i * 16),
            })
            .collect(),
    )
}

/// The segment's index: from its file when intact, else rebuilt by scanning.
pub fn load_or_rebuild(segment: &Segment) -> Vec<IndexEntry> {
    read_index(&segment.path).unwrap_or_else(|| scan(segment).index)
}
