//! Full revaluation of accounts under a scenario: every held instrument re-marked on the
//! stressed market (`stressed_mark`) and revalued, its margin inputs recomputed with the
//! engine's own functions (the scenario batch for options), and each account's margin
//! re-run by the engine's evaluation on the stressed index prices — the same numbers the
//! engine would report had the market really moved there.

use std::collections::BTreeMap;

use super::scenario::{Scenario, ScenarioError};
use super::stressed_market::{
    model_inputs, moved_non_option_mark, moved_option_mark, option_model_value, quoted_value,
    repriced_mark, stressed_mark,
};
use crate::attribution::usd_rate;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{
    AccountId, Currency, InstrumentId, InstrumentKind, MarginModel, Settlement, UnderlyingId,
};
use crate::margin::{PmParams, PmTotals, ScenarioBatch};
use crate::pricing::{GreeksColumns, OptionColumns, black76_batch};
use crate::state::account::{RiskKey, StandardTerms, StandardTotal};
use crate::state::account_margin::{
    Condition, CurrencyMargin, Evaluation, GroupMargins, MarginInputs, MarginMarket,
    add_standard_term, evaluate_into, params_of, position_standard_margin_at,
};
use crate::state::contract_margin::{
    ContractMargin, add_totals, future_margin, option_margin, pm_contract, scenario_option,
};
use crate::state::contract_risk::{ContractRisk, Mark, contract_risk, option_risk, value_at};
use crate::state::instrument_state::InstrumentState;
use crate::state::shard_state::{MARGIN_BATCH_OPTIONS_MAX, ShardState};
use crate::state::sorted_map::SortedVecMap;

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

/// A held instrument, read once per run.
struct Held<'a> {
    instrument: Option<&'a InstrumentState>,
    params: PmParams,
    /// An option's model value at its mark now: where every stressed price moves from.
    value_now: Option<f64>,
}

/// One position of an account, read once per run (its quantity converted once).
#[derive(Clone, Copy)]
struct Holding {
    instrument: InstrumentId,
    /// Index into `StressRun::held`; `None` when the instrument is unknown.
    held: Option<usize>,
    quantity: f64,
}

