//! Position sizing: the largest quantity of an instrument an account may buy or sell
//! (in whole lots) that keeps it (a) at or above initial margin under its own margin
//! model, (b) within its limits (delta, vega, gamma, minimum margin ratio), and
//! optionally (c) within a stress budget: the loss under a chosen scenario, book and
//! trade together, at most a share of equity. Every candidate quantity is checked with
//! the full what-if (the same rules as the state machine), never a linear estimate; the
//! search only uses the shape of the constraints (headroom is concave in the quantity)
//! to need few of them.

use rust_decimal::Decimal;
use thiserror::Error;

use super::account_margin::Condition;
use super::contract_risk::value_at;
use super::shard_state::ShardState;
use super::what_if::{HypotheticalFill, WhatIf, WhatIfError};
use crate::attribution::usd_rate;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{AccountId, InstrumentId, Side};
use crate::stress::{AccountStress, Scenario, StressRun, stressed_mark};

/// Most lots a query considers (a named bound on the search).
pub const SIZING_LOTS_MAX: u64 = 1_000_000_000;
/// Most what-if evaluations one query makes before it settles on what it has proved.
pub const SIZING_EVALUATIONS_MAX: u32 = 64;

/// What the quantity must keep: every condition of the what-if that is a breach of
/// margin or of a limit.
pub const SIZING_CONSTRAINTS: [Condition; 7] = [
    Condition::BelowInitialMargin,
    Condition::MarginRatioLimit,
    Condition::DeltaLimit,
    Condition::VegaLimit,
    Condition::GammaLimit,
    Condition::Liquidation,
    Condition::MarginUnavailable,
];

/// A loss budget under one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct StressBudget {
    pub scenario: Scenario,
    /// Largest loss allowed, as a share of the account's equity now (0.1: 10 %).
    pub max_loss_share_of_equity: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SizingQuery {
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    /// The quantity step (the venue's minimum trade amount), > 0.
    pub lot: Decimal,
    pub stress: Option<StressBudget>,
}

/// What stops the quantity from growing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// One more lot would cause this condition.
    Condition(Condition),
    /// One more lot would lose more than the stress budget.
    StressBudget,
    /// The search bound: [`SIZING_LOTS_MAX`] lots, or the largest quantity a decimal
    /// holds (nothing else binds below it).
    LotsMax,
}

