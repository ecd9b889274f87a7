//! An account's margin per settlement currency, its limit checks and its trading state
//! (docs/MARGIN.md): equity against initial and maintenance margin under the account's model.
//! Evaluated at batch ends for the accounts whose inputs changed, from sums kept
//! incrementally (portfolio margin) or from the positions (standard margin).

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};

use super::account::{AccountState, PmGroupMargins, RiskKey, StandardTerms, StandardTotal};
use super::alerts::Scope;
use super::contract_margin::pm_contract;
use super::contract_risk::{ContractRisk, Mark};
use super::id_map::IdMap;
use super::instrument_state::InstrumentState;
use super::sorted_map::SortedVecMap;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{
    CURRENCIES_MAX, Currency, DEFAULT_MARGIN_CALL_RATIO, InstrumentId, Limits, MarginModel,
    RiskParams, UnderlyingId,
};
use crate::margin::{
    OrderMargins, PmParams, PmSettlement, PmTotals, initial_and_maintenance_in, standard_margin,
};

/// One settlement currency's margin, in that currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct CurrencyMargin {
    /// Collateral + realized + unrealized PnL (positions at their marks).
    pub equity: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
    /// False when some position in this currency could not be margined (no index price
    /// yet, or its parameters or market refused): the figures leave it out.
    pub complete: bool,
}

impl Default for Finding {
    fn default() -> Self {
        Finding {
            scope: Scope::Currency(Currency::Quote),
            value: 0.0,
            threshold: 0.0,
        }
    }
}

impl CurrencyMargin {
    /// Equity − initial margin: what new positions may use.
    pub fn available_balance(&self) -> f64 {
        self.equity - self.initial_margin
    }

    /// Equity / maintenance margin (liquidation below 1); `None` with no margin used.
    pub fn margin_ratio(&self) -> Option<f64> {
        (self.maintenance_margin > 0.0).then(|| self.equity / self.maintenance_margin)
    }
}

/// What an account may do (docs/MARGIN.md), in increasing severity.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Archive, Serialize, Deserialize,
)]
pub enum TradingState {
    #[default]
    Active,
    /// Only risk-reducing trades: equity below initial margin, a limit breached, or
    /// margin unknown for a currency it holds positions in.
    ReduceOnly,
    /// Equity below maintenance margin: liquidation territory, no trading.
    Halted,
}

impl TradingState {
    pub fn name(self) -> &'static str {
        match self {
            TradingState::Active => "ACTIVE",
            TradingState::ReduceOnly => "REDUCE_ONLY",
            TradingState::Halted => "HALTED",
        }
    }
}

/// Conditions an evaluation can find, as bits; alerts fire when one turns on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    MarginCall = 0,
    Liquidation = 1,
    DeltaLimit = 2,
    VegaLimit = 3,
    GammaLimit = 4,
    MarginRatioLimit = 5,
    BelowInitialMargin = 6,
    MarginUnavailable = 7,
}

impl Condition {
    pub const ALL: [Condition; 8] = [
        Condition::MarginCall,
        Condition::Liquidation,
        Condition::DeltaLimit,
        Condition::VegaLimit,
        Condition::GammaLimit,
        Condition::MarginRatioLimit,
        Condition::BelowInitialMargin,
        Condition::MarginUnavailable,
    ];

    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Condition::MarginCall => "margin_call",
            Condition::Liquidation => "liquidation",
            Condition::DeltaLimit => "delta_limit",
            Condition::VegaLimit => "vega_limit",
            Condition::GammaLimit => "gamma_limit",
            Condition::MarginRatioLimit => "margin_ratio_limit",
            Condition::BelowInitialMargin => "below_initial_margin",
            Condition::MarginUnavailable => "margin_unavailable",
        }
    }

    /// Conditions that raise an alert when they begin (the others only set the state).
    pub fn alerts(self) -> bool {
        !matches!(
            self,
            Condition::BelowInitialMargin | Condition::MarginUnavailable
        )
    }
}

/// The first place a condition was found: the currency or underlying, the value and the
/// threshold it crossed.
#[derive(Clone, Copy, Debug, PartialEq, Archive, Serialize, Deserialize)]
pub struct Finding {
    pub scope: Scope,
    pub value: f64,
    pub threshold: f64,
}

/// Everything an evaluation finds. Large (a slot per ledger currency): the batch end
/// reuses one, resetting only the slots the last evaluation used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    currencies: [Option<CurrencyMargin>; CURRENCIES_MAX],
    /// The slots in use, a bit each.
    present: u128,
    pub conditions: u8,
    pub findings: [Finding; Condition::ALL.len()],
}

