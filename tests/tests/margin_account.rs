//! Account-level margin (docs/MARGIN.md): the pre-trade what-if equals actually applying the
//! fills; the reported distance to liquidation, applied to the market as events, brings
//! equity to maintenance margin; trading states and alerts follow the conditions.

use keel_engine::events::{
    AccountDefinition, AccountId, Collateral, Currency, Dec, Event, EventBody, Fill, IndexPrice,
    InstrumentDefinition, InstrumentId, InstrumentKind, Limits, MarginModel, Name, OptionRight,
    RiskParams, Settlement, Side, Ticker, UnderlyingId,
};
use keel_engine::margin::PmParams;
use keel_engine::pricing::{OptionInputs, OptionKind, black76_price};
use keel_engine::state::checker::check;
use keel_engine::state::{
    Condition, HypotheticalFill, LiquidationPoint, Scope, ShardState, TradingState, WhatIfError,
    WhatIfReason,
};
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;
const YEAR_NS: f64 = 365.0 * 86_400.0 * 1e9;
const INDEX: f64 = 90_000.0;
const BTC: UnderlyingId = UnderlyingId(0);
/// The BTC coin, the ledger currency of BTC inverse contracts.
const BTC_COIN: Currency = Currency::Coin(BTC);

fn dec(value: f64) -> Dec {
    Dec::new(Decimal::from_f64(value).expect("finite"))
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// A synthetic market run to a batch end, with positions in every account.
fn synthetic_state(events: usize) -> (ShardState, u64) {
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 5,
        accounts: 8,
        ..SyntheticConfig::default()
    });
    let mut state = ShardState::new(0, 1);
    let mut trade_id = 0;
    for (i, event) in market.take(events).enumerate() {
        if let EventBody::Fill(fill) = &event.body {
            trade_id = trade_id.max(fill.trade_id);
        }
        state.step(i as u64 + 1, &event);
    }
    state.finish_batch();
    (state, trade_id)
}

#[test]
fn what_if_equals_applying_the_fills_and_changes_nothing() {
    let (state, mut trade_id) = synthetic_state(30_000);
    let before = state.clone();
    let mut compared = 0;
    for (&account, held) in &state.accounts {
        // One held instrument (sold), and two live ones it may not hold (bought).
        let mut chosen: Vec<InstrumentId> = held.positions.keys().take(1).copied().collect();
        chosen.extend(
            state
                .instruments
                .values()
                .filter(|i| !i.settled && i.mark.is_some())
                .map(|i| i.definition.id)
                .filter(|id| id.0 % 97 == account.0 % 97)
                .take(2),
        );
        let fills: Vec<HypotheticalFill> = chosen
            .iter()
            .enumerate()
            .map(|(n, &instrument)| {
                let mark = state.instruments[&instrument].mark.expect("marked");
                let option =
                    state.instruments[&instrument].definition.kind == InstrumentKind::Option;
                HypotheticalFill {
                    instrument,
                    side: if n == 0 { Side::Sell } else { Side::Buy },
                    quantity: if option {
                        Decimal::new(25, 1)
                    } else {
                        Decimal::from(300)
                    },
                    price: Decimal::from_f64(mark.mark_price * 1.01)
                        .expect("finite")
                        .round_dp(6)
                        .max(Decimal::new(1, 4)),
                    fee: Decimal::new(1, 4),
                }
            })
            .collect();
        let answer = state.what_if(account, &fills).expect("what-if");
        assert_eq!(state, before, "what-if must not change the state");

        let mut applied = state.clone();
        for fill in &fills {
            trade_id += 1;
            let event = Event {
                timestamp_ns: applied.now_ns,
                body: EventBody::Fill(Fill {
                    account,
                    instrument: fill.instrument,
                    side: fill.side,
                    quantity: Dec::new(fill.quantity),
                    price: Dec::new(fill.price),
                    fee: Dec::new(fill.fee),
                    trade_id,
                }),
            };
            applied.apply(&event);
        }
        applied.end_of_batch();
        let after = &applied.accounts[&account];
        for (currency, predicted) in answer.evaluation.iter() {
            let actual = after.margin[&currency];
            // Equity is computed as the fill handler computes it: equal bit for bit.
            assert_eq!(
                predicted.equity.to_bits(),
                actual.equity.to_bits(),
                "account {} {currency:?} equity: what-if {} vs applied {}",
                account.0,
                predicted.equity,
                actual.equity
            );
            for (name, p, a) in [
                ("equity", predicted.equity, actual.equity),
                ("im", predicted.initial_margin, actual.initial_margin),
                (
                    "mm",
                    predicted.maintenance_margin,
                    actual.maintenance_margin,
                ),
            ] {
                assert!(
                    relative(p, a) < 1e-9,
                    "account {} {currency:?} {name}: what-if {p} vs applied {a}",
                    account.0
                );
            }
        }
        let greeks = after.greeks_by_underlying();
        for (underlying, predicted) in &answer.greeks {
            let actual = greeks[underlying];
            for (p, a) in [
                (predicted.delta_coin, actual.delta_coin),
                (predicted.gamma_usd, actual.gamma_usd),
                (predicted.vega_usd, actual.vega_usd),
                (predicted.theta_usd, actual.theta_usd),
            ] {
                assert!(relative(p, a) < 1e-9 || (p - a).abs() < 1e-9, "{p} vs {a}");
            }
        }
        assert_eq!(answer.state, after.trading_state);
        compared += 1;
    }
    assert_eq!(compared, 8);
    let models: std::collections::BTreeSet<_> = state
        .accounts
        .values()
        .map(|a| a.margin_model as u8)
        .collect();
    assert_eq!(models.len(), 2, "both margin models were asked");
}

