//! Distance to liquidation (docs/MARGIN.md): the smallest uniform move of the underlyings of a
//! settlement currency, down and up, at which the account's equity falls to its
//! maintenance margin. Found numerically on a full revaluation at each trial move (every
//! position repriced, margin recomputed from scratch under the account's model), not
//! from Greeks: a scan over a grid of moves finds the first sign change, bisection then
//! pins it to [`MOVE_TOLERANCE`].
//!
//! At each move `s`, every instrument of the currency is marked at `s` from its current
//! mark: forwards and futures' prices × (1 + s), options' marks + (Black-76 at the moved
//! forward − Black-76 now) at the same implied vol, index × (1 + s), model time now.

use std::collections::BTreeMap;

use thiserror::Error;

use super::account::{AccountState, RiskKey};
use super::account_margin::group_margin;
use super::contract_margin::{add_totals, contract_margin, pm_contract};
use super::contract_risk::{Mark, contract_risk, value_at};
use super::instrument_state::InstrumentState;
use super::shard_state::ShardState;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{AccountId, Currency, MarginModel, UnderlyingId};
use crate::margin::{PmTotals, ScenarioBatch, standard_margin};

/// Bisection stops when the bracket is this narrow (a fraction of the underlying).
pub const MOVE_TOLERANCE: f64 = 1e-12;
/// Largest moves searched: −99 % down, +500 % up (the extended table's reach).
pub const MOVE_DOWN_MAX: f64 = -0.99;
pub const MOVE_UP_MAX: f64 = 5.0;

