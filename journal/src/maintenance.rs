//! The writer's one background thread: keeps pages pre-faulted ahead of the writer,
//! syncs in `interval` mode, and seals segments the writer has closed. It sleeps between
//! ticks (never spins), so it costs no core on a 2-core machine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{JournalError, Result};
use crate::faults::Faults;
use crate::format::Durability;
use crate::index::write_index;
use crate::scan::IndexEntry;
use crate::seal::seal_segment;
use crate::segment::Segment;

/// How often the thread wakes.
pub const TICK: Duration = Duration::from_millis(1);
/// Pre-faulting is done in steps of this many bytes, so one step never stalls long.
const PREFAULT_STEP_BYTES: usize = 4 << 20;

/// Packs a (segment index, offset) position into one atomic word.
pub fn pack_position(segment_index: u64, offset: usize) -> u64 {
    (segment_index << 32) | offset as u64
}

pub fn unpack_position(position: u64) -> (u64, usize) {
    (position >> 32, (position & 0xFFFF_FFFF) as usize)
}

/// A segment the writer has closed (end marker written), waiting to be sealed.
pub struct ClosedSegment {
    pub segment: Arc<Segment>,
    pub data_end: usize,
    pub record_count: u64,
    pub last_seq: u64,
    pub index: Vec<IndexEntry>,
}

/// What the writer and the thread exchange under the lock (only around segment rolls).
pub struct Handover {
    pub active: Arc<Segment>,
    pub closed: VecDeque<ClosedSegment>,
    /// The next segment, created ahead of need so a roll does not wait for the disk.
    /// Created under this lock, so it never races the writer creating the same file.
    pub spare: Option<Segment>,
}

/// State shared by the writer, its background thread and status readers.
pub struct Shared {
    /// Position after the last published record (see [`pack_position`]); stored by the
    /// writer with release *before* `published_seq`, so a reader that acquires a sequence
    /// number and then the position sees a position at or past that record.
    pub published_position: AtomicU64,
    pub published_seq: AtomicU64,
    /// Highest sequence synced to disk (interval mode).
    pub durable_seq: AtomicU64,
    pub failed: AtomicBool,
    pub failure: Mutex<Option<String>>,
    pub stop: AtomicBool,
    pub handover: Mutex<Handover>,
    pub faults: Faults,
    pub durability: Durability,
    pub prefault_ahead_bytes: usize,
    pub last_seal: Mutex<[u8; 32]>,
    pub dir: std::path::PathBuf,
    pub segment_size_bytes: u64,
}

impl Shared {
    pub fn lock_handover(&self) -> MutexGuard<'_, Handover> {
        // A poisoned lock means a panic elsewhere; the data (Arcs, a queue) is still whole.
        self.handover
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the first failure; from then on nothing more is acknowledged.
    pub fn fail(&self, error: &JournalError) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failure.is_none() {
            tracing::error!(%error, "journal writer failed; no further appends are acknowledged");
            *failure = Some(error.to_string());
        }
        // Release: whoever sees `failed` also sees the message.
        self.failed.store(true, Ordering::Release);
    }

    pub fn failure_message(&self) -> String {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

/// Nice value of the background thread: hashing a closed segment or syncing must never
/// take the CPU from the writer on a machine with few cores.
const BACKGROUND_NICE: i32 = 10;

/// The thread's body. Returns when `shared.stop` is set, after a final pass.
pub fn run(shared: Arc<Shared>) {
    let mut spare_populated = 0usize;
    // On Linux, a thread id names just this thread for setpriority.
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE)
    {
        tracing::debug!(%error, "journal: could not lower the background thread's priority");
    }
    let mut spare_failed_for: Option<u64> = None;
    let mut prefaulted = (u64::MAX, 0usize); // (segment index, offset pre-faulted up to)
    let mut synced = (u64::MAX, 0usize); // (segment index, offset synced up to)
    let mut last_sync = Instant::now();
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        if !shared.failed.load(Ordering::Acquire) {
            if let Err(error) = tick(
                &shared,
                &mut prefaulted,
                &mut synced,
                &mut last_sync,
                stopping,
            ) {
                shared.fail(&error);
            }
            if !stopping {
                prepare_spare(&shared, &mut spare_failed_for, &mut spare_populated);
            }
        }
        if stopping {
            return;
        }
        std::thread::park_timeout(TICK);
    }
}

