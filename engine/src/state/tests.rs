//! State machine tests: accounting, rejections, parking, settlement, funding,
//! conflation, incremental = from scratch, and determinism across shard counts.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::checker::check;
use super::hash::combined_hash;
use super::*;
use crate::events::*;
use crate::pricing::{OptionInputs, OptionKind, black76, coin_greeks};

const T0: u64 = 1_700_000_000_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;

fn d(text: &str) -> Dec {
    Dec::new(Decimal::from_str(text).expect("decimal"))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn at(timestamp_ns: u64, body: EventBody) -> Event {
    Event { timestamp_ns, body }
}

fn instrument(id: u32, kind: InstrumentKind, settlement: Settlement, size: &str) -> EventBody {
    EventBody::InstrumentDefined(InstrumentDefinition {
        id: InstrumentId(id),
        name: Name::new(&format!("I{id}")).expect("name"),
        kind,
        settlement,
        underlying: UnderlyingId(0),
        expiry_ns: if matches!(kind, InstrumentKind::Future | InstrumentKind::Option) {
            T0 + 30 * DAY_NS
        } else {
            0
        },
        strike: if kind == InstrumentKind::Option {
            d("60000")
        } else {
            Dec::ZERO
        },
        right: OptionRight::Call,
        contract_size: d(size),
    })
}

fn account(id: u32) -> EventBody {
    EventBody::AccountDefined(AccountDefinition {
        id: AccountId(id),
        name: Name::new(&format!("A{id}")).expect("name"),
        margin_model: Default::default(),
    })
}

fn fill(
    account: u32,
    instrument: u32,
    side: Side,
    quantity: &str,
    price: &str,
    trade_id: u64,
) -> EventBody {
    EventBody::Fill(Fill {
        account: AccountId(account),
        instrument: InstrumentId(instrument),
        side,
        quantity: d(quantity),
        price: d(price),
        fee: Dec::ZERO,
        trade_id,
    })
}

fn ticker(instrument: u32, mark: f64, iv: f64, forward: f64) -> EventBody {
    EventBody::Ticker(Ticker {
        instrument: InstrumentId(instrument),
        mark_price: mark,
        mark_iv: iv,
        forward,
        best_bid: 0.0,
        best_ask: 0.0,
    })
}

/// Moves the model clock to `to_ns` in steps the input contract accepts (index prices of
/// an underlying nothing here trades), as a live feed's steady ticks would.
fn advance_clock(state: &mut ShardState, to_ns: u64) {
    while state.now_ns < to_ns {
        let next = to_ns.min(state.now_ns + DAY_NS);
        let tick = EventBody::IndexPrice(IndexPrice {
            underlying: UnderlyingId(63),
            price: 1.0,
        });
        assert_eq!(state.apply(&at(next, tick)), Outcome::Applied);
    }
}

fn run(state: &mut ShardState, events: &[Event]) -> Vec<Outcome> {
    let outcomes = events.iter().map(|e| state.apply(e)).collect();
    state.end_of_batch();
    outcomes
}

#[test]
fn linear_average_entry_and_reversal() {
    let mut state = ShardState::new(0, 1);
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
            at(T0, account(0)),
            at(T0, fill(0, 1, Side::Buy, "2", "100", 1)),
            at(T0, fill(0, 1, Side::Sell, "1", "110", 2)),
        ],
    );
    let acct = &state.accounts[&AccountId(0)];
    assert_eq!(acct.realized_pnl[&Currency::Quote], dec("10"));
    assert_eq!(acct.positions[&InstrumentId(1)].quantity, dec("1"));
    run(&mut state, &[at(T0, fill(0, 1, Side::Sell, "3", "90", 3))]);
    let acct = &state.accounts[&AccountId(0)];
    let position = acct.positions[&InstrumentId(1)];
    assert_eq!(
        (position.quantity, position.average_price),
        (dec("-2"), dec("90"))
    );
    assert_eq!(
        acct.realized_pnl[&Currency::Quote],
        dec("0"),
        "+10 then −10"
    );
}