/// A hand-built BTC book: collateral, a short strangle and a long perpetual, marked from
/// Black-76 so marks and model agree.
struct Book {
    state: ShardState,
    now_ns: u64,
}

const EXPIRY_NS: u64 = T0 + 30 * DAY_NS;
const PERPETUAL: InstrumentId = InstrumentId(1);
const PUT: InstrumentId = InstrumentId(2);
const CALL: InstrumentId = InstrumentId(3);
const ACCOUNT: AccountId = AccountId(0);

fn option_value_coin(kind: OptionKind, strike: f64, forward: f64, now_ns: u64) -> f64 {
    let years = (EXPIRY_NS as f64 - now_ns as f64) / YEAR_NS;
    let usd = black76_price(&OptionInputs {
        kind,
        forward,
        strike,
        years,
        vol: 0.6,
        rate: 0.0,
    })
    .expect("prices");
    usd / forward
}

/// Tickers and index for the market moved by `s` from INDEX.
fn market_events(s: f64, now_ns: u64) -> Vec<Event> {
    let index = INDEX * (1.0 + s);
    let at = |body| Event {
        timestamp_ns: now_ns,
        body,
    };
    let ticker = |instrument, mark_price: f64, iv: f64| {
        at(EventBody::Ticker(Ticker {
            instrument,
            mark_price,
            mark_iv: iv,
            forward: index,
            best_bid: mark_price,
            best_ask: mark_price,
        }))
    };
    vec![
        at(EventBody::IndexPrice(IndexPrice {
            underlying: BTC,
            price: index,
        })),
        ticker(PERPETUAL, index, 0.0),
        ticker(
            PUT,
            option_value_coin(OptionKind::Put, 80_000.0, index, now_ns),
            0.6,
        ),
        ticker(
            CALL,
            option_value_coin(OptionKind::Call, 100_000.0, index, now_ns),
            0.6,
        ),
    ]
}

fn book(model: MarginModel, collateral_btc: f64) -> Book {
    let mut state = ShardState::new(0, 1);
    let now_ns = T0;
    let at = |body| Event {
        timestamp_ns: now_ns,
        body,
    };
    let definition = |id, name: &str, kind, expiry_ns, strike: f64, right, size: f64| {
        at(EventBody::InstrumentDefined(InstrumentDefinition {
            id,
            name: Name::new(name).expect("name"),
            kind,
            settlement: Settlement::Inverse,
            underlying: BTC,
            expiry_ns,
            strike: dec(strike),
            right,
            contract_size: dec(size),
        }))
    };
    let mut events = vec![
        at(EventBody::RiskParams(RiskParams {
            underlying: BTC,
            params: PmParams::BTC,
        })),
        definition(
            PERPETUAL,
            "BTC-PERPETUAL",
            InstrumentKind::Perpetual,
            0,
            0.0,
            OptionRight::Call,
            10.0,
        ),
        definition(
            PUT,
            "BTC-30D-80000-P",
            InstrumentKind::Option,
            EXPIRY_NS,
            80_000.0,
            OptionRight::Put,
            1.0,
        ),
        definition(
            CALL,
            "BTC-30D-100000-C",
            InstrumentKind::Option,
            EXPIRY_NS,
            100_000.0,
            OptionRight::Call,
            1.0,
        ),
        at(EventBody::AccountDefined(AccountDefinition {
            id: ACCOUNT,
            name: Name::new("desk").expect("name"),
            margin_model: model,
        })),
        at(EventBody::Collateral(Collateral {
            account: ACCOUNT,
            currency: BTC_COIN,
            amount: dec(collateral_btc),
            transfer_id: 1,
        })),
    ];
    events.extend(market_events(0.0, now_ns));
    for event in &events {
        state.apply(event);
    }
    state.end_of_batch();
    let fills = [
        (PUT, Side::Sell, 2.0),
        (CALL, Side::Sell, 4.0),
        (PERPETUAL, Side::Sell, 2_000.0), // 20,000 USD short
    ];
    for (n, (instrument, side, quantity)) in fills.into_iter().enumerate() {
        let mark = state.instruments[&instrument].mark.expect("marked");
        state.apply(&at(EventBody::Fill(Fill {
            account: ACCOUNT,
            instrument,
            side,
            quantity: dec(quantity),
            price: Dec::new(
                Decimal::from_f64(mark.mark_price)
                    .expect("finite")
                    .round_dp(8),
            ),
            fee: dec(0.0),
            trade_id: 1 + n as u64,
        })));
    }
    state.end_of_batch();
    Book { state, now_ns }
}

