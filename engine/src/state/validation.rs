//! The input contract: the named bounds every event field must meet before `apply` may
//! change state. One place decides what is acceptable; the state machine only asks.
//! Bounds are wide enough for any real market and narrow enough that no accepted value
//! can overflow the decimal state or turn a model value into NaN or infinity.

use rust_decimal::Decimal;

use super::rejection::RejectReason;
use crate::events::{
    Event, EventBody, Fill, IndexPrice, InstrumentDefinition, InstrumentKind, OptionRight,
    Settlement, Ticker,
};

/// Largest price, in quote currency per unit of underlying (index, forward, strike,
/// settlement, linear marks) — a million times today's BTC.
pub const PRICE_MAX: f64 = 1e11;
/// Smallest positive price (coin-quoted option marks and fills, in coin).
pub const PRICE_MIN: f64 = 1e-8;
/// Largest quantity of one fill, in contracts.
pub const QUANTITY_MAX: i64 = 1_000_000_000;
/// Smallest quantity of one fill, in contracts (Deribit's finest lot is 1e-4).
pub const QUANTITY_MIN_SCALE: u32 = 8;
/// Largest absolute fee of one fill, in its settlement currency.
pub const FEE_MAX: i64 = 1_000_000_000;
/// Largest absolute collateral transfer, in its currency.
pub const TRANSFER_MAX: i64 = 1_000_000_000_000;
/// Largest absolute funding per contract, in the settlement currency.
pub const FUNDING_RATE_MAX: i64 = 1_000_000;
/// Largest mark implied volatility, as a fraction (1000 %).
pub const MARK_IV_MAX: f64 = 10.0;
/// Smallest mark implied volatility of an option, as a fraction (1 vol point). Below
/// it Black-76 gamma grows like 1/σ (1e295 at σ = 1e-300), and holders' sums would
/// lose every digit when the next mark replaces it.
pub const OPTION_MARK_IV_MIN: f64 = 0.01;
/// Largest contract size (units of underlying, or USD for inverse futures).
pub const CONTRACT_SIZE_MAX: i64 = 1_000_000;
/// Earliest event time accepted: 2015-01-01T00:00:00Z (before any crypto options venue).
pub const TIMESTAMP_MIN_NS: u64 = 1_420_070_400_000_000_000;
/// Latest event time accepted: 2200-01-01T00:00:00Z.
pub const TIMESTAMP_MAX_NS: u64 = 7_258_118_400_000_000_000;
/// How far before the model clock an event may be stamped (late fills after a gateway
/// reconnect); older events are refused so a replayed old feed cannot pass as new.
pub const CLOCK_LAG_MAX_NS: u64 = 86_400_000_000_000;
/// How far past the model clock one event may move it (a feed gap); a larger jump would
/// value every option at expiry on one bad timestamp.
pub const CLOCK_LEAD_MAX_NS: u64 = 7 * 86_400_000_000_000;

/// Most a futures mark or an option's forward may be off its index, as a ratio either
/// way; and most an index may move within [`INDEX_JUMP_WINDOW_NS`]. A real market is
/// within a few percent; a mark 1e7 times off its index is a bad oracle, and valuing
/// positions at it would take f64 sums through magnitudes that leave them meaningless.
pub const PRICE_BAND_RATIO: f64 = 2.0;
/// The window of the index-jump check; after this long without an index, any plausible
/// level is accepted (a feed back from an outage).
pub const INDEX_JUMP_WINDOW_NS: u64 = 3_600_000_000_000;

fn within_band(price: f64, reference: f64) -> bool {
    price <= reference * PRICE_BAND_RATIO && price * PRICE_BAND_RATIO >= reference
}

/// A new index level against the last accepted one (`(timestamp, price)`).
pub fn index_move_ok(
    timestamp_ns: u64,
    price: f64,
    last: Option<(u64, f64)>,
) -> Result<(), RejectReason> {
    match last {
        Some((at_ns, previous))
            if timestamp_ns.saturating_sub(at_ns) < INDEX_JUMP_WINDOW_NS
                && !within_band(price, previous) =>
        {
            Err(RejectReason::ImplausiblePrice)
        }
        _ => Ok(()),
    }
}

