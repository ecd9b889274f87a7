//! One account's state: positions, ledger, realized PnL, and the risk aggregates kept
//! incrementally. Ordered maps only: iteration order is part of determinism.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::account_margin::{CurrencyMargin, TradingState};
use super::contract_risk::ContractRisk;
use super::instrument_state::InstrumentState;
use super::position::Position;
use super::sorted_map::SortedVecMap;
use crate::attribution::AccountAttribution;
use crate::decimal_f64::decimal_to_f64;
use crate::events::{
    CURRENCIES_MAX, Currency, HedgeBands, InstrumentId, InstrumentKind, Limits, MarginModel, Name,
    Settlement, UnderlyingId,
};
use crate::margin::PmTotals;

/// Aggregation key: underlying and the currency its values are in.
pub type RiskKey = (UnderlyingId, Currency);
/// Expiry bucket key: underlying and expiry (ns; 0 for perpetuals and spot).
pub type BucketKey = (UnderlyingId, u64);
/// Most collateral transfer ids an account remembers for duplicate detection (oldest
/// forgotten first): far more than a gateway resends after a restart.
pub const TRANSFER_IDS_PER_ACCOUNT_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct AccountState {
    pub name: Name,
    pub positions: SortedVecMap<InstrumentId, Position>,
    /// Collateral, fees, funding and realized PnL, per ledger currency. Changed only
    /// through [`AccountState::set_cash`], which keeps `cash_f64` in step.
    pub cash: BTreeMap<Currency, Decimal>,
    /// `cash` as f64 per currency slot (0 without a ledger entry): converted when the
    /// ledger changes, not on every equity read. Derived; the checker compares it.
    cash_f64: [f64; CURRENCIES_MAX],
    /// Realized PnL alone (also in `cash`), per ledger currency.
    pub realized_pnl: BTreeMap<Currency, Decimal>,
    /// Σ quantity × contract risk, per (underlying, currency). `value` is market value.
    pub risk: SortedVecMap<RiskKey, ContractRisk>,
    /// Σ quantity × contract risk, per (underlying, expiry): vega and gamma by expiry.
    pub buckets: SortedVecMap<BucketKey, ContractRisk>,
    /// Σ quantity × value at average entry, per ledger currency: unrealized = market − this.
    pub entry_value: BTreeMap<Currency, f64>,
    pub limits: Option<Limits>,
    /// Target bands per underlying (hedge proposals).
    pub hedge_bands: SortedVecMap<UnderlyingId, HedgeBands>,
    /// Underlyings whose band the account was outside at its last evaluation, a bit
    /// per id: a band alert is raised when one leaves it.
    pub hedge_out_of_band: u64,
    pub margin_model: MarginModel,
    /// Portfolio-margin sums per (underlying, currency): Σ quantity × contract margin.
    pub pm_totals: SortedVecMap<RiskKey, PmTotals>,
    /// Margin per ledger currency, as of the last batch end that evaluated the account.
    pub margin: BTreeMap<Currency, CurrencyMargin>,
    pub trading_state: TradingState,
    /// `Condition` bits found by that evaluation.
    pub conditions: u8,
    /// Margin inputs changed since the last evaluation.
    pub margin_dirty: bool,
    /// Journal sequence of the latest event that changed the margin inputs.
    pub cause_seq: u64,
    /// Recent collateral transfer ids, oldest first.
    pub transfer_ids: Vec<u64>,
    /// This account's events rejected so far (reported, not hashed).
    pub rejected_events: u64,
    /// Standard-margin accounts: each position's margin as last computed (derived state,
    /// neither hashed nor imaged: rebuilt from the positions).
    pub standard_terms: StandardTerms,
    /// Portfolio margin: each group's margin as the last evaluation found it (derived
    /// state, neither hashed nor imaged).
    pub pm_group_margins: PmGroupMargins,
    /// PnL attribution: the step in progress and the sums since the day and the account
    /// began.
    pub attribution: AccountAttribution,
}

/// One position's standard margin, kept so a batch end recomputes only the positions
/// whose inputs changed (quantity, mark, or their underlying's index).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardTerm {
    /// Contracts, the f64 copy of the position's decimal.
    pub quantity: f64,
    pub underlying: UnderlyingId,
    pub currency: Currency,
    /// (initial, maintenance) in the currency; `None` when it cannot be computed.
    pub margin: Option<(f64, f64)>,
    /// Its margin moves with the underlying's index (a short option's out-of-the-money
    /// amount, a linear future's notional); long options (no margin) and inverse futures
    /// (notional in coin from the mark) do not, so an index move leaves them as they are.
    pub index_sensitive: bool,
    /// An input changed since `margin` was computed.
    pub stale: bool,
}

