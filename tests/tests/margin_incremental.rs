//! Incremental margin = margin from scratch (docs/MARGIN.md): over a long seeded synthetic run
//! (BTC and ETH option chains, dated futures, perpetuals, expiries settling, accounts on
//! both portfolio and standard margin), after every batch end every instrument's scenario
//! vector equals a fresh valuation of its mark, every account's margin sums equal the sum
//! over its positions, and its equity, IM and MM equal an evaluation from those sums.

use keel_engine::events::{Currency, MarginModel, UnderlyingId};
use keel_engine::state::ShardState;
use keel_engine::state::checker::check;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

const EVENTS: usize = 40_000;
const BATCH_EVENTS: usize = 32;

#[test]
fn margin_kept_incrementally_equals_margin_from_scratch_after_every_batch() {
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 17,
        accounts: 8,
        ..SyntheticConfig::default()
    });
    let events: Vec<_> = market.take(EVENTS).collect();
    let mut state = ShardState::new(0, 1);
    for (batch, chunk) in events.chunks(BATCH_EVENTS).enumerate() {
        for event in chunk {
            state.apply(event);
        }
        state.end_of_batch();
        check(&state).unwrap_or_else(|d| panic!("after batch {batch}: {d}"));
    }
    // The run exercised what it claims to: both models, margin in both coins, futures'
    // roll shocks and option scenario losses.
    let portfolio = state
        .accounts
        .values()
        .filter(|a| a.margin_model == MarginModel::Portfolio)
        .count();
    assert!(portfolio > 0 && portfolio < state.accounts.len());
    for coin in [
        Currency::Coin(UnderlyingId(0)),
        Currency::Coin(UnderlyingId(1)),
    ] {
        let margined = state.accounts.values().filter(|a| {
            a.margin
                .get(&coin)
                .is_some_and(|m| m.complete && m.initial_margin > 0.0)
        });
        assert!(margined.count() >= 4, "margin in {coin:?}");
    }
    let roll = state
        .accounts
        .values()
        .flat_map(|a| a.pm_totals.values())
        .any(|t| t.roll_shock > 0.0);
    assert!(roll, "futures held under portfolio margin");
    let valued = state
        .instruments
        .values()
        .filter(|i| i.margin.valued && i.definition.strike.get().is_some_and(|k| !k.is_zero()))
        .count();
    assert!(valued > 50, "options revalued: {valued}");
}
