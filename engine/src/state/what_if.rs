//! Pre-trade what-if (docs/MARGIN.md): an account's margin, Greeks and trading state after
//! hypothetical fills, from the shard's current state, without changing it. The answer
//! is what the state machine would hold after applying the same fills at the current
//! marks and running a batch end (tested as such), and whether the trade is allowed.

use rust_decimal::Decimal;
use thiserror::Error;

use super::account::RiskKey;
use super::account::market_value;
use super::account_margin::TradingState;
use super::account_margin::{
    Condition, Evaluation, GroupMargins, MarginInputs, evaluate_into, for_each_underlying,
};
use super::contract_margin::{ContractMargin, add_totals, contract_margin};
use super::contract_risk::{ContractRisk, value_at};
use super::instrument_state::InstrumentState;
use super::shard_state::ShardState;
use super::shard_state::{entry_value, ledger};
use super::sorted_map::SortedVecMap;
use super::working_memory::WorkingMemory;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{AccountId, Currency, InstrumentId, MarginModel, Side, UnderlyingId};
use crate::margin::{PmTotals, ScenarioBatch};

/// Most fills one what-if query takes.
pub const WHAT_IF_FILLS_MAX: usize = 64;

/// A fill that has not happened: quantity in contracts (> 0), price as quoted (0: at
/// the instrument's mark), fee in the settlement currency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HypotheticalFill {
    pub instrument: InstrumentId,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum WhatIfError {
    #[error("account {0} is not held by this shard")]
    UnknownAccount(u32),
    #[error("instrument {0} is not defined")]
    UnknownInstrument(u32),
    #[error("instrument {0} has settled")]
    Settled(u32),
    #[error("instrument {0} has no mark to value it at")]
    Unmarked(u32),
    #[error("instrument {0}: the model refuses its mark")]
    Unvalued(u32),
    #[error("fill quantity must be positive and price positive")]
    InvalidFill,
    #[error("more than {WHAT_IF_FILLS_MAX} fills in one query")]
    TooManyFills,
}

/// Why a trade is or is not allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhatIfReason {
    /// The account would stay ACTIVE.
    #[default]
    Active,
    /// The account would not be ACTIVE, but every fill only shrinks a position.
    ReducesRisk,
    /// The account is HALTED now: no trade until the liquidation is resolved.
    Halted,
    /// The condition the trade would cause (the first found, in condition order).
    Breach(Condition),
}

impl std::fmt::Display for WhatIfReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WhatIfReason::Active => f.write_str("account stays active"),
            WhatIfReason::ReducesRisk => f.write_str("reduce-only: every fill shrinks a position"),
            WhatIfReason::Halted => f.write_str("account halted (equity below maintenance margin)"),
            WhatIfReason::Breach(condition) => write!(f, "would breach {}", condition.name()),
        }
    }
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WhatIf {
    /// Margin per currency and the conditions found, after the fills.
    pub evaluation: Evaluation,
    /// Greeks per underlying after the fills (`value` is market value, mixed units).
    pub greeks: Vec<(UnderlyingId, ContractRisk)>,
    pub state: TradingState,
    pub allowed: bool,
    pub reason: WhatIfReason,
    /// Working memory, kept with the answer so that a reused answer allocates nothing.
    scratch: WorkingMemory<WhatIfScratch>,
}

/// The account's sums as the fills change them, and a scenario batch for an instrument
/// valued on the spot: reused from query to query.
#[derive(Default)]
struct WhatIfScratch {
    risk: SortedVecMap<RiskKey, ContractRisk>,
    pm_totals: SortedVecMap<RiskKey, PmTotals>,
    /// Standard margin: every position after the fills, in instrument order.
    positions: Vec<(InstrumentId, Decimal)>,
    positions_f64: Vec<(InstrumentId, f64)>,
    batch: Option<ScenarioBatch>,
    /// Instruments valued on demand by recent queries.
    valued: ValuedOnDemand,
    /// The ledger currencies the fills move, and the portfolio-margin groups.
    currencies: Vec<CurrencyAfter>,
    changed: Vec<RiskKey>,
}

/// One ledger currency the fills move: its cash and entry basis after them (every leg
/// priced), or the change of its equity (some leg at the mark). A query's few entries are
/// searched in order; per-slot arrays over every currency cost more to clear than to search.
#[derive(Clone, Copy)]
struct CurrencyAfter {
    slot: usize,
    cash: Option<Decimal>,
    entry: Option<f64>,
    equity_change: f64,
}

