//! Coin-settled (inverse) options: value and Greeks in units of the underlying coin,
//! Deribit conventions (docs/PRICING.md). Linear (USDC) options use the USD values directly.

use super::black76::{Greeks, OptionInputs};

/// Price and Greeks per contract in coin units. `V = C_usd / F`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CoinGreeks {
    /// `C_usd / F`.
    pub price_coin: f64,
    /// BTC-equivalent exposure `F·∂V/∂F = Δ_usd − V`.
    pub delta_coin: f64,
    /// `∂²V/∂F² = Γ_usd/F − 2(Δ_usd − V)/F²`.
    pub gamma_coin: f64,
    /// `vega_usd / F`, per vol point.
    pub vega_coin: f64,
    /// `theta_usd / F`, instantaneous, per calendar day.
    pub theta_coin_per_day: f64,
}

/// Converts USD Greeks of an option on `inputs.forward` into coin units. An expired
/// option (`years ≤ 0`) keeps its coin value and, like its USD Greeks, has no Greeks.
#[inline(always)]
pub fn coin_greeks(inputs: &OptionInputs, usd: &Greeks) -> CoinGreeks {
    let forward = inputs.forward;
    let price_coin = usd.price_usd / forward;
    if inputs.years <= 0.0 {
        return CoinGreeks {
            price_coin,
            ..CoinGreeks::default()
        };
    }
    let delta_coin = usd.delta - price_coin;
    CoinGreeks {
        price_coin,
        delta_coin,
        gamma_coin: usd.gamma_per_usd / forward - 2.0 * delta_coin / (forward * forward),
        vega_coin: usd.vega_usd / forward,
        theta_coin_per_day: usd.theta_usd_per_day / forward,
    }
}
