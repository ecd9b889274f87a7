//! The single writer: appends records to the active segment's mapping and rolls to a
//! new segment when it is full.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::config::JournalConfig;
use crate::error::{JournalError, Result};
use crate::faults::Faults;
use crate::format::{
    Durability, END_MARKER, PAYLOAD_MAX_BYTES, RECORD_HEADER_LEN, RecordMeta, SEGMENT_HEADER_LEN,
    SEGMENT_TAIL_RESERVE, align_record, encode_record_header,
};
use crate::maintenance::{self, ClosedSegment, Handover, Shared, pack_position};
use crate::recovery::{RecoveryReport, recover};
use crate::scan::{INDEX_INTERVAL_RECORDS, IndexEntry};
use crate::segment::Segment;

/// Bytes pre-faulted synchronously when a segment becomes active.
const INITIAL_PREFAULT_BYTES: usize = 4 << 20;

/// Appends records to a journal directory. One per directory (enforced by a lock file).
pub struct JournalWriter {
    dir: PathBuf,
    config: JournalConfig,
    active: Arc<Segment>,
    offset: usize,
    next_seq: u64,
    records_in_active: u64,
    index: Vec<IndexEntry>,
    shared: Arc<Shared>,
    maintenance: Option<JoinHandle<()>>,
    _lock: File,
}

/// A cheap handle other threads use to read the writer's progress.
#[derive(Clone)]
pub struct WriterStatus {
    shared: Arc<Shared>,
}

impl WriterStatus {
    /// Highest acknowledged sequence number under the journal's durability mode.
    pub fn acknowledged_seq(&self) -> u64 {
        acknowledged(&self.shared)
    }

    /// Highest sequence number visible to readers (not necessarily durable).
    pub fn published_seq(&self) -> u64 {
        self.shared.published_seq.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }
}

/// `none`: appended; `interval` and `sync`: synced. (Published is what readers may see;
/// in `sync` mode a record is published before its sync returns, acknowledged after.)
fn acknowledged(shared: &Shared) -> u64 {
    match shared.durability {
        Durability::Interval { .. } | Durability::Sync => {
            shared.durable_seq.load(Ordering::Acquire)
        }
        Durability::None => shared.published_seq.load(Ordering::Acquire),
    }
}