/// The entry of currency `slot` in `currencies`, added empty if missing.
fn currency_after(currencies: &mut Vec<CurrencyAfter>, slot: usize) -> &mut CurrencyAfter {
    let index = match currencies.iter().position(|c| c.slot == slot) {
        Some(index) => index,
        None => {
            currencies.push(CurrencyAfter {
                slot,
                cash: None,
                entry: None,
                equity_change: 0.0,
            });
            currencies.len() - 1
        }
    };
    &mut currencies[index]
}

/// Empties a per-query list of the working memory; the first time, gives it room for one
/// entry per fill, the most a query adds, so it is allocated once.
fn clear_for_query<T>(list: &mut Vec<T>) {
    list.clear();
    if list.capacity() == 0 {
        list.reserve_exact(WHAT_IF_FILLS_MAX);
    }
}

/// Most instruments valued on demand whose margin inputs a what-if's working memory
/// keeps: a pre-trade loop asks about the same few instruments again and again (and a
/// size query asks about one many times).
const VALUED_ON_DEMAND_MAX: usize = 4;

/// Margin inputs of instruments nobody held at the last batch end, as valued for recent
/// queries, each with everything its valuation read (compared bit for bit), so a hit is
/// the valuation's own result. Round-robin replacement. On the heap: the scratch moves
/// in and out of its answer on every query, so it must stay small.
#[derive(Default)]
struct ValuedOnDemand {
    entries: Vec<(ValuationInputs, ContractMargin)>,
    next: usize,
}

/// What valuing an instrument's margin inputs reads: its definition and, as bits, its
/// contract size, strike, mark, Greeks, its underlying's parameters and the model time.
#[derive(Clone, Copy, PartialEq)]
struct ValuationInputs {
    definition: crate::events::InstrumentDefinition,
    words: [u64; VALUATION_WORDS],
}

/// Contract size, strike, mark (3), Greeks (6), parameters (16), mark time, model time.
const VALUATION_WORDS: usize = 2 + 3 + 6 + 16 + 2;

impl ValuationInputs {
    fn of(
        instrument: &InstrumentState,
        mark: &super::contract_risk::Mark,
        contract: &ContractRisk,
        params: &crate::margin::PmParams,
        as_of_ns: u64,
    ) -> Self {
        // Typed lengths: a field added to either makes this fail to compile rather than
        // drop out of the comparison.
        let greeks: [f64; 6] = contract.fields();
        let parameters: [f64; 16] = params.fields();
        let values = [
            instrument.contract_size,
            instrument.strike,
            mark.mark_price,
            mark.mark_iv,
            mark.forward,
        ]
        .into_iter()
        .chain(greeks)
        .chain(parameters)
        .map(f64::to_bits)
        .chain([mark.timestamp_ns, as_of_ns]);
        let mut words = [0u64; VALUATION_WORDS];
        let mut filled = 0;
        for (word, value) in words.iter_mut().zip(values) {
            *word = value;
            filled += 1;
        }
        debug_assert_eq!(filled, VALUATION_WORDS);
        ValuationInputs {
            definition: instrument.definition,
            words,
        }
    }
}

impl ValuedOnDemand {
    fn get(&self, inputs: &ValuationInputs) -> Option<ContractMargin> {
        self.entries
            .iter()
            .find(|(held, _)| held == inputs)
            .map(|(_, margin)| *margin)
    }

    fn keep(&mut self, inputs: ValuationInputs, margin: ContractMargin) {
        if self.entries.len() < VALUED_ON_DEMAND_MAX {
            // Once, at full size (reserving on every push would grow it push by push).
            if self.entries.is_empty() {
                self.entries.reserve_exact(VALUED_ON_DEMAND_MAX);
            }
            self.entries.push((inputs, margin));
        } else {
            self.entries[self.next] = (inputs, margin);
            self.next = (self.next + 1) % VALUED_ON_DEMAND_MAX;
        }
    }
}

impl ShardState {
    /// What `fills` would do to `account`'s margin, Greeks and trading state. Never
    /// changes the state. Allocates its working memory; [`what_if_into`] with a reused
    /// answer allocates nothing once warm.
    ///
    /// [`what_if_into`]: ShardState::what_if_into
    pub fn what_if(
        &self,
        account_id: AccountId,
        fills: &[HypotheticalFill],
    ) -> Result<WhatIf, WhatIfError> {
        let mut answer = WhatIf::default();
        self.what_if_into(account_id, fills, &mut answer)?;
        Ok(answer)
    }

