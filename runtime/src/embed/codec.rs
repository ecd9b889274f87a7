//! Client words → engine values, and what-if answers → response words. Everything a
//! client wrote is untrusted: each field is checked here (kinds, sides, decimals, ids,
//! currencies) and the state machine then validates the event as it does any input.

use keel_engine::events::ids::UNDERLYINGS_MAX;
use keel_engine::events::{
    AccountId, Collateral, Currency, Dec, Event, EventBody, Fill, IndexPrice, InstrumentId, Name,
    Side, Ticker, UnderlyingId,
};
use keel_engine::state::sizing::{Binding, SizingError, SizingQuery, StressBudget};
use keel_engine::state::{
    ContractRisk, CurrencyMargin, HypotheticalFill, ShardState, WhatIf, WhatIfError, WhatIfReason,
};
use keel_engine::stress::{Scenario, Shock};
use rust_decimal::Decimal;

use super::mailbox;
use super::wire::*;

/// Decodes an ingress record, or says why it is refused (a `REFUSED_*` code).
pub fn decode_record(record: &Record) -> Result<Event, u64> {
    let body = match record.kind {
        KIND_FILL => {
            let fill: FillRecord = reinterpret(record);
            EventBody::Fill(Fill {
                account: account(fill.account)?,
                instrument: instrument(fill.instrument)?,
                side: side(fill.side)?,
                quantity: Dec::new(decimal(fill.quantity_mantissa, fill.quantity_scale)?),
                price: Dec::new(decimal(fill.price_mantissa, fill.price_scale)?),
                fee: Dec::new(decimal(fill.fee_mantissa, fill.fee_scale)?),
                trade_id: fill.trade_id,
            })
        }
        KIND_COLLATERAL => {
            let collateral: CollateralRecord = reinterpret(record);
            EventBody::Collateral(Collateral {
                account: account(collateral.account)?,
                currency: currency(collateral.currency)?,
                amount: Dec::new(decimal(
                    collateral.amount_mantissa,
                    collateral.amount_scale,
                )?),
                transfer_id: collateral.transfer_id,
            })
        }
        KIND_INDEX_PRICE => {
            let index: IndexPriceRecord = reinterpret(record);
            EventBody::IndexPrice(IndexPrice {
                underlying: underlying(index.underlying)?,
                price: index.price,
            })
        }
        KIND_TICKER => {
            let ticker: TickerRecord = reinterpret(record);
            EventBody::Ticker(Ticker {
                instrument: instrument(ticker.instrument)?,
                mark_price: ticker.mark_price,
                mark_iv: ticker.mark_iv,
                forward: ticker.forward,
                best_bid: ticker.best_bid,
                best_ask: ticker.best_ask,
            })
        }
        _ => return Err(REFUSED_KIND),
    };
    Ok(Event {
        timestamp_ns: record.timestamp_ns,
        body,
    })
}

/// The same 16 words seen as another record struct.
fn reinterpret<T: Wire>(record: &Record) -> T {
    let mut value = T::default();
    for (out, word) in words_of_mut(&mut value).iter_mut().zip(words_of(record)) {
        *out = *word;
    }
    value
}

/// The 16 words of a typed record, as the ring holds them.
pub fn as_record<T: Wire>(typed: &T) -> Record {
    let mut record = Record::default();
    for (out, word) in words_of_mut(&mut record).iter_mut().zip(words_of(typed)) {
        *out = *word;
    }
    record
}

fn account(id: u64) -> Result<AccountId, u64> {
    u32::try_from(id).map(AccountId).map_err(|_| REFUSED_ID)
}

fn instrument(id: u64) -> Result<InstrumentId, u64> {
    u32::try_from(id).map(InstrumentId).map_err(|_| REFUSED_ID)
}

fn underlying(id: u64) -> Result<UnderlyingId, u64> {
    u16::try_from(id).map(UnderlyingId).map_err(|_| REFUSED_ID)
}

fn side(code: u64) -> Result<Side, u64> {
    match code {
        SIDE_BUY => Ok(Side::Buy),
        SIDE_SELL => Ok(Side::Sell),
        _ => Err(REFUSED_SIDE),
    }
}

fn currency(code: u64) -> Result<Currency, u64> {
    match code {
        CURRENCY_QUOTE => Ok(Currency::Quote),
        code if code < u64::from(UNDERLYINGS_MAX) => Ok(Currency::Coin(UnderlyingId(code as u16))),
        _ => Err(REFUSED_CURRENCY),
    }
}

/// mantissa × 10^-scale; scales beyond Decimal's 28 are refused.
pub fn decimal(mantissa: i64, scale: u64) -> Result<Decimal, u64> {
    let scale = u32::try_from(scale).map_err(|_| REFUSED_DECIMAL)?;
    Decimal::try_new(mantissa, scale).map_err(|_| REFUSED_DECIMAL)
}