#[test]
fn moving_the_index_by_the_liquidation_distance_brings_equity_to_maintenance_margin() {
    for model in [MarginModel::Portfolio, MarginModel::Standard] {
        // Collateral of 1.6 × the book's maintenance margin.
        let ample = book(model, 100.0).state.accounts[&ACCOUNT].margin[&BTC_COIN];
        let Book { state, now_ns } = book(model, 1.6 * ample.maintenance_margin);
        let margin = state.accounts[&ACCOUNT].margin[&BTC_COIN];
        assert!(margin.maintenance_margin > 0.0 && margin.equity > margin.maintenance_margin);
        let distance = state
            .liquidation_distance(ACCOUNT, BTC_COIN)
            .expect("solves");
        for point in [distance.down, distance.up] {
            let LiquidationPoint::At {
                move_fraction,
                index_price,
            } = point
            else {
                panic!("{model:?}: liquidation within range expected, got {point:?}");
            };
            assert!((index_price - INDEX * (1.0 + move_fraction)).abs() < 1e-6);
            let mut moved = state.clone();
            for event in market_events(move_fraction, now_ns) {
                moved.apply(&event);
            }
            moved.end_of_batch();
            let at_move = moved.accounts[&ACCOUNT].margin[&BTC_COIN];
            let gap = relative(at_move.equity, at_move.maintenance_margin);
            assert!(
                gap < 1e-6,
                "{model:?} move {move_fraction}: equity {} vs MM {} ({gap:e})",
                at_move.equity,
                at_move.maintenance_margin
            );
            // A smaller move keeps the account clear of liquidation.
            let mut nearer = state.clone();
            for event in market_events(move_fraction * 0.9, now_ns) {
                nearer.apply(&event);
            }
            nearer.end_of_batch();
            let clear = nearer.accounts[&ACCOUNT].margin[&BTC_COIN];
            assert!(clear.equity > clear.maintenance_margin);
        }
        let (
            LiquidationPoint::At {
                move_fraction: down,
                ..
            },
            LiquidationPoint::At {
                move_fraction: up, ..
            },
        ) = (distance.down, distance.up)
        else {
            unreachable!()
        };
        assert!(down < 0.0 && up > 0.0, "{model:?}: {down} {up}");
    }
}

