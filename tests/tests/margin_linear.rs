//! Pins linear (USDC) portfolio margin (issue 10, finding 11): every USD parameter stays
//! in USD and every shock of a linear group is in USD, in `keel margin`'s path and in the
//! engine, which must agree on every linear book. Figures are checked against the model
//! written out here independently (docs/MARGIN.md), not against Keel's own vectors.

use keel_engine::events::{
    AccountDefinition, AccountId, Collateral, Currency, Dec, Event, EventBody, Fill, IndexPrice,
    InstrumentDefinition, InstrumentId, InstrumentKind, MarginModel, Name, OptionRight, RiskParams,
    Settlement, Side, Ticker, UnderlyingId,
};
use keel_engine::margin::{
    OrderMargins, PmContract, PmMarket, PmParams, PmPosition, PmSettlement, evaluate_portfolio_in,
};
use keel_engine::pricing::{OptionInputs, OptionKind, black76_price};
use keel_engine::state::ShardState;
use keel_feeds::deribit::pme::parse_cases;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::{Value, json};

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// Case A's BTC pair parameters with a USDC currency block (dampener 100,000 USD).
fn usdc_case(positions: Value, tickers: Value) -> Value {
    json!({
        "model_params": {
            "currency_pair": { "btc_usd": {
                "extended_table_factor": 1, "m_inc": 5e-05, "min_volatility_for_shock_up": 0.5,
                "max_delta_shock": 0.1, "delta_total_liq_shock_threshold": 20000000,
                "volatility_range_down": 0.25, "volatility_range_up": 0.5,
                "long_term_vega_power": 0.13, "short_term_vega_power": 0.3, "price_range": 0.16
            }},
            "currency": { "usdc": {
                "max_offsetable_pnl": 0, "annualised_move_risk": 0.075, "extended_dampener": 100000,
                "min_annualised_move": 0.01, "haircut": 0, "pnl_offset": 0, "correlation_set": false
            }},
            "general": { "mm_factor": 0.8, "buckets_count": 4, "vol_scenarios_count": 3,
                         "timestamp": 1718619740501i64 }
        },
        "portfolio": { "position": positions },
        "index_price": { "btc_usd": 65000.0 },
        "ticker": tickers,
    })
}

fn offline_margin(case: &Value) -> (f64, f64, f64) {
    let cases = parse_cases(case).expect("parses");
    let (_, case) = &cases[0];
    assert_eq!(case.settlement(), PmSettlement::Quote);
    let (_, _, margin) = evaluate_portfolio_in(
        case.settlement(),
        &case.positions,
        case.index,
        &case.params,
        &case.orders,
    )
    .expect("margins");
    (
        margin.initial_margin,
        margin.maintenance_margin,
        margin.roll_shock,
    )
}

#[test]
fn a_linear_perpetual_is_margined_in_usd() {
    let (im, mm, roll) =
        offline_margin(&usdc_case(json!({ "BTC_USDC-PERPETUAL": 1.0 }), json!({})));
    // Worst case: 1 BTC × 65,000 × 16 % = 10,400 USD; roll shock 1 × 65,000 × 1 %.
    assert!(relative(roll, 650.0) < 1e-12, "roll {roll}");
    assert!(relative(im, 11_050.0) < 1e-12, "IM {im}");
    assert!(relative(mm, 0.8 * 11_050.0) < 1e-12, "MM {mm}");
}