    /// [`what_if`](ShardState::what_if) into `answer`, which the caller reuses (its
    /// evaluation is a few kilobytes: written in place, not moved).
    pub fn what_if_into(
        &self,
        account_id: AccountId,
        fills: &[HypotheticalFill],
        answer: &mut WhatIf,
    ) -> Result<(), WhatIfError> {
        // The answer's parts borrowed apart: its working memory is used in place (moving
        // it out and back copied the scenario batch's bookkeeping on every query).
        let WhatIf {
            evaluation,
            greeks,
            state,
            allowed,
            reason,
            scratch,
        } = answer;
        (*state, *allowed, *reason) =
            self.what_if_with(account_id, fills, evaluation, greeks, scratch)?;
        Ok(())
    }

    /// The evaluation and Greeks after `fills` (written into `evaluation` and `greeks`),
    /// and the trading state, whether the trade is allowed and why.
    fn what_if_with(
        &self,
        account_id: AccountId,
        fills: &[HypotheticalFill],
        evaluation: &mut Evaluation,
        greeks: &mut Vec<(UnderlyingId, ContractRisk)>,
        scratch: &mut WhatIfScratch,
    ) -> Result<(TradingState, bool, WhatIfReason), WhatIfError> {
        if fills.len() > WHAT_IF_FILLS_MAX {
            return Err(WhatIfError::TooManyFills);
        }
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(WhatIfError::UnknownAccount(account_id.0))?;
        let market = self.margin_market();
        let WhatIfScratch {
            risk,
            pm_totals,
            positions,
            positions_f64,
            batch,
            valued,
            currencies,
            changed,
        } = scratch;
        risk.copy_from(&account.risk);
        pm_totals.copy_from(&account.pm_totals);
        // Per ledger currency, the cash and entry basis after the fills, computed as the
        // fill handler computes them (same decimal steps, same f64 order): the answer's
        // equity is then the applied state's bit for bit.
        clear_for_query(currencies);
        let priced = fills.iter().all(|f| !f.price.is_zero());
        let mut reduces_only = true;
        // The portfolio-margin groups the fills move: the others keep the margin the
        // account's last evaluation recorded, when that evaluation is current.
        clear_for_query(changed);
        for (index, fill) in fills.iter().enumerate() {
            let instrument = self
                .instruments
                .get(&fill.instrument)
                .ok_or(WhatIfError::UnknownInstrument(fill.instrument.0))?;
            if instrument.settled {
                return Err(WhatIfError::Settled(fill.instrument.0));
            }
            let mark = instrument
                .mark
                .ok_or(WhatIfError::Unmarked(fill.instrument.0))?;
            if fill.quantity <= Decimal::ZERO || fill.price < Decimal::ZERO {
                return Err(WhatIfError::InvalidFill);
            }
            let signed = match fill.side {
                Side::Buy => fill.quantity,
                Side::Sell => -fill.quantity,
            };
            let traded = decimal_to_f64(&signed);
            let held = quantity_before(account, &fills[..index], instrument.definition.id);
            let after = held + traded;
            reduces_only &= held != 0.0 && after.abs() < held.abs() && after * held >= 0.0;
            let contract = instrument
                .current_risk()
                .ok_or(WhatIfError::Unvalued(fill.instrument.0))?;
            let margin = self.margin_for_what_if(instrument, &contract, batch, valued);
            let key = instrument.risk_key();
            if !changed.contains(&key) {
                changed.push(key);
            }
            *risk.entry_or_default(key) += contract * traded;
            let change = crate::margin::PmTotals {
                vector: margin.vector * traded,
                roll_shock: margin.roll_shock * (after.abs() - held.abs()),
                delta: margin.delta * traded,
            };
            add_totals(pm_totals.entry_or_default(key), &change);
            let currency = instrument.currency();
            let slot = currency.slot().ok_or(WhatIfError::InvalidFill)?;
            if !priced {
                // Some leg trades at the mark, which no fill event does: equity moves by
                // Δq × (value at mark − value at the fill price) − fee (at the mark, −fee).
                let price = if fill.price.is_zero() {
                    mark.mark_price
                } else {
                    decimal_to_f64(&fill.price)
                };
                let value = |p| value_at(&instrument.definition, instrument.contract_size, p);
                let at_mark = value(mark.mark_price).ok_or(WhatIfError::InvalidFill)?;
                let at_price = value(price).ok_or(WhatIfError::InvalidFill)?;
                let fee = decimal_to_f64(&fill.fee);
                currency_after(currencies, slot).equity_change +=
                    traded * (at_mark - at_price) - fee;
                continue;
            }
            // Every leg priced: cash, realized PnL and entry basis as the fill handler
            // moves them, so the answer is the applied fills' state bit for bit.
            let size = instrument
                .definition
                .contract_size
                .get()
                .ok_or(WhatIfError::InvalidFill)?;
            // The position as the earlier legs on this instrument leave it (replayed: no
            // per-query table to set up).
            let mut before = account
                .positions
                .get(&fill.instrument)
                .copied()
                .unwrap_or_default();
            for earlier in fills[..index]
                .iter()
                .filter(|f| f.instrument == fill.instrument)
            {
                let signed = match earlier.side {
                    Side::Buy => earlier.quantity,
                    Side::Sell => -earlier.quantity,
                };
                before
                    .trade(&instrument.definition, size, signed, earlier.price)
                    .ok_or(WhatIfError::InvalidFill)?;
            }
            let mut after_position = before;
            let effect = after_position
                .trade(&instrument.definition, size, signed, fill.price)
                .ok_or(WhatIfError::InvalidFill)?;
            let moved = currency_after(currencies, slot);
            let cash = moved
                .cash
                .unwrap_or_else(|| ledger(&account.cash, currency));
            moved.cash = Some(
                effect
                    .realized
                    .checked_sub(fill.fee)
                    .and_then(|change| cash.checked_add(change))
                    .ok_or(WhatIfError::InvalidFill)?,
            );
            let entry = moved
                .entry
                .unwrap_or_else(|| account.entry_value.get(&currency).copied().unwrap_or(0.0));
            moved.entry = Some(
                entry
                    + (entry_value(
                        instrument,
                        after_position.quantity,
                        after_position.average_price,
                    ) - entry_value(instrument, before.quantity, before.average_price)),
            );
        }
        let equity = |currency: Currency| {
            let moved = currency
                .slot()
                .and_then(|slot| currencies.iter().find(|c| c.slot == slot));
            match moved {
                Some(&CurrencyAfter {
                    cash: Some(cash),
                    entry: Some(entry),
                    ..
                }) => decimal_to_f64(&cash) + (market_value(risk, currency) - entry),
                _ => account.equity(currency) + moved.map_or(0.0, |m| m.equity_change),
            }
        };
        let mut ledger = account.cash.keys().copied();
        // Standard margin needs every position after the fills; portfolio margin only
        // the sums above.
        positions_f64.clear();
        if account.margin_model == MarginModel::Standard {
            positions_after(account, fills, positions, positions_f64)?;
        }
        let mut positions = positions_f64.iter().copied();
        evaluate_into(
            MarginInputs {
                model: account.margin_model,
                limits: account.limits.as_ref(),
                pm_totals,
                risk,
                equity: &equity,
                ledger_currencies: &mut ledger,
                positions: &mut positions,
                standard_terms: None,
                groups: if self.margin_is_current(account) {
                    GroupMargins::Reuse {
                        recorded: &account.pm_group_margins,
                        changed,
                    }
                } else {
                    GroupMargins::Compute
                },
            },
            &market,
            evaluation,
        );
        greeks.clear();
        for_each_underlying(risk, |underlying, sum| greeks.push((underlying, *sum)));
        let state = evaluation.state();
        let (allowed, reason) = if account.trading_state == TradingState::Halted {
            (false, WhatIfReason::Halted)
        } else if state == TradingState::Active {
            (true, WhatIfReason::Active)
        } else if reduces_only {
            (true, WhatIfReason::ReducesRisk)
        } else {
            let first = Condition::ALL
                .into_iter()
                .find(|c| *c != Condition::MarginCall && evaluation.conditions & c.bit() != 0)
                .unwrap_or(Condition::Liquidation);
            (false, WhatIfReason::Breach(first))
        };
        Ok((state, allowed, reason))
    }