#[test]
fn states_and_alerts_follow_margin_and_limits() {
    // Thin collateral: the book starts below initial margin (REDUCE_ONLY).
    let ample = book(MarginModel::Portfolio, 100.0).state.accounts[&ACCOUNT].margin[&BTC_COIN];
    let Book { mut state, now_ns } = book(MarginModel::Portfolio, 1.1 * ample.maintenance_margin);
    let account = &state.accounts[&ACCOUNT];
    let margin = account.margin[&BTC_COIN];
    assert!(margin.equity < margin.initial_margin, "{margin:?}");
    assert!(margin.equity > margin.maintenance_margin, "{margin:?}");
    assert_eq!(account.trading_state, TradingState::ReduceOnly);
    // A margin call was raised by the fill that caused it, once.
    let calls: Vec<_> = state
        .alerts
        .recent()
        .filter(|a| a.condition() == Some(Condition::MarginCall))
        .copied()
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].cause_seq > 0 && calls[0].cause_seq <= state.seq);

    // Reducing is allowed in REDUCE_ONLY, adding is not.
    let mark = state.instruments[&PUT].mark.expect("marked");
    let price = Decimal::from_f64(mark.mark_price)
        .expect("finite")
        .round_dp(6);
    let trade = |side| HypotheticalFill {
        instrument: PUT,
        side,
        quantity: Decimal::ONE,
        price,
        fee: Decimal::ZERO,
    };
    let reduce = state
        .what_if(ACCOUNT, &[trade(Side::Buy)])
        .expect("what-if");
    assert!(reduce.allowed, "{:?}", reduce.reason);
    let add = state
        .what_if(ACCOUNT, &[trade(Side::Sell)])
        .expect("what-if");
    assert!(!add.allowed);
    assert!(
        matches!(
            add.reason,
            WhatIfReason::Breach(Condition::BelowInitialMargin | Condition::Liquidation)
        ),
        "{:?}",
        add.reason
    );

    // A delta limit breached by a new limit event: alert citing that event.
    let limits_seq = state.seq + 1;
    state.apply(&Event {
        timestamp_ns: now_ns,
        body: EventBody::Limits(Limits {
            account: ACCOUNT,
            max_abs_delta_coin: 0.5,
            max_abs_vega_usd: 0.0,
            max_abs_gamma_usd: 0.0,
            min_margin_ratio: 0.0,
            margin_call_ratio: 1.25,
        }),
    });
    state.end_of_batch();
    let last = state.alerts.recent().last().copied().expect("alert");
    assert_eq!(last.condition(), Some(Condition::DeltaLimit));
    assert_eq!(last.cause_seq, limits_seq);
    assert_eq!(last.scope, Scope::Underlying(BTC));

    // A crash through maintenance margin: liquidation, HALTED, cited to the index tick.
    let crash = market_events(-0.3, now_ns);
    let first_crash_seq = state.seq + 1;
    for event in &crash {
        state.apply(event);
    }
    state.end_of_batch();
    let account = &state.accounts[&ACCOUNT];
    assert_eq!(account.trading_state, TradingState::Halted);
    let liquidation = state
        .alerts
        .recent()
        .find(|a| a.condition() == Some(Condition::Liquidation))
        .copied()
        .expect("liquidation alert");
    assert!(
        (first_crash_seq..=state.seq).contains(&liquidation.cause_seq),
        "{liquidation:?}"
    );
    let halted = state
        .what_if(ACCOUNT, &[trade(Side::Buy)])
        .expect("what-if");
    assert!(!halted.allowed);
    assert_eq!(halted.reason, WhatIfReason::Halted);
    let distance = state
        .liquidation_distance(ACCOUNT, BTC_COIN)
        .expect("solves");
    assert_eq!(distance.down, LiquidationPoint::Now);
}

/// Legs whose quantities sum beyond the decimal range are an invalid fill, not a panic
/// (standard margin adds every leg to the account's positions).
#[test]
fn a_what_if_beyond_the_decimal_range_is_refused() {
    let Book { state, .. } = book(MarginModel::Standard, 100.0);
    let huge = Decimal::MAX / Decimal::TWO + Decimal::ONE;
    let leg = HypotheticalFill {
        instrument: PUT,
        side: Side::Buy,
        quantity: huge,
        price: Decimal::ZERO, // at the mark: no fill replay checks the sum first
        fee: Decimal::ZERO,
    };
    assert_eq!(
        state.what_if(ACCOUNT, &[leg, leg]),
        Err(WhatIfError::InvalidFill)
    );
}

/// The (initial, maintenance) margin of every currency in a what-if's answer, as bits.
fn margin_bits(answer: &keel_engine::state::WhatIf) -> Vec<(Currency, u64, u64)> {
    answer
        .evaluation
        .iter()
        .map(|(c, m)| {
            (
                c,
                m.initial_margin.to_bits(),
                m.maintenance_margin.to_bits(),
            )
        })
        .collect()
}

