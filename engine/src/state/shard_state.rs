//! The pure state machine of one risk shard: `apply(&Event)` then `end_of_batch()`. No
//! I/O, no clock, no threads, no hash-order iteration: the same events in the same
//! order give the same state, bit for bit, whoever drives it (live, replay, tests).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::account::AccountState;
use super::account_margin::{
    Condition, Evaluation, MarginMarket, evaluate_account_recording, params_of,
    refresh_standard_terms,
};
use super::alerts::{Alert, AlertLog};
use super::contract_margin::{
    ContractMargin, add_totals, contract_margin, future_margin, option_margin, pm_contract,
    scenario_option,
};
use super::contract_risk::{ContractRisk, Mark, contract_priceable, contract_risk, value_at};
use super::hedge_bands::{self, BandAlertLog};
use super::id_map::IdMap;
use super::instrument_state::InstrumentState;
use super::parking::{ParkedFill, Parking};
use super::rejection::{RejectReason, RejectionCounts};
use super::sorted_map::SortedVecMap;
use super::surface_state::{MarkSource, SurfaceState};
use super::trade_ids::TradeIdWindow;
use super::validation;
use super::working_memory::WorkingMemory;
use crate::attribution::{PnlComponents, PriceMove, Valuation};
use crate::decimal_f64::decimal_to_f64;
use crate::events::ids::{ACCOUNTS_MAX, INSTRUMENTS_MAX, UNDERLYINGS_MAX};
use crate::events::{
    AccountDefinition, AccountId, Collateral, Currency, Event, EventBody, Fill, Funding,
    InstrumentDefinition, InstrumentId, InstrumentKind, MarginModel, Name, RiskParams,
    SettlementPrice, Side, Ticker, UnderlyingId,
};
use crate::margin::{MarginError, ScenarioBatch};
use crate::pricing::{GreeksColumns, OptionColumns};

mod accounts;
mod attribution;
mod fills;
mod market;
mod parameters;
mod revaluation;
mod settlement;
mod surface;

pub(crate) use fills::entry_value;

/// Most trade ids remembered for duplicate detection (oldest forgotten first). Market-wide,
/// so every shard keeps the same window.
pub const TRADE_IDS_MAX: usize = 1 << 18;
/// Most funding ids remembered for duplicate detection (market-wide, oldest forgotten).
pub const FUNDING_IDS_MAX: usize = 1 << 12;
/// Options revalued per scenario-pricing batch (36 rows each) at a batch end; more are
/// priced in further batches of this size.
pub const MARGIN_BATCH_OPTIONS_MAX: usize = 256;
/// Accounts a batch end's changed-account list holds before it first grows.
const ACCOUNTS_EVALUATED_RESERVE: usize = 1024;

/// Working memory of revaluation: allocated once, not part of the state (never compared,
/// hashed or imaged: see `WorkingMemory`).
pub struct Scratch {
    batch: ScenarioBatch,
    /// Per batch slot: the instrument and its margin units per contract.
    slots: Vec<(InstrumentId, f64)>,
    /// Accounts the last batch end evaluated, in id order.
    evaluated: Vec<AccountId>,
    /// Greeks of the options revalued together (up to `GREEKS_BATCH_MAX` at a time).
    greeks_inputs: OptionColumns,
    greeks_out: GreeksColumns,
    /// Instruments of the current Greeks batch, in id order, with their row in it
    /// (`NO_GREEKS_ROW`: not an option).
    pending: Vec<(InstrumentId, u32)>,
    /// The evaluation each batch end's accounts are evaluated into, one after another.
    evaluation: Evaluation,
    /// Instruments revalued this batch end with holders, in id order: the price moves
    /// PnL attribution decomposes.
    moves: Vec<PriceMove>,
}

/// Instruments whose Greeks one batch-kernel pass computes at a batch end.
pub const GREEKS_BATCH_MAX: usize = 256;
/// `Scratch::pending` row of an instrument valued without the Greeks batch.
const NO_GREEKS_ROW: u32 = u32::MAX;

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            batch: ScenarioBatch::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            slots: Vec::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            evaluated: Vec::with_capacity(ACCOUNTS_EVALUATED_RESERVE),
            greeks_inputs: OptionColumns::with_capacity(GREEKS_BATCH_MAX),
            greeks_out: GreeksColumns::filled(GREEKS_BATCH_MAX, 0.0),
            pending: Vec::with_capacity(GREEKS_BATCH_MAX),
            evaluation: Evaluation::default(),
            moves: Vec::with_capacity(GREEKS_BATCH_MAX),
        }
    }
}

