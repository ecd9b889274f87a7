//! Hedge proposals (issue 15): every account of the demo market has target bands; the
//! trades proposed for each, applied as fills at the marks, bring every account back
//! inside every band without taking it below initial margin. Leaving a band raises a band
//! alert at a batch end, and the same journal gives the same proposals.

use keel_engine::events::{Dec, Event, EventBody, Fill};
use keel_engine::state::hedge_bands::{banded_greeks, outside};
use keel_engine::state::{Condition, ShardState};
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

fn synthetic_events(events: usize) -> Vec<Event> {
    SyntheticMarket::new(SyntheticConfig::default())
        .take(events)
        .collect()
}

fn replay(events: &[Event]) -> ShardState {
    let mut state = ShardState::new(0, 1);
    for (i, event) in events.iter().enumerate() {
        state.step(i as u64 + 1, event);
    }
    state.finish_batch();
    state
}

/// Events in the demo market (CI-sized by default; `KEEL_HEDGE_EVENTS` for more).
fn events_count() -> usize {
    keel_tests::env_or("KEEL_HEDGE_EVENTS", 60_000)
}

#[test]
fn proposals_applied_as_fills_bring_every_account_inside_its_bands() {
    let events = synthetic_events(events_count());
    let state = replay(&events);
    assert!(state.band_alerts.total > 0, "the demo leaves bands");
    let mut hedged = state.clone();
    let mut trade_id = 8_000_000_000u64;
    let mut outside_before = 0;
    for (&account, a) in &state.accounts {
        let proposal = state.hedge_proposal(account).expect("proposal");
        assert!(
            proposal.unhedged.is_empty(),
            "{account:?}: {:?}",
            proposal.unhedged
        );
        assert!(
            proposal.outside_after.is_empty(),
            "{account:?}: {proposal:?}"
        );
        assert!(!proposal.breaches_initial_margin(), "{account:?}");
        outside_before += proposal.outside_before.len();
        // Outside now exactly where the engine's band judgement says so.
        let mut bits = 0u64;
        banded_greeks(a, |bands, greeks| {
            if outside(bands, greeks) {
                bits |= 1 << bands.underlying.0;
            }
        });
        assert_eq!(bits, a.hedge_out_of_band, "{account:?}");
        for trade in &proposal.trades {
            let mark = state.instruments[&trade.instrument].mark.expect("marked");
            trade_id += 1;
            hedged.apply(&Event {
                timestamp_ns: state.now_ns,
                body: EventBody::Fill(Fill {
                    account,
                    instrument: trade.instrument,
                    side: trade.side,
                    quantity: Dec::new(trade.quantity),
                    price: Dec::new(Decimal::from_f64(mark.mark_price).expect("finite")),
                    fee: Dec::new(Decimal::ZERO),
                    trade_id,
                }),
            });
        }
    }
    assert!(
        outside_before >= 4,
        "{outside_before} bands left: the test tests little"
    );
    hedged.finish_batch();
    for (&account, a) in &hedged.accounts {
        banded_greeks(a, |bands, greeks| {
            assert!(!outside(bands, greeks), "{account:?} {bands:?} {greeks:?}");
        });
        assert_eq!(a.hedge_out_of_band, 0, "{account:?}");
        assert_eq!(
            a.conditions & Condition::BelowInitialMargin.bit(),
            0,
            "{account:?} below initial margin after hedging"
        );
    }
}

#[test]
fn the_same_journal_gives_the_same_proposals_and_alerts() {
    let events = synthetic_events(20_000);
    let a = replay(&events);
    let b = replay(&events);
    assert_eq!(a.band_alerts, b.band_alerts);
    for &account in a.accounts.keys() {
        assert_eq!(a.hedge_proposal(account), b.hedge_proposal(account));
    }
    // Alerts cite the event that moved the account, within the journal.
    for alert in a.band_alerts.recent() {
        assert!(alert.cause_seq >= 1 && alert.cause_seq <= events.len() as u64);
    }
}
