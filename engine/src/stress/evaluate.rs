//! Full revaluation of accounts under a scenario: every held instrument re-marked on the
//! stressed market (`stressed_mark`) and revalued, its margin inputs recomputed with the
//! engine's own functions (the scenario batch for options), and each account's margin
//! re-run by the engine's evaluation on the stressed index prices — the same numbers the
//! engine would report had the market really moved there.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;

use super::scenario::{Scenario, ScenarioError};
use super::stressed_market::stressed_mark;
use crate::attribution::usd_rate;
use crate::events::{AccountId, Currency, InstrumentId, MarginModel, UnderlyingId};
use crate::margin::{PmTotals, ScenarioBatch};
use crate::state::account::{RiskKey, StandardTerms, StandardTotal};
use crate::state::account_margin::{
    Condition, CurrencyMargin, Evaluation, MarginInputs, MarginMarket, add_standard_term,
    evaluate_into, params_of, position_standard_margin_at,
};
use crate::state::contract_margin::{
    ContractMargin, add_totals, future_margin, option_margin, pm_contract, scenario_option,
};
use crate::state::contract_risk::{Mark, contract_risk, value_at};
use crate::state::shard_state::{MARGIN_BATCH_OPTIONS_MAX, ShardState};

/// Positions named in each row as the largest contributors to its loss.
pub const TOP_LOSSES_MAX: usize = 3;

/// One ledger currency of an account after the stress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurrencyStress {
    pub currency: Currency,
    /// Equity after − equity before, in the currency.
    pub pnl: f64,
    pub equity_before: f64,
    /// Equity, IM and MM after the stress (the margin model re-run on the stressed
    /// market), in the currency.
    pub after: CurrencyMargin,
    /// USD per unit of the currency after the stress (the stressed index for a coin).
    pub usd_rate_after: Option<f64>,
    /// Equity after the stress is below its maintenance margin.
    pub liquidated: bool,
}

/// One account under one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountStress {
    /// Index of the scenario in the list run.
    pub scenario: usize,
    pub account: AccountId,
    pub currencies: Vec<CurrencyStress>,
    /// Sums over currencies, each at its USD rate after the stress.
    pub pnl_usd: f64,
    pub equity_after_usd: f64,
    pub im_after_usd: f64,
    pub mm_after_usd: f64,
    /// Some currency would be liquidated.
    pub liquidated: bool,
    /// Every position was revalued and margined and every currency converted (else the
    /// figures leave the rest out).
    pub complete: bool,
    /// The positions that lose most, with their loss in USD (most negative first).
    pub worst_positions: Vec<(InstrumentId, f64)>,
}

/// An instrument on the stressed market.
#[derive(Clone, Copy, Debug)]
struct Stressed {
    value: f64,
    margin: Option<ContractMargin>,
    mark: Mark,
}

/// Stress runs over one shard's state: the held instruments are collected once, and the
/// working memory is reused from scenario to scenario.
pub struct StressRun<'a> {
    state: &'a ShardState,
    accounts: Vec<AccountId>,
    /// Every instrument any of the accounts holds, in id order.
    held: Vec<InstrumentId>,
    stressed: Vec<Option<Stressed>>,
    batch: ScenarioBatch,
    /// Per batch slot: index into `held` and margin units per contract.
    slots: Vec<(usize, f64)>,
    evaluation: Evaluation,
}

