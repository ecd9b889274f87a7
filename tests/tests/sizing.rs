//! Position sizing (issue 15): on a synthetic book of eight accounts (portfolio and
//! standard margin, two with limits), the largest quantity the engine proposes is
//! applied as a fill and must leave the account inside every constraint; one lot more,
//! applied the same way, must cause the condition the answer names as binding. A stress
//! budget is checked the same way against a full stress run.

use keel_engine::events::{
    AccountId, Dec, Event, EventBody, Fill, InstrumentId, InstrumentKind, Side,
};
use keel_engine::state::sizing::{Binding, SIZING_CONSTRAINTS, SizingQuery, StressBudget};
use keel_engine::state::{ShardState, WhatIf};
use keel_engine::stress::{Scenario, Shock, StressRun};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

fn synthetic_state(events: usize) -> ShardState {
    keel_tests::synthetic_state(11, events)
}

/// `state` after the account trades `quantity` at the mark and a batch end.
fn after_fill(
    state: &ShardState,
    account: AccountId,
    instrument: InstrumentId,
    side: Side,
    quantity: Decimal,
) -> ShardState {
    let mut state = state.clone();
    let mark = state.instruments[&instrument]
        .mark
        .expect("marked")
        .mark_price;
    let event = Event {
        timestamp_ns: state.now_ns,
        body: EventBody::Fill(Fill {
            account,
            instrument,
            side,
            quantity: Dec::new(quantity),
            price: Dec::new(Decimal::from_f64(mark).expect("finite mark")),
            fee: Dec::new(Decimal::ZERO),
            trade_id: 9_000_000_000 + u64::from(instrument.0),
        }),
    };
    state.apply(&event);
    state.finish_batch();
    state
}

fn breached(state: &ShardState, account: AccountId) -> u8 {
    let mask = SIZING_CONSTRAINTS.iter().fold(0, |m, c| m | c.bit());
    state.accounts[&account].conditions & mask
}

/// A held option, an option nobody in the account holds near the money, and the
/// perpetual of the same underlying, each with the lot the venue would use.
fn candidates(state: &ShardState, account: AccountId) -> Vec<(InstrumentId, Decimal)> {
    let held = state.accounts[&account]
        .positions
        .keys()
        .copied()
        .find(|id| {
            let d = &state.instruments[id].definition;
            d.kind == InstrumentKind::Option && d.expiry_ns > state.now_ns + 86_400_000_000_000
        });
    let mut picks = Vec::new();
    if let Some(id) = held {
        picks.push((id, Decimal::new(1, 1)));
        let underlying = state.instruments[&id].definition.underlying;
        let index = state.index_prices[&underlying].1;
        let near = state
            .instruments
            .values()
            .filter(|i| {
                i.definition.kind == InstrumentKind::Option
                    && i.definition.underlying == underlying
                    && !i.settled
                    && i.mark.is_some()
                    && !state.accounts[&account]
                        .positions
                        .contains_key(&i.definition.id)
                    && i.definition.expiry_ns > state.now_ns + 86_400_000_000_000
            })
            .min_by(|a, b| {
                (a.strike / index - 1.0)
                    .abs()
                    .total_cmp(&(b.strike / index - 1.0).abs())
            })
            .map(|i| i.definition.id);
        picks.extend(near.map(|id| (id, Decimal::new(1, 1))));
        let perpetual = state
            .instruments
            .values()
            .find(|i| {
                i.definition.kind == InstrumentKind::Perpetual
                    && i.definition.underlying == underlying
            })
            .map(|i| i.definition.id);
        picks.extend(perpetual.map(|id| (id, Decimal::ONE)));
    }
    picks
}

