//! A shard state warmed on the default synthetic market: what the what-if examples ask.

use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

/// One shard after the first `events` of the default synthetic market, its last partial
/// batch revalued.
pub fn warm_synthetic_state(events: usize) -> ShardState {
    let mut state = ShardState::new(0, 1);
    for (offset, event) in SyntheticMarket::new(SyntheticConfig::default())
        .take(events)
        .enumerate()
    {
        state.step(offset as u64 + 1, &event);
    }
    state.finish_batch();
    state
}