impl StandardTerm {
    /// Whether it must be recomputed, given the underlyings whose index moved (a bit
    /// per id).
    pub fn is_due(&self, moved_underlyings: u64) -> bool {
        let moved = moved_underlyings >> (self.underlying.0 % u64::BITS as u16) & 1 == 1;
        self.stale || (moved && (self.index_sensitive || self.margin.is_none()))
    }
}

/// Standard margin summed over one currency's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardTotal {
    pub currency: Currency,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
    /// Every term in the currency has a margin.
    pub complete: bool,
}

/// The standard-margin terms of an account's positions, in instrument order, and their
/// sums per currency as of the last refresh. Compared equal whatever they hold: a cache,
/// which the checker verifies against a from-scratch evaluation.
#[derive(Clone, Debug, Default)]
pub struct StandardTerms {
    pub terms: SortedVecMap<InstrumentId, StandardTerm>,
    /// Underlyings whose index moved since the last refresh, one bit per id (so an index
    /// move costs O(1) here; the refresh pass applies it).
    pub moved_underlyings: u64,
    /// Per currency, in currency order: the sums the last refresh computed.
    pub totals: Vec<StandardTotal>,
}

const _: () = assert!(crate::events::ids::UNDERLYINGS_MAX <= u64::BITS as u16);

impl PartialEq for StandardTerms {
    fn eq(&self, _: &StandardTerms) -> bool {
        true
    }
}

/// Each portfolio-margin group's (initial, maintenance) as the account's last evaluation
/// computed them (`None`: not computable), so that a what-if touching one group does not
/// recompute the others. Valid while `ShardState::margin_is_current` holds for the
/// account (nothing a group's margin reads has changed since); a group missing here is
/// computed. Compared equal whatever it holds: a cache (the checker verifies it).
#[derive(Clone, Debug, Default)]
pub struct PmGroupMargins {
    pub groups: SortedVecMap<RiskKey, Option<(f64, f64)>>,
}

impl PartialEq for PmGroupMargins {
    fn eq(&self, _: &PmGroupMargins) -> bool {
        true
    }
}

impl StandardTerms {
    /// The position in `instrument` is now `quantity` contracts (0: closed).
    pub fn set_quantity(&mut self, instrument: &InstrumentState, quantity: f64) {
        let id = instrument.definition.id;
        if quantity == 0.0 {
            self.terms.remove(&id);
            return;
        }
        let (underlying, currency) = instrument.risk_key();
        let index_sensitive = match instrument.definition.kind {
            InstrumentKind::Option => quantity < 0.0,
            InstrumentKind::Future | InstrumentKind::Perpetual | InstrumentKind::Spot => {
                instrument.definition.settlement == Settlement::Linear
            }
        };
        let term = StandardTerm {
            quantity,
            underlying,
            currency,
            margin: None,
            stale: true,
            index_sensitive,
        };
        self.terms.insert(id, term);
    }

    pub fn mark_stale(&mut self, instrument: &InstrumentId) {
        if let Some(term) = self.terms.get_mut(instrument) {
            term.stale = true;
        }
    }

    /// The underlying's index moved: the next refresh recomputes the positions whose
    /// margin depends on it, and any that could not be computed (every standard margin
    /// needs an index to exist).
    pub fn mark_underlying_stale(&mut self, underlying: UnderlyingId) {
        self.moved_underlyings |= 1u64 << (underlying.0 % u64::BITS as u16);
    }
}

impl AccountState {
    pub fn new(name: Name, margin_model: MarginModel) -> Self {
        AccountState {
            name,
            positions: SortedVecMap::new(),
            cash: BTreeMap::new(),
            cash_f64: [0.0; CURRENCIES_MAX],
            realized_pnl: BTreeMap::new(),
            risk: SortedVecMap::new(),
            buckets: SortedVecMap::new(),
            entry_value: BTreeMap::new(),
            limits: None,
            hedge_bands: SortedVecMap::new(),
            hedge_out_of_band: 0,
            margin_model,
            pm_totals: SortedVecMap::new(),
            margin: BTreeMap::new(),
            trading_state: TradingState::Active,
            conditions: 0,
            margin_dirty: false,
            cause_seq: 0,
            transfer_ids: Vec::new(),
            rejected_events: 0,
            standard_terms: StandardTerms::default(),
            pm_group_margins: PmGroupMargins::default(),
            attribution: AccountAttribution {
                // A step's trades come from at most one batch of events (fills released
                // from parking are the rare exception that may grow it).
                step_trades: Vec::with_capacity(crate::state::BATCH_EVENTS_MAX as usize),
                ..AccountAttribution::default()
            },
        }
    }