#[test]
fn inverse_future_pnl_in_coin_with_harmonic_entry() {
    let mut state = ShardState::new(0, 1);
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(2, InstrumentKind::Future, Settlement::Inverse, "10"),
            ),
            at(T0, account(0)),
            at(T0, fill(0, 2, Side::Buy, "10", "100", 1)),
            at(T0, fill(0, 2, Side::Buy, "10", "200", 2)),
        ],
    );
    let average = state.accounts[&AccountId(0)].positions[&InstrumentId(2)].average_price;
    let expected = dec("20") / (dec("10") / dec("100") + dec("10") / dec("200"));
    assert_eq!(average, expected);
    run(
        &mut state,
        &[at(T0, fill(0, 2, Side::Sell, "20", "250", 3))],
    );
    // 20 contracts × 10 USD × (1/avg − 1/250) coin, which equals the two lots' own PnL.
    let lots = dec("100") * (dec("1") / dec("100") - dec("1") / dec("250"))
        + dec("100") * (dec("1") / dec("200") - dec("1") / dec("250"));
    let realized = state.accounts[&AccountId(0)].realized_pnl[&Currency::Coin(UnderlyingId(0))];
    assert!(
        (realized - lots).abs() < dec("0.000000000001"),
        "{realized} vs {lots}"
    );
}

#[test]
fn option_aggregates_are_quantity_times_model_greeks() {
    let mut state = ShardState::new(0, 1);
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(3, InstrumentKind::Option, Settlement::Inverse, "1"),
            ),
            at(T0, account(0)),
            at(T0, fill(0, 3, Side::Sell, "2.5", "0.05", 1)),
            at(T0, ticker(3, 0.05, 0.6, 61_000.0)),
        ],
    );
    let inputs = OptionInputs {
        kind: OptionKind::Call,
        forward: 61_000.0,
        strike: 60_000.0,
        years: 30.0 / 365.0,
        vol: 0.6,
        rate: 0.0,
    };
    let usd = black76(&inputs).expect("price");
    let coin = coin_greeks(&inputs, &usd);
    let greeks = state.accounts[&AccountId(0)].greeks_by_underlying()[&UnderlyingId(0)];
    assert!((greeks.delta_usd - -2.5 * usd.delta).abs() < 1e-12);
    assert!((greeks.delta_coin - -2.5 * coin.delta_coin).abs() < 1e-12);
    assert!((greeks.vega_usd - -2.5 * usd.vega_usd).abs() < 1e-9);
    assert!((greeks.theta_usd - -2.5 * usd.theta_usd_per_day).abs() < 1e-9);
    check(&state).expect("incremental = from scratch");
    // Unrealized: short 2.5 at 0.05 coin, marked at 0.05: zero.
    assert!(
        state.accounts[&AccountId(0)]
            .unrealized_pnl(Currency::Coin(UnderlyingId(0)))
            .abs()
            < 1e-12
    );
}

