//! `keel demo`: until the risk pipeline exists (issue #4), prices a built-in BTC option
//! chain with Black-76, shows coin and USD Greeks, and round-trips every mark through the
//! implied-vol solver. Deterministic: no clock, no randomness.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use keel_engine::pricing::{OptionInputs, OptionKind, black76, coin_greeks, implied_vol_coin};

#[derive(Args)]
pub struct DemoArgs {}

/// The built-in market: BTC index, a gently upward forward curve and a skewed smile.
const INDEX_USD: f64 = 60_000.0;
const FORWARD_CARRY_PER_YEAR: f64 = 0.05;
const EXPIRIES_DAYS: [u32; 5] = [1, 7, 30, 90, 180];
const STRIKE_OFFSETS: [f64; 9] = [-0.20, -0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15, 0.20];
const STRIKE_STEP_USD: f64 = 1_000.0;

fn smile_vol(log_moneyness: f64, years: f64) -> f64 {
    let atm = 0.50 + 0.08 * (-years * 4.0).exp(); // short-dated vol is higher
    atm - 0.10 * log_moneyness + 0.60 * log_moneyness * log_moneyness
}

pub fn run(_args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "keel demo: the event pipeline is not built yet, so this prices a built-in BTC \
         option chain\n(index {INDEX_USD} USD, Black-76 on the forward, inverse options, r = 0).\n"
    )?;
    writeln!(
        out,
        "{:<22} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "instrument",
        "forward",
        "iv",
        "mark_coin",
        "delta_coin",
        "gamma_usd",
        "vega_usd",
        "theta_usd",
        "iv_error"
    )?;
    let mut worst_iv_error = 0.0f64;
    let mut priced = 0usize;
    for days in EXPIRIES_DAYS {
        let years = f64::from(days) / 365.0;
        let forward = INDEX_USD * (FORWARD_CARRY_PER_YEAR * years).exp();
        for offset in STRIKE_OFFSETS {
            let strike = (forward * (1.0 + offset) / STRIKE_STEP_USD).round() * STRIKE_STEP_USD;
            let kind = if strike >= forward {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            let vol = smile_vol((strike / forward).ln(), years);
            let inputs = OptionInputs {
                kind,
                forward,
                strike,
                years,
                vol,
                rate: 0.0,
            };
            let usd = black76(&inputs)?;
            let coin = coin_greeks(&inputs, &usd);
            let implied = implied_vol_coin(kind, forward, strike, years, 0.0, coin.price_coin)
                .with_context(|| format!("implied vol of the {days}-day {strike} option"))?;
            let iv_error = ((implied - vol) / vol).abs();
            worst_iv_error = worst_iv_error.max(iv_error);
            priced += 1;
            let suffix = if kind == OptionKind::Call { "C" } else { "P" };
            writeln!(
                out,
                "{:<22} {:>10.2} {:>6.2}% {:>10.6} {:>10.5} {:>10.7} {:>10.3} {:>10.3} {:>9.1e}",
                format!("BTC-{days}D-{strike:.0}-{suffix}"),
                forward,
                vol * 100.0,
                coin.price_coin,
                coin.delta_coin,
                usd.gamma_per_usd,
                usd.vega_usd,
                usd.theta_usd_per_day,
                iv_error
            )?;
        }
    }
    writeln!(
        out,
        "\n{priced} options priced; every mark inverted back to its vol, worst relative \
         error {worst_iv_error:.1e}."
    )?;
    Ok(ExitCode::SUCCESS)
}