fn tick(
    shared: &Shared,
    prefaulted: &mut (u64, usize),
    synced: &mut (u64, usize),
    last_sync: &mut Instant,
    stopping: bool,
) -> Result<()> {
    // Read the sequence first, then the position: the position then covers the sequence.
    let seq = shared.published_seq.load(Ordering::Acquire);
    let (segment_index, offset) =
        unpack_position(shared.published_position.load(Ordering::Acquire));
    let (active, closed) = {
        let mut handover = shared.lock_handover();
        (
            handover.active.clone(),
            std::mem::take(&mut handover.closed),
        )
    };
    for segment in closed {
        seal_closed(shared, segment)?;
    }
    if !stopping {
        prefault(shared, &active, segment_index, offset, prefaulted);
    }
    if let Durability::Interval { period_ms } = shared.durability {
        let due = last_sync.elapsed() >= Duration::from_millis(u64::from(period_ms));
        if due || stopping {
            if active.index() == segment_index {
                let from = if synced.0 == segment_index {
                    synced.1
                } else {
                    0
                };
                if offset > from {
                    active.sync_range(from, offset - from, &shared.faults)?;
                }
                *synced = (segment_index, offset);
            }
            // Closed segments were synced when sealed, above; everything ≤ seq is on disk.
            shared.durable_seq.store(seq, Ordering::Release);
            *last_sync = Instant::now();
        }
    }
    Ok(())
}

/// Creates the next segment ahead of need (header marked spare), then pre-faults its
/// first `prefault_ahead_bytes`, one step per tick, so that after the roll the writer
/// meets only mapped pages (from there the active segment's pre-faulting runs ahead of
/// it). Not all of it: pages a run never reaches would be zeroed and written back for
/// nothing (on a 256 MiB segment, most of the CPU a short run spent on its journal). A
/// creation failure (say, a full disk) is not the writer's failure yet: it is logged once,
/// and the roll that needs the segment tries again and reports it.
fn prepare_spare(shared: &Shared, spare_failed_for: &mut Option<u64>, spare_populated: &mut usize) {
    let mut handover = shared.lock_handover();
    let next_index = handover.active.index() + 1;
    if let Some(spare) = &handover.spare {
        let target = spare.len().min(shared.prefault_ahead_bytes);
        if *spare_populated < target {
            let step = PREFAULT_STEP_BYTES.min(target - *spare_populated);
            if spare.populate_for_write(*spare_populated, step).is_err() {
                *spare_populated = spare.len(); // unsupported: stop trying
            }
            *spare_populated += step;
        }
        return;
    }
    if *spare_failed_for == Some(next_index) {
        return;
    }
    match Segment::create(
        &shared.dir,
        next_index,
        0,
        shared.segment_size_bytes,
        shared.durability,
        &shared.faults,
    ) {
        Ok(spare) => {
            handover.spare = Some(spare);
            *spare_populated = 0;
        }
        Err(error) => {
            tracing::warn!(%error, "journal: could not create the next segment ahead of time");
            *spare_failed_for = Some(next_index);
        }
    }
}

fn seal_closed(shared: &Shared, closed: ClosedSegment) -> Result<()> {
    let mut last_seal = shared
        .last_seal
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let seal = seal_segment(
        &closed.segment,
        closed.data_end,
        closed.record_count,
        closed.last_seq,
        *last_seal,
        shared.durability,
        &shared.faults,
    )?;
    write_index(&closed.segment.path, &closed.index)?;
    *last_seal = seal.seal_hash;
    Ok(())
}

fn prefault(
    shared: &Shared,
    active: &Segment,
    segment_index: u64,
    offset: usize,
    prefaulted: &mut (u64, usize),
) {
    if active.index() != segment_index {
        return; // a roll is in flight; the next tick sees the new segment
    }
    if prefaulted.0 != segment_index {
        *prefaulted = (segment_index, offset);
    }
    let target = (offset + shared.prefault_ahead_bytes).min(active.len());
    while prefaulted.1 < target {
        let step = PREFAULT_STEP_BYTES.min(target - prefaulted.1);
        if let Err(error) = active.populate_for_write(prefaulted.1, step) {
            // Old kernels lack MADV_POPULATE_WRITE: the writer then takes its own faults.
            tracing::debug!(%error, "journal: pre-faulting unavailable");
            prefaulted.1 = active.len();
            return;
        }
        prefaulted.1 += step;
    }
}
