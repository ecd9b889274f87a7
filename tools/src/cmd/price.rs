//! `keel price`: Black-76 price and Greeks (USD units; coin units too with `--inverse`).

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use keel_engine::pricing::{OptionInputs, OptionKind, black76, coin_greeks};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Args)]
#[command(
    after_help = "Output: one JSON object with price, delta, gamma, vega (per vol point), \
theta (instantaneous, per calendar day) and rho (per 1% rate) in USD units; --inverse adds \
price_coin, delta_coin, gamma_coin, vega_coin, theta_coin.\n\n--stdin reads JSON lines \
{\"kind\",\"forward\",\"strike\",\"years\",\"vol\",\"rate\"?,\"inverse\"?} and writes one JSON \
line per input line; a bad line gets {\"error\": ...} and the exit code is non-zero."
)]
pub struct PriceArgs {
    /// Read JSON lines from stdin instead of flags.
    #[arg(long, conflicts_with_all = ["kind", "forward", "strike", "years", "vol", "rate", "inverse"])]
    stdin: bool,
    /// call or put.
    #[arg(long, required_unless_present = "stdin")]
    kind: Option<OptionKind>,
    /// Forward (the venue's underlying price), USD.
    #[arg(long, required_unless_present = "stdin", allow_negative_numbers = true)]
    forward: Option<f64>,
    /// Strike, USD.
    #[arg(long, required_unless_present = "stdin", allow_negative_numbers = true)]
    strike: Option<f64>,
    /// Years to expiry (365-day year).
    #[arg(long, required_unless_present = "stdin", allow_negative_numbers = true)]
    years: Option<f64>,
    /// Volatility as a fraction (0.6 = 60 %).
    #[arg(long, required_unless_present = "stdin", allow_negative_numbers = true)]
    vol: Option<f64>,
    /// Continuously compounded discount rate (0 on Deribit).
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Coin-settled (inverse) option: also report coin-unit values.
    #[arg(long)]
    inverse: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    kind: String,
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: Option<f64>,
    inverse: Option<bool>,
}

pub fn run(args: &PriceArgs) -> anyhow::Result<ExitCode> {
    if args.stdin {
        let stdout = BufWriter::new(std::io::stdout().lock());
        return super::json_lines::run(std::io::stdin().lock(), stdout, answer);
    }
    let request = PriceRequest {
        kind: format!("{:?}", args.kind.context("--kind is required")?),
        forward: args.forward.context("--forward is required")?,
        strike: args.strike.context("--strike is required")?,
        years: args.years.context("--years is required")?,
        vol: args.vol.context("--vol is required")?,
        rate: args.rate,
        inverse: Some(args.inverse),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", answer(request)?).context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn answer(request: PriceRequest) -> anyhow::Result<Value> {
    let inputs = OptionInputs {
        kind: request.kind.parse().map_err(anyhow::Error::msg)?,
        forward: request.forward,
        strike: request.strike,
        years: request.years,
        vol: request.vol,
        rate: request.rate.unwrap_or(0.0),
    };
    let usd = black76(&inputs)?;
    let mut value = json!({
        "price": usd.price_usd,
        "delta": usd.delta,
        "gamma": usd.gamma_per_usd,
        "vega": usd.vega_usd,
        "theta": usd.theta_usd_per_day,
        "rho": usd.rho_usd,
    });
    if request.inverse.unwrap_or(false) {
        let coin = coin_greeks(&inputs, &usd);
        let fields = [
            ("price_coin", coin.price_coin),
            ("delta_coin", coin.delta_coin),
            ("gamma_coin", coin.gamma_coin),
            ("vega_coin", coin.vega_coin),
            ("theta_coin", coin.theta_coin_per_day),
        ];
        for (key, number) in fields {
            value[key] = json!(number);
        }
    }
    Ok(value)
}