const _: () = assert!(CURRENCIES_MAX <= u128::BITS as usize);

impl Default for Evaluation {
    fn default() -> Self {
        Evaluation {
            currencies: [None; CURRENCIES_MAX],
            present: 0,
            conditions: 0,
            findings: [Finding::default(); Condition::ALL.len()],
        }
    }
}

impl Evaluation {
    /// Back to empty, touching only the slots in use.
    fn reset(&mut self) {
        for slot in self.slots() {
            self.currencies[slot] = None;
        }
        self.present = 0;
        self.conditions = 0;
        self.findings = [Finding::default(); Condition::ALL.len()];
    }

    /// The slots in use, in order.
    fn slots(&self) -> impl Iterator<Item = usize> + use<> {
        let mut bits = self.present;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let slot = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(slot)
        })
    }

    /// The margin entry of `currency`, created (complete, zero) on first use; `None` for
    /// a coin id out of range (refused on input, so never in state).
    fn touch(&mut self, currency: Currency) -> Option<&mut CurrencyMargin> {
        let slot = currency.slot()?;
        let entry = self.currencies.get_mut(slot)?;
        self.present |= 1u128 << slot;
        Some(entry.get_or_insert(CurrencyMargin {
            complete: true,
            ..CurrencyMargin::default()
        }))
    }

    pub fn state(&self) -> TradingState {
        let has = |c: Condition| self.conditions & c.bit() != 0;
        if has(Condition::Liquidation) {
            TradingState::Halted
        } else if Condition::ALL
            .iter()
            .any(|&c| c != Condition::MarginCall && has(c))
        {
            TradingState::ReduceOnly
        } else {
            TradingState::Active
        }
    }

    /// The margin found in `currency`, if the account has any there.
    pub fn get(&self, currency: Currency) -> Option<&CurrencyMargin> {
        let slot = currency.slot()?;
        (self.present >> slot & 1 == 1)
            .then(|| self.currencies[slot].as_ref())
            .flatten()
    }

    /// The currencies with a margin, in id order (the quote currency last).
    pub fn iter(&self) -> impl Iterator<Item = (Currency, &CurrencyMargin)> {
        self.slots()
            .filter_map(|slot| Some((Currency::from_slot(slot)?, self.currencies[slot].as_ref()?)))
    }
}

/// The market data margin needs, borrowed from the shard.
#[derive(Clone, Copy)]
pub struct MarginMarket<'a> {
    pub instruments: &'a IdMap<InstrumentId, InstrumentState>,
    pub index_prices: &'a BTreeMap<UnderlyingId, (u64, f64)>,
    pub risk_params: &'a BTreeMap<UnderlyingId, RiskParams>,
    pub now_ns: u64,
}

impl MarginMarket<'_> {
    /// Parameters in force for an underlying (until journaled, the built-in BTC set).
    pub fn params(&self, underlying: UnderlyingId) -> PmParams {
        params_of(self.risk_params, underlying)
    }

    pub fn index(&self, underlying: UnderlyingId) -> Option<f64> {
        self.index_prices.get(&underlying).map(|&(_, price)| price)
    }
}

/// Portfolio-margin parameters in force for an underlying (the built-in BTC set until a
/// `RiskParams` event names it).
pub fn params_of(
    params: &BTreeMap<UnderlyingId, RiskParams>,
    underlying: UnderlyingId,
) -> PmParams {
    params.get(&underlying).map_or(PmParams::BTC, |r| r.params)
}

fn settlement(currency: Currency) -> PmSettlement {
    match currency {
        Currency::Quote => PmSettlement::Quote,
        Currency::Coin(_) => PmSettlement::Coin,
    }
}

/// Portfolio margin of one group (underlying, currency) from its sums; `None` when it
/// cannot be computed (no index price, no journaled parameters for the underlying,
/// invalid sums). Never another underlying's parameters: until its `RiskParams`, the
/// group's margin is unavailable (and the account reduce-only), not guessed.
pub fn group_margin(
    key: RiskKey,
    totals: &PmTotals,
    market: &MarginMarket<'_>,
) -> Option<(f64, f64)> {
    let (underlying, currency) = key;
    let index = market.index(underlying)?;
    let params = market.risk_params.get(&underlying)?.params;
    initial_and_maintenance_in(
        settlement(currency),
        totals,
        index,
        &params,
        &OrderMargins::default(),
    )
    .ok()
}