    /// An instrument's margin inputs as applying a fill would find them: current, or
    /// valued now from the last batch end's mark (as the state machine would; kept in
    /// `valued` for the next queries).
    fn margin_for_what_if(
        &self,
        instrument: &InstrumentState,
        contract: &ContractRisk,
        batch: &mut Option<ScenarioBatch>,
        valued: &mut ValuedOnDemand,
    ) -> ContractMargin {
        let margin = instrument.margin;
        if margin.valued {
            return margin;
        }
        let Some(mark) = margin.as_of else {
            return margin; // never revalued: holders carry nothing until the batch end
        };
        let params = self
            .margin_market()
            .params(instrument.definition.underlying);
        let inputs = ValuationInputs::of(instrument, &mark, contract, &params, margin.as_of_ns);
        if let Some(kept) = valued.get(&inputs) {
            return kept;
        }
        let batch = batch.get_or_insert_with(|| ScenarioBatch::with_capacity(1));
        let Ok(fresh) = contract_margin(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            contract,
            &params,
            margin.as_of_ns,
            batch,
        ) else {
            return margin;
        };
        valued.keep(inputs, fresh);
        fresh
    }
}

/// The account's position in `instrument` after the `earlier` fills of the query.
fn quantity_before(
    account: &super::account::AccountState,
    earlier: &[HypotheticalFill],
    instrument: InstrumentId,
) -> f64 {
    let mut held = account.quantity_f64(&instrument);
    for earlier in earlier {
        if earlier.instrument == instrument {
            let q = decimal_to_f64(&earlier.quantity);
            held += if earlier.side == Side::Buy { q } else { -q };
        }
    }
    held
}