/// What `apply` did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Held until its instrument or account is defined (then applied, in order).
    Parked,
    Rejected(RejectReason),
    /// An account event for an account another shard owns.
    NotOwned,
}

/// The state of one shard: all instruments (market events go to every shard) and the
/// accounts with `id % shard_count == shard_index`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardState {
    pub shard_index: u32,
    pub shard_count: u32,
    pub instruments: IdMap<InstrumentId, InstrumentState>,
    pub accounts: IdMap<AccountId, AccountState>,
    pub index_prices: BTreeMap<UnderlyingId, (u64, f64)>,
    pub risk_params: BTreeMap<UnderlyingId, RiskParams>,
    /// Rejected market events (every shard sees and counts these alike).
    pub market_rejections: RejectionCounts,
    /// Rejected account events (counted by the owning shard only).
    pub account_rejections: RejectionCounts,
    /// Fills waiting for definitions, for every account (the same in every shard).
    pub parked: Parking,
    pub trade_ids: TradeIdWindow,
    pub funding_ids: TradeIdWindow,
    /// Every defined account (all shards, not only owned ones): who may trade, and
    /// names unique across the engine.
    pub account_names: BTreeMap<AccountId, Name>,
    /// Names of defined accounts and instruments, for uniqueness.
    account_ids_by_name: BTreeMap<Name, AccountId>,
    instrument_ids_by_name: BTreeMap<Name, InstrumentId>,
    /// Batch-end revaluations that failed (the instrument kept its previous risk).
    pub revaluation_failures: u64,
    /// Holders of a funding or settlement whose ledger would have overflowed (left
    /// unchanged for that event; the event itself applied to the others).
    pub ledger_overflows: u64,
    /// Instruments marked since the last batch end (reused: no allocation per batch).
    dirty: Vec<InstrumentId>,
    /// Latest event time seen: the clock of the model (T to expiry).
    pub now_ns: u64,
    pub events_applied: u64,
    /// Journal sequence of the last event applied.
    pub seq: u64,
    /// Accounts whose margin inputs changed since the last batch end (reused).
    dirty_accounts: Vec<AccountId>,
    /// Underlyings whose index moved since the last batch end, with the event's sequence.
    index_moves: Vec<(UnderlyingId, u64)>,
    pub alerts: AlertLog,
    /// Accounts leaving their hedge bands.
    pub band_alerts: BandAlertLog,
    /// The volatility surface, refitted at batch ends.
    pub surface: SurfaceState,
    /// Parameters received since the last batch end (in force from it).
    staged_params: Vec<RiskParams>,
    scratch: WorkingMemory<Scratch>,
}

impl ShardState {
    pub fn new(shard_index: u32, shard_count: u32) -> Self {
        assert!(
            shard_count > 0 && shard_index < shard_count,
            "shard {shard_index} of {shard_count}"
        );
        ShardState {
            shard_index,
            shard_count,
            instruments: IdMap::new(),
            accounts: IdMap::new(),
            index_prices: BTreeMap::new(),
            risk_params: BTreeMap::new(),
            market_rejections: RejectionCounts::default(),
            account_rejections: RejectionCounts::default(),
            parked: Parking::default(),
            trade_ids: TradeIdWindow::with_capacity(TRADE_IDS_MAX),
            funding_ids: TradeIdWindow::with_capacity(FUNDING_IDS_MAX),
            account_names: BTreeMap::new(),
            account_ids_by_name: BTreeMap::new(),
            instrument_ids_by_name: BTreeMap::new(),
            revaluation_failures: 0,
            ledger_overflows: 0,
            dirty: Vec::new(),
            now_ns: 0,
            events_applied: 0,
            seq: 0,
            dirty_accounts: Vec::new(),
            index_moves: Vec::with_capacity(usize::from(UNDERLYINGS_MAX)),
            alerts: AlertLog::default(),
            surface: SurfaceState::default(),
            band_alerts: BandAlertLog::default(),
            staged_params: Vec::new(),
            scratch: WorkingMemory::default(),
        }
    }