/// Deribit's grid, written out: moves ±16 % in 4 steps a side, vols down/same/up with
/// the short-term power under 30 days, extended moves with the up vol, dampened in USD.
fn independent_short_call_im(
    quantity: f64,
    forward: f64,
    vol: f64,
    strike: f64,
    years: f64,
) -> f64 {
    let price = |f: f64, v: f64| {
        black76_price(&OptionInputs {
            kind: OptionKind::Call,
            forward: f,
            strike,
            years,
            vol: v,
            rate: 0.0,
        })
        .expect("prices")
    };
    let dte = years * 365.0;
    let power = if dte < 30.0 { 0.3 } else { 0.13 };
    let scale = (30.0 / dte).powf(power);
    let vols = [
        vol * (1.0 - 0.25 * scale),
        vol,
        (vol * (1.0 + 0.5 * scale)).max(0.5),
    ];
    let base = price(forward, vol);
    let mut worst = 0.0f64;
    for step in -4..=4 {
        let f = forward * (1.0 + 0.04 * f64::from(step));
        for v in vols {
            worst = worst.min(quantity * (price(f, v) - base));
        }
    }
    for m in [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0] {
        let loss = quantity * (price(forward * (1.0 + m), vols[2]) - base);
        worst = worst.min((loss + 100_000.0).min(0.0));
    }
    -worst
}

#[test]
fn a_short_linear_call_gets_the_usd_dampener_whole() {
    let tickers =
        json!({ "BTC_USDC-28JUN24-70000-C": { "underlying_price": 65_500.0, "mark_iv": 52.0 } });
    let case = usdc_case(json!({ "BTC_USDC-28JUN24-70000-C": -0.05 }), tickers);
    let (im, _, _) = offline_margin(&case);
    // 28 June 2024 08:00 UTC from the case's timestamp.
    let years = (1_719_561_600_000i64 - 1_718_619_740_501) as f64 / (365.0 * 86_400_000.0);
    let expected = independent_short_call_im(-0.05, 65_500.0, 0.52, 70_000.0, years);
    assert!(
        relative(im, expected) < 1e-9,
        "IM {im}, independent {expected}"
    );
    assert!(
        im < 1_000.0,
        "the +500 % loss (~16,000 USD) is within the dampener: {im}"
    );
}

// ---- the engine on linear books ---------------------------------------------------

const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;
const YEAR_NS: f64 = 365.0 * 86_400.0 * 1e9;
const INDEX: f64 = 65_000.0;
const EXPIRY_NS: u64 = T0 + 20 * DAY_NS;

fn dec(value: f64) -> Dec {
    Dec::new(Decimal::from_f64(value).expect("finite"))
}

struct Leg {
    kind: InstrumentKind,
    right: OptionRight,
    strike: f64,
    quantity: f64,
}