#[test]
fn every_rejection_reason_is_counted() {
    let mut state = ShardState::new(0, 1);
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
            at(
                T0,
                instrument(3, InstrumentKind::Option, Settlement::Inverse, "1"),
            ),
            at(T0, account(0)),
            at(T0 + 10, ticker(1, 100.0, 0.0, 100.0)),
        ],
    );
    let mut bad_definition = instrument(9, InstrumentKind::Future, Settlement::Linear, "0");
    if let EventBody::InstrumentDefined(definition) = &mut bad_definition {
        definition.expiry_ns = 0;
    }
    let mut conflicting = instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "2");
    if let EventBody::InstrumentDefined(definition) = &mut conflicting {
        definition.contract_size = d("2");
    }
    let cases: Vec<(EventBody, RejectReason)> = vec![
        (
            fill(0, INSTRUMENTS_MAX_TEST, Side::Buy, "1", "1", 1),
            RejectReason::IdOutOfRange,
        ),
        (ticker(77, 1.0, 0.0, 1.0), RejectReason::UnknownInstrument),
        (
            EventBody::Collateral(Collateral {
                account: AccountId(5),
                currency: Currency::Coin(UnderlyingId(0)),
                amount: d("1"),
                transfer_id: 1,
            }),
            RejectReason::UnknownAccount,
        ),
        (bad_definition, RejectReason::InvalidDefinition),
        (conflicting, RejectReason::ConflictingDefinition),
        (ticker(1, f64::NAN, 0.0, 100.0), RejectReason::NotFinite),
        (
            fill(0, 1, Side::Buy, "1", "0", 2),
            RejectReason::NonPositivePrice,
        ),
        (
            fill(0, 1, Side::Buy, "0", "100", 3),
            RejectReason::QuantityZero,
        ),
        (ticker(1, 100.0, 0.0, 100.0), RejectReason::StaleMark), // timestamp T0 < T0 + 10
        (ticker(3, 0.05, 101.0, 61_000.0), RejectReason::OutOfBounds), // vol beyond MARK_IV_MAX
        (
            EventBody::Funding(Funding {
                instrument: InstrumentId(3),
                rate_per_contract: d("0.001"),
                funding_id: 1,
            }),
            RejectReason::NotPerpetual,
        ),
    ];
    for (body, reason) in &cases {
        let outcome = state.apply(&at(T0, *body));
        assert_eq!(outcome, Outcome::Rejected(*reason), "{body:?}");
    }
    // Duplicate trade id, then expiry.
    assert_eq!(
        state.apply(&at(T0 + 20, fill(0, 1, Side::Buy, "1", "100", 42))),
        Outcome::Applied
    );
    assert_eq!(
        state.apply(&at(T0 + 21, fill(0, 1, Side::Buy, "1", "100", 42))),
        Outcome::Rejected(RejectReason::DuplicateTradeId)
    );
    advance_clock(&mut state, T0 + 30 * DAY_NS);
    state.apply(&at(
        T0 + 30 * DAY_NS,
        EventBody::Settlement(SettlementPrice {
            instrument: InstrumentId(3),
            price: d("61000"),
        }),
    ));
    assert_eq!(
        state.apply(&at(
            T0 + 30 * DAY_NS,
            fill(0, 3, Side::Buy, "1", "0.01", 43)
        )),
        Outcome::Rejected(RejectReason::ExpiredInstrument)
    );
    // Parameters outside their domain.
    let mut params = crate::margin::PmParams::BTC;
    params.price_range = 1.5;
    assert_eq!(
        state.apply(&at(
            T0 + 30 * DAY_NS,
            EventBody::RiskParams(crate::events::RiskParams {
                underlying: UnderlyingId(0),
                params,
            })
        )),
        Outcome::Rejected(RejectReason::InvalidParams)
    );
    let now = T0 + 30 * DAY_NS;
    // Parking is bounded.
    for trade in 0..PARKED_FILLS_MAX as u64 {
        assert_eq!(
            state.apply(&at(now, fill(0, 500, Side::Buy, "1", "1", 1_000 + trade))),
            Outcome::Parked
        );
    }
    assert_eq!(
        state.apply(&at(now, fill(0, 500, Side::Buy, "1", "1", 99_999))),
        Outcome::Rejected(RejectReason::ParkingFull)
    );
    // The input contract (validation.rs) and the checks that need state.
    let mut nan_limits = Limits {
        account: AccountId(0),
        max_abs_delta_coin: 1.0,
        max_abs_vega_usd: 1.0,
        max_abs_gamma_usd: 1.0,
        min_margin_ratio: 1.0,
        margin_call_ratio: 1.0,
    };
    nan_limits.max_abs_delta_coin = f64::NAN;
    let mut late_future = instrument(20, InstrumentKind::Future, Settlement::Linear, "1");
    if let EventBody::InstrumentDefined(definition) = &mut late_future {
        definition.expiry_ns = now + 10 * DAY_NS;
    }
    let mut same_name = instrument(21, InstrumentKind::Perpetual, Settlement::Linear, "1");
    if let EventBody::InstrumentDefined(definition) = &mut same_name {
        definition.name = Name::new("I1").expect("name");
    }
    let deposit = |amount: &str, transfer_id| {
        EventBody::Collateral(Collateral {
            account: AccountId(0),
            currency: Currency::Quote,
            amount: d(amount),
            transfer_id,
        })
    };
    assert_eq!(state.apply(&at(now, late_future)), Outcome::Applied);
    let expiring_now = instrument(23, InstrumentKind::Future, Settlement::Linear, "1");
    assert_eq!(state.apply(&at(now, expiring_now)), Outcome::Applied);
    // Listed to 2200: beyond the pricer's 100 years, so its marks cannot be priced.
    let mut far_option = instrument(24, InstrumentKind::Option, Settlement::Inverse, "1");
    if let EventBody::InstrumentDefined(definition) = &mut far_option {
        definition.expiry_ns = super::validation::TIMESTAMP_MAX_NS;
    }
    assert_eq!(state.apply(&at(now, far_option)), Outcome::Applied);
    assert_eq!(state.apply(&at(now, deposit("100", 7))), Outcome::Applied);
    let contract_cases: Vec<(Event, RejectReason)> = vec![
        (
            at(now, fill(0, 1, Side::Buy, "1", "1e12", 50)),
            RejectReason::OutOfBounds,
        ),
        (
            at(T0, fill(0, 1, Side::Buy, "1", "100", 51)),
            RejectReason::TimestampOutOfRange,
        ),
        (
            at(now, EventBody::Limits(nan_limits)),
            RejectReason::InvalidLimits,
        ),
        (
            at(
                now,
                EventBody::Settlement(SettlementPrice {
                    instrument: InstrumentId(20),
                    price: d("100"),
                }),
            ),
            RejectReason::SettlementBeforeExpiry,
        ),
        (
            at(now + 1, fill(0, 23, Side::Buy, "1", "100", 52)),
            RejectReason::TradedAfterExpiry,
        ),
        (
            at(now, deposit("-1000", 8)),
            RejectReason::InsufficientCollateral,
        ),
        (at(now, same_name), RejectReason::DuplicateName),
        (
            at(now, ticker(24, 0.01, 0.5, 60_000.0)),
            RejectReason::UnpricedMark,
        ),
        (at(now, deposit("5", 7)), RejectReason::DuplicateTransferId),
    ];
    for (event, reason) in &contract_cases {
        assert_eq!(state.apply(event), Outcome::Rejected(*reason), "{event:?}");
    }
    // A perpetual marked at 10× its index: a bad oracle.
    let index_100 = EventBody::IndexPrice(IndexPrice {
        underlying: UnderlyingId(0),
        price: 100.0,
    });
    assert_eq!(state.apply(&at(now, index_100)), Outcome::Applied);
    assert_eq!(
        state.apply(&at(now, ticker(1, 1_000.0, 0.0, 1_000.0))),
        Outcome::Rejected(RejectReason::ImplausiblePrice)
    );
    // Decimal state arithmetic is checked: round trips of the largest fills at the
    // widest prices realize 1e26 each, until the ledger would overflow.
    let mut big = instrument(22, InstrumentKind::Perpetual, Settlement::Linear, "1000000");
    if let EventBody::InstrumentDefined(definition) = &mut big {
        definition.name = Name::new("BIG").expect("name");
    }
    assert_eq!(state.apply(&at(now, big)), Outcome::Applied);
    let mut overflowed = false;
    for round in 0..2_000u64 {
        let buy = state.apply(&at(
            now,
            fill(
                0,
                22,
                Side::Buy,
                "1000000000",
                "0.00000001",
                200_000 + 2 * round,
            ),
        ));
        let sell = state.apply(&at(
            now,
            fill(
                0,
                22,
                Side::Sell,
                "1000000000",
                "100000000000",
                200_001 + 2 * round,
            ),
        ));
        if sell == Outcome::Rejected(RejectReason::Overflow) {
            assert_eq!(buy, Outcome::Applied);
            overflowed = true;
            break;
        }
        assert_eq!((buy, sell), (Outcome::Applied, Outcome::Applied));
    }
    assert!(overflowed, "the ledger never reached the decimal range");
    let cash = state.accounts[&AccountId(0)].cash[&Currency::Quote];
    assert!(
        cash > dec("1e28"),
        "the refused fill changed nothing: {cash}"
    );
    // Parked fills expire into a counted rejection.
    advance_clock(&mut state, now + PARKED_FILL_TTL_NS + 1);
    state.end_of_batch();
    assert!(state.parked.is_empty());
    for reason in RejectReason::ALL {
        assert!(
            state.rejections().get(reason) >= 1,
            "{reason:?} never exercised"
        );
    }
    assert_eq!(
        state.rejections().get(RejectReason::ParkedExpired),
        PARKED_FILLS_MAX as u64
    );
    assert_eq!(state.rejections().get(RejectReason::OutOfBounds), 2);
    // The account's own rejections are counted on it too (risk snapshots publish them).
    assert!(state.accounts[&AccountId(0)].rejected_events >= 10);
    // Once each, but the expired parked fills and the two out-of-bounds events.
    assert_eq!(
        state.rejections().total(),
        RejectReason::ALL.len() as u64 + PARKED_FILLS_MAX as u64
    );
}

