//! Funding of perpetuals and settlement of expired instruments, holder by holder.

use super::*;

impl ShardState {
    /// Every holder pays `quantity × rate`. A holder whose ledger would overflow is left
    /// unchanged and counted in `ledger_overflows`, so the outcome is per account, whatever the
    /// shard layout.
    pub(super) fn funding(&mut self, funding: &Funding) -> Outcome {
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
                    let paid = quantity.checked_mul(rate).map(|p| decimal_to_f64(&p));
                    let funding = PnlComponents {
                        funding: -paid.unwrap_or(0.0),
                        ..PnlComponents::ZERO
                    };
                    account.attribution.accrue(instrument.risk_key(), funding);
                    account.set_cash(currency, cash);
                    touch(account, *holder, self.seq, &mut self.dirty_accounts);
                }
                None => self.ledger_overflows += 1,
            }
        }
        Outcome::Applied
    }

    /// Settles an instrument at or after its expiry. A holder whose settlement would
    /// overflow its ledger is closed without the PnL and counted in `ledger_overflows`.
    pub(super) fn settle(&mut self, timestamp_ns: u64, settlement: &SettlementPrice) -> Outcome {
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
            account.standard_terms.terms.remove(&settlement.instrument);
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
            let held = decimal_to_f64(&quantity);
            let settled_value = value_at(
                &instrument.definition,
                instrument.contract_size,
                decimal_to_f64(&settle_price),
            );
            let settlement = match ledgers {
                Some((cash, realized_pnl)) => {
                    account.set_cash(currency, cash);
                    account.realized_pnl.insert(currency, realized_pnl);
                    match settled_value {
                        Some(value) => held * (value - instrument.risk.value),
                        None => entry_before - held * instrument.risk.value,
                    }
                }
                None => {
                    self.ledger_overflows += 1;
                    // Closed without its PnL: the position's value and entry leave.
                    entry_before - held * instrument.risk.value
                }
            };
            let parts = PnlComponents {
                settlement,
                ..PnlComponents::ZERO
            };
            account.attribution.accrue(instrument.risk_key(), parts);
            *account.entry_value.entry(currency).or_default() -= entry_before;
            let closed = -decimal_to_f64(&quantity);
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
                account.pm_totals.entry_or_default(instrument.risk_key()),
                &change,
            );
            touch(account, holder, self.seq, &mut self.dirty_accounts);
        }
        instrument.settled = true;
        instrument.dirty = false;
        instrument.risk = ContractRisk::ZERO;
        (instrument.risk_mark, instrument.risk_ns) = (None, 0);
        instrument.margin = ContractMargin::default();
        Outcome::Applied
    }
}

/// The price a position settles at, as the instrument is quoted: options settle at their
/// payoff (in coin per contract for inverse options), futures at the settlement price.
pub(super) fn settlement_value(instrument: &InstrumentState, price: Decimal) -> Option<Decimal> {
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