fn option_usd(right: OptionRight, strike: f64) -> f64 {
    let kind = if right == OptionRight::Call {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    let years = (EXPIRY_NS - T0) as f64 / YEAR_NS;
    black76_price(&OptionInputs {
        kind,
        forward: INDEX,
        strike,
        years,
        vol: 0.55,
        rate: 0.0,
    })
    .expect("prices")
}

/// The engine's IM and MM of a linear book, and the same book margined offline.
fn engine_and_offline(legs: &[Leg]) -> ((f64, f64), (f64, f64)) {
    let at = |body| Event {
        timestamp_ns: T0,
        body,
    };
    let btc = UnderlyingId(0);
    let mut events = vec![
        at(EventBody::RiskParams(RiskParams {
            underlying: btc,
            params: PmParams::BTC,
        })),
        at(EventBody::AccountDefined(AccountDefinition {
            id: AccountId(0),
            name: Name::new("desk").expect("name"),
            margin_model: MarginModel::Portfolio,
        })),
        at(EventBody::Collateral(Collateral {
            account: AccountId(0),
            currency: Currency::Quote,
            amount: dec(1_000_000.0),
            transfer_id: 1,
        })),
        at(EventBody::IndexPrice(IndexPrice {
            underlying: btc,
            price: INDEX,
        })),
    ];
    let mut positions = Vec::new();
    let years = (EXPIRY_NS - T0) as f64 / YEAR_NS;
    for (i, leg) in legs.iter().enumerate() {
        let id = InstrumentId(i as u32 + 1);
        let (expiry_ns, mark, iv, contract) = match leg.kind {
            InstrumentKind::Perpetual => (0, INDEX, 0.0, PmContract::LinearFuture { years: 0.0 }),
            InstrumentKind::Future => (EXPIRY_NS, INDEX, 0.0, PmContract::LinearFuture { years }),
            _ => {
                let kind = if leg.right == OptionRight::Call {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                };
                let contract = PmContract::Option {
                    kind,
                    strike: leg.strike,
                    years,
                    inverse: false,
                };
                (EXPIRY_NS, option_usd(leg.right, leg.strike), 0.55, contract)
            }
        };
        events.push(at(EventBody::InstrumentDefined(InstrumentDefinition {
            id,
            name: Name::new(&format!("BTC_USDC-L{i}")).expect("name"),
            kind: leg.kind,
            settlement: Settlement::Linear,
            underlying: btc,
            expiry_ns,
            strike: dec(leg.strike),
            right: leg.right,
            contract_size: dec(1.0),
        })));
        events.push(at(EventBody::Ticker(Ticker {
            instrument: id,
            mark_price: mark,
            mark_iv: iv,
            forward: INDEX,
            best_bid: mark,
            best_ask: mark,
        })));
        events.push(at(EventBody::Fill(Fill {
            account: AccountId(0),
            instrument: id,
            side: if leg.quantity > 0.0 {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: dec(leg.quantity.abs()),
            price: dec(mark),
            fee: Dec::ZERO,
            trade_id: i as u64 + 1,
        })));
        positions.push(PmPosition {
            contract,
            quantity: leg.quantity,
            market: PmMarket {
                index: INDEX,
                forward: INDEX,
                vol: iv,
            },
        });
    }
    let mut state = ShardState::new(0, 1);
    for event in &events {
        state.apply(event);
        state.end_of_batch();
    }
    let margin = state.accounts[&AccountId(0)].margin[&Currency::Quote];
    assert!(margin.complete);
    let (_, _, offline) = evaluate_portfolio_in(
        PmSettlement::Quote,
        &positions,
        INDEX,
        &PmParams::BTC,
        &OrderMargins::default(),
    )
    .expect("margins");
    (
        (margin.initial_margin, margin.maintenance_margin),
        (offline.initial_margin, offline.maintenance_margin),
    )
}

#[test]
fn the_engine_and_keel_margin_agree_on_linear_books() {
    let leg = |kind, right, strike, quantity| Leg {
        kind,
        right,
        strike,
        quantity,
    };
    use InstrumentKind::{Future, Option as Opt, Perpetual};
    use OptionRight::{Call, Put};
    let books: Vec<(&str, Vec<Leg>)> = vec![
        ("long perpetual", vec![leg(Perpetual, Call, 0.0, 1.0)]),
        ("short dated future", vec![leg(Future, Call, 0.0, -2.5)]),
        ("short call", vec![leg(Opt, Call, 70_000.0, -0.5)]),
        ("long put", vec![leg(Opt, Put, 60_000.0, 3.0)]),
        (
            "hedged: short call, long perpetual, long put",
            vec![
                leg(Opt, Call, 70_000.0, -2.0),
                leg(Perpetual, Call, 0.0, 1.0),
                leg(Opt, Put, 60_000.0, 1.0),
            ],
        ),
    ];
    for (name, legs) in books {
        let ((im, mm), (im_offline, mm_offline)) = engine_and_offline(&legs);
        assert!(
            relative(im, im_offline) < 1e-9,
            "{name}: engine IM {im}, offline {im_offline}"
        );
        assert!(
            relative(mm, mm_offline) < 1e-9,
            "{name}: engine MM {mm}, offline {mm_offline}"
        );
    }
    // The long perpetual by hand: 10,400 worst case + 650 roll shock, in USD.
    let ((im, _), _) = engine_and_offline(&[leg(Perpetual, Call, 0.0, 1.0)]);
    assert!(relative(im, 11_050.0) < 1e-12, "engine IM {im}");
}