const INSTRUMENTS_MAX_TEST: u32 = crate::events::ids::INSTRUMENTS_MAX;

#[test]
fn fills_wait_for_their_definitions_and_apply_in_order() {
    let mut state = ShardState::new(0, 1);
    let outcomes = run(
        &mut state,
        &[
            at(T0, fill(4, 1, Side::Buy, "2", "100", 1)),
            at(T0, fill(4, 1, Side::Sell, "1", "120", 2)),
            at(T0, account(4)),
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
        ],
    );
    assert_eq!(outcomes[..2], [Outcome::Parked, Outcome::Parked]);
    assert!(state.parked.is_empty());
    let acct = &state.accounts[&AccountId(4)];
    assert_eq!(acct.positions[&InstrumentId(1)].quantity, dec("1"));
    assert_eq!(
        acct.realized_pnl[&Currency::Quote],
        dec("20"),
        "buy before sell, as they arrived"
    );
}

#[test]
fn settlement_and_funding_move_cash() {
    let mut state = ShardState::new(0, 1);
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
            at(
                T0,
                instrument(3, InstrumentKind::Option, Settlement::Inverse, "1"),
            ),
            at(T0, account(0)),
            at(T0, fill(0, 1, Side::Buy, "3", "100", 1)),
            at(T0, fill(0, 3, Side::Buy, "2", "0.02", 2)),
            at(T0, ticker(3, 0.02, 0.5, 60_500.0)),
            at(
                T0,
                EventBody::Funding(Funding {
                    instrument: InstrumentId(1),
                    rate_per_contract: d("0.5"),
                    funding_id: 1,
                }),
            ),
        ],
    );
    assert_eq!(
        state.accounts[&AccountId(0)].cash[&Currency::Quote],
        dec("-1.5"),
        "long 3 pays 0.5 each"
    );
    advance_clock(&mut state, T0 + 30 * DAY_NS);
    run(
        &mut state,
        &[at(
            T0 + 30 * DAY_NS,
            EventBody::Settlement(SettlementPrice {
                instrument: InstrumentId(3),
                price: d("62000"),
            }),
        )],
    );
    let acct = &state.accounts[&AccountId(0)];
    assert!(!acct.positions.contains_key(&InstrumentId(3)));
    // Payoff (62000 − 60000)/62000 coin per contract, bought at 0.02.
    let expected = dec("2") * (dec("2000") / dec("62000") - dec("0.02"));
    assert_eq!(
        acct.realized_pnl[&Currency::Coin(UnderlyingId(0))],
        expected
    );
    check(&state).expect("aggregates back in line after settlement");
    let option_risk = acct
        .risk
        .get(&(UnderlyingId(0), Currency::Coin(UnderlyingId(0))))
        .copied()
        .unwrap_or_default();
    assert!(
        option_risk.vega_usd.abs() < 1e-9,
        "no vega left: {option_risk:?}"
    );
}