/// Every position after the fills (for standard margin), in instrument order, into
/// `positions_f64` (`positions`: working memory; both reused, so no allocation once warm).
/// A sum beyond the decimal range is an invalid fill, not a panic.
fn positions_after(
    account: &super::account::AccountState,
    fills: &[HypotheticalFill],
    positions: &mut Vec<(InstrumentId, Decimal)>,
    positions_f64: &mut Vec<(InstrumentId, f64)>,
) -> Result<(), WhatIfError> {
    positions.clear();
    positions.extend(account.positions.iter().map(|(id, p)| (*id, p.quantity)));
    for fill in fills {
        let signed = match fill.side {
            Side::Buy => fill.quantity,
            Side::Sell => -fill.quantity,
        };
        match positions.binary_search_by(|(id, _)| id.cmp(&fill.instrument)) {
            Ok(at) => {
                let held = &mut positions[at].1;
                *held = held.checked_add(signed).ok_or(WhatIfError::InvalidFill)?;
            }
            Err(at) => positions.insert(at, (fill.instrument, signed)),
        }
    }
    positions_f64.extend(
        positions
            .iter()
            .filter(|(_, q)| !q.is_zero())
            .map(|(id, q)| (*id, decimal_to_f64(q))),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{
        Dec, InstrumentDefinition, InstrumentKind, Name, OptionRight, Settlement, UnderlyingId,
    };

    fn inputs(id: u32) -> ValuationInputs {
        ValuationInputs {
            definition: InstrumentDefinition {
                id: InstrumentId(id),
                name: Name::new("X").expect("a short name"),
                kind: InstrumentKind::Option,
                settlement: Settlement::Inverse,
                underlying: UnderlyingId(0),
                expiry_ns: 1,
                strike: Dec::new(Decimal::ONE),
                right: OptionRight::Call,
                contract_size: Dec::new(Decimal::ONE),
            },
            words: [u64::from(id); VALUATION_WORDS],
        }
    }

    /// The kept valuations take one allocation of full size, and the oldest is replaced
    /// first once all are taken.
    #[test]
    fn valuations_kept_on_demand_are_allocated_once_and_replaced_oldest_first() {
        let mut valued = ValuedOnDemand::default();
        let margin = |id: u32| ContractMargin {
            roll_shock: f64::from(id),
            ..ContractMargin::default()
        };
        for id in 0..VALUED_ON_DEMAND_MAX as u32 {
            valued.keep(inputs(id), margin(id));
            assert_eq!(
                valued.entries.capacity(),
                VALUED_ON_DEMAND_MAX,
                "after {id}"
            );
        }
        let extra = VALUED_ON_DEMAND_MAX as u32;
        valued.keep(inputs(extra), margin(extra));
        assert_eq!(valued.entries.capacity(), VALUED_ON_DEMAND_MAX);
        assert_eq!(valued.get(&inputs(0)), None, "the oldest was replaced");
        for id in 1..=extra {
            assert_eq!(valued.get(&inputs(id)), Some(margin(id)));
        }
    }
}
