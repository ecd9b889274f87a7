//! `keel size`: the largest quantity an account may trade in an instrument at the mark,
//! from a journal's state, and the constraint that binds (initial margin, a limit, or an
//! optional stress budget).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::Args;
use keel_engine::events::{InstrumentKind, Name, Side};
use keel_engine::state::WhatIf;
use keel_engine::state::sizing::{SizingQuery, StressBudget};
use rust_decimal::Decimal;
use serde_json::json;

use super::explain::resolve_account;
use super::stress_scenarios::from_shock;

#[derive(Args)]
pub struct SizeArgs {
    /// Journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// Size against the state after this sequence (default: the end).
    #[arg(long)]
    to: Option<u64>,
    /// The account (name or id).
    #[arg(long)]
    account: String,
    /// The instrument's name.
    #[arg(long)]
    instrument: String,
    /// buy or sell.
    #[arg(long)]
    side: String,
    /// The quantity step in contracts (default: 0.1 for options, 1 otherwise).
    #[arg(long)]
    lot: Option<String>,
    /// A stress budget: the loss under this inline scenario (as `keel stress --shock`,
    /// e.g. `BTC:spot=-30%,vol=+20`), book and trade together...
    #[arg(long, requires = "max_loss_pct")]
    stress_shock: Option<String>,
    /// ...at most this percentage of equity.
    #[arg(long, requires = "stress_shock")]
    max_loss_pct: Option<f64>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SizeArgs) -> anyhow::Result<ExitCode> {
    let side = parse_side(&args.side)?;
    let state = &super::replayed_state(&args.journal, args.to)?;
    let account = resolve_account(state, &args.account)?;
    let instrument = Name::new(&args.instrument)
        .and_then(|n| state.instrument_id_by_name(&n))
        .with_context(|| format!("no instrument {:?} in the journal", args.instrument))?;
    let lot = match &args.lot {
        Some(text) => Decimal::from_str(text)
            .ok()
            .filter(|l| *l > Decimal::ZERO)
            .with_context(|| format!("--lot '{text}' is not a positive decimal"))?,
        None if state.instruments[&instrument].definition.kind == InstrumentKind::Option => {
            Decimal::new(1, 1)
        }
        None => Decimal::ONE,
    };
    let stress = match (&args.stress_shock, args.max_loss_pct) {
        (Some(text), Some(pct)) => {
            if !(pct.is_finite() && pct >= 0.0) {
                bail!("--max-loss-pct {pct} must be a percentage >= 0");
            }
            Some(StressBudget {
                scenario: from_shock(state, text)?,
                max_loss_share_of_equity: pct / 100.0,
            })
        }
        _ => None,
    };
    let query = SizingQuery {
        account,
        instrument,
        side,
        lot,
        stress,
    };
    let sizing = state
        .max_quantity(&query, &mut WhatIf::default())
        .with_context(|| format!("cannot size {} for {}", args.instrument, args.account))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "account": args.account,
            "instrument": args.instrument,
            "side": args.side.to_ascii_lowercase(),
            "lot": lot.to_string(),
            "max_quantity": sizing.max_quantity.to_string(),
            "lots": sizing.lots,
            "binding": sizing.binding.name(),
            "already_breached": sizing.already_breached,
            "evaluations": sizing.evaluations,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "{} may {} at most {} contracts of {} ({} lots of {}); binding: {}{}",
            args.account,
            args.side.to_ascii_lowercase(),
            sizing.max_quantity,
            args.instrument,
            sizing.lots,
            lot,
            sizing.binding.name(),
            if sizing.already_breached {
                " (already breached before any trade)"
            } else {
                ""
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_side(text: &str) -> anyhow::Result<Side> {
    match text.to_ascii_lowercase().as_str() {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => bail!("--side '{text}' must be buy or sell"),
    }
}
