//! `keel what-if`: asks a running engine (`keel run` with an `[embed]` section) what a
//! trade would do to an account, over shared memory, and prints the answer.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use keel_runtime::embed::wire::*;
use keel_runtime::embed::{Answer, Client, Leg, SHM_DIR_DEFAULT};
use rust_decimal::Decimal;

#[derive(Args)]
pub struct WhatIfArgs {
    /// The engine's name (its `[embed] name`).
    #[arg(long)]
    engine: String,
    /// Directory of the engine's shared-memory files.
    #[arg(long, default_value = SHM_DIR_DEFAULT)]
    shm_dir: PathBuf,
    /// The account's name.
    #[arg(
        long,
        required_unless_present = "account_id",
        conflicts_with = "account_id"
    )]
    account: Option<String>,
    /// The account's id (instead of its name).
    #[arg(long)]
    account_id: Option<u32>,
    /// The instrument's name (e.g. BTC-27DEC24-100000-C).
    #[arg(
        long,
        required_unless_present = "instrument_id",
        conflicts_with = "instrument_id"
    )]
    instrument: Option<String>,
    /// The instrument's id (instead of its name).
    #[arg(long)]
    instrument_id: Option<u32>,
    /// buy or sell.
    #[arg(long)]
    side: String,
    /// Contracts (a decimal, > 0).
    #[arg(long)]
    quantity: String,
    /// Price as quoted (coin for inverse options); default: the instrument's mark.
    #[arg(long)]
    price: Option<String>,
    /// Fee in the settlement currency.
    #[arg(long, default_value = "0")]
    fee: String,
    /// Give up after this long (ms).
    #[arg(long, default_value_t = 2_000)]
    timeout_ms: u64,
    /// Print the answer as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn name_field(text: &str, what: &str) -> anyhow::Result<[u8; NAME_BYTES]> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > NAME_BYTES || bytes.contains(&0) {
        bail!("{what} name '{text}' must be 1 to {NAME_BYTES} bytes");
    }
    let mut field = [0u8; NAME_BYTES];
    field[..bytes.len()].copy_from_slice(bytes);
    Ok(field)
}

/// A decimal flag as (mantissa, scale) for the wire.
fn decimal(text: &str, what: &str) -> anyhow::Result<(i64, u64)> {
    let value =
        Decimal::from_str(text).with_context(|| format!("--{what} '{text}' is not a decimal"))?;
    let mantissa = i64::try_from(value.mantissa())
        .with_context(|| format!("--{what} '{text}' has too many digits"))?;
    Ok((mantissa, u64::from(value.scale())))
}

