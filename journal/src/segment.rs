//! Segment files: naming, creation (preallocated, fsynced with their directory before use),
//! opening, and the shared memory mapping readers and the writer use.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{JournalError, Result};
use crate::faults::Faults;
use crate::format::{
    Durability, HeaderError, SEAL_LEN, SEGMENT_HEADER_LEN, Seal, SegmentHeader, Slot, align_record,
    decode_slot,
};

const SEGMENT_SUFFIX: &str = ".seg";
/// Extension of a segment being created (ignored by listings, removed on open).
const TMP_SUFFIX: &str = "seg.tmp";

/// Removes segments whose creation a crash interrupted.
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    remove_temporaries_in(dir, true)
}

/// Temporaries an interrupted write leaves: segments, indexes and (in the snapshot
/// stores, one level down) snapshots. Only the writer calls this, holding the lock,
/// before anything of its own is in flight.
const TEMPORARY_SUFFIXES: [&str; 3] = [".seg.tmp", ".idx.tmp", ".snap.tmp"];

fn remove_temporaries_in(dir: &Path, descend: bool) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let path = entry.path();
        if descend && path.is_dir() {
            remove_temporaries_in(&path, false)?;
            continue;
        }
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|name| TEMPORARY_SUFFIXES.iter().any(|s| name.ends_with(s)));
        if stale {
            tracing::info!(path = %path.display(), "journal: removing an interrupted write's temporary");
            std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Path of segment `index` in `dir`: `00000000.seg`, `00000001.seg`, …
pub fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}{SEGMENT_SUFFIX}"))
}

/// Opens the segments of `dir` read-only, leaving out a trailing spare (which holds
/// nothing).
pub fn open_data_segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for (_, path) in list_segments(dir)? {
        segments.push(Segment::open(&path, false)?);
    }
    if segments.last().is_some_and(|s| s.header.is_spare()) {
        segments.pop();
    }
    Ok(segments)
}

/// The segment files of `dir`, sorted by index; their indices must be contiguous.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)) else {
            continue;
        };
        if let Ok(index) = stem.parse::<u64>() {
            segments.push((index, entry.path()));
        }
    }
    segments.sort();
    for pair in segments.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(JournalError::MissingSegment(format!(
                "{} is followed by {}",
                pair[0].1.display(),
                pair[1].1.display()
            )));
        }
    }
    Ok(segments)
}

/// Fsyncs a directory, making file creations and renames in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| JournalError::io(dir, e))
}

/// A mapped segment file.
pub struct Segment {
    pub path: PathBuf,
    pub header: SegmentHeader,
    map: MmapRaw,
    /// Kept open for the mapping's lifetime (and the writer's file syncs).
    _file: File,
}