impl<'a> StressRun<'a> {
    /// A run over `accounts` (all of the shard's when empty).
    pub fn new(state: &'a ShardState, accounts: &[AccountId]) -> StressRun<'a> {
        let accounts: Vec<AccountId> = if accounts.is_empty() {
            state.accounts.keys().copied().collect()
        } else {
            accounts
                .iter()
                .copied()
                .filter(|id| state.accounts.contains_key(id))
                .collect()
        };
        let mut held: Vec<InstrumentId> = accounts
            .iter()
            .filter_map(|id| state.accounts.get(id))
            .flat_map(|a| a.positions.keys().copied())
            .collect();
        held.sort_unstable();
        held.dedup();
        StressRun {
            state,
            stressed: Vec::with_capacity(held.len()),
            accounts,
            held,
            batch: ScenarioBatch::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            slots: Vec::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            evaluation: Evaluation::default(),
        }
    }

    pub fn accounts(&self) -> &[AccountId] {
        &self.accounts
    }

    /// Revalues every account under `scenario` (number `index` in the caller's list),
    /// appending one row per account to `out`.
    pub fn run(
        &mut self,
        index: usize,
        scenario: &Scenario,
        out: &mut Vec<AccountStress>,
    ) -> Result<(), ScenarioError> {
        scenario.validate()?;
        self.stress_instruments(scenario);
        let state = self.state;
        let index_prices: BTreeMap<UnderlyingId, (u64, f64)> = state
            .index_prices
            .iter()
            .map(|(&u, &(t, p))| (u, (t, p * (1.0 + scenario.shock_of(u).spot_move))))
            .collect();
        let market = MarginMarket {
            instruments: &state.instruments,
            index_prices: &index_prices,
            risk_params: &state.risk_params,
            now_ns: state.now_ns.saturating_add(scenario.time_step_ns),
        };
        for n in 0..self.accounts.len() {
            let row = self.account_row(index, self.accounts[n], &market);
            out.extend(row);
        }
        Ok(())
    }

    /// Every held instrument on the stressed market: mark, value, margin inputs.
    fn stress_instruments(&mut self, scenario: &Scenario) {
        let state = self.state;
        let now_ns = state.now_ns;
        let later_ns = now_ns.saturating_add(scenario.time_step_ns);
        self.stressed.clear();
        self.batch.clear();
        self.slots.clear();
        for k in 0..self.held.len() {
            let Some(instrument) = state.instruments.get(&self.held[k]) else {
                self.stressed.push(None);
                continue;
            };
            let definition = &instrument.definition;
            let shock = scenario.shock_of(definition.underlying);
            let stressed = stressed_mark(
                instrument,
                &shock,
                now_ns,
                scenario.time_step_ns,
                scenario.surface(state),
            )
            .and_then(|mark| {
                let value = value_at(definition, instrument.contract_size, mark.mark_price)?;
                Some(Stressed {
                    value,
                    margin: None,
                    mark,
                })
            });
            self.stressed.push(stressed);
            let Some(Stressed { mark, .. }) = stressed else {
                continue;
            };
            let params = params_of(&state.risk_params, definition.underlying);
            let (contract, units) = pm_contract(
                definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                later_ns,
            );
            match scenario_option(&contract, &mark) {
                None => {
                    let margin =
                        future_margin(definition, &contract, units, &mark, &params, later_ns);
                    if let Some(s) = self.stressed[k].as_mut() {
                        s.margin = margin.ok();
                    }
                }
                Some(option) => {
                    if self.batch.push(&option, &params).is_ok() {
                        self.slots.push((k, units));
                        if self.batch.is_full() {
                            self.flush(later_ns);
                        }
                    }
                }
            }
        }
        self.flush(later_ns);
    }

    /// Prices the options queued and installs their margin inputs.
    fn flush(&mut self, later_ns: u64) {
        if self.batch.is_empty() {
            return;
        }
        let priced = self.batch.price().is_ok();
        for (slot, &(k, units)) in self.slots.iter().enumerate() {
            let Some(stressed) = self.stressed[k].as_mut() else {
                continue;
            };
            let Some(instrument) = self.state.instruments.get(&self.held[k]) else {
                continue;
            };
            let risk = contract_risk(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &stressed.mark,
                later_ns,
            );
            stressed.margin = match (priced, risk) {
                (true, Some(risk)) => {
                    option_margin(&self.batch, slot, units, &risk, &stressed.mark, later_ns).ok()
                }
                _ => None,
            };
        }
        self.batch.clear();
        self.slots.clear();
    }

    fn account_row(
        &mut self,
        scenario: usize,
        id: AccountId,
        market: &MarginMarket<'_>,
    ) -> Option<AccountStress> {
        let state = self.state;
        let account = state.accounts.get(&id)?;
        let mut complete = true;
        // Per currency: equity change; per group: margin sums; per position: its PnL.
        let mut equity_change: BTreeMap<Currency, f64> = BTreeMap::new();
        let mut pm_totals: BTreeMap<RiskKey, PmTotals> = BTreeMap::new();
        let mut standard: Vec<StandardTotal> = Vec::new();
        let mut losses: Vec<(InstrumentId, Currency, f64)> = Vec::new();
        for (instrument_id, position) in &account.positions {
            let quantity = position.quantity.to_f64().unwrap_or(0.0);
            let (Ok(k), Some(instrument)) = (
                self.held.binary_search(instrument_id),
                state.instruments.get(instrument_id),
            ) else {
                complete = false;
                continue;
            };
            let currency = instrument.currency();
            let Some(stressed) = self.stressed[k] else {
                complete = false;
                continue;
            };
            let pnl = quantity * (stressed.value - instrument.risk.value);
            *equity_change.entry(currency).or_default() += pnl;
            losses.push((*instrument_id, currency, pnl));
            match account.margin_model {
                MarginModel::Portfolio => match stressed.margin {
                    Some(margin) => add_totals(
                        pm_totals.entry(instrument.risk_key()).or_default(),
                        &margin.contribution(quantity),
                    ),
                    None => complete = false,
                },
                MarginModel::Standard => {
                    let margin =
                        position_standard_margin_at(instrument, &stressed.mark, quantity, market);
                    add_standard_term(&mut standard, currency, margin);
                }
            }
        }
        standard.sort_by_key(|t| t.currency);
        let terms = StandardTerms {
            totals: standard,
            ..StandardTerms::default()
        };
        let equity_after = |currency: Currency| {
            account.equity(currency) + equity_change.get(&currency).copied().unwrap_or(0.0)
        };
        evaluate_into(
            MarginInputs {
                model: account.margin_model,
                limits: account.limits.as_ref(),
                pm_totals: &pm_totals,
                risk: &account.risk,
                equity: &equity_after,
                ledger_currencies: &mut account.cash.keys().copied(),
                positions: &mut std::iter::empty(),
                standard_terms: Some(&terms),
            },
            market,
            &mut self.evaluation,
        );
        let index = |u: UnderlyingId| market.index(u);
        let mut row = AccountStress {
            scenario,
            account: id,
            currencies: Vec::new(),
            pnl_usd: 0.0,
            equity_after_usd: 0.0,
            im_after_usd: 0.0,
            mm_after_usd: 0.0,
            liquidated: self.evaluation.conditions & Condition::Liquidation.bit() != 0,
            complete,
            worst_positions: Vec::new(),
        };
        for (currency, after) in self.evaluation.iter() {
            let change = equity_change.get(&currency).copied().unwrap_or(0.0);
            let rate = usd_rate(currency, index);
            let stress = CurrencyStress {
                currency,
                pnl: change,
                equity_before: after.equity - change,
                after: *after,
                usd_rate_after: rate,
                liquidated: after.equity < after.maintenance_margin,
            };
            row.complete &= after.complete;
            match rate {
                Some(rate) => {
                    row.pnl_usd += change * rate;
                    row.equity_after_usd += after.equity * rate;
                    row.im_after_usd += after.initial_margin * rate;
                    row.mm_after_usd += after.maintenance_margin * rate;
                }
                None => row.complete = false,
            }
            row.currencies.push(stress);
        }
        let mut worst: Vec<(InstrumentId, f64)> = losses
            .iter()
            .filter_map(|&(id, currency, pnl)| Some((id, pnl * usd_rate(currency, index)?)))
            .filter(|(_, pnl)| *pnl < 0.0)
            .collect();
        worst.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        worst.truncate(TOP_LOSSES_MAX);
        row.worst_positions = worst;
        Some(row)
    }
}