#[test]
fn a_what_if_reuses_the_recorded_margin_of_only_the_groups_its_fills_leave_alone() {
    let (state, _) = synthetic_state(30_000);
    let corrupt = Some((1e12, 1e12));
    let mut checked = 0;
    for (&account, held) in &state.accounts {
        if held.margin_model != MarginModel::Portfolio || held.pm_totals.len() < 2 {
            continue;
        }
        assert!(state.margin_is_current(held), "a batch end just ran");
        let Some(&instrument) = held.positions.keys().find(|id| {
            let i = &state.instruments[id];
            !i.settled && i.mark.is_some() && i.definition.kind == InstrumentKind::Option
        }) else {
            continue;
        };
        let changed = state.instruments[&instrument].risk_key();
        let other = *held
            .pm_totals
            .keys()
            .find(|k| **k != changed)
            .expect("two groups");
        let fills = [HypotheticalFill {
            instrument,
            side: Side::Buy,
            quantity: Decimal::ONE,
            price: Decimal::ZERO,
            fee: Decimal::ZERO,
        }];
        let answer = |state: &ShardState| margin_bits(&state.what_if(account, &fills).unwrap());
        let expected = answer(&state);
        let with_groups = |edit: &dyn Fn(&mut keel_engine::state::account::PmGroupMargins)| {
            let mut edited = state.clone();
            edit(&mut edited.accounts.get_mut(&account).unwrap().pm_group_margins);
            edited
        };
        // Nothing recorded: every group computed, the same bits.
        let cleared = with_groups(&|g| g.groups.clear());
        assert_eq!(answer(&cleared), expected, "account {}", account.0);
        // The group the fill moves is computed afresh, whatever was recorded for it.
        let changed_corrupt = with_groups(&|g| {
            g.groups.insert(changed, corrupt);
        });
        assert_eq!(answer(&changed_corrupt), expected, "account {}", account.0);
        // The other groups are taken as recorded (so the figures above come from reuse).
        let other_corrupt = with_groups(&|g| {
            g.groups.insert(other, corrupt);
        });
        assert_ne!(answer(&other_corrupt), expected, "account {}", account.0);
        // The checker finds the corrupted record; the true one passes.
        check(&state).expect("the recorded groups are the computed ones");
        let found = check(&other_corrupt).expect_err("a corrupted record");
        assert!(found.what.contains("recorded group margin"), "{found}");
        // Once the market moves, nothing recorded is reused until the next batch end.
        let mut moved = other_corrupt.clone();
        let (_, index) = moved.index_prices[&other.0];
        moved.apply(&Event {
            timestamp_ns: moved.now_ns,
            body: EventBody::IndexPrice(IndexPrice {
                underlying: other.0,
                price: index * 1.001,
            }),
        });
        let mut moved_clean = state.clone();
        moved_clean.apply(&Event {
            timestamp_ns: moved_clean.now_ns,
            body: EventBody::IndexPrice(IndexPrice {
                underlying: other.0,
                price: index * 1.001,
            }),
        });
        assert!(!moved.margin_is_current(&moved.accounts[&account]));
        assert_eq!(
            answer(&moved),
            answer(&moved_clean),
            "account {}",
            account.0
        );
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} accounts with two groups");
}

#[test]
fn an_instrument_valued_on_demand_is_kept_for_the_next_query_and_revalued_once_its_mark_moves() {
    let (state, _) = synthetic_state(30_000);
    let account = *state.accounts.keys().next().expect("an account");
    // An option nobody in the shard holds: a what-if values it on demand.
    let unheld = state
        .instruments
        .values()
        .find(|i| {
            i.definition.kind == InstrumentKind::Option
                && !i.settled
                && !i.margin.valued
                && i.margin.as_of.is_some()
                && i.mark.is_some_and(|m| m.mark_price > 1e-3)
        })
        .expect("an option nobody holds");
    let id = unheld.definition.id;
    let fills = [HypotheticalFill {
        instrument: id,
        side: Side::Buy,
        quantity: Decimal::ONE,
        price: Decimal::ZERO,
        fee: Decimal::ZERO,
    }];
    // One answer reused across queries (its working memory keeps the valuation).
    let mut reused = keel_engine::state::WhatIf::default();
    state.what_if_into(account, &fills, &mut reused).unwrap();
    let fresh = state.what_if(account, &fills).unwrap();
    assert_eq!(margin_bits(&reused), margin_bits(&fresh));
    state.what_if_into(account, &fills, &mut reused).unwrap();
    assert_eq!(
        margin_bits(&reused),
        margin_bits(&fresh),
        "the kept valuation"
    );

    // The option is re-marked: the next answer must value the new mark, not the kept one.
    let mut moved = state.clone();
    let mark = unheld.mark.expect("marked");
    moved.apply(&Event {
        timestamp_ns: moved.now_ns,
        body: EventBody::Ticker(Ticker {
            instrument: id,
            mark_price: mark.mark_price * 1.5,
            mark_iv: mark.mark_iv * 1.3,
            forward: mark.forward,
            best_bid: 0.0,
            best_ask: 0.0,
        }),
    });
    moved.end_of_batch();
    let moved_fresh = moved.what_if(account, &fills).unwrap();
    assert_ne!(
        margin_bits(&moved_fresh),
        margin_bits(&fresh),
        "the mark moved"
    );
    moved.what_if_into(account, &fills, &mut reused).unwrap();
    assert_eq!(margin_bits(&reused), margin_bits(&moved_fresh));
}
