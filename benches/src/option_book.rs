//! The 500-option book the margin benchmarks use: one portfolio-margin account holding
//! 10 expiries × 50 strikes of BTC options (calls and puts, long and short, 0.5–5
//! contracts) plus a perpetual, the events that re-mark it, and the full-revaluation
//! baseline (every position from scratch, scalar pricing).

use keel_engine::events::{
    AccountDefinition, AccountId, Collateral, Currency, Dec, Event, EventBody, Fill, IndexPrice,
    InstrumentDefinition, InstrumentId, InstrumentKind, MarginModel, Name, OptionRight, RiskParams,
    Settlement, Side, Ticker, UnderlyingId,
};
use keel_engine::margin::{
    OrderMargins, PmContract, PmMarket, PmParams, PmPosition, evaluate_portfolio,
};
use keel_engine::pricing::{OptionInputs, OptionKind, black76_price};
use keel_engine::state::ShardState;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

pub const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;
const YEAR_NS: f64 = 365.0 * 86_400.0 * 1e9;
const EXPIRIES: usize = 10;
const STRIKES: usize = 50;
pub const OPTIONS: usize = EXPIRIES * STRIKES;
pub const INDEX: f64 = 90_000.0;
pub const BTC: UnderlyingId = UnderlyingId(0);
pub const ACCOUNT: AccountId = AccountId(0);
pub const PERPETUAL: InstrumentId = InstrumentId(OPTIONS as u32);

/// One option of the book and the position held in it.
pub struct Listed {
    pub id: InstrumentId,
    pub kind: OptionKind,
    pub strike: f64,
    pub expiry_ns: u64,
    pub quantity: f64,
}

fn decimal(value: f64) -> Dec {
    Dec::new(Decimal::from_f64(value).unwrap_or_default().round_dp(8))
}

/// An event at the book's time.
pub fn at(body: EventBody) -> Event {
    Event {
        timestamp_ns: T0,
        body,
    }
}

fn vol(strike: f64, forward: f64) -> f64 {
    let k = (strike / forward).ln();
    0.55 - 0.1 * k + 0.5 * k * k
}

pub fn mark_coin(listed: &Listed, forward: f64) -> f64 {
    let years = (listed.expiry_ns - T0) as f64 / YEAR_NS;
    let usd = black76_price(&OptionInputs {
        kind: listed.kind,
        forward,
        strike: listed.strike,
        years,
        vol: vol(listed.strike, forward),
        rate: 0.0,
    })
    .unwrap_or(0.0);
    usd / forward
}

