//! Pins failure semantics (issue 10, finding 7): when the journal fails, intake stops at
//! once — the pipeline consumes almost nothing more from its source (a live feed would
//! otherwise be read and dropped until its end) — the run returns the error, and nothing
//! after the last acknowledged record is reported or applied.

use std::cell::Cell;

use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, FaultPlan, JournalConfig, JournalWriter};
use keel_runtime::{PipelineConfig, PipelineError, WaitStrategyKind, run_pipeline};

const RING: usize = 1 << 10;

/// A pipeline that never spins or pins (tests share two cores), without snapshots.
fn pipeline(ring_size: usize) -> PipelineConfig {
    PipelineConfig {
        ring_size,
        wait: WaitStrategyKind::Yield,
        pin: false,
        state_snapshots: None,
        ..PipelineConfig::default()
    }
}

#[test]
fn a_failing_sync_stops_intake_and_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig {
        durability: Durability::Sync,
        segment_size_bytes: 16 << 20,
        faults: FaultPlan {
            // Call 1 is the sync at open; record n's sync is call n + 1.
            fail_sync_from_call: Some(501),
            ..FaultPlan::default()
        },
        ..JournalConfig::default()
    };
    let (journal, _) = JournalWriter::open(dir.path(), config).expect("open");
    let status = journal.status();
    let consumed = Cell::new(0u64);
    let events = SyntheticMarket::new(SyntheticConfig::default())
        .take(1_000_000)
        .inspect(|_| consumed.set(consumed.get() + 1));
    let pipeline = pipeline(RING);
    let result = run_pipeline(&pipeline, journal, vec![ShardState::new(0, 1)], events);
    match result {
        Err(PipelineError::Journal { seq, .. }) => assert_eq!(seq, 500, "record 500's sync failed"),
        Err(other) => panic!("expected the journal failure, got {other}"),
        Ok(_) => panic!("the run succeeded despite a failed sync"),
    }
    assert_eq!(status.acknowledged_seq(), 499);
    // What was taken from the source after the failure is at most what the ring held.
    assert!(
        consumed.get() <= 500 + RING as u64 + 1,
        "{} of 1,000,000 events consumed after a failure at 500",
        consumed.get()
    );
}

/// Issue 10, finding 15: in `interval` mode a failed final sync at close still ended the
/// run as a success with a full report. It is now the run's error.
#[test]
fn a_failed_final_sync_fails_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig {
        // No background sync during the run: the final one at close is call 2.
        durability: Durability::Interval { period_ms: 600_000 },
        segment_size_bytes: 16 << 20,
        faults: FaultPlan {
            fail_sync_from_call: Some(2),
            ..FaultPlan::default()
        },
        ..JournalConfig::default()
    };
    let (journal, _) = JournalWriter::open(dir.path(), config).expect("open");
    let events = SyntheticMarket::new(SyntheticConfig::default()).take(2_000);
    let pipeline = pipeline(RING);
    let result = run_pipeline(&pipeline, journal, vec![ShardState::new(0, 1)], events);
    assert!(
        matches!(result, Err(PipelineError::JournalClose(_))),
        "{:?}",
        result.err()
    );
}

/// Back-pressure is explicit and counted: a source faster than a `sync` journal fills a
/// small ring, and the producer waits (nothing dropped: every event is journaled).
#[test]
fn a_full_ring_is_waited_for_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig {
        durability: Durability::Sync,
        segment_size_bytes: 16 << 20,
        ..JournalConfig::default()
    };
    let (journal, _) = JournalWriter::open(dir.path(), config).expect("open");
    let events = SyntheticMarket::new(SyntheticConfig::default()).take(3_000);
    let pipeline = pipeline(64);
    let output =
        run_pipeline(&pipeline, journal, vec![ShardState::new(0, 1)], events).expect("runs");
    assert_eq!(output.events, 3_000);
    assert_eq!(output.last_seq, 3_000, "nothing dropped");
    assert!(
        output.ring_full_waits > 0,
        "a 64-slot ring ahead of msync never filled"
    );
}