#[test]
fn marks_in_one_batch_are_conflated() {
    let setup = [
        at(
            T0,
            instrument(3, InstrumentKind::Option, Settlement::Inverse, "1"),
        ),
        at(T0, account(0)),
        at(T0, fill(0, 3, Side::Buy, "1", "0.05", 1)),
    ];
    let mut twice = ShardState::new(0, 1);
    run(&mut twice, &setup);
    run(
        &mut twice,
        &[
            at(T0 + 1, ticker(3, 0.05, 0.6, 61_000.0)),
            at(T0 + 2, ticker(3, 0.06, 0.65, 61_500.0)),
        ],
    );
    let mut once = ShardState::new(0, 1);
    run(&mut once, &setup);
    // The same journal position as the second mark above (alerts cite it).
    once.seq += 1;
    run(&mut once, &[at(T0 + 2, ticker(3, 0.06, 0.65, 61_500.0))]);
    assert_eq!(twice.accounts, once.accounts);
}

/// A seeded random but valid-looking event stream (with some bad events mixed in).
fn random_events(seed: u64, count: usize) -> Vec<Vec<Event>> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut batches = vec![vec![
        at(
            T0,
            instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
        ),
        at(
            T0,
            instrument(2, InstrumentKind::Future, Settlement::Inverse, "10"),
        ),
        at(
            T0,
            instrument(3, InstrumentKind::Option, Settlement::Inverse, "1"),
        ),
        at(
            T0,
            instrument(4, InstrumentKind::Option, Settlement::Linear, "0.1"),
        ),
    ]];
    batches[0].extend((0..7).map(|a| at(T0, account(a))));
    let mut now = T0;
    let mut trade = 0;
    for _ in 0..count / 8 {
        let mut batch = Vec::new();
        for _ in 0..8 {
            now += 1_000_000;
            let instrument_id = 1 + (next() % 4) as u32;
            let forward = 60_000.0 * (1.0 + (next() % 2_000) as f64 / 10_000.0 - 0.1);
            let body = match next() % 10 {
                0..=4 => {
                    let iv = 0.3 + (next() % 100) as f64 / 100.0;
                    let mark = if instrument_id >= 3 {
                        0.01 + (next() % 50) as f64 / 1_000.0
                    } else {
                        forward
                    };
                    ticker(instrument_id, mark, iv, forward)
                }
                5..=8 => {
                    trade += 1;
                    let side = if next() % 2 == 0 {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    let quantity = format!("{}.{}", 1 + next() % 5, next() % 10);
                    let price = if instrument_id >= 3 {
                        "0.03".to_string()
                    } else {
                        format!("{}", 55_000 + next() % 10_000)
                    };
                    fill(
                        (next() % 7) as u32,
                        instrument_id,
                        side,
                        &quantity,
                        &price,
                        trade,
                    )
                }
                _ => ticker(instrument_id, f64::NAN, 0.5, forward), // rejected, counted
            };
            batch.push(at(now, body));
        }
        batches.push(batch);
    }
    batches
}