impl Segment {
    /// Creates segment `index` in `dir`: built under a temporary name, preallocated to
    /// `size` bytes (so a full disk fails here, not as a fault on a later write), header
    /// written and fsynced, then renamed into place and the directory fsynced. A crash at
    /// any point leaves either no segment or a whole empty one.
    pub fn create(
        dir: &Path,
        index: u64,
        first_seq: u64,
        size: u64,
        durability: Durability,
        faults: &Faults,
    ) -> Result<Segment> {
        let path = segment_path(dir, index);
        let tmp = path.with_extension(TMP_SUFFIX);
        let _ = std::fs::remove_file(&tmp); // left by a crashed attempt
        let result = Self::create_at(&tmp, index, first_seq, size, durability, faults);
        let mut segment = match result {
            Ok(segment) => segment,
            Err(error) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(error);
            }
        };
        std::fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, e))?;
        sync_dir(dir)?;
        segment.path = path;
        Ok(segment)
    }

    fn create_at(
        path: &Path,
        index: u64,
        first_seq: u64,
        size: u64,
        durability: Durability,
        faults: &Faults,
    ) -> Result<Segment> {
        faults
            .on_segment_create(index)
            .map_err(|e| JournalError::io(path, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size)
            .map_err(|e| JournalError::io(path, e.into()))?;
        let header = SegmentHeader {
            segment_index: index,
            first_seq,
            segment_size: size,
            durability,
        };
        file.write_all_at(&header.encode(), 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io(path, e))?;
        let map = MmapOptions::new()
            .len(size as usize)
            .map_raw(&file)
            .map_err(|e| JournalError::io(path, e))?;
        Ok(Segment {
            path: path.to_path_buf(),
            header,
            map,
            _file: file,
        })
    }

    /// Opens an existing segment; read-write only for the (single, locked) writer.
    pub fn open(path: &Path, writable: bool) -> Result<Segment> {
        let (file, len) = open_file(path, writable)?;
        if len < SEGMENT_HEADER_LEN as u64 {
            return Err(JournalError::damaged(
                path,
                0,
                "file shorter than a segment header",
            ));
        }
        let mut header_bytes = [0u8; SEGMENT_HEADER_LEN];
        file.read_exact_at(&mut header_bytes, 0)
            .map_err(|e| JournalError::io(path, e))?;
        let header = SegmentHeader::decode(&header_bytes).map_err(|error| match error {
            HeaderError::OtherVersion(found) => JournalError::OtherVersion {
                path: path.to_path_buf(),
                found,
            },
            HeaderError::Damaged(why) => JournalError::damaged(path, 0, why),
        })?;
        if header.segment_size != len {
            return Err(JournalError::damaged(
                path,
                32,
                format!("header says {} bytes, file has {len}", header.segment_size),
            ));
        }
        let mut options = MmapOptions::new();
        options.len(len as usize);
        let map = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(|e| JournalError::io(path, e))?;
        Ok(Segment {
            path: path.to_path_buf(),
            header,
            map,
            _file: file,
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Makes a spare segment the next one: writes its real header (through the mapping,
    /// so no syscall unless `sync` durability asks for one).
    pub fn adopt(&mut self, first_seq: u64, durability: Durability, faults: &Faults) -> Result<()> {
        let header = SegmentHeader {
            first_seq,
            durability,
            ..self.header
        };
        let bytes = header.encode();
        // SAFETY: the header is in bounds; a spare is owned by the writer alone and no
        // reader looks at it before the previous segment's end marker is published.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base_ptr(), SEGMENT_HEADER_LEN)
        };
        self.header = header;
        if durability == Durability::Sync {
            self.sync_range(0, SEGMENT_HEADER_LEN, faults)?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    pub fn index(&self) -> u64 {
        self.header.segment_index
    }

    /// The length word at `offset` (4-byte aligned), read with acquire ordering: once it
    /// is non-zero, the record it heads is completely visible.
    pub fn length_word(&self, offset: usize) -> u32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= self.len(),
            "length word out of bounds"
        );
        // SAFETY: in bounds and 4-byte aligned (asserted; the mapping is page-aligned); the
        // memory is shared with the writer, which only ever stores this word atomically.
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast()) }
            .load(Ordering::Acquire)
    }

    /// The slot at `offset`. Only published bytes are turned into a slice: the record's
    /// range after its length word was seen non-zero (immutable from then on).
    pub fn slot(&self, offset: usize) -> Slot<'_> {
        let word = self.length_word(offset);
        let end = offset
            .saturating_add(align_record(word as usize))
            .min(self.len());
        // SAFETY: `[0, end)` is published (earlier records and this one, whose length word
        // was read non-zero with acquire) or, when damaged, belongs to a journal no writer
        // is appending to (recovery holds the lock); either way it is not being written.
        let bytes = unsafe { self.bytes_unchecked(end) };
        decode_slot(bytes, offset, word, self.len())
    }

    /// The segment's bytes `[0, end)`.
    ///
    /// # Safety
    /// No thread or process may be writing to `[0, end)` while the slice lives: either
    /// the range is published records, or the journal is locked against writers.
    pub unsafe fn bytes_unchecked(&self, end: usize) -> &[u8] {
        assert!(end <= self.len());
        // SAFETY: in bounds of the live mapping; the caller guarantees no concurrent writes.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), end) }
    }

    /// The seal area (the file's last [`SEAL_LEN`] bytes), decoded.
    pub fn seal(&self) -> Result<Option<Seal>> {
        let offset = self.len() - SEAL_LEN;
        let mut bytes = [0u8; SEAL_LEN];
        // SAFETY: copies only the seal area (in bounds: segments are far larger than it),
        // never the record area a live writer may be appending to. The seal is written
        // once, by the sealer of a closed segment; a blank or torn copy fails its CRC.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset),
                bytes.as_mut_ptr(),
                SEAL_LEN,
            )
        };
        Seal::decode(&bytes)
            .map_err(|reason| JournalError::damaged(&self.path, offset as u64, reason))
    }

    /// Base pointer for the writer's stores.
    pub fn base_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// msync of `[offset, offset + len)` (page-aligned outward).
    pub fn sync_range(&self, offset: usize, len: usize, faults: &Faults) -> Result<()> {
        faults
            .on_sync()
            .map_err(|e| JournalError::io(&self.path, e))?;
        let page = page_size();
        let start = offset / page * page;
        let end = (offset + len).min(self.len());
        self.map
            .flush_range(start, end - start)
            .map_err(|e| JournalError::io(&self.path, e))
    }

    /// Pre-faults `[offset, offset + len)` for writing without changing its bytes
    /// (`MADV_POPULATE_WRITE`), so the writer takes no page fault there.
    pub fn populate_for_write(&self, offset: usize, len: usize) -> std::io::Result<()> {
        let page = page_size();
        let start = offset / page * page;
        let end = (offset + len).min(self.len());
        if end <= start {
            return Ok(());
        }
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, start, end - start)
    }
}

/// Opens a segment file and reads its length.
pub(crate) fn open_file(path: &Path, writable: bool) -> Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(|e| JournalError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| JournalError::io(path, e))?
        .len();
    Ok((file, len))
}

/// The system page size.
pub fn page_size() -> usize {
    rustix::param::page_size()
}
