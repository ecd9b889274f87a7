//! `keel iv`: implied volatility from a price (USD, or coin with `--inverse`).

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use keel_engine::pricing::{OptionKind, implied_vol, implied_vol_coin};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Args)]
#[command(
    after_help = "Output: {\"vol\": σ} with σ as a fraction. With --inverse the price is \
in coin (USD price / forward).\n\n--stdin reads JSON lines \
{\"kind\",\"forward\",\"strike\",\"years\",\"price\",\"rate\"?,\"inverse\"?} and writes one JSON \
line per input line; a bad line gets {\"error\": ...} and the exit code is non-zero."
)]
pub struct IvArgs {
    /// Read JSON lines from stdin instead of flags.
    #[arg(long, conflicts_with_all = ["kind", "forward", "strike", "years", "price", "rate", "inverse"])]
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
    /// Option price: USD, or coin with --inverse.
    #[arg(long, required_unless_present = "stdin", allow_negative_numbers = true)]
    price: Option<f64>,
    /// Continuously compounded discount rate (0 on Deribit).
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// The price is in coin (inverse option).
    #[arg(long)]
    inverse: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IvRequest {
    kind: String,
    forward: f64,
    strike: f64,
    years: f64,
    price: f64,
    rate: Option<f64>,
    inverse: Option<bool>,
}

pub fn run(args: &IvArgs) -> anyhow::Result<ExitCode> {
    if args.stdin {
        let stdout = BufWriter::new(std::io::stdout().lock());
        return super::json_lines::run(std::io::stdin().lock(), stdout, answer);
    }
    let request = IvRequest {
        kind: format!("{:?}", args.kind.context("--kind is required")?),
        forward: args.forward.context("--forward is required")?,
        strike: args.strike.context("--strike is required")?,
        years: args.years.context("--years is required")?,
        price: args.price.context("--price is required")?,
        rate: args.rate,
        inverse: Some(args.inverse),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", answer(request)?).context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn answer(request: IvRequest) -> anyhow::Result<Value> {
    let kind: OptionKind = request.kind.parse().map_err(anyhow::Error::msg)?;
    let solve = if request.inverse.unwrap_or(false) {
        implied_vol_coin
    } else {
        implied_vol
    };
    let rate = request.rate.unwrap_or(0.0);
    let vol = solve(
        kind,
        request.forward,
        request.strike,
        request.years,
        rate,
        request.price,
    )?;
    Ok(json!({ "vol": vol }))
}