/// Standard margin of one position; `None` when it cannot be computed.
fn position_standard_margin(
    instrument: &InstrumentState,
    quantity: f64,
    market: &MarginMarket<'_>,
) -> Option<(f64, f64)> {
    position_standard_margin_at(instrument, &instrument.mark?, quantity, market)
}

/// Standard margin of one position were the instrument marked at `mark` (a stressed
/// market's, for instance); `None` when it cannot be computed.
pub fn position_standard_margin_at(
    instrument: &InstrumentState,
    mark: &Mark,
    quantity: f64,
    market: &MarginMarket<'_>,
) -> Option<(f64, f64)> {
    let index = market.index(instrument.definition.underlying)?;
    let (contract, units) = pm_contract(
        &instrument.definition,
        instrument.contract_size,
        instrument.strike,
        mark,
        market.now_ns,
    );
    let per_unit_mark = mark.mark_price / instrument.contract_size;
    let margin = standard_margin(&contract, quantity * units, index, per_unit_mark).ok()?;
    Some((margin.initial_margin, margin.maintenance_margin))
}

/// Greeks of one underlying summed over currencies, from a `risk` map ordered by
/// (underlying, currency): calls `each` once per underlying, without allocating.
pub fn for_each_underlying(
    risk: &SortedVecMap<RiskKey, ContractRisk>,
    mut each: impl FnMut(UnderlyingId, &ContractRisk),
) {
    let mut current: Option<(UnderlyingId, ContractRisk)> = None;
    for ((underlying, _), r) in risk {
        match &mut current {
            Some((u, sum)) if u == underlying => *sum += *r,
            _ => {
                if let Some((u, sum)) = current.take() {
                    each(u, &sum);
                }
                current = Some((*underlying, *r));
            }
        }
    }
    if let Some((u, sum)) = current {
        each(u, &sum);
    }
}

/// The inputs of one evaluation: the account's sums (its own, or what-if ones).
pub struct MarginInputs<'a> {
    pub model: MarginModel,
    pub limits: Option<&'a Limits>,
    pub pm_totals: &'a SortedVecMap<RiskKey, PmTotals>,
    pub risk: &'a SortedVecMap<RiskKey, ContractRisk>,
    /// Equity per currency (collateral + PnL).
    pub equity: &'a dyn Fn(Currency) -> f64,
    /// Currencies with a ledger entry (cash), besides those positions are in.
    pub ledger_currencies: &'a mut dyn Iterator<Item = Currency>,
    /// Quantity of each position (what-if overrides), for standard margin.
    pub positions: &'a mut dyn Iterator<Item = (InstrumentId, f64)>,
    /// Standard margin per position, already current (`refresh_standard_terms`): used
    /// instead of `positions` when given.
    pub standard_terms: Option<&'a StandardTerms>,
    /// Portfolio margin: what to do with each group's margin besides summing it.
    pub groups: GroupMargins<'a>,
}

/// How an evaluation treats portfolio-margin groups' margins.
pub enum GroupMargins<'a> {
    /// Computes every group.
    Compute,
    /// Computes every group and records each result (the account's own evaluation).
    Record(&'a mut PmGroupMargins),
    /// Takes the recorded result of every group not in `changed` (a what-if on an account
    /// whose margin is current: the other groups' sums and market are as recorded).
    Reuse {
        recorded: &'a PmGroupMargins,
        changed: &'a [RiskKey],
    },
}

/// Recomputes the standard margin of the positions whose inputs changed (quantity, mark
/// or index): what a batch end does before evaluating a standard-margin account.
pub fn refresh_standard_terms(account: &mut AccountState, market: &MarginMarket<'_>) {
    if account.margin_model != MarginModel::Standard {
        return;
    }
    // One pass: recompute the terms that are due and sum every term per currency (in
    // instrument order, so the sums are exact recomputations, not running totals).
    let StandardTerms {
        terms,
        moved_underlyings,
        totals,
    } = &mut account.standard_terms;
    totals.clear();
    for (id, term) in terms.iter_mut() {
        if term.is_due(*moved_underlyings) {
            term.stale = false;
            term.margin = market
                .instruments
                .get(id)
                .and_then(|instrument| position_standard_margin(instrument, term.quantity, market));
        }
        add_standard_term(totals, term.currency, term.margin);
    }
    totals.sort_by_key(|t| t.currency);
    *moved_underlyings = 0;
}