/// The 500 options and positions.
pub fn book() -> Vec<Listed> {
    let mut listed = Vec::with_capacity(OPTIONS);
    for e in 0..EXPIRIES {
        let expiry_ns = T0 + (7 + 30 * e as u64) * DAY_NS;
        for s in 0..STRIKES {
            let strike =
                (INDEX * (0.6 + 0.8 * s as f64 / (STRIKES - 1) as f64) / 500.0).round() * 500.0;
            let kind = if strike >= INDEX {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            // Mixed long and short, 0.5 to 5 contracts.
            let quantity =
                (1 + (e * 7 + s * 3) % 10) as f64 * 0.5 * if (e + s) % 3 == 0 { -1.0 } else { 1.0 };
            listed.push(Listed {
                id: InstrumentId((e * STRIKES + s) as u32),
                kind,
                strike,
                expiry_ns,
                quantity,
            });
        }
    }
    listed
}

/// Index and every option (and the perpetual) marked at `forward`.
pub fn tick(listed: &[Listed], forward: f64) -> Vec<Event> {
    let ticker = |instrument, mark_price: f64, mark_iv| {
        at(EventBody::Ticker(Ticker {
            instrument,
            mark_price,
            mark_iv,
            forward,
            best_bid: mark_price,
            best_ask: mark_price,
        }))
    };
    let mut events = vec![at(EventBody::IndexPrice(IndexPrice {
        underlying: BTC,
        price: forward,
    }))];
    events.push(ticker(PERPETUAL, forward, 0.0));
    events.extend(
        listed
            .iter()
            .map(|l| ticker(l.id, mark_coin(l, forward), vol(l.strike, forward))),
    );
    events
}

/// A shard holding the book, valued at `INDEX`.
pub fn state(listed: &[Listed]) -> ShardState {
    let mut events = vec![
        at(EventBody::RiskParams(RiskParams {
            underlying: BTC,
            params: PmParams::BTC,
        })),
        at(EventBody::AccountDefined(AccountDefinition {
            id: ACCOUNT,
            name: Name::new("desk").expect("short name"),
            margin_model: MarginModel::Portfolio,
        })),
        at(EventBody::Collateral(Collateral {
            account: ACCOUNT,
            currency: Currency::Coin(BTC),
            amount: decimal(1_000.0),
            transfer_id: 1,
        })),
        at(EventBody::InstrumentDefined(InstrumentDefinition {
            id: PERPETUAL,
            name: Name::new("BTC-PERPETUAL").expect("short name"),
            kind: InstrumentKind::Perpetual,
            settlement: Settlement::Inverse,
            underlying: BTC,
            expiry_ns: 0,
            strike: decimal(0.0),
            right: OptionRight::Call,
            contract_size: decimal(10.0),
        })),
    ];
    for l in listed {
        events.push(at(EventBody::InstrumentDefined(InstrumentDefinition {
            id: l.id,
            name: Name::new(&format!("O{}", l.id.0)).expect("short name"),
            kind: InstrumentKind::Option,
            settlement: Settlement::Inverse,
            underlying: BTC,
            expiry_ns: l.expiry_ns,
            strike: decimal(l.strike),
            right: if l.kind == OptionKind::Call {
                OptionRight::Call
            } else {
                OptionRight::Put
            },
            contract_size: decimal(1.0),
        })));
    }
    events.extend(tick(listed, INDEX));
    let mut state = ShardState::new(0, 1);
    for event in &events {
        state.apply(event);
    }
    state.end_of_batch();
    let fills = listed
        .iter()
        .map(|l| (l.id, l.quantity, mark_coin(l, INDEX).max(1e-4)))
        .chain(std::iter::once((PERPETUAL, 5_000.0, INDEX)));
    for (trade_id, (instrument, quantity, price)) in fills.enumerate() {
        state.apply(&at(EventBody::Fill(Fill {
            account: ACCOUNT,
            instrument,
            side: if quantity > 0.0 {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: decimal(quantity.abs()),
            price: decimal(price),
            fee: decimal(0.0),
            trade_id: trade_id as u64 + 1,
        })));
    }
    state.end_of_batch();
    state
}

/// The baseline's book at `forward`: every position from scratch.
pub fn positions(listed: &[Listed], forward: f64) -> Vec<PmPosition> {
    let mut positions: Vec<PmPosition> = listed
        .iter()
        .map(|l| PmPosition {
            contract: PmContract::Option {
                kind: l.kind,
                strike: l.strike,
                years: (l.expiry_ns - T0) as f64 / YEAR_NS,
                inverse: true,
            },
            quantity: l.quantity,
            market: PmMarket {
                index: forward,
                forward,
                vol: vol(l.strike, forward),
            },
        })
        .collect();
    positions.push(perpetual_position(forward));
    positions
}

/// The book's perpetual (5,000 contracts of 10 USD) as a margin position at `forward`.
fn perpetual_position(forward: f64) -> PmPosition {
    PmPosition {
        contract: PmContract::InverseFuture { years: 0.0 },
        quantity: 5_000.0 * 10.0 / forward,
        market: PmMarket {
            index: forward,
            forward,
            vol: 0.0,
        },
    }
}

pub fn full_revaluation(listed: &[Listed], forward: f64) -> f64 {
    let positions = positions(listed, forward);
    evaluate_portfolio(
        &positions,
        forward,
        &PmParams::BTC,
        &OrderMargins::default(),
    )
    .map_or(f64::NAN, |(_, _, breakdown)| breakdown.initial_margin)
}

/// The stress benchmark's scenario grid: 20 spot moves from −30 % to +30 % × 5 vol moves
/// (−10 to +30 vol points), every underlying alike, no time step: 100 scenarios.
pub fn stress_grid() -> Vec<(f64, f64)> {
    let mut grid = Vec::with_capacity(100);
    for i in 0..20 {
        let spot_move = -0.30 + 0.60 * f64::from(i) / 19.0;
        for vol_points in [-10.0, 0.0, 10.0, 20.0, 30.0] {
            grid.push((spot_move, vol_points));
        }
    }
    grid
}

/// The grid as engine scenarios (every underlying alike, vol points flat across tenors).
pub fn stress_scenarios(grid: &[(f64, f64)]) -> Vec<keel_engine::stress::Scenario> {
    use keel_engine::stress::{Scenario, Shock, VolShock};
    grid.iter()
        .map(|&(spot_move, points)| Scenario {
            name: format!("{spot_move:+.3} {points:+}"),
            shocks: Vec::new(),
            others: Some(Shock {
                spot_move,
                vol: VolShock {
                    points,
                    ..VolShock::default()
                },
            }),
            time_step_ns: 0,
            ..Scenario::default()
        })
        .collect()
}

/// The baseline of the stress benchmark: the book fully revalued from scratch under one
/// scenario with scalar pricing — each option's value at the moved forward and shocked
/// vol (vols sticky by strike, as the engine's stress moves them), the PnL against the
/// book's marks, and the portfolio margin of the whole book on the moved market. Returns
/// (PnL in coin, initial margin in coin).
pub fn stressed_full_revaluation(listed: &[Listed], spot_move: f64, vol_points: f64) -> (f64, f64) {
    let forward = INDEX * (1.0 + spot_move);
    let mut pnl = 0.0;
    let mut positions = Vec::with_capacity(listed.len() + 1);
    for l in listed {
        let years = (l.expiry_ns - T0) as f64 / YEAR_NS;
        let (vol_now, shocked) = (
            vol(l.strike, INDEX),
            (vol(l.strike, INDEX) + vol_points / 100.0).max(0.01),
        );
        let usd = |forward: f64, vol: f64| {
            black76_price(&OptionInputs {
                kind: l.kind,
                forward,
                strike: l.strike,
                years,
                vol,
                rate: 0.0,
            })
            .unwrap_or(0.0)
        };
        let before = mark_coin(l, INDEX);
        let after = before + usd(forward, shocked) / forward - usd(INDEX, vol_now) / INDEX;
        pnl += l.quantity * (after.max(0.0) - before);
        positions.push(PmPosition {
            contract: PmContract::Option {
                kind: l.kind,
                strike: l.strike,
                years,
                inverse: true,
            },
            quantity: l.quantity,
            market: PmMarket {
                index: forward,
                forward,
                vol: shocked,
            },
        });
    }
    // The perpetual: 5,000 contracts of 10 USD, coin value −N/P.
    pnl += 5_000.0 * 10.0 * (1.0 / INDEX - 1.0 / forward);
    positions.push(perpetual_position(forward));
    let im = evaluate_portfolio(
        &positions,
        forward,
        &PmParams::BTC,
        &OrderMargins::default(),
    )
    .map_or(f64::NAN, |(_, _, breakdown)| breakdown.initial_margin);
    (pnl, im)
}