/// Where liquidation lies on one side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LiquidationPoint {
    /// Equity reaches maintenance margin at this move (fraction, negative when down);
    /// `index_price` is the first underlying's index there.
    At {
        move_fraction: f64,
        index_price: f64,
    },
    /// Equity is below maintenance margin already.
    Now,
    /// Not within the searched range.
    Beyond,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiquidationDistance {
    pub down: LiquidationPoint,
    pub up: LiquidationPoint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum LiquidationError {
    #[error("account {0} is not held by this shard")]
    UnknownAccount(u32),
    #[error("a position in this currency cannot be revalued (no mark or index price)")]
    Unvalued,
}

/// Moves scanned on each side, in increasing size: fine near the money, coarser beyond.
fn scan_moves(sign: f64) -> impl Iterator<Item = f64> {
    let fine = (1..=20).map(|i| f64::from(i) * 0.01);
    let medium = (11..=25).map(|i| f64::from(i) * 0.02);
    let coarse = (11..=20).map(|i| f64::from(i) * 0.05);
    let wide = (11..=50).map(|i| f64::from(i) * 0.1);
    fine.chain(medium)
        .chain(coarse)
        .chain(wide)
        .map(move |m| sign * m)
        .filter(|m| (MOVE_DOWN_MAX..=MOVE_UP_MAX).contains(m))
        .chain(std::iter::once(if sign < 0.0 {
            MOVE_DOWN_MAX
        } else {
            MOVE_UP_MAX
        }))
}

impl ShardState {
    /// Distance to liquidation of `account` in `currency`, down and up.
    pub fn liquidation_distance(
        &self,
        account_id: AccountId,
        currency: Currency,
    ) -> Result<LiquidationDistance, LiquidationError> {
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(LiquidationError::UnknownAccount(account_id.0))?;
        let mut batch = ScenarioBatch::with_capacity(1);
        let mut surplus = |s: f64| {
            equity_and_maintenance(self, account, currency, s, &mut batch).map(|(e, m)| e - m)
        };
        let at_zero = surplus(0.0)?;
        if at_zero < 0.0 {
            return Ok(LiquidationDistance {
                down: LiquidationPoint::Now,
                up: LiquidationPoint::Now,
            });
        }
        let first_index = self.first_index(account, currency);
        let mut side = |sign: f64| -> Result<LiquidationPoint, LiquidationError> {
            let mut inside = 0.0; // surplus ≥ 0 here
            for m in scan_moves(sign) {
                if surplus(m)? < 0.0 {
                    let (mut good, mut bad) = (inside, m);
                    while (bad - good).abs() > MOVE_TOLERANCE {
                        let middle = 0.5 * (good + bad);
                        if surplus(middle)? < 0.0 {
                            bad = middle;
                        } else {
                            good = middle;
                        }
                    }
                    let move_fraction = 0.5 * (good + bad);
                    return Ok(LiquidationPoint::At {
                        move_fraction,
                        index_price: first_index.map_or(f64::NAN, |i| i * (1.0 + move_fraction)),
                    });
                }
                inside = m;
            }
            Ok(LiquidationPoint::Beyond)
        };
        let down = side(-1.0)?;
        let up = side(1.0)?;
        Ok(LiquidationDistance { down, up })
    }

    /// Index price of the first underlying the account holds in `currency`.
    fn first_index(&self, account: &AccountState, currency: Currency) -> Option<f64> {
        account
            .risk
            .keys()
            .find(|(_, c)| *c == currency)
            .and_then(|(u, _)| self.index_prices.get(u).map(|&(_, p)| p))
    }
}

/// An instrument's mark after a uniform move `s` of its underlying (vols and time as
/// they are): the stress module's rule, with no vol move and no time step.
pub fn moved_mark(instrument: &InstrumentState, s: f64, now_ns: u64) -> Option<Mark> {
    let shock = crate::stress::Shock {
        spot_move: s,
        vol: crate::stress::VolShock::default(),
    };
    crate::stress::stressed_mark(instrument, &shock, now_ns, 0, None)
}

/// Equity and maintenance margin in `currency` with its underlyings moved by `s`, from a
/// full revaluation.
fn equity_and_maintenance(
    state: &ShardState,
    account: &AccountState,
    currency: Currency,
    s: f64,
    batch: &mut ScenarioBatch,
) -> Result<(f64, f64), LiquidationError> {
    let now_ns = state.now_ns;
    let market = state.margin_market();
    let mut equity = account.equity(currency);
    let mut totals: BTreeMap<RiskKey, PmTotals> = BTreeMap::new();
    let mut maintenance = 0.0;
    for (id, position) in &account.positions {
        let Some(instrument) = state.instruments.get(id) else {
            continue;
        };
        if instrument.currency() != currency {
            continue;
        }
        let quantity = decimal_to_f64(&position.quantity);
        let mark = instrument.mark.ok_or(LiquidationError::Unvalued)?;
        let moved = moved_mark(instrument, s, now_ns).ok_or(LiquidationError::Unvalued)?;
        let (definition, size) = (&instrument.definition, instrument.contract_size);
        let value = |m: &Mark| value_at(definition, size, m.mark_price);
        let (Some(before), Some(after)) = (value(&mark), value(&moved)) else {
            return Err(LiquidationError::Unvalued);
        };
        equity += quantity * (after - before);
        let underlying = definition.underlying;
        let index = market.index(underlying).ok_or(LiquidationError::Unvalued)? * (1.0 + s);
        match account.margin_model {
            MarginModel::Portfolio => {
                let risk = contract_risk(definition, size, instrument.strike, &moved, now_ns)
                    .ok_or(LiquidationError::Unvalued)?;
                let margin = contract_margin(
                    definition,
                    size,
                    instrument.strike,
                    &moved,
                    &risk,
                    &market.params(underlying),
                    now_ns,
                    batch,
                )
                .map_err(|_| LiquidationError::Unvalued)?;
                add_totals(
                    totals.entry(instrument.risk_key()).or_default(),
                    &margin.contribution(quantity),
                );
            }
            MarginModel::Standard => {
                let (contract, units) =
                    pm_contract(definition, size, instrument.strike, &moved, now_ns);
                let margin =
                    standard_margin(&contract, quantity * units, index, moved.mark_price / size)
                        .map_err(|_| LiquidationError::Unvalued)?;
                maintenance += margin.maintenance_margin;
            }
        }
    }
    for (key, group) in &totals {
        let moved_prices = moved_index_prices(state, key.0, s);
        let moved_market = super::account_margin::MarginMarket {
            index_prices: &moved_prices,
            ..market
        };
        let (_, mm) = group_margin(*key, group, &moved_market).ok_or(LiquidationError::Unvalued)?;
        maintenance += mm;
    }
    Ok((equity, maintenance))
}

/// The index prices with one underlying's moved by `s`.
fn moved_index_prices(
    state: &ShardState,
    underlying: UnderlyingId,
    s: f64,
) -> BTreeMap<UnderlyingId, (u64, f64)> {
    let mut prices = BTreeMap::new();
    if let Some(&(t, p)) = state.index_prices.get(&underlying) {
        prices.insert(underlying, (t, p * (1.0 + s)));
    }
    prices
}
