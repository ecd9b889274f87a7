//! Rebuilding shard states from a journal: the same `apply` and the same batch ends (the
//! journaled batch-end flag) as the live run, so the same state, bit for bit.
//!
//! [`recover`] starts each shard from its newest usable snapshot (docs/PIPELINE.md, "State
//! snapshots") and replays only the tail past it; a missing, damaged or inconsistent
//! snapshot falls back to an older one or to the start, with the same result.

use std::path::Path;

use keel_journal::{JournalReader, SnapshotStore};
use thiserror::Error;

use super::state_snapshots::shard_store_name;
use keel_engine::events::{CodecError, decode};
use keel_engine::state::checker::check;
use keel_engine::state::{BATCH_EVENTS_MAX, ShardState, decode_state, ends_batch};

/// Record flag bit marking the last event of a batch (conflation boundary).
pub const FLAG_BATCH_END: u16 = 1;
/// Bits 8..15 of a record's flags: the event's origin (0 the run's own input, 1 + K the
/// shared-memory client in slot K).
pub const ORIGIN_SHIFT: u16 = 8;

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Journal(#[from] keel_journal::JournalError),
    #[error("record {seq}: {error}")]
    Decode { seq: u64, error: CodecError },
    /// The record's batch-end flag disagrees with the batch rule: not a journal Keel's
    /// pipeline wrote, so its state could not be reproduced as journaled.
    #[error(
        "record {seq}: the batch rule ends a batch here (every {BATCH_EVENTS_MAX} events) but the record is not flagged as a batch end"
    )]
    BatchFlag { seq: u64 },
}

/// How shards were rebuilt.
#[derive(Debug)]
pub struct Recovered {
    pub shards: Vec<ShardState>,
    /// Last sequence applied (0 for an empty journal).
    pub last_seq: u64,
    /// Per shard: the snapshot sequence it started from (0: from the start).
    pub snapshot_seqs: Vec<u64>,
    /// Journal records read after the oldest snapshot used.
    pub records_replayed: u64,
    /// A torn last record (a crash's, not yet truncated by a writer) the replay ended
    /// before; the files are not modified.
    pub torn_tail: Option<keel_journal::TornTail>,
}

/// Shard states after replaying records `1..=to_seq` (all when `None`), with the last
/// partial batch revalued (as a live run does at a clean end), and the last sequence.
/// From the start of the journal: no snapshots.
pub fn replay(
    dir: &Path,
    to_seq: Option<u64>,
    shard_count: u32,
) -> Result<(Vec<ShardState>, u64), ReplayError> {
    let recovered = recover(dir, shard_count, to_seq, false, true)?;
    Ok((recovered.shards, recovered.last_seq))
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
    let from = vec![0; shards.len()];
    replay_tail(&reader, &from, to_seq, shards, finish_partial_batch).map(|(last, _)| last)
}

/// Rebuilds `shard_count` shards from the journal in `dir` up to `to_seq` (the end when
/// `None`), from snapshots when `use_snapshots`. A snapshot is used only if it decodes,
/// belongs to this shard layout, is not past the requested end or the journal's end,
/// and passes the from-scratch checker.
pub fn recover(
    dir: &Path,
    shard_count: u32,
    to_seq: Option<u64>,
    use_snapshots: bool,
    finish_partial_batch: bool,
) -> Result<Recovered, ReplayError> {
    let reader = JournalReader::open(dir)?;
    let journal_last = last_seq(&reader)?;
    let max_seq = to_seq.map_or(journal_last, |to| to.min(journal_last));
    let mut shards = Vec::with_capacity(shard_count as usize);
    let mut snapshot_seqs = Vec::with_capacity(shard_count as usize);
    for index in 0..shard_count {
        let restored = if use_snapshots {
            latest_snapshot(dir, index, shard_count, max_seq, reader.first_seq())?
        } else {
            None
        };
        let (seq, state) = restored.unwrap_or_else(|| (0, ShardState::new(index, shard_count)));
        shards.push(state);
        snapshot_seqs.push(seq);
    }
    let (last, replayed) = replay_tail(
        &reader,
        &snapshot_seqs,
        Some(max_seq),
        &mut shards,
        finish_partial_batch,
    )?;
    let last_seq = last.max(snapshot_seqs.iter().copied().max().unwrap_or(0));
    Ok(Recovered {
        shards,
        last_seq,
        snapshot_seqs,
        records_replayed: replayed,
        torn_tail: reader.torn_tail().cloned(),
    })
}

