//! Rebuilding shard states from a journal: the same `apply` and the same batch ends (the
//! journaled batch-end flag) as the live run, so the same state, bit for bit.

use std::path::Path;

use keel_journal::JournalReader;
use thiserror::Error;

use crate::events::{CodecError, decode};
use crate::state::ShardState;

/// Record flag bit marking the last event of a batch (conflation boundary).
pub const FLAG_BATCH_END: u16 = 1;

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Journal(#[from] keel_journal::JournalError),
    #[error("record {seq}: {error}")]
    Decode { seq: u64, error: CodecError },
}

/// Shard states after replaying records `1..=to_seq` (all when `None`), with the last
/// partial batch revalued (as a live run does at a clean end), and the last sequence.
pub fn replay(
    dir: &Path,
    to_seq: Option<u64>,
    shard_count: u32,
) -> Result<(Vec<ShardState>, u64), ReplayError> {
    let mut shards: Vec<ShardState> = (0..shard_count)
        .map(|i| ShardState::new(i, shard_count))
        .collect();
    let last = replay_into(dir, to_seq, &mut shards, true)?;
    Ok((shards, last))
}

/// Replays into fresh states. `finish_partial_batch`: revalue a trailing partial batch
/// (for a report); leave it open when the run is about to continue (resuming after a
/// crash), so the batch ends where an uninterrupted run's would.
pub fn replay_into(
    dir: &Path,
    to_seq: Option<u64>,
    shards: &mut [ShardState],
    finish_partial_batch: bool,
) -> Result<u64, ReplayError> {
    let reader = JournalReader::open(dir)?;
    let mut last = 0;
    let mut pending_batch = false;
    for record in reader.records_from(1)? {
        let record = record?;
        if to_seq.is_some_and(|to| record.meta.seq > to) {
            break;
        }
        let event =
            decode(record.meta.kind, record.payload).map_err(|error| ReplayError::Decode {
                seq: record.meta.seq,
                error,
            })?;
        let batch_end = record.meta.flags & FLAG_BATCH_END != 0;
        for shard in shards.iter_mut() {
            shard.apply(&event);
            if batch_end {
                shard.end_of_batch();
            }
        }
        pending_batch = !batch_end;
        last = record.meta.seq;
    }
    if pending_batch && finish_partial_batch {
        shards.iter_mut().for_each(ShardState::end_of_batch);
    }
    Ok(last)
}
