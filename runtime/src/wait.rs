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
    static BACKOFF_STATE: Cell<(Sequence, u32)> = const { Cell::new((-1, 0)) };
}

impl WaitStrategy for WaitStrategyKind {
    #[inline]
    fn wait_for(&self, sequence: Sequence) {
        match self {
            WaitStrategyKind::BusySpin => std::hint::spin_loop(),
            WaitStrategyKind::Yield => std::thread::yield_now(),
            WaitStrategyKind::Backoff => {
                let polls = BACKOFF_STATE.with(|state| {
                    let (waiting_for, polls) = state.get();
                    let polls = if waiting_for == sequence {
                        polls + 1
                    } else {
                        0
                    };
                    state.set((sequence, polls));
                    polls
                });
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
