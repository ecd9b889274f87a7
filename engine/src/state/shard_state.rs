//! The pure state machine of one risk shard: `apply(&Event)` then `end_of_batch()`. No
//! I/O, no clock, no threads, no hash-order iteration: the same events in the same
//! order give the same state, bit for bit, whoever drives it (live, replay, tests).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::account::AccountState;
use super::account_margin::{Condition, MarginMarket, evaluate_account, params_of};
use super::alerts::{Alert, AlertLog};
use super::contract_margin::{
    ContractMargin, add_totals, contract_margin, future_margin, option_margin, pm_contract,
    scenario_option,
};
use super::contract_risk::{ContractRisk, Mark, contract_risk, value_at};
use super::instrument_state::InstrumentState;
use super::rejection::{RejectReason, RejectionCounts};
use super::sorted_map::SortedVecMap;
use super::trade_ids::TradeIdWindow;
use crate::events::ids::{ACCOUNTS_MAX, INSTRUMENTS_MAX, UNDERLYINGS_MAX};
use crate::events::{
    AccountDefinition, AccountId, Collateral, Event, EventBody, Fill, Funding,
    InstrumentDefinition, InstrumentId, InstrumentKind, RiskParams, SettlementPrice, Side, Ticker,
    UnderlyingId,
};
use crate::margin::{MarginError, ScenarioBatch};

/// Most fills held back per account for an instrument or account not defined yet. Per
/// account, not per shard, so the limit bites the same way for any shard count.
pub const PARKED_FILLS_MAX: usize = 4_096;
/// Most trade ids remembered for duplicate detection (oldest forgotten first). Market-wide,
/// so every shard keeps the same window.
pub const TRADE_IDS_MAX: usize = 1 << 18;
/// Options revalued per scenario-pricing batch (36 rows each) at a batch end; more are
/// priced in further batches of this size.
pub const MARGIN_BATCH_OPTIONS_MAX: usize = 256;