/// The legs of a request as hypothetical fills; a leg priced 0 trades at the mark.
pub fn legs(
    state: &ShardState,
    request: &WhatIfRequest,
    fills: &mut Vec<HypotheticalFill>,
) -> Result<(), (u64, u64)> {
    fills.clear();
    let count = usize::try_from(request.leg_count).unwrap_or(usize::MAX);
    if count > WHAT_IF_LEGS_MAX {
        return Err((STATUS_TOO_MANY_LEGS, request.leg_count));
    }
    let invalid = |leg: u64| (STATUS_INVALID_LEG, leg);
    for (index, leg) in request.legs[..count].iter().enumerate() {
        let index = index as u64;
        let instrument_id = match name(&leg.instrument_name) {
            Some(wanted) => state
                .instrument_id_by_name(&wanted)
                .ok_or((STATUS_UNKNOWN_INSTRUMENT, index))?,
            None => instrument(leg.instrument).map_err(|_| invalid(index))?,
        };
        // Mantissa 0 is Decimal zero: the what-if trades at the mark.
        let price = decimal(leg.price_mantissa, leg.price_scale).map_err(|_| invalid(index))?;
        fills.push(HypotheticalFill {
            instrument: instrument_id,
            side: side(leg.side).map_err(|_| invalid(index))?,
            quantity: decimal(leg.quantity_mantissa, leg.quantity_scale)
                .map_err(|_| invalid(index))?,
            price,
            fee: decimal(leg.fee_mantissa, leg.fee_scale).map_err(|_| invalid(index))?,
        });
    }
    Ok(())
}

/// Working memory of answers, reused by the shard that answers: the legs and both
/// answers (with the what-if's own working memory) are not allocated or moved per
/// answer once warm, so a what-if answer allocates nothing
/// (`tests/tests/hot_path_allocations.rs`). A size query's search reuses the same
/// working memory; its stress budget, if any, runs a stress evaluation that allocates.
#[derive(Debug, Default)]
pub struct AnswerScratch {
    work: AnswerWork,
    /// The mailbox's request and answer, reused: building and moving them by value (0.5
    /// and 0.7 KB) cost the engine about 50 of the 240 ns the mailbox's own work took on
    /// one thread (docs/BENCHMARKS.md). `response` must stay zero past its counts, as
    /// [`answer_in_place`] leaves it: only that and `response_seq` should write it.
    pub request: WhatIfRequest,
    pub response: WhatIfResponse,
}

/// What answering works in: the legs and both answers with their working memory.
#[derive(Debug, Default)]
struct AnswerWork {
    fills: Vec<HypotheticalFill>,
    after: WhatIf,
    before: WhatIf,
}

/// A NUL-padded name field: `None` when empty; bytes after the first NUL are ignored.
pub fn name(field: &[u8; NAME_BYTES]) -> Option<Name> {
    let len = field.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
    if len == 0 {
        return None;
    }
    let mut bytes = [0u8; NAME_BYTES];
    bytes[..len].copy_from_slice(&field[..len]);
    Some(Name(bytes))
}

/// The account a request is about, by name or id: `None` when no account has that name or
/// the id cannot be one.
pub fn requested_account(state: &ShardState, request: &WhatIfRequest) -> Option<AccountId> {
    match name(&request.account_name) {
        Some(wanted) => state.account_id_by_name(&wanted),
        None => u32::try_from(request.account).ok().map(AccountId),
    }
}

/// Answers `request` from `state` (never changing it): a what-if (margin before and
/// after the legs, Greeks after, whether the trade is allowed) or, for `QUERY_SIZE`, the
/// largest quantity and what binds it, with the account after trading it.
pub fn answer(
    state: &ShardState,
    request: &WhatIfRequest,
    scratch: &mut AnswerScratch,
) -> WhatIfResponse {
    let mut response = WhatIfResponse::default();
    answer_into(state, request, &mut scratch.work, &mut response);
    response
}

/// [`answer`] written into `response`, which must be zero past its counts (a default
/// one, or one this crate answered or loaded before); `response_seq` is left at 0.
fn answer_into(
    state: &ShardState,
    request: &WhatIfRequest,
    scratch: &mut AnswerWork,
    response: &mut WhatIfResponse,
) {
    mailbox::clear_response(response);
    response.as_of_seq = state.seq;
    let Some(account) = requested_account(state, request) else {
        refuse(response, (STATUS_UNKNOWN_ACCOUNT, request.account));
        return;
    };
    if let Err(why) = legs(state, request, &mut scratch.fills) {
        refuse(response, why);
        return;
    }
    if request.query == QUERY_SIZE {
        if let Err(why) = size(state, account, request, scratch, response) {
            refuse(response, why);
            return;
        }
    } else if request.query != QUERY_WHAT_IF {
        refuse(response, (STATUS_UNKNOWN_QUERY, request.query));
        return;
    }
    answer_fills(state, account, scratch, response);
}

