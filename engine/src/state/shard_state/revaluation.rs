//! Batch-end revaluation: each instrument marked since the last batch end is priced once
//! (Greeks, scenario vector), its holders' sums move by quantity × change, and the accounts
//! whose inputs changed are evaluated, raising alerts.

use super::*;
use crate::pricing::black76_batch;
use crate::state::contract_risk::{option_inputs, option_risk};

impl ShardState {
    /// Revalues every instrument marked since the last batch, once, in id order (so the
    /// result does not depend on the order marks arrived in), moves each holder's
    /// aggregates by `quantity × (new − old)` (Greeks and margin sums), then evaluates the
    /// margin of every account whose inputs changed and raises alerts. Allocates nothing
    /// after warm-up.
    pub fn end_of_batch(&mut self) {
        self.install_staged_params();
        self.refresh_surface();
        self.revalue_dirty_instruments();
        self.evaluate_dirty_accounts();
        self.close_attribution_steps();
        self.expire_parked();
    }

    pub(super) fn revalue_dirty_instruments(&mut self) {
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
        // The working memory itself, so its fields borrow apart.
        let scratch: &mut Scratch = scratch;
        let now_ns = *now_ns;
        dirty.sort_unstable();
        scratch.moves.clear();
        scratch.batch.clear();
        scratch.slots.clear();
        for chunk in dirty.chunks(GREEKS_BATCH_MAX) {
            // Pass 1: take each marked instrument once; options' Greeks go in one batch.
            scratch.pending.clear();
            scratch.greeks_inputs.clear();
            for &id in chunk {
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
                if instrument.holders.is_empty() {
                    // Nobody holds it: value it (as of now) when somebody trades it. If an
                    // account traded it in this step (and is flat now), its value move is
                    // recorded: that account's attribution needs it, whoever holds what.
                    let value = value_at(
                        &instrument.definition,
                        instrument.contract_size,
                        mark.mark_price,
                    )
                    .filter(|_| instrument.traded_in_step);
                    if let Some(value) = value {
                        let after = Valuation {
                            risk: ContractRisk {
                                value,
                                ..ContractRisk::ZERO
                            },
                            mark: Some(mark),
                            at_ns: now_ns,
                        };
                        let before = instrument.valuation();
                        let payoff = instrument.payoff();
                        scratch
                            .moves
                            .push(PriceMove::new(id, payoff, &before, &after));
                    }
                    instrument.risk_current = false;
                    instrument.margin = ContractMargin {
                        as_of: Some(mark),
                        as_of_ns: now_ns,
                        ..ContractMargin::default()
                    };
                    continue;
                }
                // A new mark changes standard margin whether or not the Greeks revalue.
                for holder in instrument.holders.keys() {
                    if let Some(account) = accounts.get_mut(holder) {
                        account.standard_terms.mark_stale(&id);
                    }
                }
                let row = if instrument.definition.kind == InstrumentKind::Option {
                    let inputs =
                        option_inputs(&instrument.definition, instrument.strike, &mark, now_ns);
                    scratch.greeks_inputs.push(inputs);
                    (scratch.greeks_inputs.len() - 1) as u32
                } else {
                    NO_GREEKS_ROW
                };
                scratch.pending.push((id, row));
            }
            let rows = scratch.greeks_inputs.len();
            // One invalid row refuses the whole batch: then each is valued on its own.
            let batched = rows > 0
                && black76_batch(
                    &scratch.greeks_inputs.as_batch(),
                    &mut scratch.greeks_out.prefix(rows),
                )
                .is_ok();
            // Pass 2: in id order, install each instrument's new risk and margin inputs.
            for index in 0..scratch.pending.len() {
                let (id, row) = scratch.pending[index];
                let Some(instrument) = instruments.get_mut(&id) else {
                    continue;
                };
                let Some(mark) = instrument.mark else {
                    continue;
                };
                let new_risk = if batched && row != NO_GREEKS_ROW {
                    let inputs = scratch.greeks_inputs.option(row as usize);
                    let usd = scratch.greeks_out.greeks(row as usize);
                    option_risk(
                        &instrument.definition,
                        instrument.contract_size,
                        &mark,
                        &inputs,
                        &usd,
                    )
                } else {
                    contract_risk(
                        &instrument.definition,
                        instrument.contract_size,
                        instrument.strike,
                        &mark,
                        now_ns,
                    )
                };
                let Some(new_risk) = new_risk else {
                    // Counted, and the previous risk kept (holders still include it).
                    *revaluation_failures += 1;
                    continue;
                };
                let change = new_risk - instrument.risk;
                let before = instrument.valuation();
                instrument.risk = new_risk;
                instrument.risk_current = true;
                (instrument.risk_mark, instrument.risk_ns) = (Some(mark), now_ns);
                let price_move =
                    PriceMove::new(id, instrument.payoff(), &before, &instrument.valuation());
                let (key, bucket) = (instrument.risk_key(), instrument.bucket_key());
                for (holder, &quantity) in instrument.holders.iter() {
                    let Some(account) = accounts.get_mut(holder) else {
                        continue;
                    };
                    account.add_risk(key, bucket, change * quantity);
                    account
                        .attribution
                        .accrue(key, price_move.components(quantity));
                    touch(account, *holder, instrument.mark_seq, dirty_accounts);
                }
                scratch.moves.push(price_move);
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
                        Err(error) => {
                            change_margin(instrument, accounts, Err(error), &mark, now_ns)
                        }
                    },
                }
            }
        }
        flush_margin_batch(instruments, accounts, scratch, now_ns);
        dirty.clear();
        // Passes 1 and 2 push in id order within a chunk, not across them.
        scratch.moves.sort_unstable_by_key(|m| m.instrument);
    }

    /// Evaluates the accounts whose margin inputs changed, in id order; alerts for the
    /// conditions that began.
    pub(super) fn evaluate_dirty_accounts(&mut self) {
        let ShardState {
            instruments,
            accounts,
            index_prices,
            risk_params,
            now_ns,
            dirty_accounts,
            index_moves,
            alerts,
            band_alerts,
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
            let evaluation = &mut scratch.evaluation;
            evaluate_account_recording(account, &market, evaluation);
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
            hedge_bands::judge(account, id, band_alerts);
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

    /// Values an instrument's Greeks and margin inputs if they are not current (nobody
    /// held it, or the last revaluation failed), moving any holders' sums. Valued as of
    /// the last batch end's mark and time, with the kernel's bits, so the result is the
    /// one eager revaluation would have given, whichever shard holds which accounts.
    pub(super) fn ensure_valued(&mut self, id: InstrumentId) {
        let ShardState {
            instruments,
            accounts,
            risk_params,
            scratch,
            revaluation_failures,
            ..
        } = self;
        let Some(instrument) = instruments.get_mut(&id) else {
            return;
        };
        if !instrument.risk_current {
            match instrument.current_risk() {
                Some(risk) => {
                    let change = risk - instrument.risk;
                    instrument.risk = risk;
                    instrument.risk_current = true;
                    (instrument.risk_mark, instrument.risk_ns) =
                        (instrument.margin.as_of, instrument.margin.as_of_ns);
                    let (key, bucket) = (instrument.risk_key(), instrument.bucket_key());
                    for (holder, &quantity) in instrument.holders.iter() {
                        if let Some(account) = accounts.get_mut(holder) {
                            account.add_risk(key, bucket, change * quantity);
                            // A catch-up valuation (a failed one before): not a market
                            // move of this step, so unexplained.
                            let residual = PnlComponents {
                                residual: change.value * quantity,
                                ..PnlComponents::ZERO
                            };
                            account.attribution.accrue(key, residual);
                        }
                    }
                }
                None => *revaluation_failures += 1,
            }
        }
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
}

/// Installs an instrument's new margin inputs and moves every holder's sums by
/// `quantity × (new − old)`. On failure the old inputs stay (holders include them) and
/// are flagged not current.
pub(super) fn change_margin(
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
        add_totals(account.pm_totals.entry_or_default(key), &change);
    }
}

/// Prices the options queued in the scenario batch and installs their margin inputs.
pub(super) fn flush_margin_batch(
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