/// Adds one position's standard margin (`None`: it could not be computed, so the
/// currency's total is incomplete) to its currency's total, created on first use.
pub fn add_standard_term(
    totals: &mut Vec<StandardTotal>,
    currency: Currency,
    margin: Option<(f64, f64)>,
) {
    let slot = match totals.iter().position(|t| t.currency == currency) {
        Some(slot) => slot,
        None => {
            totals.push(StandardTotal {
                currency,
                initial_margin: 0.0,
                maintenance_margin: 0.0,
                complete: true,
            });
            totals.len() - 1
        }
    };
    let total = &mut totals[slot];
    match margin {
        Some((im, mm)) => {
            total.initial_margin += im;
            total.maintenance_margin += mm;
        }
        None => total.complete = false,
    }
}

/// Evaluates an account: margin per currency, limit checks, conditions. Allocates
/// nothing.
pub fn evaluate(inputs: MarginInputs<'_>, market: &MarginMarket<'_>) -> Evaluation {
    let mut evaluation = Evaluation::default();
    evaluate_into(inputs, market, &mut evaluation);
    evaluation
}

/// [`evaluate`] into `evaluation` (reset first), which the caller reuses.
pub fn evaluate_into(
    inputs: MarginInputs<'_>,
    market: &MarginMarket<'_>,
    evaluation: &mut Evaluation,
) {
    evaluation.reset();
    for currency in &mut *inputs.ledger_currencies {
        evaluation.touch(currency);
    }
    match inputs.model {
        MarginModel::Portfolio => {
            let mut groups = inputs.groups;
            if let GroupMargins::Record(recorded) = &mut groups {
                recorded.groups.clear();
            }
            for (&key, totals) in inputs.pm_totals {
                let Some(entry) = evaluation.touch(key.1) else {
                    continue;
                };
                let is_empty = totals.vector == crate::margin::ScenarioVector::ZERO
                    && totals.roll_shock == 0.0
                    && totals.delta == 0.0;
                let margin = match &mut groups {
                    GroupMargins::Reuse { recorded, changed } if !changed.contains(&key) => {
                        match recorded.groups.get(&key) {
                            Some(margin) => *margin,
                            None => group_margin(key, totals, market),
                        }
                    }
                    GroupMargins::Record(recorded) => {
                        let margin = group_margin(key, totals, market);
                        recorded.groups.insert(key, margin);
                        margin
                    }
                    _ => group_margin(key, totals, market),
                };
                match margin {
                    Some((im, mm)) => {
                        entry.initial_margin += im;
                        entry.maintenance_margin += mm;
                    }
                    None if !is_empty => entry.complete = false,
                    None => {}
                }
            }
        }
        MarginModel::Standard if inputs.standard_terms.is_some() => {
            let totals = inputs.standard_terms.map(|t| &t.totals);
            for total in totals.into_iter().flatten() {
                let Some(entry) = evaluation.touch(total.currency) else {
                    continue;
                };
                entry.initial_margin += total.initial_margin;
                entry.maintenance_margin += total.maintenance_margin;
                entry.complete &= total.complete;
            }
        }
        MarginModel::Standard => {
            for (id, quantity) in &mut *inputs.positions {
                let Some(instrument) = market.instruments.get(&id) else {
                    continue;
                };
                let Some(entry) = evaluation.touch(instrument.currency()) else {
                    continue;
                };
                match position_standard_margin(instrument, quantity, market) {
                    Some((im, mm)) => {
                        entry.initial_margin += im;
                        entry.maintenance_margin += mm;
                    }
                    None => entry.complete = false,
                }
            }
        }
    }
    // Positions' currencies without a group yet (e.g. standard model) still have equity.
    for &(_, currency) in inputs.risk.keys() {
        evaluation.touch(currency);
    }
    let call_ratio = inputs
        .limits
        .map_or(DEFAULT_MARGIN_CALL_RATIO, |l| l.margin_call_ratio);
    let min_ratio = inputs.limits.map_or(0.0, |l| l.min_margin_ratio);
    let found = |evaluation: &mut Evaluation, c: Condition, finding: Finding| {
        if evaluation.conditions & c.bit() == 0 {
            evaluation.conditions |= c.bit();
            evaluation.findings[c as usize] = finding;
        }
    };
    for index in evaluation.slots() {
        let (Some(entry), Some(currency)) = (
            evaluation.currencies[index].as_mut(),
            Currency::from_slot(index),
        ) else {
            continue;
        };
        entry.equity = (inputs.equity)(currency);
        let entry = *entry;
        let at = |value, threshold| Finding {
            scope: Scope::Currency(currency),
            value,
            threshold,
        };
        if !entry.complete {
            found(
                evaluation,
                Condition::MarginUnavailable,
                at(entry.equity, 0.0),
            );
        }
        if entry.equity < entry.maintenance_margin {
            found(
                evaluation,
                Condition::Liquidation,
                at(entry.equity, entry.maintenance_margin),
            );
        }
        if entry.equity < entry.initial_margin {
            found(
                evaluation,
                Condition::BelowInitialMargin,
                at(entry.equity, entry.initial_margin),
            );
        }
        if let Some(ratio) = entry.margin_ratio() {
            if call_ratio > 0.0 && ratio < call_ratio {
                found(evaluation, Condition::MarginCall, at(ratio, call_ratio));
            }
            if min_ratio > 0.0 && ratio < min_ratio {
                found(
                    evaluation,
                    Condition::MarginRatioLimit,
                    at(ratio, min_ratio),
                );
            }
        }
    }
    if let Some(limits) = inputs.limits {
        for_each_underlying(inputs.risk, |underlying, greeks| {
            let checks = [
                (
                    Condition::DeltaLimit,
                    greeks.delta_coin,
                    limits.max_abs_delta_coin,
                ),
                (
                    Condition::VegaLimit,
                    greeks.vega_usd,
                    limits.max_abs_vega_usd,
                ),
                (
                    Condition::GammaLimit,
                    greeks.gamma_usd,
                    limits.max_abs_gamma_usd,
                ),
            ];
            for (condition, value, limit) in checks {
                if limit > 0.0 && value.abs() > limit {
                    let finding = Finding {
                        scope: Scope::Underlying(underlying),
                        value,
                        threshold: limit,
                    };
                    found(evaluation, condition, finding);
                }
            }
        });
    }
}

