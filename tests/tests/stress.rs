//! Stress testing: a scenario's results equal what the engine reports when the same
//! market is reached through ordinary events (index updates and tickers at the stressed
//! marks, one batch end), and its liquidation flags agree with the liquidation distance.

use keel_engine::events::{
    Currency, Event, EventBody, IndexPrice, InstrumentKind, Ticker, UnderlyingId,
};
use keel_engine::state::{LiquidationPoint, ShardState};
use keel_engine::stress::{
    Scenario, Shock, SmileDynamics, StressRun, VolShock, builtin_scenarios, stressed_mark,
};

fn synthetic_state(events: usize) -> ShardState {
    keel_tests::synthetic_state(7, events)
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-9)
}

/// Moves `state` to the scenario's market through events, as a feed would.
fn move_market(state: &mut ShardState, scenario: &Scenario) {
    let later = state.now_ns + scenario.time_step_ns;
    let mut events = Vec::new();
    for (&underlying, &(_, price)) in &state.index_prices {
        let shock = scenario.shock_of(underlying);
        events.push(Event {
            timestamp_ns: later,
            body: EventBody::IndexPrice(IndexPrice {
                underlying,
                price: price * (1.0 + shock.spot_move),
            }),
        });
    }
    for instrument in state.instruments.values() {
        if instrument.settled || instrument.mark.is_none() {
            continue;
        }
        let shock = scenario.shock_of(instrument.definition.underlying);
        let mark = stressed_mark(
            instrument,
            &shock,
            state.now_ns,
            scenario.time_step_ns,
            scenario.surface(state),
        )
        .expect("stressable");
        let ticker = Ticker {
            instrument: instrument.definition.id,
            mark_price: mark.mark_price,
            mark_iv: if instrument.definition.kind == InstrumentKind::Option {
                mark.mark_iv
            } else {
                0.0
            },
            forward: mark.forward,
            best_bid: mark.mark_price,
            best_ask: mark.mark_price,
        };
        events.push(Event {
            timestamp_ns: later,
            body: EventBody::Ticker(ticker),
        });
    }
    for event in &events {
        let outcome = state.apply(event);
        assert_eq!(outcome, keel_engine::state::Outcome::Applied, "{event:?}");
    }
    state.finish_batch();
}

fn scenarios() -> Vec<Scenario> {
    let mut list = vec![Scenario {
        name: "BTC -10 %, vol +5, ETH +3 %, vols -10 %, one hour".into(),
        shocks: vec![
            (
                UnderlyingId(0),
                Shock {
                    spot_move: -0.10,
                    vol: VolShock {
                        points: 5.0,
                        ..VolShock::default()
                    },
                },
            ),
            (
                UnderlyingId(1),
                Shock {
                    spot_move: 0.03,
                    vol: VolShock {
                        relative: -0.10,
                        ..VolShock::default()
                    },
                },
            ),
        ],
        others: None,
        time_step_ns: 3_600_000_000_000,
        smile: SmileDynamics::StickyStrike,
    }];
    // The same on the surface, with a tenor-weighted vol move (calendar floor in play).
    let mut on_surface = list[0].clone();
    on_surface.name = "BTC -10 %, vol +40 at 1 day as (1/DTE)^0.5, on the surface".into();
    on_surface.smile = SmileDynamics::Surface;
    on_surface.shocks[0].1.vol = VolShock {
        points: 40.0,
        reference_days: 1.0,
        tenor_power: 0.5,
        ..VolShock::default()
    };
    list.push(on_surface);
    let builtin = builtin_scenarios(|coin| match coin {
        "BTC" => Some(UnderlyingId(0)),
        "ETH" => Some(UnderlyingId(1)),
        _ => None,
    });
    // A historical regime (tenor-weighted vol, one day) and a SPAN corner.
    list.push(builtin[3].clone());
    list.push(
        builtin
            .iter()
            .find(|s| s.name.contains("price -15 %, vol +10"))
            .expect("span corner")
            .clone(),
    );
    list
}