pub fn run(args: &WhatIfArgs) -> anyhow::Result<ExitCode> {
    let side = match args.side.as_str() {
        "buy" => SIDE_BUY,
        "sell" => SIDE_SELL,
        other => bail!("--side must be buy or sell, got '{other}'"),
    };
    let (quantity_mantissa, quantity_scale) = decimal(&args.quantity, "quantity")?;
    anyhow::ensure!(quantity_mantissa > 0, "--quantity must be positive");
    let (price_mantissa, price_scale) = match &args.price {
        Some(price) => {
            let (mantissa, scale) = decimal(price, "price")?;
            anyhow::ensure!(
                mantissa > 0,
                "--price must be positive (omit it to trade at the mark)"
            );
            (mantissa, scale)
        }
        None => (0, 0),
    };
    let (fee_mantissa, fee_scale) = decimal(&args.fee, "fee")?;
    let mut leg = Leg {
        instrument: u64::from(args.instrument_id.unwrap_or(0)),
        side,
        quantity_mantissa,
        quantity_scale,
        price_mantissa,
        price_scale,
        fee_mantissa,
        fee_scale,
        ..Leg::default()
    };
    if let Some(name) = &args.instrument {
        leg.instrument_name = name_field(name, "instrument")?;
    }
    let mut client = Client::attach(&args.shm_dir, &args.engine)?;
    let answer = match &args.account {
        Some(name) => client.what_if_named(
            name_field(name, "account")?,
            &[leg],
            Duration::from_millis(args.timeout_ms),
        )?,
        None => client.what_if(
            u64::from(args.account_id.unwrap_or(0)),
            &[leg],
            Duration::from_millis(args.timeout_ms),
        )?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", answer_json(&answer))?;
    } else {
        print_answer(&mut out, &answer)?;
    }
    out.flush()?;
    if answer.status != STATUS_OK {
        bail!("{}", status_text(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn status_text(answer: &Answer) -> String {
    let detail = answer.status_detail;
    match answer.status {
        STATUS_OK => "answered".into(),
        STATUS_UNKNOWN_ACCOUNT => "no such account".into(),
        STATUS_UNKNOWN_INSTRUMENT => format!("no such instrument (leg {detail})"),
        STATUS_SETTLED => format!("instrument {detail} has settled"),
        STATUS_UNMARKED => format!("instrument {detail} has no mark yet"),
        STATUS_UNVALUED => format!("instrument {detail}: the model refuses its mark"),
        STATUS_INVALID_LEG => format!("leg {detail} is invalid (side, quantity or price)"),
        STATUS_TOO_MANY_LEGS => format!("{detail} legs; at most {WHAT_IF_LEGS_MAX}"),
        STATUS_INVALID_SIZE => {
            "size query invalid (no leg, lot not positive, quantity too large, or stress budget)"
                .into()
        }
        STATUS_UNKNOWN_QUERY => format!("unknown query kind {detail}"),
        other => format!("unknown status {other}"),
    }
}

fn reason_text(answer: &Answer) -> String {
    match answer.reason {
        0 => "account stays active".into(),
        1 => "reduce-only, but every leg shrinks a position".into(),
        2 => "account halted (equity below maintenance margin)".into(),
        _ => format!("would breach condition {}", answer.breach_condition),
    }
}

fn currency_text(code: u64) -> String {
    if code == CURRENCY_QUOTE {
        "USD".into()
    } else {
        format!("coin of underlying {code}")
    }
}

/// A ratio for JSON: infinity (equity gone) is null.
fn finite(value: f64) -> serde_json::Value {
    if value.is_finite() {
        serde_json::json!(value)
    } else {
        serde_json::Value::Null
    }
}

fn answer_json(answer: &Answer) -> serde_json::Value {
    let figures = |f: &CurrencyFigures| {
        serde_json::json!({
            "currency": currency_text(f.currency),
            "equity": f.equity,
            "initial_margin": f.initial_margin,
            "maintenance_margin": f.maintenance_margin,
            "maintenance_margin_over_equity": finite(f.maintenance_ratio),
            "complete": f.complete == 1,
        })
    };
    let count = answer.currency_count as usize;
    let greeks: Vec<serde_json::Value> = answer.greeks_after[..answer.underlying_count as usize]
        .iter()
        .map(|g| {
            serde_json::json!({
                "underlying": g.underlying,
                "delta_coin": g.delta_coin,
                "black_delta_coin": g.black_delta_coin,
                "gamma_coin_per_usd": g.gamma_coin_per_usd,
                "vega_usd_per_vol_point": g.vega_usd_per_vol_point,
                "theta_usd_per_day": g.theta_usd_per_day,
            })
        })
        .collect();
    serde_json::json!({
        "status": status_text(answer),
        "as_of_seq": answer.as_of_seq,
        "allowed": answer.allowed == 1,
        "reason": reason_text(answer),
        "trading_state_after": answer.trading_state_after,
        "conditions_after": answer.conditions_after,
        "before": answer.before[..count].iter().map(figures).collect::<Vec<_>>(),
        "after": answer.after[..count].iter().map(figures).collect::<Vec<_>>(),
        "greeks_after": greeks,
    })
}

fn print_answer(out: &mut impl Write, answer: &Answer) -> std::io::Result<()> {
    if answer.status != STATUS_OK {
        return writeln!(out, "not answered: {}", status_text(answer));
    }
    let allowed = if answer.allowed == 1 { "yes" } else { "no" };
    writeln!(out, "allowed: {allowed} ({})", reason_text(answer))?;
    writeln!(out, "as of journal sequence {}", answer.as_of_seq)?;
    for (before, after) in answer
        .before
        .iter()
        .zip(&answer.after)
        .take(answer.currency_count as usize)
    {
        let unit = if before.currency == CURRENCY_QUOTE {
            "USD"
        } else {
            "coin"
        };
        writeln!(out, "{}:", currency_text(before.currency))?;
        for (label, b, a) in [
            ("equity", before.equity, after.equity),
            (
                "initial margin",
                before.initial_margin,
                after.initial_margin,
            ),
            (
                "maintenance margin",
                before.maintenance_margin,
                after.maintenance_margin,
            ),
        ] {
            writeln!(out, "  {label:<20} {b:>16.8} {unit} -> {a:>16.8} {unit}")?;
        }
        writeln!(
            out,
            "  {:<20} {:>15.2} % -> {:>15.2} %",
            "MM / equity",
            100.0 * before.maintenance_ratio,
            100.0 * after.maintenance_ratio
        )?;
    }
    for g in &answer.greeks_after[..answer.underlying_count as usize] {
        writeln!(
            out,
            "underlying {} after: delta {:.6} coin (Black delta {:.6} coin), gamma {:.3e} coin/USD, vega {:.2} USD/vol point, theta {:.2} USD/day",
            g.underlying,
            g.delta_coin,
            g.black_delta_coin,
            g.gamma_coin_per_usd,
            g.vega_usd_per_vol_point,
            g.theta_usd_per_day
        )?;
    }
    Ok(())
}