#[test]
fn incremental_equals_from_scratch_after_every_batch() {
    let mut state = ShardState::new(0, 1);
    for batch in random_events(7, 20_000) {
        run(&mut state, &batch);
        check(&state).unwrap_or_else(|d| panic!("after {} events: {d:?}", state.events_applied));
    }
    assert!(state.accounts.values().any(|a| a.positions.len() >= 3));
    assert!(state.rejections().get(RejectReason::NotFinite) > 100);
}

#[test]
fn same_events_same_hash_for_any_shard_count() {
    let batches = random_events(11, 8_000);
    let hash_with = |shard_count: u32| {
        let mut shards: Vec<ShardState> = (0..shard_count)
            .map(|i| ShardState::new(i, shard_count))
            .collect();
        for batch in &batches {
            for shard in &mut shards {
                run(shard, batch);
            }
        }
        combined_hash(&shards)
    };
    let one = hash_with(1);
    assert_eq!(one, hash_with(1), "replay gives the same hash");
    assert_eq!(one, hash_with(3), "1 and 3 shards give the same state");
    // One fill's quantity changed in the middle: the hash must see it.
    let mut different = batches.clone();
    let changed = different[500..]
        .iter_mut()
        .flat_map(|batch| batch.iter_mut())
        .find_map(|event| match &mut event.body {
            EventBody::Fill(fill) => Some(fill),
            _ => None,
        })
        .expect("a fill in the stream");
    changed.quantity = Dec::new(changed.quantity.get().expect("valid") + Decimal::ONE);
    let mut shard = ShardState::new(0, 1);
    for batch in &different {
        run(&mut shard, batch);
    }
    assert_ne!(
        combined_hash([&shard]),
        one,
        "a different fill gives a different hash"
    );
}