impl Binding {
    pub fn name(self) -> &'static str {
        match self {
            Binding::Condition(Condition::BelowInitialMargin) => "initial_margin",
            Binding::Condition(c) => c.name(),
            Binding::StressBudget => "stress_budget",
            Binding::LotsMax => "lots_max",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizing {
    /// Contracts, a whole number of lots (0: not even one lot).
    pub max_quantity: Decimal,
    pub lots: u64,
    pub binding: Binding,
    /// The constraint already breached before any trade (then `lots` is 0).
    pub already_breached: bool,
    /// What-if evaluations the search made.
    pub evaluations: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Error)]
pub enum SizingError {
    #[error(transparent)]
    WhatIf(#[from] WhatIfError),
    #[error("the lot must be a positive quantity")]
    InvalidLot,
    #[error("the stress scenario or budget is invalid")]
    InvalidBudget,
    #[error("the instrument has no mark to value it at")]
    Unmarked,
}

impl ShardState {
    /// The largest whole number of lots of `query.instrument` the account may trade on
    /// `query.side` at the mark, and what binds. `scratch` is reused between queries.
    pub fn max_quantity(
        &self,
        query: &SizingQuery,
        scratch: &mut WhatIf,
    ) -> Result<Sizing, SizingError> {
        if query.lot <= Decimal::ZERO {
            return Err(SizingError::InvalidLot);
        }
        let account = self
            .accounts
            .get(&query.account)
            .ok_or(WhatIfError::UnknownAccount(query.account.0))?;
        let evaluations = std::cell::Cell::new(0u32);
        // Equity − initial margin in the instrument's currency after the last what-if.
        let headroom = std::cell::Cell::new(f64::NAN);
        let currency = self
            .instruments
            .get(&query.instrument)
            .ok_or(WhatIfError::UnknownInstrument(query.instrument.0))?
            .currency();
        // (c) as a bound on lots, from the loss per lot under the scenario.
        let stress_lots = match &query.stress {
            Some(budget) => Some(self.stress_lots(query, budget)?),
            None => None,
        };
        let mut feasible = |lots: u64| -> Result<Option<Binding>, SizingError> {
            if stress_lots.is_some_and(|cap| lots > cap) {
                return Ok(Some(Binding::StressBudget));
            }
            // A quantity no decimal holds is beyond any bound.
            let Some(quantity) = quantity_of(query.lot, lots) else {
                return Ok(Some(Binding::LotsMax));
            };
            let fill = HypotheticalFill {
                instrument: query.instrument,
                side: query.side,
                quantity,
                price: Decimal::ZERO,
                fee: Decimal::ZERO,
            };
            evaluations.set(evaluations.get() + 1);
            self.what_if_into(query.account, &[fill], scratch)?;
            let available = scratch
                .evaluation
                .get(currency)
                .map(|m| m.available_balance());
            headroom.set(available.unwrap_or(f64::NAN));
            Ok(breach(scratch.evaluation.conditions))
        };
        // Already breached: no lot is allowed (the search is for trades that keep the
        // account inside, not the way back).
        if let Some(binding) = breach(account.conditions) {
            return Ok(Sizing {
                max_quantity: Decimal::ZERO,
                lots: 0,
                binding,
                already_breached: true,
                evaluations: evaluations.get(),
            });
        }
        let cap = stress_lots.map_or(SIZING_LOTS_MAX, |c| c.min(SIZING_LOTS_MAX));
        let one = if cap == 0 {
            Some(Binding::StressBudget)
        } else {
            feasible(1)?
        };
        if let Some(binding) = one {
            return Ok(Sizing {
                max_quantity: Decimal::ZERO,
                lots: 0,
                binding,
                already_breached: false,
                evaluations: evaluations.get(),
            });
        }
        // Largest feasible. Feasibility is monotone in the quantity (margin headroom is
        // concave in it, Greeks linear), and the headroom in the instrument's currency
        // is piecewise linear: secant steps on it (regula falsi, Illinois variant) find
        // the margin bound in a few what-ifs; bisection takes over where a limit binds.
        let headroom_now = account
            .margin
            .get(&currency)
            .map_or(f64::NAN, |m| m.available_balance());
        let (mut good, mut h_good) = (1u64, headroom.get());
        let mut bad: Option<(u64, f64, Binding)> = None;
        // Find an infeasible quantity: the secant through (0, now) and (1 lot) reaches
        // zero at or beyond the bound (concave headroom), else grow 16-fold.
        while bad.is_none() && good < cap && evaluations.get() < SIZING_EVALUATIONS_MAX {
            let slope = h_good - headroom_now;
            let probe = if slope < 0.0 && h_good > 0.0 && good == 1 {
                secant_probe(good, h_good, slope, cap)
            } else {
                good.saturating_mul(16)
            }
            .clamp(good + 1, cap);
            match feasible(probe)? {
                None => (good, h_good) = (probe, headroom.get()),
                Some(b) => bad = Some((probe, headroom.get(), b)),
            }
        }
        let Some((mut bad_lots, mut h_bad, mut binding)) = bad else {
            return Ok(Sizing {
                max_quantity: quantity_of(query.lot, good).ok_or(SizingError::InvalidLot)?,
                lots: good,
                binding: if good >= SIZING_LOTS_MAX {
                    Binding::LotsMax
                } else {
                    Binding::StressBudget
                },
                already_breached: false,
                evaluations: evaluations.get(),
            });
        };
        let mut same_side = 0u8;
        while bad_lots - good > 1 && evaluations.get() < SIZING_EVALUATIONS_MAX {
            let margin_bound = binding == Binding::Condition(Condition::BelowInitialMargin);
            let mid = if margin_bound && h_good > 0.0 && h_bad < 0.0 {
                // Illinois: a bracket end kept twice has its headroom halved.
                let weight = if same_side >= 2 { 0.5 } else { 1.0 };
                let h_bad = h_bad * weight;
                let t = h_good / (h_good - h_bad);
                let step = ((bad_lots - good) as f64 * t).round() as u64;
                (good + step).clamp(good + 1, bad_lots - 1)
            } else {
                good + (bad_lots - good) / 2
            };
            match feasible(mid)? {
                None => {
                    (good, h_good) = (mid, headroom.get());
                    same_side = same_side.saturating_add(1);
                }
                Some(b) => {
                    (bad_lots, h_bad, binding) = (mid, headroom.get(), b);
                    same_side = 0;
                }
            }
        }
        Ok(Sizing {
            max_quantity: quantity_of(query.lot, good).ok_or(SizingError::InvalidLot)?,
            lots: good,
            binding,
            already_breached: false,
            evaluations: evaluations.get(),
        })
    }