/// Answers the request in `scratch.request` into `scratch.response` (see [`answer`]).
pub fn answer_in_place(state: &ShardState, scratch: &mut AnswerScratch) {
    let AnswerScratch {
        work,
        request,
        response,
    } = scratch;
    answer_into(state, request, work, response);
}

fn refuse(response: &mut WhatIfResponse, (status, detail): (u64, u64)) {
    response.status = status;
    response.status_detail = detail;
}

/// A size query: solves it, writes the size fields, and leaves in `scratch.fills` the
/// one leg the answer's `after` describes (the maximum, at the mark).
fn size(
    state: &ShardState,
    account: AccountId,
    request: &WhatIfRequest,
    scratch: &mut AnswerWork,
    response: &mut WhatIfResponse,
) -> Result<(), (u64, u64)> {
    let invalid = (STATUS_INVALID_SIZE, 0);
    let leg = match scratch.fills[..] {
        [leg] => leg,
        [] => return Err(invalid),
        _ => return Err((STATUS_TOO_MANY_LEGS, request.leg_count)),
    };
    let stress = if request.stress_max_loss_share == 0.0 {
        None
    } else {
        let share = request.stress_max_loss_share;
        if !(share.is_finite() && share > 0.0) {
            return Err(invalid);
        }
        let mut shock = Shock {
            spot_move: request.stress_spot_move,
            ..Shock::default()
        };
        shock.vol.points = request.stress_vol_points;
        // One move for every underlying: no name, no list.
        let scenario = Scenario {
            others: Some(shock),
            ..Scenario::default()
        };
        scenario.validate().map_err(|_| invalid)?;
        Some(StressBudget {
            scenario,
            max_loss_share_of_equity: share,
        })
    };
    let query = SizingQuery {
        account,
        instrument: leg.instrument,
        side: leg.side,
        lot: leg.quantity,
        stress,
    };
    let sizing = state
        .max_quantity(&query, &mut scratch.after)
        .map_err(|error| match error {
            SizingError::WhatIf(error) => status_of(error),
            SizingError::Unmarked => (STATUS_UNMARKED, u64::from(leg.instrument.0)),
            SizingError::InvalidLot | SizingError::InvalidBudget => invalid,
        })?;
    let quantity = sizing.max_quantity.normalize();
    response.max_quantity_mantissa = i64::try_from(quantity.mantissa()).map_err(|_| invalid)?;
    response.max_quantity_scale = u64::from(quantity.scale());
    response.lots = sizing.lots;
    response.binding = match sizing.binding {
        Binding::Condition(condition) => condition as u64,
        Binding::StressBudget => BINDING_STRESS_BUDGET,
        Binding::LotsMax => BINDING_LOTS_MAX,
    };
    response.already_breached = u64::from(sizing.already_breached);
    response.evaluations = u64::from(sizing.evaluations);
    scratch.fills.clear();
    if sizing.lots > 0 {
        scratch.fills.push(HypotheticalFill {
            instrument: leg.instrument,
            side: leg.side,
            quantity: sizing.max_quantity,
            price: Decimal::ZERO,
            fee: Decimal::ZERO,
        });
    }
    Ok(())
}

/// The what-if part of an answer: the account after `scratch.fills`, and before.
fn answer_fills(
    state: &ShardState,
    AccountId(account): AccountId,
    scratch: &mut AnswerWork,
    response: &mut WhatIfResponse,
) {
    let AnswerWork {
        fills,
        after,
        before: computed,
    } = scratch;
    match state.what_if_into(AccountId(account), fills, after) {
        Ok(()) => {
            fill_answer(response, after);
            // Before: the account's last evaluation when nothing has touched it since;
            // otherwise evaluated now, the same way as after.
            let current = state
                .accounts
                .get(&AccountId(account))
                .filter(|a| state.margin_is_current(a));
            let before = match current {
                Some(held) => Before::Held(&held.margin),
                None => match state.what_if_into(AccountId(account), &[], computed) {
                    Ok(()) => Before::Evaluated(&computed.evaluation),
                    Err(error) => {
                        refuse(response, status_of(error));
                        return;
                    }
                },
            };
            for (slot, after) in response.before.iter_mut().zip(&response.after) {
                let currency = currency_of(after.currency);
                *slot = figures(currency, before.get(currency));
            }
            response.before[response.currency_count as usize..].fill(CurrencyFigures::default());
        }
        Err(error) => refuse(response, status_of(error)),
    }
}