/// Stress runs over one shard's state: the held instruments and the accounts' positions
/// are read once, and the working memory is reused from scenario to scenario.
pub struct StressRun<'a> {
    state: &'a ShardState,
    accounts: Vec<AccountId>,
    /// Per account (same order): its positions in instrument order.
    holdings: Vec<Vec<Holding>>,
    /// Every instrument any of the accounts holds, in id order.
    held: Vec<Held<'a>>,
    stressed: Vec<Option<Stressed>>,
    /// The stressed options' Black-76 inputs, priced with their Greeks in one batch, and
    /// the index into `held` of each row.
    option_inputs: OptionColumns,
    option_greeks: GreeksColumns,
    option_rows: Vec<usize>,
    batch: ScenarioBatch,
    /// Per batch slot: index into `held`, margin units per contract, and the Greeks at
    /// the stressed mark.
    slots: Vec<(usize, f64, ContractRisk)>,
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
        let mut ids: Vec<InstrumentId> = accounts
            .iter()
            .filter_map(|id| state.accounts.get(id))
            .flat_map(|a| a.positions.keys().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let held: Vec<Held<'a>> = ids
            .iter()
            .map(|&id| {
                let instrument = state.instruments.get(&id);
                let value_now =
                    instrument.and_then(|i| option_model_value(i, i.mark.as_ref()?, state.now_ns));
                let params = instrument.map_or(PmParams::BTC, |i| {
                    params_of(&state.risk_params, i.definition.underlying)
                });
                Held {
                    instrument,
                    params,
                    value_now,
                }
            })
            .collect();
        let holdings = accounts
            .iter()
            .filter_map(|id| state.accounts.get(id))
            .map(|account| {
                account
                    .positions
                    .iter()
                    .map(|(&instrument, position)| Holding {
                        instrument,
                        held: ids
                            .binary_search(&instrument)
                            .ok()
                            .filter(|&k| held[k].instrument.is_some()),
                        quantity: decimal_to_f64(&position.quantity),
                    })
                    .collect()
            })
            .collect();
        let count = held.len();
        StressRun {
            state,
            stressed: Vec::with_capacity(count),
            option_inputs: OptionColumns::with_capacity(count),
            option_greeks: GreeksColumns::filled(count, 0.0),
            option_rows: Vec::with_capacity(count),
            accounts,
            holdings,
            held,
            batch: ScenarioBatch::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            slots: Vec::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            evaluation: Evaluation::default(),
        }
    }

    pub fn accounts(&self) -> &[AccountId] {
        &self.accounts
    }

    /// Each held instrument's mark under the last scenario run (`None`: not stressable),
    /// in instrument id order.
    pub fn stressed_marks(&self) -> impl Iterator<Item = (InstrumentId, Option<Mark>)> + '_ {
        self.held
            .iter()
            .zip(&self.stressed)
            .filter_map(|(held, stressed)| {
                let id = held.instrument?.definition.id;
                Some((id, stressed.map(|s| s.mark)))
            })
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
            let row = self.account_row(index, n, &market);
            out.extend(row);
        }
        Ok(())
    }

    /// Every held instrument on the stressed market: mark, value, margin inputs. Options
    /// are repriced in one Greeks batch (the bits `stressed_mark` and `contract_risk` give
    /// each alone), then their scenario vectors in the scenario batch.
    fn stress_instruments(&mut self, scenario: &Scenario) {
        let state = self.state;
        let now_ns = state.now_ns;
        let later_ns = now_ns.saturating_add(scenario.time_step_ns);
        let surface = scenario.surface(state);
        self.stressed.clear();
        self.option_inputs.clear();
        self.option_rows.clear();
        for k in 0..self.held.len() {
            let held = &self.held[k];
            let Some((instrument, mark)) = held.instrument.and_then(|i| Some((i, i.mark?))) else {
                self.stressed.push(None);
                continue;
            };
            let shock = scenario.shock_of(instrument.definition.underlying);
            if instrument.definition.kind != InstrumentKind::Option {
                let mark = moved_non_option_mark(&mark, &shock);
                let stressed = value_at(
                    &instrument.definition,
                    instrument.contract_size,
                    mark.mark_price,
                )
                .map(|value| {
                    let (contract, units) = pm_contract(
                        &instrument.definition,
                        instrument.contract_size,
                        instrument.strike,
                        &mark,
                        later_ns,
                    );
                    let margin = future_margin(
                        &instrument.definition,
                        &contract,
                        units,
                        &mark,
                        &held.params,
                        later_ns,
                    );
                    Stressed {
                        value,
                        margin: margin.ok(),
                        mark,
                    }
                });
                self.stressed.push(stressed);
                continue;
            }
            let moved = moved_option_mark(instrument, &mark, &shock, later_ns, surface);
            let inputs = model_inputs(instrument, &moved, later_ns).map(|(inputs, _)| inputs);
            match (inputs, held.value_now) {
                // Live and priceable: into the Greeks batch.
                (Some(inputs), Some(_)) if inputs.years > 0.0 && inputs.validate().is_ok() => {
                    self.option_inputs.push(inputs);
                    self.option_rows.push(k);
                    self.stressed.push(Some(Stressed {
                        value: f64::NAN,
                        margin: None,
                        mark: moved,
                    }));
                }
                // Expired by the stressed time (or not priceable): valued alone, by the
                // same rule.
                _ => {
                    let stressed =
                        stressed_mark(instrument, &shock, now_ns, scenario.time_step_ns, surface)
                            .and_then(|mark| {
                                let value = value_at(
                                    &instrument.definition,
                                    instrument.contract_size,
                                    mark.mark_price,
                                )?;
                                let risk = contract_risk(
                                    &instrument.definition,
                                    instrument.contract_size,
                                    instrument.strike,
                                    &mark,
                                    later_ns,
                                );
                                Some((
                                    Stressed {
                                        value,
                                        margin: None,
                                        mark,
                                    },
                                    risk,
                                ))
                            });
                    self.stressed.push(stressed.map(|(s, _)| s));
                    if let Some((stressed, Some(risk))) = stressed {
                        self.queue_option_margin(k, &stressed.mark, risk, later_ns);
                    }
                }
            }
        }
        self.price_options(later_ns);
        self.flush(later_ns);
    }

    /// Prices the stressed options queued in `option_inputs` (value and Greeks in one
    /// batch), installs their marks and values, and queues their scenario vectors.
    fn price_options(&mut self, later_ns: u64) {
        let rows = self.option_inputs.len();
        let priced = black76_batch(
            &self.option_inputs.as_batch(),
            &mut self.option_greeks.prefix(rows),
        )
        .is_ok();
        for row in 0..rows {
            let k = self.option_rows[row];
            let (true, Some(instrument), Some(value_now)) =
                (priced, self.held[k].instrument, self.held[k].value_now)
            else {
                self.stressed[k] = None;
                continue;
            };
            let inputs = self.option_inputs.option(row);
            let usd = self.option_greeks.greeks(row);
            let Some(mark) = instrument.mark else {
                self.stressed[k] = None;
                continue;
            };
            let Some(moved) = self.stressed[k].map(|s| s.mark) else {
                continue;
            };
            let inverse = instrument.definition.settlement == Settlement::Inverse;
            let moved_value = quoted_value(usd.price_usd, inverse, moved.forward);
            let mark = repriced_mark(&mark, moved, moved_value, value_now);
            let definition = &instrument.definition;
            let Some(value) = value_at(definition, instrument.contract_size, mark.mark_price)
            else {
                self.stressed[k] = None;
                continue;
            };
            self.stressed[k] = Some(Stressed {
                value,
                margin: None,
                mark,
            });
            // The Greeks at the stressed mark are this row's: same inputs as
            // `contract_risk` (the option is live, so its years are not clamped).
            if let Some(risk) =
                option_risk(definition, instrument.contract_size, &mark, &inputs, &usd)
            {
                self.queue_option_margin(k, &mark, risk, later_ns);
            }
        }
    }

    /// Queues held option `k`'s scenario vector at its stressed `mark` (flushing a full
    /// batch), to be installed with `risk`'s delta.
    fn queue_option_margin(&mut self, k: usize, mark: &Mark, risk: ContractRisk, later_ns: u64) {
        let Some(instrument) = self.held[k].instrument else {
            return;
        };
        let (contract, units) = pm_contract(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            mark,
            later_ns,
        );
        let Some(option) = scenario_option(&contract, mark) else {
            return;
        };
        if self.batch.push(&option, &self.held[k].params).is_ok() {
            self.slots.push((k, units, risk));
            if self.batch.is_full() {
                self.flush(later_ns);
            }
        }
    }

    /// Prices the options queued and installs their margin inputs.
    fn flush(&mut self, later_ns: u64) {
        if self.batch.is_empty() {
            return;
        }
        let priced = self.batch.price().is_ok();
        for (slot, (k, units, risk)) in self.slots.iter().enumerate() {
            let Some(stressed) = self.stressed[*k].as_mut() else {
                continue;
            };
            stressed.margin = if priced {
                option_margin(&self.batch, slot, *units, risk, &stressed.mark, later_ns).ok()
            } else {
                None
            };
        }
        self.batch.clear();
        self.slots.clear();
    }

    fn account_row(
        &mut self,
        scenario: usize,
        n: usize,
        market: &MarginMarket<'_>,
    ) -> Option<AccountStress> {
        let state = self.state;
        let id = self.accounts[n];
        let account = state.accounts.get(&id)?;
        let mut complete = true;
        // Per currency: equity change; per group: margin sums; the largest losses.
        let mut equity_change: BTreeMap<Currency, f64> = BTreeMap::new();
        let mut pm_totals: SortedVecMap<RiskKey, PmTotals> = SortedVecMap::new();
        let mut standard: Vec<StandardTotal> = Vec::new();
        let mut losses = WorstLosses::default();
        let index = |u: UnderlyingId| market.index(u);
        for holding in &self.holdings[n] {
            let quantity = holding.quantity;
            let Some(k) = holding.held else {
                complete = false;
                continue;
            };
            let (Some(instrument), Some(stressed)) = (self.held[k].instrument, self.stressed[k])
            else {
                complete = false;
                continue;
            };
            let currency = instrument.currency();
            let pnl = quantity * (stressed.value - instrument.risk.value);
            *equity_change.entry(currency).or_default() += pnl;
            if let Some(rate) = usd_rate(currency, index) {
                losses.offer(holding.instrument, pnl * rate);
            }
            match account.margin_model {
                MarginModel::Portfolio => match stressed.margin {
                    Some(margin) => add_totals(
                        pm_totals.entry_or_default(instrument.risk_key()),
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
                groups: GroupMargins::Compute,
            },
            market,
            &mut self.evaluation,
        );
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
        row.worst_positions = losses.worst;
        Some(row)
    }
}

/// The `TOP_LOSSES_MAX` most negative position PnLs seen, without sorting them all.
#[derive(Default)]
struct WorstLosses {
    worst: Vec<(InstrumentId, f64)>,
}

impl WorstLosses {
    /// Keeps `pnl_usd` if it is a loss among the largest: most negative first, ties by
    /// instrument id.
    fn offer(&mut self, id: InstrumentId, pnl_usd: f64) {
        if pnl_usd >= 0.0 || pnl_usd.is_nan() {
            return;
        }
        let at = self
            .worst
            .iter()
            .position(|&(other, loss)| pnl_usd.total_cmp(&loss).then(id.cmp(&other)).is_lt())
            .unwrap_or(self.worst.len());
        if at < TOP_LOSSES_MAX {
            self.worst.insert(at, (id, pnl_usd));
            self.worst.truncate(TOP_LOSSES_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept losses are what sorting every position's PnL and taking the first
    /// `TOP_LOSSES_MAX` losses gives (the rule before `WorstLosses`), ties included.
    #[test]
    fn worst_losses_equal_sorting_every_position() {
        let mut rng = crate::test_lcg::Lcg(7);
        let mut next = || rng.next_u64() >> 33;
        for case in 0..5_000 {
            let count = (next() % 12) as usize;
            // Few distinct values, so ties are common; some gains, zeros and NaN.
            let pnls: Vec<(InstrumentId, f64)> = (0..count)
                .map(|i| {
                    let pnl = match next() % 8 {
                        0 => 0.0,
                        1 => f64::NAN,
                        2 => 5.0,
                        v => -(v as f64),
                    };
                    (InstrumentId((next() % 40) as u32 + i as u32 * 40), pnl)
                })
                .collect();
            let mut kept = WorstLosses::default();
            for &(id, pnl) in &pnls {
                kept.offer(id, pnl);
            }
            let mut expected: Vec<(InstrumentId, f64)> =
                pnls.iter().copied().filter(|(_, pnl)| *pnl < 0.0).collect();
            expected.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            expected.truncate(TOP_LOSSES_MAX);
            assert_eq!(kept.worst, expected, "case {case}: {pnls:?}");
        }
    }
}