/// A run prices its stressed options in batches; each mark must have the bits the rule
/// gives one instrument alone (`stressed_mark`, also behind sizing and the liquidation
/// distance).
#[test]
fn batched_stressed_marks_equal_the_one_at_a_time_rule() {
    let state = synthetic_state(30_000);
    let mut checked = 0;
    for scenario in scenarios() {
        let mut run = StressRun::new(&state, &[]);
        run.run(0, &scenario, &mut Vec::new())
            .expect("valid scenario");
        for (id, mark) in run.stressed_marks() {
            let instrument = &state.instruments[&id];
            let alone = stressed_mark(
                instrument,
                &scenario.shock_of(instrument.definition.underlying),
                state.now_ns,
                scenario.time_step_ns,
                scenario.surface(&state),
            );
            let bits = |m: Option<keel_engine::state::contract_risk::Mark>| {
                m.map(|m| {
                    (
                        m.mark_price.to_bits(),
                        m.mark_iv.to_bits(),
                        m.forward.to_bits(),
                    )
                })
            };
            assert_eq!(bits(mark), bits(alone), "{}: {id:?}", scenario.name);
            checked += usize::from(mark.is_some());
        }
    }
    assert!(checked > 100, "{checked} marks compared");
}

#[test]
fn stress_results_equal_the_market_moved_through_events() {
    let state = synthetic_state(30_000);
    let mut compared = 0;
    for scenario in scenarios() {
        let mut rows = Vec::new();
        StressRun::new(&state, &[])
            .run(0, &scenario, &mut rows)
            .expect("valid scenario");
        let mut moved = state.clone();
        move_market(&mut moved, &scenario);
        for row in &rows {
            assert!(row.complete, "{}: {row:?}", scenario.name);
            let account = &moved.accounts[&row.account];
            for c in &row.currencies {
                let reported = account.margin.get(&c.currency).expect("margin");
                for (what, stressed, report) in [
                    ("equity", c.after.equity, reported.equity),
                    ("IM", c.after.initial_margin, reported.initial_margin),
                    (
                        "MM",
                        c.after.maintenance_margin,
                        reported.maintenance_margin,
                    ),
                ] {
                    assert!(
                        relative(stressed, report) < 1e-9,
                        "{} account {} {:?} {what}: stress {stressed} against report {report}",
                        scenario.name,
                        row.account.0,
                        c.currency
                    );
                }
                let before = state.accounts[&row.account].equity(c.currency);
                assert!(relative(c.pnl, reported.equity - before) < 1e-9);
                compared += 1;
            }
            let liquidated = moved.accounts[&row.account].conditions
                & keel_engine::state::Condition::Liquidation.bit()
                != 0;
            assert_eq!(row.liquidated, liquidated, "{}", scenario.name);
        }
    }
    assert!(compared >= 24, "{compared} comparisons");
}

#[test]
fn liquidation_flags_agree_with_the_liquidation_distance() {
    let state = synthetic_state(30_000);
    let mut checked = 0;
    for (&id, account) in &state.accounts {
        for &currency in account.cash.keys() {
            let Currency::Coin(underlying) = currency else {
                continue;
            };
            let Ok(distance) = state.liquidation_distance(id, currency) else {
                continue;
            };
            for (point, sign) in [(distance.down, -1.0), (distance.up, 1.0)] {
                let LiquidationPoint::At { move_fraction, .. } = point else {
                    continue;
                };
                for (offset, expect) in [(-0.005, false), (0.005, true)] {
                    let spot_move = move_fraction + sign * offset;
                    if !(-0.99..=5.0).contains(&spot_move) {
                        continue;
                    }
                    let scenario = Scenario {
                        name: format!("{spot_move:+.4}"),
                        shocks: vec![(
                            underlying,
                            Shock {
                                spot_move,
                                vol: VolShock::default(),
                            },
                        )],
                        others: None,
                        time_step_ns: 0,
                        smile: SmileDynamics::StickyStrike,
                    };
                    let mut rows = Vec::new();
                    StressRun::new(&state, &[id])
                        .run(0, &scenario, &mut rows)
                        .expect("valid");
                    let flagged = rows[0]
                        .currencies
                        .iter()
                        .find(|c| c.currency == currency)
                        .expect("currency")
                        .liquidated;
                    assert_eq!(
                        flagged, expect,
                        "account {} {currency:?}: liquidation at {move_fraction}, stressed {spot_move}",
                        id.0
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0, "no account had a liquidation point to check");
    println!("{checked} flags checked against the liquidation distance");
}