/// Evaluates an account as it stands, from its maintained sums (portfolio margin) or
/// standard-margin terms (refreshed first by [`refresh_standard_terms`]).
pub fn evaluate_account(account: &AccountState, market: &MarginMarket<'_>) -> Evaluation {
    let mut evaluation = Evaluation::default();
    evaluate_account_into(account, market, &mut evaluation);
    evaluation
}

/// [`evaluate_account`] into a reused `evaluation`.
pub fn evaluate_account_into(
    account: &AccountState,
    market: &MarginMarket<'_>,
    evaluation: &mut Evaluation,
) {
    evaluate_with(
        account,
        &account.pm_totals,
        Some(&account.standard_terms),
        GroupMargins::Compute,
        market,
        evaluation,
    );
}

/// [`evaluate_account_into`] recording each portfolio-margin group's margin in the
/// account (what the batch end does), for what-ifs to reuse.
pub fn evaluate_account_recording(
    account: &mut AccountState,
    market: &MarginMarket<'_>,
    evaluation: &mut Evaluation,
) {
    let mut recorded = std::mem::take(&mut account.pm_group_margins);
    evaluate_with(
        account,
        &account.pm_totals,
        Some(&account.standard_terms),
        GroupMargins::Record(&mut recorded),
        market,
        evaluation,
    );
    account.pm_group_margins = recorded;
}

/// Evaluates an account with the given portfolio-margin sums (the checker's recomputed
/// ones, or the account's own).
pub fn evaluate_account_with(
    account: &AccountState,
    pm_totals: &SortedVecMap<RiskKey, PmTotals>,
    market: &MarginMarket<'_>,
) -> Evaluation {
    let mut evaluation = Evaluation::default();
    evaluate_with(
        account,
        pm_totals,
        None,
        GroupMargins::Compute,
        market,
        &mut evaluation,
    );
    evaluation
}

fn evaluate_with(
    account: &AccountState,
    pm_totals: &SortedVecMap<RiskKey, PmTotals>,
    standard_terms: Option<&StandardTerms>,
    groups: GroupMargins<'_>,
    market: &MarginMarket<'_>,
    evaluation: &mut Evaluation,
) {
    let equity = |currency: Currency| account.equity(currency);
    let mut ledger = account.cash.keys().copied();
    let mut positions = account
        .positions
        .iter()
        .map(|(id, p)| (*id, decimal_to_f64(&p.quantity)));
    evaluate_into(
        MarginInputs {
            model: account.margin_model,
            limits: account.limits.as_ref(),
            pm_totals,
            risk: &account.risk,
            equity: &equity,
            ledger_currencies: &mut ledger,
            positions: &mut positions,
            standard_terms,
            groups,
        },
        market,
        evaluation,
    );
}