    /// Most lots whose loss under the scenario, added to the book's, stays within the
    /// budget (`u64::MAX`: the trade gains under it).
    fn stress_lots(&self, query: &SizingQuery, budget: &StressBudget) -> Result<u64, SizingError> {
        let share = budget.max_loss_share_of_equity;
        if !(share.is_finite() && share >= 0.0) || budget.scenario.validate().is_err() {
            return Err(SizingError::InvalidBudget);
        }
        let mut rows: Vec<AccountStress> = Vec::with_capacity(1);
        StressRun::new(self, &[query.account])
            .run(0, &budget.scenario, &mut rows)
            .map_err(|_| SizingError::InvalidBudget)?;
        let book_pnl_usd = rows.first().map_or(0.0, |r| r.pnl_usd);
        let account = self
            .accounts
            .get(&query.account)
            .ok_or(WhatIfError::UnknownAccount(query.account.0))?;
        let index_now = |u| self.index_prices.get(&u).map(|&(_, p)| p);
        let equity_usd: f64 = account
            .margin
            .iter()
            .filter_map(|(c, m)| Some(m.equity * usd_rate(*c, index_now)?))
            .sum();
        let instrument = self
            .instruments
            .get(&query.instrument)
            .ok_or(WhatIfError::UnknownInstrument(query.instrument.0))?;
        let mark = instrument.mark.ok_or(SizingError::Unmarked)?;
        let shock = budget.scenario.shock_of(instrument.definition.underlying);
        let stressed = stressed_mark(
            instrument,
            &shock,
            self.now_ns,
            budget.scenario.time_step_ns,
            budget.scenario.surface(self),
        )
        .ok_or(SizingError::Unmarked)?;
        let value = |price| value_at(&instrument.definition, instrument.contract_size, price);
        let (Some(before), Some(after)) = (value(mark.mark_price), value(stressed.mark_price))
        else {
            return Err(SizingError::Unmarked);
        };
        let index_after =
            |u| index_now(u).map(|p| p * (1.0 + budget.scenario.shock_of(u).spot_move));
        let rate = usd_rate(instrument.currency(), index_after).ok_or(SizingError::Unmarked)?;
        let sign = if query.side == Side::Buy { 1.0 } else { -1.0 };
        let lot = decimal_to_f64(&query.lot);
        let pnl_per_lot_usd = sign * (after - before) * rate * lot;
        let room_usd = share * equity_usd + book_pnl_usd; // loss allowed beyond the book's
        if room_usd < 0.0 {
            return Ok(0);
        }
        if pnl_per_lot_usd >= 0.0 {
            return Ok(u64::MAX);
        }
        let lots = (room_usd / -pnl_per_lot_usd).floor();
        Ok(if lots >= SIZING_LOTS_MAX as f64 {
            SIZING_LOTS_MAX
        } else {
            lots as u64
        })
    }
}

/// Where the line through (`good`, `headroom`) with `slope` per lot reaches zero, as
/// lots (rounded up), within `cap`.
fn secant_probe(good: u64, headroom: f64, slope: f64, cap: u64) -> u64 {
    let lots = good as f64 + headroom / -slope;
    if lots.is_finite() && lots < cap as f64 {
        lots.ceil() as u64
    } else {
        cap
    }
}

/// `lots` lots of `lot` contracts, when a decimal holds it.
fn quantity_of(lot: Decimal, lots: u64) -> Option<Decimal> {
    lot.checked_mul(Decimal::from(lots))
}

/// The first constraint breached among `conditions`, in [`SIZING_CONSTRAINTS`] order.
fn breach(conditions: u8) -> Option<Binding> {
    SIZING_CONSTRAINTS
        .into_iter()
        .find(|c| conditions & c.bit() != 0)
        .map(Binding::Condition)
}