#[test]
fn the_maximum_fits_and_one_lot_more_breaches_what_it_names() {
    let state = synthetic_state(30_000);
    let mut scratch = WhatIf::default();
    let mut bindings = std::collections::BTreeSet::new();
    let mut checked = 0;
    for account in state.accounts.keys().copied() {
        for (instrument, lot) in candidates(&state, account) {
            for side in [Side::Buy, Side::Sell] {
                let query = SizingQuery {
                    account,
                    instrument,
                    side,
                    lot,
                    stress: None,
                };
                let sizing = state.max_quantity(&query, &mut scratch).expect("sized");
                let name = state.instruments[&instrument].definition.name;
                let context = format!("{account:?} {} {side:?}: {sizing:?}", name.as_text());
                bindings.insert(sizing.binding.name());
                if sizing.already_breached {
                    assert_ne!(breached(&state, account), 0, "{context}");
                    continue;
                }
                if sizing.lots > 0 {
                    let at_max = after_fill(&state, account, instrument, side, sizing.max_quantity);
                    assert_eq!(breached(&at_max, account), 0, "{context}");
                }
                let condition = match sizing.binding {
                    Binding::Condition(condition) => condition,
                    // Nothing binds within the search bound (a long option worth little).
                    Binding::LotsMax => continue,
                    Binding::StressBudget => panic!("{context}: no budget was set"),
                };
                let beyond =
                    after_fill(&state, account, instrument, side, sizing.max_quantity + lot);
                let conditions = beyond.accounts[&account].conditions;
                assert_ne!(conditions & condition.bit(), 0, "{context}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked} answers checked");
    // Margin and limits both bind somewhere in this book.
    assert!(bindings.contains("initial_margin"), "{bindings:?}");
    assert!(bindings.len() >= 2, "{bindings:?}");
}

#[test]
fn a_stress_budget_caps_the_loss_of_book_and_trade_under_its_scenario() {
    let state = synthetic_state(30_000);
    let account = AccountId(2);
    // The put nearest the money with a day or more left.
    let underlying = keel_engine::events::UnderlyingId(0);
    let index = state.index_prices[&underlying].1;
    let instrument = state
        .instruments
        .values()
        .filter(|i| {
            i.definition.kind == InstrumentKind::Option
                && i.definition.underlying == underlying
                && i.definition.right == keel_engine::events::OptionRight::Put
                && i.mark.is_some()
                && i.definition.expiry_ns > state.now_ns + 86_400_000_000_000
        })
        .min_by(|a, b| {
            (a.strike - index)
                .abs()
                .total_cmp(&(b.strike - index).abs())
        })
        .map(|i| i.definition.id)
        .expect("a put");
    let lot = Decimal::new(1, 1);
    let scenario = Scenario {
        name: "crash".into(),
        shocks: vec![(
            underlying,
            Shock {
                spot_move: -0.3,
                ..Shock::default()
            },
        )],
        ..Scenario::default()
    };
    let loss_share = |state: &ShardState| {
        let mut rows = Vec::new();
        StressRun::new(state, &[account])
            .run(0, &scenario, &mut rows)
            .expect("scenario");
        let index = |u| state.index_prices.get(&u).map(|&(_, p)| p);
        let equity_usd: f64 = state.accounts[&account]
            .margin
            .iter()
            .map(|(c, m)| m.equity * keel_engine::attribution::usd_rate(*c, index).expect("rate"))
            .sum();
        -rows[0].pnl_usd / equity_usd
    };
    // The book's own loss under the scenario, and room for 0.2 % of equity more.
    let share = loss_share(&state).max(0.0) + 0.002;
    let budget = StressBudget {
        scenario: scenario.clone(),
        max_loss_share_of_equity: share,
    };
    let mut scratch = WhatIf::default();
    // Selling puts near the money loses in a crash: the budget binds.
    let side = Side::Sell;
    let query = SizingQuery {
        account,
        instrument,
        side,
        lot,
        stress: Some(budget),
    };
    let sizing = state.max_quantity(&query, &mut scratch).expect("sized");
    assert_eq!(sizing.binding, Binding::StressBudget, "{sizing:?}");
    assert!(sizing.lots > 0, "{sizing:?}");
    let at_max = after_fill(&state, account, instrument, side, sizing.max_quantity);
    let beyond = after_fill(&state, account, instrument, side, sizing.max_quantity + lot);
    assert!(
        loss_share(&at_max) <= share * (1.0 + 1e-9),
        "{}",
        loss_share(&at_max)
    );
    assert!(loss_share(&beyond) > share, "{}", loss_share(&beyond));
}

#[test]
fn a_lot_too_large_to_multiply_is_a_bound_not_a_panic() {
    let state = synthetic_state(30_000);
    let account = AccountId(1);
    // The cheapest marked option: buying it costs almost no margin, so the search grows
    // the quantity until lots × lot no longer fits a decimal.
    let instrument = state
        .instruments
        .values()
        .filter(|i| {
            i.definition.kind == InstrumentKind::Option
                && !i.settled
                && i.mark.is_some_and(|m| m.mark_price > 0.0)
        })
        .min_by(|a, b| {
            let price = |i: &keel_engine::state::instrument_state::InstrumentState| {
                i.mark.map_or(f64::MAX, |m| m.mark_price)
            };
            price(a).total_cmp(&price(b))
        })
        .map(|i| i.definition.id)
        .expect("an option");
    let query = SizingQuery {
        account,
        instrument,
        side: Side::Buy,
        lot: Decimal::from_i128_with_scale(10_i128.pow(26), 0),
        stress: None,
    };
    let sizing = state
        .max_quantity(&query, &mut WhatIf::default())
        .expect("an answer, not a panic");
    assert!(sizing.max_quantity >= Decimal::ZERO, "{sizing:?}");
}