/// Recovery before continuing a journal (after [`JournalWriter::open`] repaired its
/// tail): [`recover`] from snapshots, leaving a trailing partial batch open so the run
/// ends batches where an uninterrupted one would, and deleting snapshots past the
/// journal's end — they describe records a crash lost, and the records written next may
/// differ from them.
///
/// [`JournalWriter::open`]: keel_journal::JournalWriter::open
pub fn recover_to_continue(dir: &Path, shard_count: u32) -> Result<Recovered, ReplayError> {
    let recovered = recover(dir, shard_count, None, true, false)?;
    for store in SnapshotStore::all_named(dir)? {
        let discarded = store.discard_after(recovered.last_seq)?;
        if discarded > 0 {
            tracing::warn!(store = %store.dir().display(), discarded, "snapshots past the journal's end deleted");
        }
    }
    Ok(recovered)
}

/// Sequence of the journal's last whole record.
fn last_seq(reader: &JournalReader) -> Result<u64, ReplayError> {
    // Start at the last segment: only its records need reading.
    let last_segment_first = reader
        .segments()
        .last()
        .map_or(1, |segment| segment.header.first_seq);
    let mut last = last_segment_first.saturating_sub(1);
    for record in reader.records_from(last_segment_first)? {
        last = record?.meta.seq;
    }
    Ok(last)
}

fn latest_snapshot(
    dir: &Path,
    index: u32,
    count: u32,
    max_seq: u64,
    journal_first_seq: u64,
) -> Result<Option<(u64, ShardState)>, ReplayError> {
    let Some(store) = SnapshotStore::existing_named(dir, &shard_store_name(index, count))? else {
        return Ok(None);
    };
    let found = store.latest_accepted(max_seq, |seq, blob| {
        // The tail after the snapshot must still be in the journal.
        if seq + 1 < journal_first_seq {
            return Err(format!(
                "journal starts at {journal_first_seq}, after the snapshot"
            ));
        }
        let state = decode_state(blob, index, count).map_err(|e| e.to_string())?;
        check(&state).map_err(|e| format!("snapshot fails the checker: {e:?}"))?;
        Ok(state)
    })?;
    Ok(found.map(|(snapshot, state)| (snapshot.seq, state)))
}

/// Applies records after `from_seqs[i]` to shard `i`, up to `to_seq`. Returns the last
/// sequence read and how many records were read.
fn replay_tail(
    reader: &JournalReader,
    from_seqs: &[u64],
    to_seq: Option<u64>,
    shards: &mut [ShardState],
    finish_partial_batch: bool,
) -> Result<(u64, u64), ReplayError> {
    let start = from_seqs.iter().copied().min().unwrap_or(0) + 1;
    let mut last = 0;
    let mut read = 0;
    let mut pending_batch = false;
    for record in reader.records_from(start)? {
        let record = record?;
        if to_seq.is_some_and(|to| record.meta.seq > to) {
            break;
        }
        let event =
            decode(record.meta.kind, record.payload).map_err(|error| ReplayError::Decode {
                seq: record.meta.seq,
                error,
            })?;
        // The rule's batch ends are flagged in every journal; a flag elsewhere is an early
        // end the live engine took when its input went idle, and replay takes it too.
        let batch_end = record.meta.flags & FLAG_BATCH_END != 0;
        if ends_batch(record.meta.seq) && !batch_end {
            return Err(ReplayError::BatchFlag {
                seq: record.meta.seq,
            });
        }
        for (shard, &from) in shards.iter_mut().zip(from_seqs) {
            if record.meta.seq <= from {
                continue;
            }
            shard.step_ending(record.meta.seq, &event, batch_end);
        }
        pending_batch = !batch_end;
        last = record.meta.seq;
        read += 1;
    }
    if pending_batch && finish_partial_batch {
        shards.iter_mut().for_each(|shard| {
            shard.finish_batch();
        });
    }
    Ok((last, read))
}
