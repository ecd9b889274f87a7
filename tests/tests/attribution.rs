//! PnL attribution: on every account, at every batch end, the components since the
//! account began add up to its actual PnL (change in equity less collateral moved) to
//! 1e-9 of the book's gross value, per ledger currency and in USD — on the synthetic
//! market and on hostile random streams (a property test over seeds).

use keel_engine::attribution::PnlComponents;
use keel_engine::events::Currency;
use keel_engine::state::{AccountState, ShardState};
use keel_feeds::adversarial::AdversarialStream;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use proptest::prelude::*;
use rust_decimal::prelude::ToPrimitive;

/// Relative tolerance of the identity, against the book's gross value.
const IDENTITY_TOLERANCE: f64 = 1e-9;

/// `name` from the environment, else `default` (a quarter of it in debug builds, which
/// CI runs: the identity is checked at every batch end either way).
fn events_from_env(name: &str, default: usize) -> usize {
    let default = if cfg!(debug_assertions) {
        default / 4
    } else {
        default
    };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The book's gross value in `currency`: Σ |position value| + |ledger| + Σ |flows| that
/// built it (the scale rounding is relative to), never below one unit.
fn gross(state: &ShardState, account: &AccountState, currency: Currency) -> f64 {
    let positions: f64 = account
        .positions
        .iter()
        .filter_map(|(id, p)| {
            let instrument = state.instruments.get(id)?;
            (instrument.currency() == currency)
                .then_some((p.quantity.to_f64()? * instrument.risk.value).abs())
        })
        .sum();
    let cash = account
        .cash
        .get(&currency)
        .and_then(|c| c.to_f64())
        .unwrap_or(0.0)
        .abs();
    let entry = account
        .entry_value
        .get(&currency)
        .copied()
        .unwrap_or(0.0)
        .abs();
    (positions + cash + entry).max(1.0)
}

/// Checks the identity on every account of `state`; returns the largest relative gap.
fn check_identity(state: &ShardState, seq: u64) -> f64 {
    let mut worst: f64 = 0.0;
    for (id, account) in &state.accounts {
        let attribution = &account.attribution;
        let (mut explained_usd, mut actual_usd, mut scale_usd) = (0.0, 0.0, 1.0);
        for (&currency, pnl) in &attribution.currencies {
            let explained: f64 = attribution
                .keys
                .iter()
                .filter(|((_, c), _)| *c == currency)
                .map(|(_, k)| k.total.sum())
                .sum();
            let scale = gross(state, account, currency);
            let gap = (explained - pnl.total_actual).abs() / scale;
            assert!(
                gap <= IDENTITY_TOLERANCE,
                "account {} {currency:?} after seq {seq}: components {explained} against actual {} \
                 (gap {gap:e} of gross {scale})",
                id.0,
                pnl.total_actual
            );
            worst = worst.max(gap);
            actual_usd += pnl.total_actual_usd;
            let rate = match currency {
                Currency::Quote => 1.0,
                Currency::Coin(u) => state.index_prices.get(&u).map_or(1.0, |&(_, p)| p),
            };
            scale_usd += scale * rate;
        }
        for (_, k) in &attribution.keys {
            explained_usd += k.total_usd.sum();
        }
        if attribution.usd_unconverted_steps == 0 {
            let gap = (explained_usd - actual_usd).abs() / scale_usd;
            assert!(
                gap <= IDENTITY_TOLERANCE,
                "account {} in USD after seq {seq}: {explained_usd} against {actual_usd}",
                id.0
            );
        }
    }
    worst
}

/// Every account's components since it began, in USD, summed.
fn book_components(state: &ShardState) -> PnlComponents {
    let mut sum = PnlComponents::ZERO;
    for account in state.accounts.values() {
        for (_, k) in &account.attribution.keys {
            sum += k.total_usd;
        }
    }
    sum
}

/// Steps `events` through one shard, checking at every batch end; returns the worst gap
/// and the book's components at the end.
fn run_checked(
    events: impl Iterator<Item = keel_engine::events::Event>,
) -> (f64, u64, PnlComponents) {
    let mut state = ShardState::new(0, 1);
    let mut worst: f64 = 0.0;
    let mut batch_ends = 0;
    let mut seq = 0;
    for event in events {
        seq += 1;
        if state.step(seq, &event).batch_end {
            worst = worst.max(check_identity(&state, seq));
            batch_ends += 1;
        }
    }
    state.finish_batch();
    worst = worst.max(check_identity(&state, seq));
    (worst, batch_ends, book_components(&state))
}

#[test]
fn components_add_up_to_the_actual_pnl_on_the_synthetic_market() {
    let events = events_from_env("KEEL_ATTRIBUTION_EVENTS", 200_000);
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 11,
        ..SyntheticConfig::default()
    });
    let (worst, batch_ends, parts) = run_checked(market.take(events));
    println!("{events} events, {batch_ends} batch ends: worst gap {worst:e} of gross");
    println!("book components, USD: {parts:?}");
    // The run exercises the parts (an identity over zeros would prove nothing).
    for (name, value) in [
        ("delta", parts.delta),
        ("gamma", parts.gamma),
        ("vega", parts.vega),
        ("theta", parts.theta),
        ("new_trades", parts.new_trades),
        ("fees", parts.fees),
        ("residual", parts.residual),
    ] {
        assert!(value != 0.0, "{name} never accrued");
    }
}

#[test]
fn components_add_up_on_the_index_heavy_mix() {
    let events = events_from_env("KEEL_ATTRIBUTION_EVENTS", 200_000) / 2;
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 12,
        ..SyntheticConfig::index_heavy()
    });
    let (worst, _, _) = run_checked(market.take(events));
    println!("index-heavy, {events} events: worst gap {worst:e} of gross");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Hostile random streams (bad values, duplicates, reordering, settlements, funding,
    /// withdrawals): whatever is applied or refused, the parts still add up.
    #[test]
    fn components_add_up_on_hostile_random_streams(seed in any::<u64>()) {
        let events = events_from_env("KEEL_ATTRIBUTION_HOSTILE_EVENTS", 20_000);
        let (_, _, parts) = run_checked(AdversarialStream::new(seed).take(events));
        prop_assert!(parts.fields().iter().all(|v| v.is_finite()));
    }
}
