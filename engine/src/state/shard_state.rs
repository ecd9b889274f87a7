//! The pure state machine of one risk shard: `apply(&Event)` then `end_of_batch()`. No
//! I/O, no clock, no threads, no hash-order iteration: the same events in the same
//! order give the same state, bit for bit, whoever drives it (live, replay, tests).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::account::AccountState;
use super::account_margin::{
    Condition, MarginMarket, evaluate_account, params_of, refresh_standard_terms,
};
use super::alerts::{Alert, AlertLog};
use super::contract_margin::{
    ContractMargin, add_totals, contract_margin, future_margin, option_margin, pm_contract,
    scenario_option,
};
use super::contract_risk::{ContractRisk, Mark, contract_priceable, contract_risk, value_at};
use super::id_map::IdMap;
use super::instrument_state::InstrumentState;
use super::parking::{ParkedFill, Parking};
use super::rejection::{RejectReason, RejectionCounts};
use super::sorted_map::SortedVecMap;
use super::trade_ids::TradeIdWindow;
use super::validation;
use crate::events::ids::{ACCOUNTS_MAX, INSTRUMENTS_MAX, UNDERLYINGS_MAX};
use crate::events::{
    AccountDefinition, AccountId, Collateral, Event, EventBody, Fill, Funding,
    InstrumentDefinition, InstrumentId, InstrumentKind, MarginModel, Name, RiskParams,
    SettlementPrice, Side, Ticker, UnderlyingId,
};
use crate::margin::{MarginError, ScenarioBatch};

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
/// hashed or imaged).
#[derive(Debug)]
pub struct Scratch {
    batch: ScenarioBatch,
    /// Per batch slot: the instrument and its margin units per contract.
    slots: Vec<(InstrumentId, f64)>,
    /// Accounts the last batch end evaluated, in id order.
    evaluated: Vec<AccountId>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            batch: ScenarioBatch::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            slots: Vec::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            evaluated: Vec::with_capacity(ACCOUNTS_EVALUATED_RESERVE),
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl PartialEq for Scratch {
    fn eq(&self, _: &Scratch) -> bool {
        true
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
    /// Parameters received since the last batch end (in force from it).
    staged_params: Vec<RiskParams>,
    scratch: Scratch,
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
            staged_params: Vec::new(),
            scratch: Scratch::default(),
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
                .map(|(id, p)| (*id, p.quantity.to_f64().unwrap_or(0.0)))
                .collect();
            for (id, quantity) in held {
                if let Some(instrument) = instruments.get(&id) {
                    let (underlying, currency) = instrument.risk_key();
                    account
                        .standard_terms
                        .set_quantity(id, underlying, currency, quantity);
                }
            }
        }
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
        }
    }

    /// Instruments marked since the last batch end, awaiting revaluation.
    pub fn dirty_instruments(&self) -> &[InstrumentId] {
        &self.dirty
    }

    /// Sets the instruments awaiting revaluation (restoring a snapshot).
    pub(crate) fn restore_dirty_instruments(&mut self, dirty: &[InstrumentId]) {
        self.dirty.clear();
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

    /// Revalues every instrument marked since the last batch, once, in id order (so the
    /// result does not depend on the order marks arrived in), moves each holder's
    /// aggregates by `quantity × (new − old)` (Greeks and margin sums), then evaluates the
    /// margin of every account whose inputs changed and raises alerts. Allocates nothing
    /// after warm-up.
    pub fn end_of_batch(&mut self) {
        self.install_staged_params();
        self.revalue_dirty_instruments();
        self.evaluate_dirty_accounts();
        self.expire_parked();
    }

    /// Parked fills past their time become counted rejections (by the owner only).
    fn expire_parked(&mut self) {
        for parked in self.parked.take_expired(self.now_ns) {
            if self.owns(parked.fill.account) {
                self.account_rejections.record(RejectReason::ParkedExpired);
            }
        }
    }

    /// Parameters journaled since the last batch end take effect now, before
    /// revaluation: between batch ends the parameters in force never change, so an
    /// instrument valued late (on its first fill) gets what the batch end would have.
    fn install_staged_params(&mut self) {
        for index in 0..self.staged_params.len() {
            let params = self.staged_params[index];
            self.risk_params.insert(params.underlying, params);
            // Every marked instrument of the underlying is revalued under them.
            for (id, instrument) in self.instruments.iter_mut() {
                let affected = instrument.definition.underlying == params.underlying
                    && instrument.mark.is_some()
                    && !instrument.settled;
                if affected && !instrument.dirty {
                    instrument.dirty = true;
                    self.dirty.push(*id);
                }
            }
        }
        self.staged_params.clear();
    }

    fn revalue_dirty_instruments(&mut self) {
        let ShardState {
            instruments,
            accounts,
            dirty,
            now_ns,
            risk_params,
            dirty_accounts,
            scratch,
            revaluation_failures,
            ..
        } = self;
        let now_ns = *now_ns;
        dirty.sort_unstable();
        scratch.batch.clear();
        scratch.slots.clear();
        for &id in dirty.iter() {
            let Some(instrument) = instruments.get_mut(&id) else {
                continue;
            };
            if !instrument.dirty {
                continue;
            }
            instrument.dirty = false;
            let Some(mark) = instrument.mark else {
                continue;
            };
            // A new mark changes standard margin whether or not the Greeks revalue.
            for holder in instrument.holders.keys() {
                if let Some(account) = accounts.get_mut(holder) {
                    account.standard_terms.mark_stale(&id);
                }
            }
            let Some(new_risk) = contract_risk(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                now_ns,
            ) else {
                // Counted, and the previous risk kept (holders still include it).
                *revaluation_failures += 1;
                continue;
            };
            let change = new_risk - instrument.risk;
            instrument.risk = new_risk;
            let (key, bucket) = (instrument.risk_key(), instrument.bucket_key());
            for (holder, &quantity) in instrument.holders.iter() {
                let Some(account) = accounts.get_mut(holder) else {
                    continue;
                };
                account.add_risk(key, bucket, change * quantity);
                touch(account, *holder, instrument.mark_seq, dirty_accounts);
            }
            if instrument.holders.is_empty() {
                // Nobody holds it: value its margin (as of now) when somebody trades it.
                instrument.margin = ContractMargin {
                    as_of: Some(mark),
                    as_of_ns: now_ns,
                    ..ContractMargin::default()
                };
                continue;
            }
            let params = params_of(risk_params, instrument.definition.underlying);
            let (contract, units) = pm_contract(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                now_ns,
            );
            match scenario_option(&contract, &mark) {
                None => {
                    let new = future_margin(
                        &instrument.definition,
                        &contract,
                        units,
                        &mark,
                        &params,
                        now_ns,
                    );
                    change_margin(instrument, accounts, new, &mark, now_ns);
                }
                Some(option) => match scratch.batch.push(&option, &params) {
                    Ok(()) => {
                        scratch.slots.push((id, units));
                        if scratch.batch.is_full() {
                            flush_margin_batch(instruments, accounts, scratch, now_ns);
                        }
                    }
                    Err(error) => change_margin(instrument, accounts, Err(error), &mark, now_ns),
                },
            }
        }
        flush_margin_batch(instruments, accounts, scratch, now_ns);
        dirty.clear();
    }

    /// Evaluates the accounts whose margin inputs changed, in id order; alerts for the
    /// conditions that began.
    fn evaluate_dirty_accounts(&mut self) {
        let ShardState {
            instruments,
            accounts,
            index_prices,
            risk_params,
            now_ns,
            dirty_accounts,
            index_moves,
            alerts,
            scratch,
            ..
        } = self;
        for &(underlying, seq) in index_moves.iter() {
            for (id, account) in accounts.iter_mut() {
                if account.risk.keys().any(|(u, _)| *u == underlying) {
                    touch(account, *id, seq, dirty_accounts);
                    account.standard_terms.mark_underlying_stale(underlying);
                }
            }
        }
        index_moves.clear();
        dirty_accounts.sort_unstable();
        let market = MarginMarket {
            instruments,
            index_prices,
            risk_params,
            now_ns: *now_ns,
        };
        scratch.evaluated.clear();
        for id in dirty_accounts.drain(..) {
            let Some(account) = accounts.get_mut(&id) else {
                continue;
            };
            scratch.evaluated.push(id);
            account.margin_dirty = false;
            refresh_standard_terms(account, &market);
            let evaluation = evaluate_account(account, &market);
            for (currency, margin) in evaluation.iter() {
                *account.margin.entry(currency).or_default() = *margin;
            }
            let began = evaluation.conditions & !account.conditions;
            for condition in Condition::ALL {
                if condition.alerts() && began & condition.bit() != 0 {
                    let finding = &evaluation.findings[condition as usize];
                    alerts.push(Alert::new(account.cause_seq, id, condition, finding));
                }
            }
            account.conditions = evaluation.conditions;
            account.trading_state = evaluation.state();
        }
    }

    /// Accounts the last batch end evaluated, in id order.
    pub(crate) fn evaluated_accounts(&self) -> &[AccountId] {
        &self.scratch.evaluated
    }

    /// The market margin evaluation reads.
    pub fn margin_market(&self) -> MarginMarket<'_> {
        MarginMarket {
            instruments: &self.instruments,
            index_prices: &self.index_prices,
            risk_params: &self.risk_params,
            now_ns: self.now_ns,
        }
    }

    /// Values an instrument's margin inputs if they are not current (nobody held it, or
    /// the last revaluation failed), moving any holders' sums. Valued as of the last batch
    /// end's mark and time, so the result is the one eager revaluation would have given,
    /// whichever shard holds which accounts.
    fn ensure_margin_valued(&mut self, id: InstrumentId) {
        let ShardState {
            instruments,
            accounts,
            risk_params,
            scratch,
            ..
        } = self;
        let Some(instrument) = instruments.get_mut(&id) else {
            return;
        };
        if instrument.margin.valued {
            return;
        }
        let Some(mark) = instrument.margin.as_of else {
            return;
        };
        let as_of_ns = instrument.margin.as_of_ns;
        let params = params_of(risk_params, instrument.definition.underlying);
        let new = contract_margin(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            &instrument.risk,
            &params,
            as_of_ns,
            &mut scratch.batch,
        );
        scratch.batch.clear();
        change_margin(instrument, accounts, new, &mark, as_of_ns);
    }

    fn define_instrument(&mut self, definition: &InstrumentDefinition) -> Outcome {
        if definition.id.0 >= INSTRUMENTS_MAX || definition.underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let (Some(size), Some(strike)) = (definition.contract_size.get(), definition.strike.get())
        else {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        };
        let is_option = definition.kind == InstrumentKind::Option;
        let dated = matches!(
            definition.kind,
            InstrumentKind::Option | InstrumentKind::Future
        );
        if size <= Decimal::ZERO
            || (is_option && strike <= Decimal::ZERO)
            || (dated && definition.expiry_ns == 0)
        {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        }
        if let Some(existing) = self.instruments.get(&definition.id) {
            return if existing.definition == *definition {
                Outcome::Applied // a repeat (e.g. after a gateway restart) changes nothing
            } else {
                Outcome::Rejected(RejectReason::ConflictingDefinition)
            };
        }
        if self.instrument_ids_by_name.contains_key(&definition.name) {
            return Outcome::Rejected(RejectReason::DuplicateName);
        }
        self.instrument_ids_by_name
            .insert(definition.name, definition.id);
        self.instruments.insert(
            definition.id,
            InstrumentState {
                definition: *definition,
                contract_size: size.to_f64().unwrap_or(0.0),
                strike: strike.to_f64().unwrap_or(0.0),
                mark: None,
                risk: ContractRisk::ZERO,
                margin: ContractMargin::default(),
                mark_seq: 0,
                dirty: false,
                settled: false,
                holders: SortedVecMap::new(),
            },
        );
        self.release_parked();
        Outcome::Applied
    }

    /// Every shard registers every account (names unique engine-wide, fills for it
    /// no longer parked); only the owner keeps its state.
    fn define_account(&mut self, definition: &AccountDefinition) -> Outcome {
        if definition.id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if let Some(existing) = self.account_names.get(&definition.id) {
            let same = *existing == definition.name
                && self
                    .accounts
                    .get(&definition.id)
                    .is_none_or(|a| a.margin_model == definition.margin_model);
            return if same {
                Outcome::Applied
            } else {
                Outcome::Rejected(RejectReason::ConflictingDefinition)
            };
        }
        if self.account_ids_by_name.contains_key(&definition.name) {
            return Outcome::Rejected(RejectReason::DuplicateName);
        }
        self.account_names.insert(definition.id, definition.name);
        self.account_ids_by_name
            .insert(definition.name, definition.id);
        if self.owns(definition.id) {
            let mut account = AccountState::new(definition.name, definition.margin_model);
            self.dirty_accounts.reserve(1);
            touch(
                &mut account,
                definition.id,
                self.seq,
                &mut self.dirty_accounts,
            );
            self.accounts.insert(definition.id, account);
        }
        self.release_parked();
        Outcome::Applied
    }

    /// Applies parked fills whose instrument and account now exist, in arrival order
    /// (their checks, the trade id included, were done when they arrived). Every shard
    /// releases them; the owner applies and counts each.
    fn release_parked(&mut self) {
        let ShardState {
            parked,
            instruments,
            account_names,
            ..
        } = self;
        if parked.is_empty() {
            return;
        }
        let ready = parked.take_ready(|fill| {
            instruments.contains_key(&fill.instrument) && account_names.contains_key(&fill.account)
        });
        for parked in ready {
            if !self.owns(parked.fill.account) {
                continue;
            }
            match self.apply_known_fill(parked.timestamp_ns, &parked.fill) {
                Outcome::Rejected(reason) => self.account_rejections.record(reason),
                _ => self.events_applied += 1,
            }
        }
    }

    fn index_price(&mut self, timestamp_ns: u64, underlying: UnderlyingId, price: f64) -> Outcome {
        if underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let last = self.index_prices.get(&underlying).copied();
        if last.is_some_and(|(last_ns, _)| timestamp_ns < last_ns) {
            return Outcome::Rejected(RejectReason::StaleMark);
        }
        if let Err(reason) = validation::index_move_ok(timestamp_ns, price, last) {
            return Outcome::Rejected(reason);
        }
        self.index_prices.insert(underlying, (timestamp_ns, price));
        let seq = self.seq;
        match self.index_moves.iter_mut().find(|(u, _)| *u == underlying) {
            Some(entry) => entry.1 = seq,
            None => self.index_moves.push((underlying, seq)),
        }
        Outcome::Applied
    }

    fn ticker(&mut self, timestamp_ns: u64, ticker: &Ticker) -> Outcome {
        let now_ns = self.now_ns;
        let Some(instrument) = self.instruments.get_mut(&ticker.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.settled {
            return Outcome::Rejected(RejectReason::ExpiredInstrument);
        }
        if instrument.definition.kind == InstrumentKind::Option {
            if let Err(reason) = validation::option_mark_iv_ok(ticker.mark_iv) {
                return Outcome::Rejected(reason);
            }
        }
        let index = self
            .index_prices
            .get(&instrument.definition.underlying)
            .map(|&(_, price)| price);
        let consistent =
            validation::ticker_consistent(&instrument.definition, instrument.strike, ticker, index);
        if let Err(reason) = consistent {
            return Outcome::Rejected(reason);
        }
        // Finite, signed and bounded values were checked by validation (apply_at).
        if instrument
            .mark
            .is_some_and(|mark| timestamp_ns < mark.timestamp_ns)
        {
            return Outcome::Rejected(RejectReason::StaleMark);
        }
        let mark = Mark {
            timestamp_ns,
            mark_price: ticker.mark_price,
            mark_iv: ticker.mark_iv,
            forward: ticker.forward,
        };
        // Refuse a mark the model cannot price rather than carry it to the batch end (the
        // domain checks alone: it is priced once, at the batch end).
        if !contract_priceable(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            now_ns,
        ) {
            return Outcome::Rejected(RejectReason::UnpricedMark);
        }
        instrument.mark = Some(mark);
        instrument.mark_seq = self.seq;
        if !instrument.dirty {
            instrument.dirty = true;
            self.dirty.push(ticker.instrument);
        }
        Outcome::Applied
    }

    /// Checks a fill. Everything that decides whether it is rejected, parked or applied
    /// is the same in every shard (definitions, the trade-id window and the parking lot
    /// are market-wide), so the outcome does not depend on the shard count; only the
    /// owner applies and counts it. A trade id is remembered only once its fill is
    /// applied or parked, so a resend of a refused fill is not taken for a duplicate.
    fn fill(&mut self, event: &Event, fill: &Fill) -> Outcome {
        let owned = self.owns(fill.account);
        let outcome = match self.check_fill(event.timestamp_ns, fill) {
            Err(reason) => Outcome::Rejected(reason),
            Ok(()) if !self.is_known(fill) => match self.parked.admit(fill.account) {
                Err(reason) => Outcome::Rejected(reason),
                Ok(()) => {
                    self.trade_ids.insert(fill.trade_id);
                    self.parked.park(ParkedFill {
                        fill: *fill,
                        timestamp_ns: event.timestamp_ns,
                        seq: self.seq,
                        parked_at_ns: self.now_ns,
                    });
                    Outcome::Parked
                }
            },
            Ok(()) => {
                self.trade_ids.insert(fill.trade_id);
                if owned {
                    self.apply_known_fill(event.timestamp_ns, fill)
                } else {
                    Outcome::Applied
                }
            }
        };
        if owned { outcome } else { Outcome::NotOwned }
    }

    fn is_known(&self, fill: &Fill) -> bool {
        self.instruments.contains_key(&fill.instrument)
            && self.account_names.contains_key(&fill.account)
    }

    /// The shard-independent checks of a fill (its fields passed validation).
    fn check_fill(&self, timestamp_ns: u64, fill: &Fill) -> Result<(), RejectReason> {
        if fill.account.0 >= ACCOUNTS_MAX || fill.instrument.0 >= INSTRUMENTS_MAX {
            return Err(RejectReason::IdOutOfRange);
        }
        if self.trade_ids.contains(fill.trade_id) {
            return Err(RejectReason::DuplicateTradeId);
        }
        match self.instruments.get(&fill.instrument) {
            Some(instrument) => traded_in_time(instrument, timestamp_ns),
            None => Ok(()),
        }
    }

    /// Applies a checked fill whose instrument and account exist. Every decimal is
    /// computed checked before anything changes: an overflow is a rejection.
    fn apply_known_fill(&mut self, timestamp_ns: u64, fill: &Fill) -> Outcome {
        let (Some(quantity), Some(price), Some(fee)) =
            (fill.quantity.get(), fill.price.get(), fill.fee.get())
        else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        match self.instruments.get(&fill.instrument) {
            None => return Outcome::Rejected(RejectReason::UnknownInstrument),
            Some(instrument) => {
                if let Err(reason) = traded_in_time(instrument, timestamp_ns) {
                    return Outcome::Rejected(reason);
                }
            }
        }
        self.ensure_margin_valued(fill.instrument);
        let seq = self.seq;
        let Some(instrument) = self.instruments.get_mut(&fill.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        let Some(account) = self.accounts.get_mut(&fill.account) else {
            return Outcome::Rejected(RejectReason::UnknownAccount);
        };
        let signed = match fill.side {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        };
        let Some(size) = instrument.definition.contract_size.get() else {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        };
        let currency = instrument.currency();
        let before = account
            .positions
            .get(&fill.instrument)
            .copied()
            .unwrap_or_default();
        let mut after = before;
        let Some(effect) = after.trade(&instrument.definition, size, signed, price) else {
            return Outcome::Rejected(RejectReason::Overflow);
        };
        let cash_change = effect.realized.checked_sub(fee);
        let new_cash = cash_change.and_then(|c| ledger(&account.cash, currency).checked_add(c));
        let new_realized = ledger(&account.realized_pnl, currency).checked_add(effect.realized);
        let (Some(new_cash), Some(new_realized)) = (new_cash, new_realized) else {
            return Outcome::Rejected(RejectReason::Overflow);
        };
        let quantity_before = before.quantity.to_f64().unwrap_or(0.0);
        let entry_before = entry_value(instrument, before.quantity, before.average_price);
        let entry_after = entry_value(instrument, after.quantity, after.average_price);
        let quantity_after = after.quantity.to_f64().unwrap_or(0.0);
        if after.quantity.is_zero() {
            account.positions.remove(&fill.instrument);
            instrument.holders.remove(&fill.account);
        } else {
            *account.positions.entry_or_default(fill.instrument) = after;
            instrument.holders.insert(fill.account, quantity_after);
        }
        if account.margin_model == MarginModel::Standard {
            let (underlying, _) = instrument.risk_key();
            account.standard_terms.set_quantity(
                fill.instrument,
                underlying,
                currency,
                quantity_after,
            );
        }
        *account.entry_value.entry(currency).or_default() += entry_after - entry_before;
        account.cash.insert(currency, new_cash);
        account.realized_pnl.insert(currency, new_realized);
        let traded = signed.to_f64().unwrap_or(0.0);
        let delta = instrument.risk * traded;
        account.add_risk(instrument.risk_key(), instrument.bucket_key(), delta);
        let margin = &instrument.margin;
        let change = crate::margin::PmTotals {
            vector: margin.vector * traded,
            roll_shock: margin.roll_shock * (quantity_after.abs() - quantity_before.abs()),
            delta: margin.delta * traded,
        };
        add_totals(
            account.pm_totals.entry(instrument.risk_key()).or_default(),
            &change,
        );
        touch(account, fill.account, seq, &mut self.dirty_accounts);
        Outcome::Applied
    }

    /// A deposit, or a withdrawal of at most the available balance (equity − initial
    /// margin, as of now); a transfer id already applied to the account is a duplicate.
    fn collateral(&mut self, collateral: &Collateral) -> Outcome {
        let Some(amount) = collateral.amount.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        if collateral.currency.0 > UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let currency = collateral.currency;
        self.with_account(collateral.account, |account| {
            if account.has_transfer(collateral.transfer_id) {
                return Err(RejectReason::DuplicateTransferId);
            }
            if amount.is_sign_negative() {
                // Both finite (bounded amount, finite available): a plain comparison.
                let requested = (-amount).to_f64().unwrap_or(f64::INFINITY);
                if requested > account.withdrawable(currency) {
                    return Err(RejectReason::InsufficientCollateral);
                }
            }
            let new_cash = ledger(&account.cash, currency)
                .checked_add(amount)
                .ok_or(RejectReason::Overflow)?;
            account.cash.insert(currency, new_cash);
            account.remember_transfer(collateral.transfer_id);
            Ok(())
        })
    }

    /// Every holder pays `quantity × rate`. A holder whose ledger would overflow is left
    /// unchanged and counted in `ledger_overflows`, so the outcome is per account, whatever the
    /// shard layout.
    fn funding(&mut self, funding: &Funding) -> Outcome {
        let Some(rate) = funding.rate_per_contract.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        if self.funding_ids.contains(funding.funding_id) {
            return Outcome::Rejected(RejectReason::DuplicateTransferId);
        }
        let Some(instrument) = self.instruments.get(&funding.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.definition.kind != InstrumentKind::Perpetual {
            return Outcome::Rejected(RejectReason::NotPerpetual);
        }
        self.funding_ids.insert(funding.funding_id);
        let currency = instrument.currency();
        for holder in instrument.holders.keys() {
            let Some(account) = self.accounts.get_mut(holder) else {
                continue;
            };
            let quantity = account
                .positions
                .get(&funding.instrument)
                .map_or(Decimal::ZERO, |p| p.quantity);
            let paid = quantity
                .checked_mul(rate)
                .and_then(|paid| ledger(&account.cash, currency).checked_sub(paid));
            match paid {
                Some(cash) => {
                    account.cash.insert(currency, cash);
                    touch(account, *holder, self.seq, &mut self.dirty_accounts);
                }
                None => self.ledger_overflows += 1,
            }
        }
        Outcome::Applied
    }

    /// Settles an instrument at or after its expiry. A holder whose settlement would
    /// overflow its ledger is closed without the PnL and counted in `ledger_overflows`.
    fn settle(&mut self, timestamp_ns: u64, settlement: &SettlementPrice) -> Outcome {
        // Valid and within its bounds: validation checked it (apply_at).
        let Some(price) = settlement.price.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        let Some(instrument) = self.instruments.get_mut(&settlement.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.settled {
            return Outcome::Rejected(RejectReason::ExpiredInstrument);
        }
        if timestamp_ns < instrument.definition.expiry_ns {
            return Outcome::Rejected(RejectReason::SettlementBeforeExpiry);
        }
        let Some(size) = instrument.definition.contract_size.get() else {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        };
        let Some(settle_price) = settlement_value(instrument, price) else {
            return Outcome::Rejected(RejectReason::Overflow);
        };
        let currency = instrument.currency();
        let holders = std::mem::take(&mut instrument.holders);
        for (&holder, _) in holders.iter() {
            let Some(account) = self.accounts.get_mut(&holder) else {
                continue;
            };
            let Some(mut position) = account.positions.remove(&settlement.instrument) else {
                continue;
            };
            account.standard_terms.0.remove(&settlement.instrument);
            let entry_before = entry_value(instrument, position.quantity, position.average_price);
            let quantity = position.quantity;
            let realized = position
                .trade(&instrument.definition, size, -quantity, settle_price)
                .map(|effect| effect.realized);
            let ledgers = realized.and_then(|realized| {
                Some((
                    ledger(&account.cash, currency).checked_add(realized)?,
                    ledger(&account.realized_pnl, currency).checked_add(realized)?,
                ))
            });
            match ledgers {
                Some((cash, realized_pnl)) => {
                    account.cash.insert(currency, cash);
                    account.realized_pnl.insert(currency, realized_pnl);
                }
                None => self.ledger_overflows += 1,
            }
            *account.entry_value.entry(currency).or_default() -= entry_before;
            let closed = -quantity.to_f64().unwrap_or(0.0);
            account.add_risk(
                instrument.risk_key(),
                instrument.bucket_key(),
                instrument.risk * closed,
            );
            let margin = &instrument.margin;
            let change = crate::margin::PmTotals {
                vector: margin.vector * closed,
                roll_shock: -margin.roll_shock * closed.abs(),
                delta: margin.delta * closed,
            };
            add_totals(
                account.pm_totals.entry(instrument.risk_key()).or_default(),
                &change,
            );
            touch(account, holder, self.seq, &mut self.dirty_accounts);
        }
        instrument.settled = true;
        instrument.dirty = false;
        instrument.risk = ContractRisk::ZERO;
        instrument.margin = ContractMargin::default();
        Outcome::Applied
    }

    fn set_risk_params(&mut self, params: &RiskParams) -> Outcome {
        if params.underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if !params.params.is_valid() {
            return Outcome::Rejected(RejectReason::InvalidParams);
        }
        // Cited by the holders of every instrument it revalues.
        for instrument in self.instruments.values_mut() {
            if instrument.definition.underlying == params.underlying {
                instrument.mark_seq = self.seq;
            }
        }
        self.staged_params.push(*params);
        Outcome::Applied
    }

    fn with_account(
        &mut self,
        id: AccountId,
        change: impl FnOnce(&mut AccountState) -> Result<(), RejectReason>,
    ) -> Outcome {
        if !self.owns(id) {
            return Outcome::NotOwned;
        }
        if id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let Some(account) = self.accounts.get_mut(&id) else {
            return Outcome::Rejected(RejectReason::UnknownAccount);
        };
        match change(account) {
            Ok(()) => {
                touch(account, id, self.seq, &mut self.dirty_accounts);
                Outcome::Applied
            }
            Err(reason) => Outcome::Rejected(reason),
        }
    }
}

/// A ledger balance (zero when the currency was never used).
fn ledger(map: &BTreeMap<UnderlyingId, Decimal>, currency: UnderlyingId) -> Decimal {
    map.get(&currency).copied().unwrap_or(Decimal::ZERO)
}

/// A fill may trade an instrument that has not settled, stamped no later than its expiry.
fn traded_in_time(instrument: &InstrumentState, timestamp_ns: u64) -> Result<(), RejectReason> {
    if instrument.settled {
        return Err(RejectReason::ExpiredInstrument);
    }
    let expiry_ns = instrument.definition.expiry_ns;
    if expiry_ns != 0 && timestamp_ns > expiry_ns {
        return Err(RejectReason::TradedAfterExpiry);
    }
    Ok(())
}

/// The account an account event belongs to (`None` for market events).
fn account_of(body: &EventBody) -> Option<AccountId> {
    match body {
        EventBody::AccountDefined(definition) => Some(definition.id),
        EventBody::Fill(fill) => Some(fill.account),
        EventBody::Collateral(collateral) => Some(collateral.account),
        EventBody::Limits(limits) => Some(limits.account),
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

/// Installs an instrument's new margin inputs and moves every holder's sums by
/// `quantity × (new − old)`. On failure the old inputs stay (holders include them) and
/// are flagged not current.
fn change_margin(
    instrument: &mut InstrumentState,
    accounts: &mut IdMap<AccountId, AccountState>,
    new: Result<ContractMargin, MarginError>,
    mark: &Mark,
    now_ns: u64,
) {
    let Ok(new) = new else {
        let margin = &mut instrument.margin;
        (margin.valued, margin.as_of, margin.as_of_ns) = (false, Some(*mark), now_ns);
        return;
    };
    let old = instrument.margin;
    instrument.margin = new;
    let key = instrument.risk_key();
    for (holder, &quantity) in instrument.holders.iter() {
        let Some(account) = accounts.get_mut(holder) else {
            continue;
        };
        let change = new.change_from(&old, quantity);
        add_totals(account.pm_totals.entry(key).or_default(), &change);
    }
}

/// Prices the options queued in the scenario batch and installs their margin inputs.
fn flush_margin_batch(
    instruments: &mut IdMap<InstrumentId, InstrumentState>,
    accounts: &mut IdMap<AccountId, AccountState>,
    scratch: &mut Scratch,
    now_ns: u64,
) {
    if scratch.batch.is_empty() {
        return;
    }
    let priced = scratch.batch.price();
    for (slot, &(id, units)) in scratch.slots.iter().enumerate() {
        let Some(instrument) = instruments.get_mut(&id) else {
            continue;
        };
        let Some(mark) = instrument.mark else {
            continue;
        };
        let new = match priced {
            Ok(()) => option_margin(&scratch.batch, slot, units, &instrument.risk, &mark, now_ns),
            Err(error) => Err(error),
        };
        change_margin(instrument, accounts, new, &mark, now_ns);
    }
    scratch.batch.clear();
    scratch.slots.clear();
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

/// `quantity × value at entry` (f64, settlement currency): the basis unrealized PnL is
/// measured from.
pub(crate) fn entry_value(
    instrument: &InstrumentState,
    quantity: Decimal,
    average_price: Decimal,
) -> f64 {
    let quantity = quantity.to_f64().unwrap_or(0.0);
    let price = average_price.to_f64().unwrap_or(0.0);
    if quantity == 0.0 {
        return 0.0;
    }
    value_at(&instrument.definition, instrument.contract_size, price)
        .map_or(0.0, |value| quantity * value)
}

/// The price a position settles at, as the instrument is quoted: options settle at their
/// payoff (in coin per contract for inverse options), futures at the settlement price.
fn settlement_value(instrument: &InstrumentState, price: Decimal) -> Option<Decimal> {
    let definition = &instrument.definition;
    if definition.kind != InstrumentKind::Option {
        return Some(price);
    }
    let strike = definition.strike.get().unwrap_or(Decimal::ZERO);
    let payoff = match definition.right {
        crate::events::OptionRight::Call => price.checked_sub(strike)?.max(Decimal::ZERO),
        crate::events::OptionRight::Put => strike.checked_sub(price)?.max(Decimal::ZERO),
    };
    match definition.settlement {
        crate::events::Settlement::Inverse => payoff.checked_div(price),
        crate::events::Settlement::Linear => Some(payoff),
    }
}