    /// Rebuilds the name → id indexes from the definitions (restoring a snapshot).
    pub(crate) fn rebuild_name_indexes(&mut self) {
        self.account_ids_by_name = self.account_names.iter().map(|(i, n)| (*n, *i)).collect();
        self.instrument_ids_by_name = self
            .instruments
            .iter()
            .map(|(i, s)| (s.definition.name, *i))
            .collect();
    }

    /// Rebuilds what is derived from the positions (restoring a snapshot): every
    /// holder's f64 quantity, and standard-margin terms (stale: recomputed when next
    /// evaluated).
    pub(crate) fn rebuild_holder_quantities(&mut self) {
        let ShardState {
            instruments,
            accounts,
            ..
        } = self;
        for (id, instrument) in instruments.iter_mut() {
            for (holder, quantity) in instrument.holders.iter_mut() {
                *quantity = accounts.get(holder).map_or(0.0, |a| a.quantity_f64(id));
            }
        }
        for account in accounts.values_mut() {
            if account.margin_model != MarginModel::Standard {
                continue;
            }
            let held: Vec<(InstrumentId, f64)> = account
                .positions
                .iter()
                .map(|(id, p)| (*id, decimal_to_f64(&p.quantity)))
                .collect();
            for (id, quantity) in held {
                if let Some(instrument) = instruments.get(&id) {
                    account.standard_terms.set_quantity(instrument, quantity);
                }
            }
        }
    }

    /// The account defined under `name` (every shard knows every account's name).
    pub fn account_id_by_name(&self, name: &Name) -> Option<AccountId> {
        self.account_ids_by_name.get(name).copied()
    }

    /// The instrument defined under `name`.
    pub fn instrument_id_by_name(&self, name: &Name) -> Option<InstrumentId> {
        self.instrument_ids_by_name.get(name).copied()
    }

    /// The account's last evaluation (`account.margin`) is what evaluating it now would
    /// give: nothing since the last batch end touched it or the market it is valued on.
    pub fn margin_is_current(&self, account: &AccountState) -> bool {
        !account.margin_dirty
            && self.index_moves().is_empty()
            && self.staged_params().is_empty()
            && self.dirty_instruments().is_empty()
    }

    pub fn owns(&self, account: AccountId) -> bool {
        account.0 % self.shard_count == self.shard_index
    }

    /// Applies the next event (sequence `self.seq + 1`). Market marks are conflated: call
    /// [`end_of_batch`] to revalue.
    ///
    /// [`end_of_batch`]: ShardState::end_of_batch
    pub fn apply(&mut self, event: &Event) -> Outcome {
        self.apply_at(self.seq + 1, event)
    }

    /// Applies the event journaled at sequence `seq` (what alerts cite as their cause).
    /// Total: every event is applied, parked or rejected with a counted reason; an event
    /// outside the input contract (validation.rs) changes nothing but its count.
    pub fn apply_at(&mut self, seq: u64, event: &Event) -> Outcome {
        self.seq = seq;
        let admitted = validation::timestamp_ok(event.timestamp_ns, self.now_ns)
            .and_then(|()| validation::fields_ok(event));
        let outcome = match admitted {
            Ok(()) => {
                // Only a plausible event moves the model clock, and never backwards.
                self.now_ns = self.now_ns.max(event.timestamp_ns);
                self.dispatch(event)
            }
            Err(reason) => Outcome::Rejected(reason),
        };
        // An account event is the owner's to count, whatever other shards did with it
        // (they register definitions and park fills too, so their outcomes agree).
        let outcome = match account_of(&event.body) {
            Some(account) if !self.owns(account) => Outcome::NotOwned,
            _ => outcome,
        };
        match outcome {
            Outcome::Rejected(reason) if is_market_event(&event.body) => {
                self.market_rejections.record(reason)
            }
            Outcome::Rejected(reason) => {
                self.account_rejections.record(reason);
                let account = account_of(&event.body).and_then(|id| self.accounts.get_mut(&id));
                if let Some(account) = account {
                    account.rejected_events += 1;
                }
            }
            Outcome::Applied => self.events_applied += 1,
            Outcome::Parked | Outcome::NotOwned => {}
        }
        outcome
    }