/// A ticker's prices against its instrument and the index (when one is known): futures
/// marks and every forward within the band of the index; option marks at most their
/// no-arbitrage bound (a call is worth less than the forward, a put than the strike).
pub fn ticker_consistent(
    definition: &InstrumentDefinition,
    strike: f64,
    ticker: &Ticker,
    index: Option<f64>,
) -> Result<(), RejectReason> {
    if let Some(index) = index {
        let futures_mark = definition.kind != InstrumentKind::Option;
        if !within_band(ticker.forward, index)
            || (futures_mark && !within_band(ticker.mark_price, index))
        {
            return Err(RejectReason::ImplausiblePrice);
        }
    }
    if definition.kind == InstrumentKind::Option {
        let bound_usd = match definition.right {
            OptionRight::Call => ticker.forward,
            OptionRight::Put => strike,
        };
        let bound = match definition.settlement {
            Settlement::Inverse => bound_usd / ticker.forward,
            Settlement::Linear => bound_usd,
        };
        if ticker.mark_price > bound * (1.0 + 1e-9) {
            return Err(RejectReason::ImplausiblePrice);
        }
    }
    Ok(())
}

fn decimal_within(value: Decimal, max: i64) -> bool {
    value.abs() <= Decimal::from(max)
}

/// A decimal price within `PRICE_MIN ..= PRICE_MAX`.
pub fn price_ok(price: Decimal) -> Result<(), RejectReason> {
    if price <= Decimal::ZERO {
        return Err(RejectReason::NonPositivePrice);
    }
    // Decimal → f64 is exact enough for a bound check.
    let as_f64 = f64::try_from(price).unwrap_or(f64::INFINITY);
    if !(PRICE_MIN..=PRICE_MAX).contains(&as_f64) {
        return Err(RejectReason::OutOfBounds);
    }
    Ok(())
}

/// An option's mark implied volatility (other instruments carry none).
pub fn option_mark_iv_ok(mark_iv: f64) -> Result<(), RejectReason> {
    if (OPTION_MARK_IV_MIN..=MARK_IV_MAX).contains(&mark_iv) {
        Ok(())
    } else {
        Err(RejectReason::OutOfBounds)
    }
}

/// A float price: finite, positive, within bounds.
pub fn float_price_ok(price: f64) -> Result<(), RejectReason> {
    if !price.is_finite() {
        return Err(RejectReason::NotFinite);
    }
    if price <= 0.0 {
        return Err(RejectReason::NonPositivePrice);
    }
    if !(PRICE_MIN..=PRICE_MAX).contains(&price) {
        return Err(RejectReason::OutOfBounds);
    }
    Ok(())
}

/// The event's timestamp against the model clock `now_ns` (0: no event accepted yet).
pub fn timestamp_ok(timestamp_ns: u64, now_ns: u64) -> Result<(), RejectReason> {
    if !(TIMESTAMP_MIN_NS..=TIMESTAMP_MAX_NS).contains(&timestamp_ns) {
        return Err(RejectReason::TimestampOutOfRange);
    }
    if now_ns == 0 {
        return Ok(());
    }
    if timestamp_ns < now_ns.saturating_sub(CLOCK_LAG_MAX_NS)
        || timestamp_ns > now_ns.saturating_add(CLOCK_LEAD_MAX_NS)
    {
        return Err(RejectReason::TimestampOutOfRange);
    }
    Ok(())
}

/// The field checks of an event that need no state: every decimal valid, every float
/// finite, every magnitude within its bound.
pub fn fields_ok(event: &Event) -> Result<(), RejectReason> {
    match &event.body {
        EventBody::InstrumentDefined(definition) => {
            let (Some(size), Some(strike)) =
                (definition.contract_size.get(), definition.strike.get())
            else {
                return Err(RejectReason::NotFinite);
            };
            if size <= Decimal::ZERO || !decimal_within(size, CONTRACT_SIZE_MAX) {
                return Err(RejectReason::InvalidDefinition);
            }
            if strike < Decimal::ZERO || f64::try_from(strike).unwrap_or(f64::INFINITY) > PRICE_MAX
            {
                return Err(RejectReason::InvalidDefinition);
            }
            if definition.expiry_ns != 0
                && !(TIMESTAMP_MIN_NS..=TIMESTAMP_MAX_NS).contains(&definition.expiry_ns)
            {
                return Err(RejectReason::InvalidDefinition);
            }
            Ok(())
        }
        EventBody::AccountDefined(_) => Ok(()),
        EventBody::IndexPrice(IndexPrice { price, .. }) => float_price_ok(*price),
        EventBody::Ticker(ticker) => ticker_ok(ticker),
        EventBody::Fill(fill) => fill_ok(fill),
        EventBody::Collateral(collateral) => {
            let amount = collateral.amount.get().ok_or(RejectReason::NotFinite)?;
            if amount.is_zero() {
                return Err(RejectReason::QuantityZero);
            }
            if !decimal_within(amount, TRANSFER_MAX) {
                return Err(RejectReason::OutOfBounds);
            }
            Ok(())
        }
        EventBody::Funding(funding) => {
            let rate = funding
                .rate_per_contract
                .get()
                .ok_or(RejectReason::NotFinite)?;
            if !decimal_within(rate, FUNDING_RATE_MAX) {
                return Err(RejectReason::OutOfBounds);
            }
            Ok(())
        }
        EventBody::Settlement(settlement) => {
            price_ok(settlement.price.get().ok_or(RejectReason::NotFinite)?)
        }
        EventBody::RiskParams(params) => {
            if params.params.is_valid() {
                Ok(())
            } else {
                Err(RejectReason::InvalidParams)
            }
        }
        EventBody::InputPosition(_) => Ok(()),
        EventBody::HedgeBands(bands) => {
            let values = [
                bands.delta_min_coin,
                bands.delta_max_coin,
                bands.vega_max_abs_usd,
                bands.gamma_max_abs_usd,
            ];
            let ordered = bands.delta_min_coin <= bands.delta_max_coin;
            if values.iter().any(|v| !v.is_finite())
                || !ordered
                || bands.vega_max_abs_usd < 0.0
                || bands.gamma_max_abs_usd < 0.0
                || bands.underlying.0 >= crate::events::ids::UNDERLYINGS_MAX
            {
                return Err(RejectReason::InvalidLimits);
            }
            Ok(())
        }
        EventBody::Limits(limits) => {
            let values = [
                limits.max_abs_delta_coin,
                limits.max_abs_vega_usd,
                limits.max_abs_gamma_usd,
                limits.min_margin_ratio,
                limits.margin_call_ratio,
            ];
            // NaN would silently mean "no limit"; a negative limit means nothing.
            if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(RejectReason::InvalidLimits);
            }
            Ok(())
        }
    }
}

