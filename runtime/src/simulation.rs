//! The deterministic simulator's harness (`keel sim`): drives one event stream through
//! the pure state machine, the real pipeline with 1 and N shards, and crash-and-recover
//! at chosen points, and checks what must always hold:
//!
//! - no panic anywhere;
//! - the from-scratch checker agrees with the incremental state at checkpoints;
//! - no NaN or infinity in any aggregate, margin or instrument risk;
//! - every event is applied, parked or counted as rejected (none vanishes);
//! - the state hash is the same for 1 and N shards, after every crash point, and from a
//!   full replay of the journal.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use keel_journal::{JournalConfig, JournalWriter};
use thiserror::Error;

use super::pipeline::{BATCH_EVENTS_MAX, PipelineConfig, run_pipeline};
use super::replay::{recover_to_continue, replay};
use super::state_snapshots::StateSnapshotPolicy;
use super::wait::WaitStrategyKind;
use keel_engine::events::Event;
use keel_engine::state::checker::check;
use keel_engine::state::hash::combined_hash;
use keel_engine::state::{RejectionCounts, ShardState};

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Shards of the N-shard run (the other runs use 1).
    pub shards: u32,
    /// Crash points: after these many events the engine stops and recovers.
    pub crash_after: Vec<usize>,
    /// Checker and finiteness scan every this many batches (and at the end).
    pub check_every_batches: u64,
    /// Scratch directory for the journals (emptied first).
    pub dir: PathBuf,
}

#[derive(Clone, Debug)]
pub struct SimReport {
    pub events: u64,
    pub applied: u64,
    pub rejected: u64,
    pub parked: u64,
    pub ledger_overflows: u64,
    pub rejections: RejectionCounts,
    pub state_hash: u128,
    pub checks: u64,
}

#[derive(Debug, Error)]
pub enum SimFailure {
    #[error("panic in {stage}: {message}")]
    Panic { stage: String, message: String },
    #[error("checker disagrees after event {seq}: {what}")]
    Checker { seq: u64, what: String },
    #[error("non-finite value after event {seq}: {what}")]
    NonFinite { seq: u64, what: String },
    #[error("{events} events but {applied} applied + {rejected} rejected + {parked} parked")]
    Accounting {
        events: u64,
        applied: u64,
        rejected: u64,
        parked: u64,
    },
    #[error("state hash of {run} is {found:032x}, the pure state machine's is {expected:032x}")]
    HashMismatch {
        run: String,
        expected: u128,
        found: u128,
    },
    #[error("{stage}: {message}")]
    Run { stage: String, message: String },
}

fn run_error(stage: &str, error: impl std::fmt::Display) -> SimFailure {
    SimFailure::Run {
        stage: stage.to_string(),
        message: error.to_string(),
    }
}

/// Runs `f`, turning a panic into a failure of `stage`.
fn guarded<T>(stage: &str, f: impl FnOnce() -> Result<T, SimFailure>) -> Result<T, SimFailure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-text panic".to_string());
            Err(SimFailure::Panic {
                stage: stage.to_string(),
                message,
            })
        }
    }
}

/// The first non-finite figure in a shard's state, named.
pub fn non_finite(state: &ShardState) -> Option<String> {
    for (id, instrument) in &state.instruments {
        if !instrument.risk.is_finite() {
            return Some(format!("instrument {} risk", id.0));
        }
    }
    for (id, account) in &state.accounts {
        let bad = |what: &str| Some(format!("account {} {what}", id.0));
        if account.risk.values().any(|r| !r.is_finite()) {
            return bad("risk");
        }
        if account.buckets.values().any(|r| !r.is_finite()) {
            return bad("expiry buckets");
        }
        if account.entry_value.values().any(|v| !v.is_finite()) {
            return bad("entry value");
        }
        let totals_finite = account.pm_totals.values().all(|t| {
            t.vector
                .standard
                .iter()
                .chain(&t.vector.extended)
                .chain([&t.roll_shock, &t.delta])
                .all(|v| v.is_finite())
        });
        if !totals_finite {
            return bad("portfolio-margin sums");
        }
        for (currency, margin) in &account.margin {
            let figures = [
                margin.equity,
                margin.initial_margin,
                margin.maintenance_margin,
            ];
            if figures.iter().any(|v| !v.is_finite()) {
                return bad(&format!("margin in currency {currency:?}"));
            }
        }
    }
    None
}

