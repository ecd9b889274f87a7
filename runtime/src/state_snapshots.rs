//! Periodic snapshots of shard state, for fast recovery (docs/PIPELINE.md, "State
//! snapshots"). Each shard images its own state at a batch end whose sequence is a multiple
//! of the interval and hands the bytes to one background writer thread; the shard never
//! does file I/O and never waits (a full queue skips that snapshot, counted). Shards
//! snapshot independently: recovery restores each from its own latest snapshot and replays
//! the journal tail past it, so no cross-shard cut is needed.
//!
//! A snapshot is written only once the journal acknowledges its sequence (under the
//! journal's durability mode), so it never describes records a crash could lose.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};
use keel_journal::{SnapshotStore, WriterStatus};
use rkyv::util::AlignedVec;

use super::pipeline::BATCH_EVENTS_MAX;
use keel_engine::state::{ShardState, encode_state};

/// Default events between snapshots (a multiple of the batch length).
pub const SNAPSHOT_INTERVAL_DEFAULT_EVENTS: u64 = 1 << 18;
/// Snapshots kept per shard (older ones are deleted once a newer one is durable).
pub const SNAPSHOTS_KEPT_DEFAULT: usize = 2;
/// Images queued for the writer at most, per shard.
const QUEUED_PER_SHARD_MAX: usize = 2;
/// Longest the writer waits for the journal to acknowledge a snapshot's sequence.
const ACK_WAIT_MAX: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSnapshotPolicy {
    /// Events between snapshots; rounded up to a multiple of the batch length so every
    /// snapshot is taken at a batch end (nothing conflated and pending).
    pub interval_events: u64,
    /// Snapshots kept per shard.
    pub keep: usize,
}

impl Default for StateSnapshotPolicy {
    fn default() -> Self {
        StateSnapshotPolicy {
            interval_events: SNAPSHOT_INTERVAL_DEFAULT_EVENTS,
            keep: SNAPSHOTS_KEPT_DEFAULT,
        }
    }
}

impl StateSnapshotPolicy {
    /// Snapshots every `interval_events` (default retention); `None` for 0 (off).
    pub fn every(interval_events: u64) -> Option<StateSnapshotPolicy> {
        (interval_events > 0).then(|| StateSnapshotPolicy {
            interval_events,
            ..StateSnapshotPolicy::default()
        })
    }

    pub fn interval(&self) -> u64 {
        self.interval_events.max(1).div_ceil(BATCH_EVENTS_MAX) * BATCH_EVENTS_MAX
    }
}

/// Name of shard `index` of `count`'s snapshot store (under `<journal>/snapshots/`).
pub fn shard_store_name(index: u32, count: u32) -> String {
    format!("shard-{index}-of-{count}")
}

/// What the snapshot writer did in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub written: u64,
    /// Not taken because the writer was still busy with earlier ones.
    pub skipped: u64,
    /// Write failures (logged; the journal alone still recovers everything).
    pub failed: u64,
}

struct SnapshotJob {
    shard_index: u32,
    seq: u64,
    image: AlignedVec,
}

/// The shard side: decides when to snapshot and queues the image.
#[derive(Clone)]
pub(crate) struct SnapshotTaker {
    interval: u64,
    queue: Sender<SnapshotJob>,
    skipped: Arc<AtomicU64>,
}

impl SnapshotTaker {
    /// Called after a batch end at `seq`.
    pub(crate) fn after_batch_end(&self, state: &ShardState, seq: u64) {
        if seq % self.interval != 0 {
            return;
        }
        let image = match encode_state(state) {
            Ok(image) => image,
            Err(error) => {
                tracing::error!(seq, %error, "state snapshot not encoded");
                self.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let job = SnapshotJob {
            shard_index: state.shard_index,
            seq,
            image,
        };
        if self.queue.try_send(job).is_err() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread: owns the stores, writes queued images once the journal holds
/// their sequence, and prunes old snapshots.
pub(crate) struct SnapshotWriter {
    thread: JoinHandle<(u64, u64)>,
    skipped: Arc<AtomicU64>,
}

impl SnapshotWriter {
    pub(crate) fn start(
        journal_dir: &Path,
        shard_count: u32,
        policy: &StateSnapshotPolicy,
        journal: WriterStatus,
    ) -> std::io::Result<(SnapshotWriter, SnapshotTaker)> {
        let capacity = QUEUED_PER_SHARD_MAX * shard_count as usize;
        let (queue, jobs) = channel::bounded(capacity);
        let skipped = Arc::new(AtomicU64::new(0));
        let taker = SnapshotTaker {
            interval: policy.interval(),
            queue,
            skipped: skipped.clone(),
        };
        let dir = journal_dir.to_path_buf();
        let keep = policy.keep.max(1);
        let thread = std::thread::Builder::new()
            .name("keel-snapshots".into())
            .spawn(move || write_jobs(&dir, shard_count, keep, &journal, &jobs))?;
        Ok((SnapshotWriter { thread, skipped }, taker))
    }

    /// Waits for queued snapshots to be written (call after every taker is dropped).
    pub(crate) fn finish(self) -> SnapshotStats {
        let (written, failed) = self.thread.join().unwrap_or_else(|_| {
            tracing::error!("snapshot writer panicked");
            (0, 1)
        });
        SnapshotStats {
            written,
            skipped: self.skipped.load(Ordering::Relaxed),
            failed,
        }
    }
}

fn write_jobs(
    dir: &Path,
    shard_count: u32,
    keep: usize,
    journal: &WriterStatus,
    jobs: &Receiver<SnapshotJob>,
) -> (u64, u64) {
    let (mut written, mut failed) = (0, 0);
    let mut stores: Vec<Option<SnapshotStore>> = (0..shard_count).map(|_| None).collect();
    for job in jobs {
        if !wait_for_journal(journal, job.seq) {
            tracing::warn!(
                seq = job.seq,
                "journal did not acknowledge the sequence; snapshot not written"
            );
            failed += 1;
            continue;
        }
        let result = store_for(&mut stores, dir, job.shard_index, shard_count).and_then(|store| {
            store.write(job.seq, &job.image)?;
            store.prune(keep)
        });
        match result {
            Ok(()) => written += 1,
            Err(error) => {
                tracing::warn!(seq = job.seq, %error, "state snapshot not written");
                failed += 1;
            }
        }
    }
    (written, failed)
}

fn store_for<'a>(
    stores: &'a mut [Option<SnapshotStore>],
    dir: &Path,
    index: u32,
    count: u32,
) -> Result<&'a SnapshotStore, keel_journal::JournalError> {
    let slot = &mut stores[index as usize];
    let store = match slot.take() {
        Some(store) => store,
        None => SnapshotStore::open_named(dir, &shard_store_name(index, count))?,
    };
    Ok(slot.insert(store))
}

fn wait_for_journal(journal: &WriterStatus, seq: u64) -> bool {
    let started = Instant::now();
    while journal.acknowledged_seq() < seq {
        if journal.failed() || started.elapsed() > ACK_WAIT_MAX {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}