fn ticker_ok(ticker: &Ticker) -> Result<(), RejectReason> {
    let values = [
        ticker.mark_price,
        ticker.mark_iv,
        ticker.forward,
        ticker.best_bid,
        ticker.best_ask,
    ];
    if values.iter().any(|v| !v.is_finite()) {
        return Err(RejectReason::NotFinite);
    }
    if ticker.mark_price < 0.0 || ticker.mark_iv < 0.0 || ticker.best_bid < 0.0 {
        return Err(RejectReason::NonPositivePrice);
    }
    float_price_ok(ticker.forward)?;
    let quotes = [ticker.mark_price, ticker.best_bid, ticker.best_ask];
    if quotes.iter().any(|v| *v > PRICE_MAX) || ticker.mark_iv > MARK_IV_MAX {
        return Err(RejectReason::OutOfBounds);
    }
    Ok(())
}

fn fill_ok(fill: &Fill) -> Result<(), RejectReason> {
    let (Some(quantity), Some(price), Some(fee)) =
        (fill.quantity.get(), fill.price.get(), fill.fee.get())
    else {
        return Err(RejectReason::NotFinite);
    };
    if quantity <= Decimal::ZERO {
        return Err(RejectReason::QuantityZero);
    }
    if !decimal_within(quantity, QUANTITY_MAX) || quantity.scale() > QUANTITY_MIN_SCALE {
        return Err(RejectReason::OutOfBounds);
    }
    price_ok(price)?;
    if !decimal_within(fee, FEE_MAX) {
        return Err(RejectReason::OutOfBounds);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_bounded_absolutely_and_against_the_clock() {
        let now = 1_767_225_600_000_000_000;
        assert_eq!(timestamp_ok(now, 0), Ok(()));
        assert_eq!(timestamp_ok(5, 0), Err(RejectReason::TimestampOutOfRange));
        assert_eq!(
            timestamp_ok(u64::MAX - 1, now),
            Err(RejectReason::TimestampOutOfRange)
        );
        assert_eq!(timestamp_ok(now + CLOCK_LEAD_MAX_NS, now), Ok(()));
        assert_eq!(
            timestamp_ok(now + CLOCK_LEAD_MAX_NS + 1, now),
            Err(RejectReason::TimestampOutOfRange)
        );
        assert_eq!(timestamp_ok(now - CLOCK_LAG_MAX_NS, now), Ok(()));
        assert_eq!(
            timestamp_ok(now - CLOCK_LAG_MAX_NS - 1, now),
            Err(RejectReason::TimestampOutOfRange)
        );
    }

    #[test]
    fn prices_are_bounded() {
        assert_eq!(
            float_price_ok(1.797_693_134_862_315_7e308),
            Err(RejectReason::OutOfBounds)
        );
        assert_eq!(float_price_ok(f64::NAN), Err(RejectReason::NotFinite));
        assert_eq!(float_price_ok(0.0), Err(RejectReason::NonPositivePrice));
        assert_eq!(
            price_ok(Decimal::new(1, 28)),
            Err(RejectReason::OutOfBounds)
        );
        assert_eq!(price_ok(Decimal::from(65_000)), Ok(()));
    }
}