/// The pure state machine over `events` (one shard), checked as it goes.
fn reference(events: &[Event], config: &SimConfig) -> Result<(ShardState, u64), SimFailure> {
    let mut state = ShardState::new(0, 1);
    let mut checks = 0;
    let mut inspect = |state: &ShardState, seq: u64| -> Result<(), SimFailure> {
        checks += 1;
        if let Err(discrepancy) = check(state) {
            return Err(SimFailure::Checker {
                seq,
                what: format!("{discrepancy:?}"),
            });
        }
        match non_finite(state) {
            Some(what) => Err(SimFailure::NonFinite { seq, what }),
            None => Ok(()),
        }
    };
    for (index, event) in events.iter().enumerate() {
        let seq = index as u64 + 1;
        let checked = (seq / BATCH_EVENTS_MAX) % config.check_every_batches.max(1) == 0;
        if state.step(seq, event).batch_end && checked {
            inspect(&state, seq)?;
        }
    }
    state.finish_batch();
    inspect(&state, events.len() as u64)?;
    Ok((state, checks))
}

fn pipeline_config() -> PipelineConfig {
    PipelineConfig {
        ring_size: 1 << 10,
        wait: WaitStrategyKind::Yield,
        pin: false,
        offered_rate_eps: None,
        snapshots: None,
        state_snapshots: StateSnapshotPolicy::every(8 * BATCH_EVENTS_MAX),
        ..PipelineConfig::default()
    }
}

fn fresh_dir(dir: &Path) -> Result<(), SimFailure> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| run_error("scratch directory", e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| run_error("scratch directory", e))
}

/// Appends `events` to the journal in `dir` (recovering what is there) with `shards`
/// shards; returns the shard states.
fn run_segment(dir: &Path, shards: u32, events: &[Event]) -> Result<Vec<ShardState>, SimFailure> {
    let (journal, recovery) =
        JournalWriter::open(dir, JournalConfig::default()).map_err(|e| run_error("open", e))?;
    let states = if recovery.last_seq > 0 {
        recover_to_continue(dir, shards)
            .map_err(|e| run_error("recover", e))?
            .shards
    } else {
        (0..shards).map(|i| ShardState::new(i, shards)).collect()
    };
    let output = run_pipeline(&pipeline_config(), journal, states, events.iter().copied())
        .map_err(|e| run_error("pipeline", e))?;
    Ok(output.shards)
}

fn same_hash(run: &str, expected: u128, found: u128) -> Result<(), SimFailure> {
    if expected == found {
        Ok(())
    } else {
        Err(SimFailure::HashMismatch {
            run: run.to_string(),
            expected,
            found,
        })
    }
}

/// Simulates one stream; the first failure found, or what held.
pub fn simulate(events: &[Event], config: &SimConfig) -> Result<SimReport, SimFailure> {
    let (state, checks) = guarded("state machine", || reference(events, config))?;
    let expected = combined_hash([&state]);
    let rejected = state.rejections().total();
    let parked = state.parked.len() as u64;
    let total = state.events_applied + rejected + parked;
    if total != events.len() as u64 {
        return Err(SimFailure::Accounting {
            events: events.len() as u64,
            applied: state.events_applied,
            rejected,
            parked,
        });
    }
    for shards in [1, config.shards.max(1)] {
        let dir = config.dir.join(format!("shards-{shards}"));
        fresh_dir(&dir)?;
        let run = format!("the pipeline with {shards} shard(s)");
        let states = guarded(&run, || run_segment(&dir, shards, events))?;
        same_hash(&run, expected, combined_hash(&states))?;
        let replay_run = format!("a full replay with {shards} shard(s)");
        let (replayed, _) = guarded(&replay_run, || {
            replay(&dir, None, shards).map_err(|e| run_error("replay", e))
        })?;
        same_hash(&replay_run, expected, combined_hash(&replayed))?;
    }
    for &crash in &config.crash_after {
        let crash = crash.min(events.len());
        let dir = config.dir.join(format!("crash-{crash}"));
        fresh_dir(&dir)?;
        let shards = config.shards.max(1);
        let run = format!("a crash after {crash} events and recovery ({shards} shards)");
        let states = guarded(&run, || {
            run_segment(&dir, shards, &events[..crash])?;
            run_segment(&dir, shards, &events[crash..])
        })?;
        same_hash(&run, expected, combined_hash(&states))?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(SimReport {
        events: events.len() as u64,
        applied: state.events_applied,
        rejected,
        parked,
        ledger_overflows: state.ledger_overflows,
        rejections: state.rejections(),
        state_hash: expected,
        checks,
    })
}
