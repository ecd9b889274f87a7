//! Fills: shard-independent checks, parking until definitions arrive, and exact decimal
//! application to the position, ledger and incremental sums.

use super::*;

impl ShardState {
    /// Applies parked fills whose instrument and account now exist, in arrival order
    /// (their checks, the trade id included, were done when they arrived). Every shard
    /// releases them; the owner applies and counts each.
    pub(super) fn release_parked(&mut self) {
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

    /// Checks a fill. Everything that decides whether it is rejected, parked or applied
    /// is the same in every shard (definitions, the trade-id window and the parking lot
    /// are market-wide), so the outcome does not depend on the shard count; only the
    /// owner applies and counts it. A trade id is remembered only once its fill is
    /// applied or parked, so a resend of a refused fill is not taken for a duplicate.
    pub(super) fn fill(&mut self, event: &Event, fill: &Fill) -> Outcome {
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

    pub(super) fn is_known(&self, fill: &Fill) -> bool {
        self.instruments.contains_key(&fill.instrument)
            && self.account_names.contains_key(&fill.account)
    }

    /// The shard-independent checks of a fill (its fields passed validation).
    pub(super) fn check_fill(&self, timestamp_ns: u64, fill: &Fill) -> Result<(), RejectReason> {
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
    pub(super) fn apply_known_fill(&mut self, timestamp_ns: u64, fill: &Fill) -> Outcome {
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
        self.ensure_valued(fill.instrument);
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
        let quantity_before = decimal_to_f64(&before.quantity);
        let entry_before = entry_value(instrument, before.quantity, before.average_price);
        let entry_after = entry_value(instrument, after.quantity, after.average_price);
        let quantity_after = decimal_to_f64(&after.quantity);
        if after.quantity.is_zero() {
            account.positions.remove(&fill.instrument);
            instrument.holders.remove(&fill.account);
        } else {
            *account.positions.entry_or_default(fill.instrument) = after;
            instrument.holders.insert(fill.account, quantity_after);
        }
        if account.margin_model == MarginModel::Standard {
            account
                .standard_terms
                .set_quantity(instrument, quantity_after);
        }
        *account.entry_value.entry(currency).or_default() += entry_after - entry_before;
        account.set_cash(currency, new_cash);
        account.realized_pnl.insert(currency, new_realized);
        let traded = decimal_to_f64(&signed);
        let trade_value = value_at(
            &instrument.definition,
            instrument.contract_size,
            decimal_to_f64(&price),
        )
        .unwrap_or(0.0);
        instrument.traded_in_step = true;
        account.attribution.trade(
            fill.instrument,
            instrument.risk_key(),
            traded,
            trade_value,
            instrument.risk.value,
            decimal_to_f64(&fee),
        );
        let delta = instrument.risk * traded;
        account.add_risk(instrument.risk_key(), instrument.bucket_key(), delta);
        let margin = &instrument.margin;
        let change = crate::margin::PmTotals {
            vector: margin.vector * traded,
            roll_shock: margin.roll_shock * (quantity_after.abs() - quantity_before.abs()),
            delta: margin.delta * traded,
        };
        add_totals(
            account.pm_totals.entry_or_default(instrument.risk_key()),
            &change,
        );
        touch(account, fill.account, seq, &mut self.dirty_accounts);
        Outcome::Applied
    }

    /// Parked fills past their time become counted rejections (by the owner only).
    pub(super) fn expire_parked(&mut self) {
        for parked in self.parked.take_expired(self.now_ns) {
            if self.owns(parked.fill.account) {
                self.account_rejections.record(RejectReason::ParkedExpired);
            }
        }
    }
}

/// A fill may trade an instrument that has not settled, stamped no later than its expiry.
pub(super) fn traded_in_time(
    instrument: &InstrumentState,
    timestamp_ns: u64,
) -> Result<(), RejectReason> {
    if instrument.settled {
        return Err(RejectReason::ExpiredInstrument);
    }
    let expiry_ns = instrument.definition.expiry_ns;
    if expiry_ns != 0 && timestamp_ns > expiry_ns {
        return Err(RejectReason::TradedAfterExpiry);
    }
    Ok(())
}

/// `quantity × value at entry` (f64, settlement currency): the basis unrealized PnL is
/// measured from.
pub(crate) fn entry_value(
    instrument: &InstrumentState,
    quantity: Decimal,
    average_price: Decimal,
) -> f64 {
    let quantity = decimal_to_f64(&quantity);
    let price = decimal_to_f64(&average_price);
    if quantity == 0.0 {
        return 0.0;
    }
    value_at(&instrument.definition, instrument.contract_size, price)
        .map_or(0.0, |value| quantity * value)
}
