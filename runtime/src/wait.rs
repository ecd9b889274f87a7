//! How ring consumers wait for the next event: spin (colocated, a core per thread),
//! yield, or back off (spin briefly, then yield, then sleep: for machines with fewer
//! cores than busy threads, where a consumer that keeps yielding still holds its turn).

use std::cell::Cell;
use std::time::Duration;

use disruptor::Sequence;
use disruptor::wait_strategies::WaitStrategy;

/// Backoff: polls spent spinning, then yielding, before sleeping between polls.
const BACKOFF_SPINS: u32 = 200;
const BACKOFF_YIELDS: u32 = 50;
const BACKOFF_SLEEP: Duration = Duration::from_micros(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategyKind {
    BusySpin,
    Yield,
    Backoff,
}

thread_local! {
    /// (sequence being waited for, polls so far): the trait gives no per-wait state.
    static POLL_STATE: Cell<(Sequence, u32)> = const { Cell::new((-1, 0)) };
}

/// The idle producer under `Yield`: polls between two `sched_yield`s. A yield costs
/// 300–500 ns on the 2-vCPU VM (`cargo run --release -p keel-benches --example
/// yield_cost`), and a client's request that arrives during one waits for it; polling a
/// few microseconds between yields makes that the exception while still giving the core
/// away every few microseconds.
const IDLE_POLLS_PER_YIELD: u32 = 64;

/// Polls so far while waiting for `sequence` (0 at the first).
fn polls_waiting_for(sequence: Sequence) -> u32 {
    POLL_STATE.with(|state| {
        let (waiting_for, polls) = state.get();
        let polls = if waiting_for == sequence {
            polls.saturating_add(1)
        } else {
            0
        };
        state.set((sequence, polls));
        polls
    })
}

/// Whether the idle producer's poll number `polls` of a stretch (from 0) yields.
fn yields_at(polls: u32) -> bool {
    polls % IDLE_POLLS_PER_YIELD == IDLE_POLLS_PER_YIELD - 1
}

impl WaitStrategyKind {
    /// The producer's wait between two polls of an idle source (`stretch` identifies the
    /// idle stretch). As [`WaitStrategy::wait_for`], except that `Yield` polls
    /// [`IDLE_POLLS_PER_YIELD`] times between yields when the producer is the engine's
    /// only thread (`inline`): it is then the thread that notices a shared-memory
    /// client's request. With ring consumers, every poll yields: a producer spinning
    /// between yields delays the consumer and journal threads that share its core
    /// (`keel bench pipeline` p99 and p99.9 worse, docs/BENCHMARKS.md).
    #[inline]
    pub fn idle_wait(&self, stretch: Sequence, inline: bool) {
        match self {
            WaitStrategyKind::Yield if inline => {
                if yields_at(polls_waiting_for(stretch)) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            _ => self.wait_for(stretch),
        }
    }
}

impl WaitStrategy for WaitStrategyKind {
    #[inline]
    fn wait_for(&self, sequence: Sequence) {
        match self {
            WaitStrategyKind::BusySpin => std::hint::spin_loop(),
            WaitStrategyKind::Yield => std::thread::yield_now(),
            WaitStrategyKind::Backoff => {
                let polls = polls_waiting_for(sequence);
                if polls < BACKOFF_SPINS {
                    std::hint::spin_loop();
                } else if polls < BACKOFF_SPINS + BACKOFF_YIELDS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(BACKOFF_SLEEP);
                }
            }
        }
    }
}

impl std::str::FromStr for WaitStrategyKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "busy-spin" | "spin" => Ok(WaitStrategyKind::BusySpin),
            "yield" => Ok(WaitStrategyKind::Yield),
            "backoff" => Ok(WaitStrategyKind::Backoff),
            _ => Err(format!(
                "wait strategy must be 'busy-spin', 'yield' or 'backoff', got '{text}'"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_counted_per_wait_and_restart_with_the_next() {
        assert_eq!(polls_waiting_for(7), 0);
        assert_eq!(polls_waiting_for(7), 1);
        assert_eq!(polls_waiting_for(7), 2);
        assert_eq!(polls_waiting_for(8), 0);
        assert_eq!(polls_waiting_for(7), 0);
    }

    #[test]
    fn the_idle_producer_yields_once_every_idle_polls_per_yield() {
        let yields: Vec<u32> = (0..3 * IDLE_POLLS_PER_YIELD)
            .filter(|polls| yields_at(*polls))
            .collect();
        assert_eq!(
            yields,
            [1, 2, 3].map(|n| n * IDLE_POLLS_PER_YIELD - 1).to_vec()
        );
        // A stretch longer than the counter keeps yielding rather than spinning for good.
        assert!(yields_at(u32::MAX));
    }
}