/// A trade id reused for an account in another shard is a duplicate there too: the
/// trade-id set is market-wide, so the outcome does not depend on the shard count.
#[test]
fn duplicate_trade_ids_are_caught_across_shards() {
    let events = [
        at(
            T0,
            instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
        ),
        at(T0, account(0)),
        at(T0, account(1)),
        at(T0, fill(1, 1, Side::Buy, "1", "100", 5)),
        at(T0, fill(0, 1, Side::Buy, "1", "100", 5)), // same trade id, other account
    ];
    for shard_count in [1, 2] {
        let mut shards: Vec<ShardState> = (0..shard_count)
            .map(|i| ShardState::new(i, shard_count))
            .collect();
        for shard in &mut shards {
            run(shard, &events);
        }
        let owner = &shards[0];
        assert!(
            !owner.accounts[&AccountId(0)]
                .positions
                .contains_key(&InstrumentId(1)),
            "{shard_count} shard(s)"
        );
        let counted: u64 = shards
            .iter()
            .map(|s| s.rejections().get(RejectReason::DuplicateTradeId))
            .sum();
        assert_eq!(counted, 1, "counted once, by the owner");
    }
}

/// Issue 10, finding 9: the hash must cover everything that decides future behaviour.
/// Each of these changes alone must change it.
#[test]
fn the_hash_sees_every_part_that_decides_future_behaviour() {
    let mut base = ShardState::new(0, 1);
    run(
        &mut base,
        &[
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
            at(T0, account(0)),
            at(T0, fill(0, 1, Side::Buy, "1", "100", 1)),
        ],
    );
    let hash = |state: &ShardState| combined_hash([state]);
    let before = hash(&base);
    let limits = Limits {
        account: AccountId(0),
        max_abs_delta_coin: 1.0,
        max_abs_vega_usd: 1.0,
        max_abs_gamma_usd: 1.0,
        min_margin_ratio: 1.0,
        margin_call_ratio: 1.0,
    };
    let parked = super::parking::ParkedFill {
        fill: Fill {
            account: AccountId(9),
            instrument: InstrumentId(9),
            side: Side::Buy,
            quantity: d("1"),
            price: d("1"),
            fee: Dec::ZERO,
            trade_id: 77,
        },
        timestamp_ns: T0,
        seq: 4,
        parked_at_ns: T0,
    };
    type Change = Box<dyn Fn(&mut ShardState)>;
    let changes: Vec<(&str, Change)> = vec![
        (
            "limits",
            Box::new(move |s| {
                s.accounts.get_mut(&AccountId(0)).expect("account").limits = Some(limits)
            }),
        ),
        (
            "risk parameters",
            Box::new(|s| {
                s.risk_params.insert(
                    UnderlyingId(0),
                    RiskParams {
                        underlying: UnderlyingId(0),
                        params: crate::margin::PmParams::ETH,
                    },
                );
            }),
        ),
        ("trade-id window", Box::new(|s| s.trade_ids.insert(12_345))),
        (
            "funding-id window",
            Box::new(|s| s.funding_ids.insert(12_345)),
        ),
        (
            "transfer ids",
            Box::new(|s| {
                s.accounts
                    .get_mut(&AccountId(0))
                    .expect("account")
                    .remember_transfer(5)
            }),
        ),
        ("parked fills", Box::new(move |s| s.parked.park(parked))),
        ("the clock", Box::new(|s| s.now_ns += 1)),
        (
            "account registry",
            Box::new(|s| {
                s.account_names
                    .insert(AccountId(7), Name::new("other").expect("name"));
            }),
        ),
    ];
    for (what, change) in changes {
        let mut changed = base.clone();
        change(&mut changed);
        assert_ne!(hash(&changed), before, "the hash misses {what}");
    }
}

/// Issue 10, finding 10: an underlying without journaled risk parameters was margined
/// with BTC's. Its margin is unavailable (and the account reduce-only) until they come.
#[test]
fn no_journaled_parameters_means_no_margin_not_another_underlyings() {
    let mut state = ShardState::new(0, 1);
    let index = EventBody::IndexPrice(IndexPrice {
        underlying: UnderlyingId(0),
        price: 100.0,
    });
    run(
        &mut state,
        &[
            at(
                T0,
                instrument(1, InstrumentKind::Perpetual, Settlement::Linear, "1"),
            ),
            at(T0, account(0)),
            at(T0, index),
            at(T0, ticker(1, 100.0, 0.0, 100.0)),
            at(T0, fill(0, 1, Side::Buy, "2", "100", 1)),
        ],
    );
    let account = &state.accounts[&AccountId(0)];
    assert!(!account.margin[&Currency::Quote].complete);
    assert_ne!(account.conditions & Condition::MarginUnavailable.bit(), 0);
    assert_eq!(account.trading_state, TradingState::ReduceOnly);
    let params = EventBody::RiskParams(RiskParams {
        underlying: UnderlyingId(0),
        params: crate::margin::PmParams::BTC,
    });
    run(&mut state, &[at(T0 + 1, params)]);
    let account = &state.accounts[&AccountId(0)];
    assert!(account.margin[&Currency::Quote].complete);
    assert!(account.margin[&Currency::Quote].initial_margin > 0.0);
}

