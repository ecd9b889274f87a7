//! The one way events drive a shard: apply the event journaled at `seq`, and end the
//! batch when the batch rule says so. Live pipeline, replay, recovery, simulation,
//! benchmarks and tests all go through [`ShardState::step`], so the rule exists here only.

use super::shard_state::{Outcome, ShardState};
use crate::events::{AccountId, Event};

/// A batch (conflation window) ends at least every this many events.
pub const BATCH_EVENTS_MAX: u64 = 64;

/// The batch rule: a batch ends after the event journaled at a multiple of
/// [`BATCH_EVENTS_MAX`]. Sequence alone decides it, so every shard, every replay and a
/// run resumed after a crash revalue at exactly the same points.
pub fn ends_batch(seq: u64) -> bool {
    seq % BATCH_EVENTS_MAX == 0
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub outcome: Outcome,
    /// The step ended a batch: revaluation ran, [`ShardState::changed_accounts`] lists the
    /// accounts it evaluated and [`ShardState::alerts`] holds any alerts it raised.
    pub batch_end: bool,
    /// Alerts raised by this step's batch end (0 when it did not end one).
    pub alerts_raised: u64,
}

impl ShardState {
    /// Applies the event journaled at `seq` and, when `seq` ends a batch, runs the batch
    /// end. The only driver of the state machine.
    pub fn step(&mut self, seq: u64, event: &Event) -> Step {
        self.step_ending(seq, event, false)
    }

    /// [`step`](ShardState::step), ending the batch after this event also when
    /// `end_early` (a live source went idle; the journal records it, so replay ends the
    /// batch at the same event).
    pub fn step_ending(&mut self, seq: u64, event: &Event, end_early: bool) -> Step {
        let outcome = self.apply_at(seq, event);
        let batch_end = end_early || ends_batch(seq);
        let alerts_raised = if batch_end { self.finish_batch() } else { 0 };
        Step {
            outcome,
            batch_end,
            alerts_raised,
        }
    }

    /// Ends the current batch now (the clean end of a stream, or a caller that batches
    /// on its own terms, like what-if): revalues, evaluates, and returns the alerts raised.
    pub fn finish_batch(&mut self) -> u64 {
        let before = self.alerts.total();
        self.end_of_batch();
        self.alerts.total() - before
    }

    /// Accounts the last batch end evaluated (their margin inputs changed): what
    /// publication must refresh. Working memory, reused.
    pub fn changed_accounts(&self) -> &[AccountId] {
        self.evaluated_accounts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_rule_ends_every_64th_sequence() {
        assert!(!ends_batch(1));
        assert!(!ends_batch(63));
        assert!(ends_batch(64));
        assert!(ends_batch(128));
        assert!(ends_batch(0));
    }
}
