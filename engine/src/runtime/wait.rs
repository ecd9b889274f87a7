//! How ring consumers wait for the next event: spin (colocated, a core per thread) or
//! yield (laptops, CI, 2-core machines: at most one thread may spin there).

use disruptor::Sequence;
use disruptor::wait_strategies::WaitStrategy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategyKind {
    BusySpin,
    Yield,
}

impl WaitStrategy for WaitStrategyKind {
    #[inline]
    fn wait_for(&self, _sequence: Sequence) {
        match self {
            WaitStrategyKind::BusySpin => std::hint::spin_loop(),
            WaitStrategyKind::Yield => std::thread::yield_now(),
        }
    }
}

impl std::str::FromStr for WaitStrategyKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "busy-spin" | "spin" => Ok(WaitStrategyKind::BusySpin),
            "yield" => Ok(WaitStrategyKind::Yield),
            _ => Err(format!(
                "wait strategy must be 'busy-spin' or 'yield', got '{text}'"
            )),
        }
    }
}