/// Issue 10, finding 3: the trade id of a fill refused for a full parking lot was
/// remembered, so its resend was refused again as a duplicate. Now it applies.
#[test]
fn a_fill_refused_for_a_full_lot_can_be_resent() {
    let mut state = ShardState::new(0, 1);
    run(&mut state, &[at(T0, account(0))]);
    for trade in 0..PARKED_FILLS_MAX as u64 {
        let parked = state.apply(&at(T0, fill(0, 5, Side::Buy, "1", "100", 1_000 + trade)));
        assert_eq!(parked, Outcome::Parked);
    }
    let refused = fill(0, 5, Side::Buy, "1", "100", 7);
    assert_eq!(
        state.apply(&at(T0, refused)),
        Outcome::Rejected(RejectReason::ParkingFull)
    );
    let definition = instrument(5, InstrumentKind::Perpetual, Settlement::Linear, "1");
    assert_eq!(state.apply(&at(T0, definition)), Outcome::Applied);
    assert!(state.parked.is_empty(), "released");
    assert_eq!(
        state.apply(&at(T0, refused)),
        Outcome::Applied,
        "the resend"
    );
    let position = state.accounts[&AccountId(0)]
        .positions
        .get(&InstrumentId(5));
    assert_eq!(
        position.map(|p| p.quantity),
        Some(Decimal::from(PARKED_FILLS_MAX as u64 + 1))
    );
}

/// Standard margin kept per position: a position opened before its underlying has an
/// index cannot be margined; once the index arrives every position (long options and
/// inverse futures included, whose margin does not otherwise move with the index) is, and
/// the kept margin equals the from-scratch evaluation after marks and index moves.
#[test]
fn standard_margin_terms_follow_marks_index_moves_and_the_first_index() {
    let mut state = ShardState::new(0, 1);
    let standard = EventBody::AccountDefined(AccountDefinition {
        id: AccountId(1),
        name: Name::new("std").expect("name"),
        margin_model: MarginModel::Standard,
    });
    let setup = [
        instrument(1, InstrumentKind::Option, Settlement::Inverse, "1"),
        instrument(2, InstrumentKind::Perpetual, Settlement::Inverse, "10"),
        standard,
        ticker(1, 0.05, 0.6, 60_000.0),
        ticker(2, 60_000.0, 0.0, 60_000.0),
        fill(1, 1, Side::Buy, "2", "0.05", 1),
        fill(1, 2, Side::Sell, "100", "60000", 2),
    ];
    for (seq, body) in setup.into_iter().enumerate() {
        state.apply_at(seq as u64 + 1, &at(T0, body));
    }
    state.finish_batch();
    let margin =
        |state: &ShardState| state.accounts[&AccountId(1)].margin[&Currency::Coin(UnderlyingId(0))];
    assert!(!margin(&state).complete, "no index yet: not margined");
    let moves = [
        EventBody::IndexPrice(IndexPrice {
            underlying: UnderlyingId(0),
            price: 60_000.0,
        }),
        ticker(1, 0.06, 0.65, 60_500.0),
        EventBody::IndexPrice(IndexPrice {
            underlying: UnderlyingId(0),
            price: 61_000.0,
        }),
        fill(1, 1, Side::Sell, "5", "0.06", 3), // now short 3: index-sensitive
        EventBody::IndexPrice(IndexPrice {
            underlying: UnderlyingId(0),
            price: 58_000.0,
        }),
    ];
    for (offset, body) in moves.into_iter().enumerate() {
        state.apply_at(100 + offset as u64, &at(T0 + 1_000_000_000, body));
        state.finish_batch();
        assert!(margin(&state).complete, "margined once the index exists");
        assert!(margin(&state).initial_margin > 0.0);
        check(&state).expect("kept standard margin = from scratch");
    }
}
