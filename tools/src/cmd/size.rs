//! `keel size`: the largest quantity an account may trade in an instrument at the mark,
//! from a journal's state, and the constraint that binds (initial margin, a limit, or an
//! optional stress budget).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use keel_engine::events::{InstrumentKind, Name, Side};
use keel_engine::state::account_margin::Condition;
use keel_engine::state::sizing::{Binding, Sizing, SizingQuery, StressBudget};
use keel_engine::state::{ShardState, WhatIf};
use keel_runtime::embed::wire::*;
use keel_runtime::embed::{Client, Leg, SHM_DIR_DEFAULT};
use rust_decimal::Decimal;
use serde_json::json;

use super::explain::resolve_account;
use super::stress_scenarios::from_shock;
use super::what_if::{name_field, status_text};

#[derive(Args)]
pub struct SizeArgs {
    /// Journal directory (size against its replayed state).
    #[arg(long, required_unless_present = "engine", conflicts_with = "engine")]
    journal: Option<PathBuf>,
    /// Ask a running engine instead (its `[embed] name`), over shared memory; `--lot` is
    /// then required and a stress shock must move every underlying (`*:spot=…,vol=…`).
    #[arg(long)]
    engine: Option<String>,
    /// Directory of the engine's shared-memory files.
    #[arg(long, default_value = SHM_DIR_DEFAULT)]
    shm_dir: PathBuf,
    /// Give up waiting for the engine after this long (ms).
    #[arg(long, default_value_t = 2_000)]
    timeout_ms: u64,
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
    let Some(journal) = &args.journal else {
        return run_on_engine(args, side);
    };
    let state = &super::replayed_state(journal, args.to)?;
    let account = resolve_account(state, &args.account)?;
    let instrument = Name::new(&args.instrument)
        .and_then(|n| state.instrument_id_by_name(&n))
        .with_context(|| format!("no instrument {:?} in the journal", args.instrument))?;
    let lot = match &args.lot {
        Some(text) => parse_lot(text)?,
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
    print(args, &lot, &sizing, None)
}

/// The same query over shared memory, answered by the shard that owns the account.
fn run_on_engine(args: &SizeArgs, side: Side) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.to.is_none(), "--to applies to --journal only");
    let engine = args.engine.as_deref().context("--journal or --engine")?;
    let lot_text = args
        .lot
        .as_deref()
        .context("--lot is required with --engine (the engine sizes in whole lots)")?;
    let lot = parse_lot(lot_text)?;
    let stress = match (&args.stress_shock, args.max_loss_pct) {
        (Some(text), Some(pct)) => {
            // On the wire a share of 0 means "no budget", so 0 % is not expressible here.
            if !(pct.is_finite() && pct > 0.0) {
                bail!("--max-loss-pct {pct} must be a percentage > 0");
            }
            let every = "over --engine the shock must be '*:spot=X%,vol=Y' (every underlying, absolute vol points)";
            anyhow::ensure!(
                text.trim().starts_with("*:") && !text.contains(';'),
                "--stress-shock '{text}': {every}"
            );
            let scenario = from_shock(&ShardState::new(0, 1), text)?;
            let shock = scenario
                .others
                .filter(|s| {
                    scenario.shocks.is_empty()
                        && scenario.time_step_ns == 0
                        && s.vol.relative == 0.0
                        && s.vol.tenor_power == 0.0
                })
                .with_context(|| format!("--stress-shock '{text}': {every}"))?;
            Some((shock.spot_move, shock.vol.points, pct / 100.0))
        }
        _ => None,
    };
    let mut leg = Leg {
        side: if side == Side::Buy {
            SIDE_BUY
        } else {
            SIDE_SELL
        },
        quantity_mantissa: i64::try_from(lot.mantissa())
            .with_context(|| format!("--lot '{lot_text}' has too many digits"))?,
        quantity_scale: u64::from(lot.scale()),
        ..Leg::default()
    };
    leg.instrument_name = name_field(&args.instrument, "instrument")?;
    let account = name_field(&args.account, "account")?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut client = Client::attach(&args.shm_dir, engine)?;
    let mut answer = client.size(0, account, &leg, stress, timeout)?;
    // As with --journal: a name first, then an id.
    if let (STATUS_UNKNOWN_ACCOUNT, Ok(id)) = (answer.status, args.account.parse::<u32>()) {
        answer = client.size(u64::from(id), [0; NAME_BYTES], &leg, stress, timeout)?;
    }
    if answer.status != STATUS_OK {
        bail!("the engine refused the query: {}", status_text(&answer));
    }
    let binding = match answer.binding {
        BINDING_STRESS_BUDGET => Binding::StressBudget,
        BINDING_LOTS_MAX => Binding::LotsMax,
        code => Condition::ALL
            .into_iter()
            .find(|c| *c as u64 == code)
            .map(Binding::Condition)
            .context("the engine answered an unknown binding code")?,
    };
    let sizing = Sizing {
        max_quantity: Decimal::try_new(
            answer.max_quantity_mantissa,
            u32::try_from(answer.max_quantity_scale).unwrap_or(u32::MAX),
        )
        .context("the engine answered an invalid quantity")?,
        lots: answer.lots,
        binding,
        already_breached: answer.already_breached != 0,
        evaluations: u32::try_from(answer.evaluations).unwrap_or(u32::MAX),
    };
    print(args, &lot, &sizing, Some(answer.as_of_seq))
}

/// `--lot`: a positive decimal.
fn parse_lot(text: &str) -> anyhow::Result<Decimal> {
    Decimal::from_str(text)
        .ok()
        .filter(|l| *l > Decimal::ZERO)
        .with_context(|| format!("--lot '{text}' is not a positive decimal"))
}

fn print(
    args: &SizeArgs,
    lot: &Decimal,
    sizing: &Sizing,
    as_of_seq: Option<u64>,
) -> anyhow::Result<ExitCode> {
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
            "as_of_seq": as_of_seq,
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
