//! Implied Black-76 volatility from a price, in USD or coin.
//!
//! The root finder is Jaeckel's "Let's Be Rational" as implemented by the `implied-vol`
//! crate (full double precision for every attainable price, two Householder steps at
//! most). Keel adds the domain checks, discounting and coin conversion, and turns every
//! unattainable price into a typed error. See `docs/PRICING.md` for why we use the crate.

use implied_vol::solver::Jaeckel;
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};

use super::black76::{OptionKind, validate_market};
use super::error::PricingError;

/// Volatility implied by a discounted USD `price_usd`.
pub fn implied_vol(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    rate: f64,
    price_usd: f64,
) -> Result<f64, PricingError> {
    validate_market(forward, strike, years, rate)?;
    if years <= 0.0 {
        return Err(PricingError::ExpiredForImpliedVol(years));
    }
    if !(price_usd.is_finite() && price_usd >= 0.0) {
        return Err(PricingError::InvalidPrice(price_usd));
    }
    let price = price_usd * (rate * years).exp();
    let intrinsic = kind.intrinsic(forward, strike);
    if price < intrinsic {
        return Err(PricingError::PriceBelowIntrinsic { price, intrinsic });
    }
    let upper_bound = match kind {
        OptionKind::Call => forward,
        OptionKind::Put => strike,
    };
    if price >= upper_bound {
        return Err(PricingError::PriceAboveUpperBound { price, upper_bound });
    }
    // Solve on the out-of-the-money side: by put-call parity the OTM option's price is
    // `price − intrinsic`, exact in floating point here (Sterbenz), whereas letting the
    // solver subtract after normalising loses the digits of a small time value. An OTM
    // put is then solved as the call with forward and strike swapped (Put(F, K) =
    // Call(K, F) exactly), as Jaeckel's reference code does by flipping ln(F/K).
    let otm_price = price - intrinsic;
    let otm_is_call = kind.is_call() == (intrinsic == 0.0);
    let (call_forward, call_strike) = if otm_is_call {
        (forward, strike)
    } else {
        (strike, forward)
    };
    let vol = ImpliedBlackVolatility::builder()
        .forward(call_forward)
        .strike(call_strike)
        .expiry(years)
        .is_call(true)
        .option_price(otm_price)
        .build_unchecked()
        .calculate_with::<Jaeckel<DefaultSpecialFn>>();
    match vol {
        // A positive time value that the solver maps to σ = 0 lies below its resolution
        // (normalised price subnormal, ~1e-300): say so rather than report σ = 0.
        Some(vol) if vol.is_finite() && (vol > 0.0 || otm_price == 0.0) => Ok(vol),
        _ => Err(PricingError::NoSolution(price_usd)),
    }
}

/// Volatility implied by an inverse option's price in coin (`price_usd = price_coin · F`).
pub fn implied_vol_coin(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    rate: f64,
    price_coin: f64,
) -> Result<f64, PricingError> {
    if !(price_coin.is_finite() && price_coin >= 0.0) {
        return Err(PricingError::InvalidPrice(price_coin));
    }
    implied_vol(kind, forward, strike, years, rate, price_coin * forward)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{OptionInputs, black76};

    #[test]
    fn round_trip_at_the_money() {
        let option = OptionInputs {
            kind: OptionKind::Put,
            forward: 100.0,
            strike: 100.0,
            years: 0.5,
            vol: 0.65,
            rate: 0.03,
        };
        let price = black76(&option).unwrap().price_usd;
        let vol = implied_vol(OptionKind::Put, 100.0, 100.0, 0.5, 0.03, price).unwrap();
        assert!((vol - 0.65).abs() < 1e-13);
    }

    #[test]
    fn price_at_intrinsic_is_zero_vol() {
        let vol = implied_vol(OptionKind::Call, 120.0, 100.0, 1.0, 0.0, 20.0).unwrap();
        assert_eq!(vol, 0.0);
    }

    #[test]
    fn unattainable_prices_are_typed_errors() {
        let below = implied_vol(OptionKind::Call, 120.0, 100.0, 1.0, 0.0, 19.0);
        assert!(matches!(
            below,
            Err(PricingError::PriceBelowIntrinsic { .. })
        ));
        let above = implied_vol(OptionKind::Call, 120.0, 100.0, 1.0, 0.0, 120.0);
        assert!(matches!(
            above,
            Err(PricingError::PriceAboveUpperBound { .. })
        ));
        let put_above = implied_vol(OptionKind::Put, 120.0, 100.0, 1.0, 0.0, 150.0);
        assert!(matches!(
            put_above,
            Err(PricingError::PriceAboveUpperBound { .. })
        ));
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let result = implied_vol(OptionKind::Call, 120.0, 100.0, 1.0, 0.0, bad);
            assert!(matches!(result, Err(PricingError::InvalidPrice(_))));
        }
        let expired = implied_vol(OptionKind::Call, 120.0, 100.0, 0.0, 0.0, 25.0);
        assert!(matches!(
            expired,
            Err(PricingError::ExpiredForImpliedVol(_))
        ));
        let coin = implied_vol_coin(OptionKind::Call, 120.0, 100.0, 1.0, 0.0, 1.0);
        assert!(matches!(
            coin,
            Err(PricingError::PriceAboveUpperBound { .. })
        ));
    }
}