    pub fn has_transfer(&self, transfer_id: u64) -> bool {
        self.transfer_ids.contains(&transfer_id)
    }

    pub fn remember_transfer(&mut self, transfer_id: u64) {
        if self.transfer_ids.len() == TRANSFER_IDS_PER_ACCOUNT_MAX {
            self.transfer_ids.remove(0);
        }
        self.transfer_ids.push(transfer_id);
    }

    /// What may be withdrawn in `currency`: equity now (the ledger with every transfer
    /// so far, plus unrealized PnL) minus the initial margin of the last evaluation.
    /// Nothing while that margin is incomplete and positions are open in it.
    pub fn withdrawable(&self, currency: Currency) -> f64 {
        let margin = self.margin.get(&currency).copied().unwrap_or_default();
        let holds = self.risk.keys().any(|(_, c)| *c == currency);
        if holds && !margin.complete {
            return 0.0;
        }
        let available = self.equity(currency) - margin.initial_margin;
        if available.is_finite() {
            available.max(0.0)
        } else {
            0.0
        }
    }

    /// The position in `instrument` in contracts, as f64 (0 when flat).
    pub fn quantity_f64(&self, instrument: &InstrumentId) -> f64 {
        self.positions
            .get(instrument)
            .map_or(0.0, |p| decimal_to_f64(&p.quantity))
    }

    /// Equity in `currency`: collateral, fees, funding and realized PnL (the ledger) plus
    /// unrealized PnL at the marks.
    pub fn equity(&self, currency: Currency) -> f64 {
        self.cash_f64(currency) + self.unrealized_pnl(currency)
    }

    /// Sets the ledger of `currency` (and its f64 copy).
    pub fn set_cash(&mut self, currency: Currency, cash: Decimal) {
        if let Some(slot) = currency.slot() {
            self.cash_f64[slot] = decimal_to_f64(&cash);
        }
        self.cash.insert(currency, cash);
    }

    /// The first currency slot whose f64 ledger copy is not its decimal's conversion (or
    /// not 0 without an entry), as (currency, copy, conversion): for the checker.
    pub fn cash_f64_mismatch(&self) -> Option<(Option<Currency>, f64, f64)> {
        (0..CURRENCIES_MAX).find_map(|slot| {
            let currency = Currency::from_slot(slot);
            let converted = currency
                .and_then(|c| self.cash.get(&c))
                .map_or(0.0, decimal_to_f64);
            let held = self.cash_f64[slot];
            (held.to_bits() != converted.to_bits()).then_some((currency, held, converted))
        })
    }

    /// The ledger of `currency` as f64 (0 without an entry): the conversion of `cash`'s
    /// decimal, bit for bit.
    pub fn cash_f64(&self, currency: Currency) -> f64 {
        match currency.slot() {
            Some(slot) => self.cash_f64[slot],
            None => self.cash.get(&currency).map(decimal_to_f64).unwrap_or(0.0),
        }
    }

    /// Adds `delta` (a position's change in contribution) to both aggregations.
    pub fn add_risk(&mut self, key: RiskKey, bucket: BucketKey, delta: ContractRisk) {
        *self.risk.entry_or_default(key) += delta;
        *self.buckets.entry_or_default(bucket) += delta;
    }

    /// Unrealized PnL in `currency` (model value): market value − entry value.
    pub fn unrealized_pnl(&self, currency: Currency) -> f64 {
        market_value(&self.risk, currency) - self.entry_value.get(&currency).copied().unwrap_or(0.0)
    }

    /// Greeks per underlying, summed over currencies (`value` zeroed: it mixes units).
    pub fn greeks_by_underlying(&self) -> BTreeMap<UnderlyingId, ContractRisk> {
        let mut by_underlying: BTreeMap<UnderlyingId, ContractRisk> = BTreeMap::new();
        for ((underlying, _), risk) in &self.risk {
            let entry = by_underlying.entry(*underlying).or_default();
            *entry += ContractRisk {
                value: 0.0,
                ..*risk
            };
        }
        by_underlying
    }
}

/// Σ market value of the positions settling in `currency`, summed in key order (the
/// what-if sums a hypothetical `risk` the same way, so its equity matches bit for bit).
pub fn market_value(risk: &SortedVecMap<RiskKey, ContractRisk>, currency: Currency) -> f64 {
    risk.iter()
        .filter(|((_, c), _)| *c == currency)
        .map(|(_, risk)| risk.value)
        .sum()
}