impl JournalWriter {
    /// Opens (creating if needed) the journal in `dir`, recovering per the policy in
    /// `recovery.rs`, and starts the background thread.
    pub fn open(dir: &Path, config: JournalConfig) -> Result<(JournalWriter, RecoveryReport)> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        let lock = lock_directory(dir)?;
        let faults = Faults::new(config.faults.clone());
        let (recovered, report) = recover(dir, &config, &faults)?;
        let active = Arc::new(recovered.active);
        if config.durability != Durability::None {
            // What recovery found may have been only in the page cache of a killed process:
            // make it durable before calling it acknowledged.
            active.sync_range(0, recovered.end_offset, &faults)?;
        }
        let _ = active.populate_for_write(recovered.end_offset, INITIAL_PREFAULT_BYTES);
        let last_seq = recovered.next_seq - 1;
        let shared = Arc::new(Shared {
            published_position: AtomicU64::new(pack_position(active.index(), recovered.end_offset)),
            published_seq: AtomicU64::new(last_seq),
            durable_seq: AtomicU64::new(last_seq),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            stop: AtomicBool::new(false),
            handover: Mutex::new(Handover {
                active: active.clone(),
                closed: VecDeque::new(),
                spare: None,
            }),
            faults,
            durability: config.durability,
            prefault_ahead_bytes: config.prefault_ahead_bytes,
            last_seal: Mutex::new(recovered.last_seal),
            dir: dir.to_path_buf(),
            segment_size_bytes: config.segment_size_bytes,
        });
        let thread_shared = shared.clone();
        let maintenance = std::thread::Builder::new()
            .name("keel-journal".into())
            .spawn(move || maintenance::run(thread_shared))
            .map_err(|e| JournalError::io(dir, e))?;
        let mut index = index_with_capacity(&active);
        index.extend_from_slice(&recovered.active_index);
        let writer = JournalWriter {
            dir: dir.to_path_buf(),
            config,
            offset: recovered.end_offset,
            next_seq: recovered.next_seq,
            records_in_active: recovered.records_in_active,
            index,
            active,
            shared,
            maintenance: Some(maintenance),
            _lock: lock,
        };
        Ok((writer, report))
    }

    /// Appends one record and returns its sequence number. In `sync` mode it returns only
    /// after the record is on disk. Allocates nothing (except at a segment roll).
    pub fn append(&mut self, kind: u16, timestamp_ns: u64, payload: &[u8]) -> Result<u64> {
        self.append_flagged(kind, 0, timestamp_ns, payload)
    }

    /// [`append`](JournalWriter::append) with caller-defined `flags` in the record header.
    pub fn append_flagged(
        &mut self,
        kind: u16,
        flags: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(JournalError::WriterFailed(self.shared.failure_message()));
        }
        if payload.len() > PAYLOAD_MAX_BYTES {
            return Err(JournalError::PayloadTooLarge {
                len: payload.len(),
                max: PAYLOAD_MAX_BYTES,
            });
        }
        let total_len = RECORD_HEADER_LEN + payload.len();
        let padded = align_record(total_len);
        if self.offset + padded + SEGMENT_TAIL_RESERVE > self.active.len() {
            let capacity = self.active.len() - SEGMENT_HEADER_LEN - SEGMENT_TAIL_RESERVE;
            if padded > capacity {
                return Err(JournalError::PayloadTooLarge {
                    len: payload.len(),
                    max: capacity - RECORD_HEADER_LEN,
                });
            }
            self.roll()?;
        }
        let seq = self.next_seq;
        let meta = RecordMeta {
            seq,
            timestamp_ns,
            kind,
            flags,
        };
        let header = encode_record_header(&meta, payload);
        let record_offset = self.offset;
        // SAFETY: `[record_offset, record_offset + padded + 4)` is inside the mapping (the
        // fit check above keeps the tail reserve free) and unpublished: no reader reads it
        // before the length word below is stored with release, and this writer is the
        // only one (directory lock). The padding and the next length word are zeroed so
        // bytes left by a crashed, unpublished record can never look like data.
        unsafe {
            let base = self.active.base_ptr().add(record_offset);
            std::ptr::copy_nonoverlapping(
                header.as_ptr().add(4),
                base.add(4),
                RECORD_HEADER_LEN - 4,
            );
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                base.add(RECORD_HEADER_LEN),
                payload.len(),
            );
            std::ptr::write_bytes(base.add(total_len), 0, padded - total_len + 4);
            // Publish: readers that acquire a non-zero length see the whole record.
            AtomicU32::from_ptr(base.cast()).store(total_len as u32, Ordering::Release);
        }
        self.offset += padded;
        self.next_seq += 1;
        if (seq - self.active.header.first_seq) % INDEX_INTERVAL_RECORDS == 0 {
            // Capacity reserved for the segment's worst case: never reallocates.
            self.index.push(IndexEntry {
                seq,
                offset: record_offset as u64,
            });
        }
        self.records_in_active += 1;
        let position = pack_position(self.active.index(), self.offset);
        self.shared
            .published_position
            .store(position, Ordering::Release);
        self.shared.published_seq.store(seq, Ordering::Release);
        if self.config.durability == Durability::Sync {
            if let Err(error) =
                self.active
                    .sync_range(record_offset, padded + 4, &self.shared.faults)
            {
                self.shared.fail(&error);
                return Err(error);
            }
            // Only now is it acknowledged: its bytes are on the device.
            self.shared.durable_seq.store(seq, Ordering::Release);
        }
        Ok(seq)
    }

    /// Closes the active segment and continues in a new one: the spare the background
    /// thread prepared (adopted by writing its header), or one created now. The new
    /// segment is ready before the old one is closed, so a failure here leaves the journal
    /// as it was; the writer then stops.
    fn roll(&mut self) -> Result<()> {
        // One lock hold for the whole switch: the background thread must not see the old
        // active segment after the spare is taken, or it would prepare the same index again.
        let shared = self.shared.clone();
        let mut handover = shared.lock_handover();
        match self.switch_segment(&mut handover) {
            Ok(()) => {
                drop(handover);
                if let Some(thread) = &self.maintenance {
                    thread.thread().unpark();
                }
                Ok(())
            }
            Err(error) => {
                drop(handover);
                self.shared.fail(&error);
                Err(error)
            }
        }
    }

    fn switch_segment(&mut self, handover: &mut Handover) -> Result<()> {
        let next_index = self.active.index() + 1;
        let next = match handover.spare.take() {
            Some(mut spare) if spare.index() == next_index => {
                spare.adopt(self.next_seq, self.config.durability, &self.shared.faults)?;
                spare
            }
            _ => Segment::create(
                &self.dir,
                next_index,
                self.next_seq,
                self.config.segment_size_bytes,
                self.config.durability,
                &self.shared.faults,
            )?,
        };
        let next = Arc::new(next);
        let _ = next.populate_for_write(SEGMENT_HEADER_LEN, INITIAL_PREFAULT_BYTES);
        // SAFETY: `offset` is a record position, which always leaves the 4-byte end-marker
        // room; single writer; the word is read by others only with acquire loads.
        unsafe {
            AtomicU32::from_ptr(self.active.base_ptr().add(self.offset).cast())
                .store(END_MARKER, Ordering::Release);
        }
        if self.config.durability == Durability::Sync {
            self.active
                .sync_range(self.offset, 4, &self.shared.faults)?;
        }
        handover.closed.push_back(ClosedSegment {
            segment: self.active.clone(),
            data_end: self.offset,
            record_count: self.records_in_active,
            last_seq: self.next_seq - 1,
            index: std::mem::replace(&mut self.index, index_with_capacity(&next)),
        });
        handover.active = next.clone();
        self.active = next;
        self.offset = SEGMENT_HEADER_LEN;
        self.records_in_active = 0;
        let position = pack_position(self.active.index(), self.offset);
        self.shared
            .published_position
            .store(position, Ordering::Release);
        Ok(())
    }

    /// Highest acknowledged sequence number: `none` — appended (in the page cache);
    /// `interval` — synced by the background thread; `sync` — appended and synced.
    pub fn acknowledged_seq(&self) -> u64 {
        acknowledged(&self.shared)
    }

    /// Index of the segment appends currently go to.
    pub fn active_segment_index(&self) -> u64 {
        self.active.index()
    }

    /// Sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn status(&self) -> WriterStatus {
        WriterStatus {
            shared: self.shared.clone(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the background thread after a final pass (seal closed segments; in
    /// `interval` mode, sync everything). Reports a failure that happened at any time.
    pub fn close(mut self) -> Result<()> {
        self.stop_maintenance();
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(JournalError::WriterFailed(self.shared.failure_message()));
        }
        Ok(())
    }

    fn stop_maintenance(&mut self) {
        if let Some(thread) = self.maintenance.take() {
            self.shared.stop.store(true, Ordering::Release);
            thread.thread().unpark();
            if thread.join().is_err() {
                self.shared.fail(&JournalError::WriterFailed(
                    "background thread panicked".into(),
                ));
            }
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.stop_maintenance();
    }
}

fn index_with_capacity(segment: &Segment) -> Vec<IndexEntry> {
    let records_max = segment.len() / RECORD_HEADER_LEN;
    Vec::with_capacity(records_max / INDEX_INTERVAL_RECORDS as usize + 2)
}

fn lock_directory(dir: &Path) -> Result<File> {
    // The directory's own descriptor, not a lock file: deleting or replacing a file
    // cannot release the lock while this writer holds it (flock follows the inode, and
    // the directory cannot be removed while it holds the journal).
    let file = File::open(dir).map_err(|e| JournalError::io(dir, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| JournalError::Locked(dir.to_path_buf()))?;
    Ok(file)
}