/// The margin before the trade, from wherever it is current.
enum Before<'a> {
    Held(&'a std::collections::BTreeMap<Currency, CurrencyMargin>),
    Evaluated(&'a keel_engine::state::account_margin::Evaluation),
}

impl Before<'_> {
    fn get(&self, currency: Currency) -> Option<&CurrencyMargin> {
        match self {
            Before::Held(margin) => margin.get(&currency),
            Before::Evaluated(evaluation) => evaluation.get(currency),
        }
    }
}

/// The currency of a wire code the engine wrote (always valid).
fn currency_of(code: u64) -> Currency {
    currency(code).unwrap_or(Currency::Quote)
}

fn status_of(error: WhatIfError) -> (u64, u64) {
    match error {
        WhatIfError::UnknownAccount(id) => (STATUS_UNKNOWN_ACCOUNT, u64::from(id)),
        WhatIfError::UnknownInstrument(id) => (STATUS_UNKNOWN_INSTRUMENT, u64::from(id)),
        WhatIfError::Settled(id) => (STATUS_SETTLED, u64::from(id)),
        WhatIfError::Unmarked(id) => (STATUS_UNMARKED, u64::from(id)),
        WhatIfError::Unvalued(id) => (STATUS_UNVALUED, u64::from(id)),
        WhatIfError::InvalidFill => (STATUS_INVALID_LEG, 0),
        WhatIfError::TooManyFills => (STATUS_TOO_MANY_LEGS, 0),
    }
}

fn fill_answer(response: &mut WhatIfResponse, after: &WhatIf) {
    response.allowed = u64::from(after.allowed);
    (response.reason, response.breach_condition) = match after.reason {
        WhatIfReason::Active => (0, 0),
        WhatIfReason::ReducesRisk => (1, 0),
        WhatIfReason::Halted => (2, 0),
        WhatIfReason::Breach(condition) => (3, condition as u64),
    };
    response.trading_state_after = after.state as u64;
    response.conditions_after = u64::from(after.evaluation.conditions);
    // The currencies of either side, in currency order, the same list before and after.
    let mut count = 0;
    for (currency, _) in after.evaluation.iter() {
        if count == ANSWER_CURRENCIES_MAX {
            break;
        }
        response.after[count] = figures(currency, after.evaluation.get(currency));
        count += 1;
    }
    response.currency_count = count as u64;
    let mut greeks = 0;
    for (underlying, risk) in after.greeks.iter().take(SNAPSHOT_UNDERLYINGS_MAX) {
        let bucket = bucket_greeks(*underlying, 0, risk);
        response.greeks_after[greeks] = SnapshotUnderlying {
            underlying: bucket.underlying,
            delta_coin: bucket.delta_coin,
            black_delta_coin: bucket.black_delta_coin,
            gamma_coin_per_usd: bucket.gamma_coin_per_usd,
            vega_usd_per_vol_point: bucket.vega_usd_per_vol_point,
            theta_usd_per_day: bucket.theta_usd_per_day,
        };
        greeks += 1;
    }
    response.underlying_count = greeks as u64;
}

/// Greeks of `risk` on the wire, named by unit (the engine's `delta_usd` is the Black
/// delta in underlying units, `gamma_usd` coin per USD).
pub fn bucket_greeks(
    underlying: UnderlyingId,
    expiry_ns: u64,
    risk: &ContractRisk,
) -> SnapshotBucket {
    SnapshotBucket {
        underlying: u64::from(underlying.0),
        expiry_ns,
        delta_coin: risk.delta_coin,
        black_delta_coin: risk.delta_usd,
        gamma_coin_per_usd: risk.gamma_usd,
        vega_usd_per_vol_point: risk.vega_usd,
        theta_usd_per_day: risk.theta_usd,
    }
}

/// One currency's margin figures (all zero when the account has none in it).
pub fn figures(currency: Currency, margin: Option<&CurrencyMargin>) -> CurrencyFigures {
    let code = u64::from(currency.code());
    let Some(margin) = margin else {
        return CurrencyFigures {
            currency: code,
            complete: 1,
            ..CurrencyFigures::default()
        };
    };
    CurrencyFigures {
        currency: code,
        equity: margin.equity,
        initial_margin: margin.initial_margin,
        maintenance_margin: margin.maintenance_margin,
        maintenance_ratio: maintenance_ratio(margin.equity, margin.maintenance_margin),
        complete: u64::from(margin.complete),
    }
}

/// Maintenance margin over equity: 0 without margin, +inf when equity is gone.
pub fn maintenance_ratio(equity: f64, maintenance_margin: f64) -> f64 {
    if maintenance_margin <= 0.0 {
        0.0
    } else if equity <= 0.0 {
        f64::INFINITY
    } else {
        maintenance_margin / equity
    }
}
