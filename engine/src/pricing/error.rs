//! Why a pricing or implied-volatility request was refused.

use thiserror::Error;

/// A pricing input outside the model's domain. Pricing never returns NaN: it returns this.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum PricingError {
    #[error("forward must be finite and > 0, got {0}")]
    InvalidForward(f64),
    #[error("strike must be finite and > 0, got {0}")]
    InvalidStrike(f64),
    #[error("forward/strike ratio {0:e} is outside the representable range")]
    MoneynessOutOfRange(f64),
    #[error("volatility must be finite and in [0, {max}], got {vol}")]
    InvalidVol { vol: f64, max: f64 },
    #[error("years to expiry must be finite and at most {max}, got {years}")]
    InvalidYears { years: f64, max: f64 },
    #[error("implied volatility needs years to expiry > 0, got {0}")]
    ExpiredForImpliedVol(f64),
    #[error("rate must be finite and |rate| <= {max}, got {rate}")]
    InvalidRate { rate: f64, max: f64 },
    #[error("option price must be finite and >= 0, got {0}")]
    InvalidPrice(f64),
    #[error("price {price} is below the intrinsic value {intrinsic}: no volatility attains it")]
    PriceBelowIntrinsic { price: f64, intrinsic: f64 },
    #[error("price {price} is at or above the upper bound {upper_bound}: no volatility attains it")]
    PriceAboveUpperBound { price: f64, upper_bound: f64 },
    #[error("no volatility resolves price {0} (time value below the solver's resolution)")]
    NoSolution(f64),
}