/// Working memory of revaluation: allocated once, not part of the state (never compared,
/// hashed or imaged).
#[derive(Debug)]
pub struct Scratch {
    batch: ScenarioBatch,
    /// Per batch slot: the instrument and its margin units per contract.
    slots: Vec<(InstrumentId, f64)>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            batch: ScenarioBatch::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
            slots: Vec::with_capacity(MARGIN_BATCH_OPTIONS_MAX),
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
    pub instruments: BTreeMap<InstrumentId, InstrumentState>,
    pub accounts: BTreeMap<AccountId, AccountState>,
    pub index_prices: BTreeMap<UnderlyingId, (u64, f64)>,
    pub risk_params: BTreeMap<UnderlyingId, RiskParams>,
    /// Rejected market events (every shard sees and counts these alike).
    pub market_rejections: RejectionCounts,
    /// Rejected account events (counted by the owning shard only).
    pub account_rejections: RejectionCounts,
    pub parked: Vec<Event>,
    pub trade_ids: TradeIdWindow,
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
            instruments: BTreeMap::new(),
            accounts: BTreeMap::new(),
            index_prices: BTreeMap::new(),
            risk_params: BTreeMap::new(),
            market_rejections: RejectionCounts::default(),
            account_rejections: RejectionCounts::default(),
            parked: Vec::new(),
            trade_ids: TradeIdWindow::with_capacity(TRADE_IDS_MAX),
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
    pub fn apply_at(&mut self, seq: u64, event: &Event) -> Outcome {
        self.seq = seq;
        self.now_ns = self.now_ns.max(event.timestamp_ns);
        let outcome = match &event.body {
            EventBody::InstrumentDefined(definition) => self.define_instrument(definition),
            EventBody::AccountDefined(definition) => self.define_account(definition),
            EventBody::IndexPrice(index) => {
                self.index_price(event.timestamp_ns, index.underlying, index.price)
            }
            EventBody::Ticker(ticker) => self.ticker(event.timestamp_ns, ticker),
            EventBody::Fill(fill) => self.fill(event, fill),
            EventBody::Collateral(collateral) => self.collateral(collateral),
            EventBody::Funding(funding) => self.funding(funding),
            EventBody::Settlement(settlement) => self.settle(settlement),
            EventBody::RiskParams(params) => self.set_risk_params(params),
            EventBody::Limits(limits) => self.with_account(limits.account, |account| {
                account.limits = Some(*limits);
            }),
        };
        match outcome {
            Outcome::Rejected(reason) if is_market_event(&event.body) => {
                self.market_rejections.record(reason)
            }
            Outcome::Rejected(reason) => self.account_rejections.record(reason),
            Outcome::Applied => self.events_applied += 1,
            Outcome::Parked | Outcome::NotOwned => {}
        }
        outcome
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
            let new_risk = contract_risk(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                now_ns,
            )
            .unwrap_or(instrument.risk);
            let change = new_risk - instrument.risk;
            instrument.risk = new_risk;
            let (key, bucket) = (instrument.risk_key(), instrument.bucket_key());
            for holder in instrument.holders.keys() {
                let Some(account) = accounts.get_mut(holder) else {
                    continue;
                };
                let quantity = account.quantity_f64(&id);
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
            ..
        } = self;
        for &(underlying, seq) in index_moves.iter() {
            for (id, account) in accounts.iter_mut() {
                if account.risk.keys().any(|(u, _)| *u == underlying) {
                    touch(account, *id, seq, dirty_accounts);
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
        for id in dirty_accounts.drain(..) {
            let Some(account) = accounts.get_mut(&id) else {
                continue;
            };
            account.margin_dirty = false;
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

    fn define_account(&mut self, definition: &AccountDefinition) -> Outcome {
        if definition.id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if !self.owns(definition.id) {
            return Outcome::NotOwned;
        }
        match self.accounts.get(&definition.id) {
            Some(existing)
                if existing.name == definition.name
                    && existing.margin_model == definition.margin_model =>
            {
                Outcome::Applied
            }
            Some(_) => Outcome::Rejected(RejectReason::ConflictingDefinition),
            None => {
                let mut account = AccountState::new(definition.name, definition.margin_model);
                self.dirty_accounts.reserve(1);
                touch(
                    &mut account,
                    definition.id,
                    self.seq,
                    &mut self.dirty_accounts,
                );
                self.accounts.insert(definition.id, account);
                self.release_parked();
                Outcome::Applied
            }
        }
    }

    /// Applies parked fills whose instrument and account now exist, in arrival order.
    /// (Their checks, the trade id included, were done when they arrived.)
    fn release_parked(&mut self) {
        // In place (no new vector): the parked list keeps its capacity.
        let mut index = 0;
        while index < self.parked.len() {
            let ready = match &self.parked[index].body {
                EventBody::Fill(fill)
                    if self.instruments.contains_key(&fill.instrument)
                        && self.accounts.contains_key(&fill.account) =>
                {
                    Some(*fill)
                }
                _ => None,
            };
            let Some(fill) = ready else {
                index += 1;
                continue;
            };
            self.parked.remove(index);
            match self.apply_known_fill(&fill) {
                Outcome::Rejected(reason) => self.account_rejections.record(reason),
                _ => self.events_applied += 1,
            }
        }
    }

    fn index_price(&mut self, timestamp_ns: u64, underlying: UnderlyingId, price: f64) -> Outcome {
        if underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if !price.is_finite() {
            return Outcome::Rejected(RejectReason::NotFinite);
        }
        if price <= 0.0 {
            return Outcome::Rejected(RejectReason::NonPositivePrice);
        }
        if self
            .index_prices
            .get(&underlying)
            .is_some_and(|&(last, _)| timestamp_ns < last)
        {
            return Outcome::Rejected(RejectReason::StaleMark);
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
        let values = [
            ticker.mark_price,
            ticker.mark_iv,
            ticker.forward,
            ticker.best_bid,
            ticker.best_ask,
        ];
        if values.iter().any(|v| !v.is_finite()) {
            return Outcome::Rejected(RejectReason::NotFinite);
        }
        if ticker.mark_price < 0.0 || ticker.forward <= 0.0 || ticker.mark_iv < 0.0 {
            return Outcome::Rejected(RejectReason::NonPositivePrice);
        }
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
        // Refuse a mark the model cannot price now rather than carry it to the batch end.
        if contract_risk(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            now_ns,
        )
        .is_none()
        {
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

    /// Checks a fill. Everything that decides a rejection is the same in every shard
    /// (the trade-id set is market-wide: every shard records every valid fill's id), so
    /// the outcome does not depend on the shard count; only the owner counts it.
    fn fill(&mut self, event: &Event, fill: &Fill) -> Outcome {
        let verdict = self.check_fill(fill);
        if verdict.is_none() {
            self.remember_trade_id(fill.trade_id);
        }
        if fill.account.0 < ACCOUNTS_MAX && !self.owns(fill.account) {
            return Outcome::NotOwned;
        }
        if let Some(reason) = verdict {
            return Outcome::Rejected(reason);
        }
        let known = self.instruments.contains_key(&fill.instrument)
            && self.accounts.contains_key(&fill.account);
        if !known {
            let waiting = self
                .parked
                .iter()
                .filter(|e| matches!(&e.body, EventBody::Fill(f) if f.account == fill.account))
                .count();
            if waiting >= PARKED_FILLS_MAX {
                return Outcome::Rejected(RejectReason::ParkingFull);
            }
            self.parked.push(*event);
            return Outcome::Parked;
        }
        self.apply_known_fill(fill)
    }

    /// The shard-independent checks of a fill; `None` when it may be applied.
    fn check_fill(&self, fill: &Fill) -> Option<RejectReason> {
        if fill.account.0 >= ACCOUNTS_MAX || fill.instrument.0 >= INSTRUMENTS_MAX {
            return Some(RejectReason::IdOutOfRange);
        }
        let (Some(quantity), Some(price), Some(_fee)) =
            (fill.quantity.get(), fill.price.get(), fill.fee.get())
        else {
            return Some(RejectReason::NotFinite);
        };
        if quantity.is_zero() || quantity.is_sign_negative() {
            return Some(RejectReason::QuantityZero);
        }
        if price <= Decimal::ZERO {
            return Some(RejectReason::NonPositivePrice);
        }
        if self.trade_ids.contains(fill.trade_id) {
            return Some(RejectReason::DuplicateTradeId);
        }
        if self
            .instruments
            .get(&fill.instrument)
            .is_some_and(|i| i.settled)
        {
            return Some(RejectReason::ExpiredInstrument);
        }
        None
    }

    /// Applies a checked fill whose instrument and account exist.
    fn apply_known_fill(&mut self, fill: &Fill) -> Outcome {
        let (Some(quantity), Some(price), Some(fee)) =
            (fill.quantity.get(), fill.price.get(), fill.fee.get())
        else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        self.ensure_margin_valued(fill.instrument);
        let seq = self.seq;
        let Some(instrument) = self.instruments.get_mut(&fill.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.settled {
            return Outcome::Rejected(RejectReason::ExpiredInstrument);
        }
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
        let position = account.positions.entry_or_default(fill.instrument);
        let quantity_before = position.quantity.to_f64().unwrap_or(0.0);
        let entry_before = entry_value(instrument, position.quantity, position.average_price);
        let effect = position.trade(&instrument.definition, size, signed, price);
        let entry_after = entry_value(instrument, position.quantity, position.average_price);
        let quantity_after = position.quantity.to_f64().unwrap_or(0.0);
        let flat = position.quantity.is_zero();
        if flat {
            account.positions.remove(&fill.instrument);
            instrument.holders.remove(&fill.account);
        } else {
            instrument.holders.insert(fill.account, ());
        }
        *account.entry_value.entry(currency).or_default() += entry_after - entry_before;
        *account.cash.entry(currency).or_default() += effect.realized - fee;
        *account.realized_pnl.entry(currency).or_default() += effect.realized;
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

    fn remember_trade_id(&mut self, trade_id: u64) {
        self.trade_ids.insert(trade_id);
    }

    fn collateral(&mut self, collateral: &Collateral) -> Outcome {
        let Some(amount) = collateral.amount.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        if collateral.currency.0 > UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        self.with_account(collateral.account, |account| {
            *account.cash.entry(collateral.currency).or_default() += amount;
        })
    }

    fn funding(&mut self, funding: &Funding) -> Outcome {
        let Some(rate) = funding.rate_per_contract.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        let Some(instrument) = self.instruments.get(&funding.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.definition.kind != InstrumentKind::Perpetual {
            return Outcome::Rejected(RejectReason::NotPerpetual);
        }
        let currency = instrument.currency();
        for holder in instrument.holders.keys() {
            let Some(account) = self.accounts.get_mut(holder) else {
                continue;
            };
            let quantity = account
                .positions
                .get(&funding.instrument)
                .map_or(Decimal::ZERO, |p| p.quantity);
            *account.cash.entry(currency).or_default() -= quantity * rate;
            touch(account, *holder, self.seq, &mut self.dirty_accounts);
        }
        Outcome::Applied
    }

    fn settle(&mut self, settlement: &SettlementPrice) -> Outcome {
        let Some(price) = settlement.price.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        if price <= Decimal::ZERO {
            return Outcome::Rejected(RejectReason::NonPositivePrice);
        }
        let Some(instrument) = self.instruments.get_mut(&settlement.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.settled {
            return Outcome::Rejected(RejectReason::ExpiredInstrument);
        }
        let Some(size) = instrument.definition.contract_size.get() else {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        };
        let settle_price = settlement_value(instrument, price);
        let currency = instrument.currency();
        let holders = std::mem::take(&mut instrument.holders);
        for (&holder, ()) in &holders {
            let Some(account) = self.accounts.get_mut(&holder) else {
                continue;
            };
            let Some(mut position) = account.positions.remove(&settlement.instrument) else {
                continue;
            };
            let entry_before = entry_value(instrument, position.quantity, position.average_price);
            let quantity = position.quantity;
            let effect = position.trade(&instrument.definition, size, -quantity, settle_price);
            *account.entry_value.entry(currency).or_default() -= entry_before;
            *account.cash.entry(currency).or_default() += effect.realized;
            *account.realized_pnl.entry(currency).or_default() += effect.realized;
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

    fn with_account(&mut self, id: AccountId, change: impl FnOnce(&mut AccountState)) -> Outcome {
        if id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if !self.owns(id) {
            return Outcome::NotOwned;
        }
        match self.accounts.get_mut(&id) {
            Some(account) => {
                change(account);
                touch(account, id, self.seq, &mut self.dirty_accounts);
                Outcome::Applied
            }
            None => Outcome::Rejected(RejectReason::UnknownAccount),
        }
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
    accounts: &mut BTreeMap<AccountId, AccountState>,
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
    let (id, key) = (instrument.definition.id, instrument.risk_key());
    for holder in instrument.holders.keys() {
        let Some(account) = accounts.get_mut(holder) else {
            continue;
        };
        let change = new.change_from(&old, account.quantity_f64(&id));
        add_totals(account.pm_totals.entry(key).or_default(), &change);
    }
}

/// Prices the options queued in the scenario batch and installs their margin inputs.
fn flush_margin_batch(
    instruments: &mut BTreeMap<InstrumentId, InstrumentState>,
    accounts: &mut BTreeMap<AccountId, AccountState>,
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
fn settlement_value(instrument: &InstrumentState, price: Decimal) -> Decimal {
    let definition = &instrument.definition;
    if definition.kind != InstrumentKind::Option {
        return price;
    }
    let strike = definition.strike.get().unwrap_or(Decimal::ZERO);
    let payoff = match definition.right {
        crate::events::OptionRight::Call => (price - strike).max(Decimal::ZERO),
        crate::events::OptionRight::Put => (strike - price).max(Decimal::ZERO),
    };
    match definition.settlement {
        crate::events::Settlement::Inverse => payoff / price,
        crate::events::Settlement::Linear => payoff,
    }
}