    fn dispatch(&mut self, event: &Event) -> Outcome {
        match &event.body {
            EventBody::InstrumentDefined(definition) => self.define_instrument(definition),
            EventBody::AccountDefined(definition) => self.define_account(definition),
            EventBody::IndexPrice(index) => {
                self.index_price(event.timestamp_ns, index.underlying, index.price)
            }
            EventBody::Ticker(ticker) => self.ticker(event.timestamp_ns, ticker),
            EventBody::Fill(fill) => self.fill(event, fill),
            EventBody::Collateral(collateral) => self.collateral(collateral),
            EventBody::Funding(funding) => self.funding(funding),
            EventBody::Settlement(settlement) => self.settle(event.timestamp_ns, settlement),
            EventBody::RiskParams(params) => self.set_risk_params(params),
            // A feeder's bookmark: journaled, no risk state.
            EventBody::InputPosition(_) => Outcome::Applied,
            EventBody::Limits(limits) => self.with_account(limits.account, |account| {
                account.limits = Some(*limits);
                Ok(())
            }),
            EventBody::HedgeBands(bands) => self.with_account(bands.account, |account| {
                account.hedge_bands.insert(bands.underlying, *bands);
                // Judged afresh at the next batch end against the new band.
                account.hedge_out_of_band &= !(1u64 << bands.underlying.0);
                Ok(())
            }),
        }
    }

    /// Instruments marked since the last batch end, awaiting revaluation.
    pub fn dirty_instruments(&self) -> &[InstrumentId] {
        &self.dirty
    }

    /// Sets the instruments awaiting revaluation (restoring a snapshot).
    pub(crate) fn restore_dirty_instruments(&mut self, dirty: &[InstrumentId]) {
        self.dirty.clear();
        self.dirty.reserve(self.instruments.len().max(dirty.len()));
        self.dirty.extend_from_slice(dirty);
    }

    /// Accounts awaiting margin evaluation at the batch end.
    pub fn dirty_accounts(&self) -> &[AccountId] {
        &self.dirty_accounts
    }

    /// Parameters awaiting the batch end.
    pub fn staged_params(&self) -> &[RiskParams] {
        &self.staged_params
    }

    /// Index moves awaiting the batch end.
    pub fn index_moves(&self) -> &[(UnderlyingId, u64)] {
        &self.index_moves
    }

    /// Sets the margin work pending (restoring a snapshot).
    pub(crate) fn restore_margin_queues(
        &mut self,
        accounts: &[AccountId],
        index_moves: &[(UnderlyingId, u64)],
        staged_params: &[RiskParams],
    ) {
        self.staged_params.clear();
        self.staged_params.extend_from_slice(staged_params);
        self.dirty_accounts.clear();
        self.dirty_accounts.extend_from_slice(accounts);
        self.dirty_accounts.reserve(self.accounts.len());
        self.index_moves.clear();
        self.index_moves.extend_from_slice(index_moves);
    }

    /// All rejections this shard counted (market and account events).
    pub fn rejections(&self) -> RejectionCounts {
        let mut total = self.market_rejections.clone();
        total.add(&self.account_rejections);
        total
    }
}

/// A ledger balance (zero when the currency was never used).
pub(crate) fn ledger(map: &BTreeMap<Currency, Decimal>, currency: Currency) -> Decimal {
    map.get(&currency).copied().unwrap_or(Decimal::ZERO)
}

/// The account an account event belongs to (`None` for market events).
fn account_of(body: &EventBody) -> Option<AccountId> {
    match body {
        EventBody::AccountDefined(definition) => Some(definition.id),
        EventBody::Fill(fill) => Some(fill.account),
        EventBody::Collateral(collateral) => Some(collateral.account),
        EventBody::Limits(limits) => Some(limits.account),
        EventBody::HedgeBands(bands) => Some(bands.account),
        _ => None,
    }
}

/// Marks an account's margin for evaluation at the batch end, citing event `seq`.
fn touch(account: &mut AccountState, id: AccountId, seq: u64, dirty: &mut Vec<AccountId>) {
    account.cause_seq = account.cause_seq.max(seq);
    if !account.margin_dirty {
        account.margin_dirty = true;
        dirty.push(id);
    }
}

/// Market events go to every shard; the rest belong to one account's shard.
fn is_market_event(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::InstrumentDefined(_)
            | EventBody::IndexPrice(_)
            | EventBody::Ticker(_)
            | EventBody::Funding(_)
            | EventBody::Settlement(_)
            | EventBody::RiskParams(_)
            | EventBody::InputPosition(_)
    )
}
