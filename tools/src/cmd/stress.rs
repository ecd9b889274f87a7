//! `keel stress`: every account of a journal's state fully revalued under scenarios (the
//! built-in library, a TOML file or inline shocks), with margin re-run on the stressed
//! market: PnL, equity, IM and MM after, whether it would be liquidated, and the
//! positions losing most.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use keel_engine::events::AccountId;
use keel_engine::state::ShardState;
use keel_engine::stress::{AccountStress, Scenario, StressRun};
use serde_json::{Value, json};

use super::report::currency_name;
use super::stress_scenarios::{builtin, from_file, from_shock, hours_of, parse_smile};

#[derive(Args)]
pub struct StressArgs {
    /// Journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// Stress the state after this sequence (default: the end).
    #[arg(long)]
    to: Option<u64>,
    /// `builtin` (historical regimes, SPAN-like grid, Deribit's extended moves) or a
    /// TOML file of `[[scenario]]` tables (docs/ANALYTICS.md).
    #[arg(long, default_value = "builtin")]
    scenarios: String,
    /// An inline scenario instead, e.g. `BTC:spot=-10%,vol=+5;ETH:spot=-15%` (repeat for
    /// more).
    #[arg(long)]
    shock: Vec<String>,
    /// Only this account (name or id).
    #[arg(long)]
    account: Option<String>,
    /// How vols move, for every scenario: `sticky-strike` (each option's own mark IV
    /// shocked) or `surface` (along the fitted smile, calendar-consistent); default: as
    /// each scenario says (sticky-strike unless it sets `smile`).
    #[arg(long)]
    smile: Option<String>,
    /// One JSON list of rows instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &StressArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.journal.is_dir(),
        "{} is not a directory",
        args.journal.display()
    );
    let (shards, _) = keel_runtime::replay(&args.journal, args.to, 1)?;
    let Some(state) = shards.first() else {
        bail!("no state rebuilt");
    };
    let mut scenarios = if !args.shock.is_empty() {
        args.shock
            .iter()
            .map(|text| from_shock(state, text))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else if args.scenarios == "builtin" {
        builtin(state)
    } else {
        from_file(state, std::path::Path::new(&args.scenarios))?
    };
    if let Some(text) = &args.smile {
        let smile = parse_smile(text)?;
        for scenario in &mut scenarios {
            scenario.smile = smile;
        }
    }
    let accounts: Vec<AccountId> = match &args.account {
        Some(name) => vec![super::explain::resolve_account(state, name)?],
        None => Vec::new(),
    };
    let rows = stress_rows(state, &scenarios, &accounts)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| row_json(state, &scenarios, r))
            .collect();
        writeln!(out, "{}", Value::Array(list))?;
    } else {
        writeln!(
            out,
            "{:<44} {:<12} {:>14} {:>14} {:>13} {:>13} {:>9}  worst position",
            "scenario", "account", "pnl USD", "equity USD", "IM USD", "MM USD", "liquid."
        )?;
        for row in &rows {
            let scenario = &scenarios[row.scenario];
            let worst = row
                .worst_positions
                .first()
                .map_or(String::new(), |(id, pnl)| {
                    format!("{} {pnl:.0} USD", instrument_name(state, *id))
                });
            writeln!(
                out,
                "{:<44} {:<12} {:>14.2} {:>14.2} {:>13.2} {:>13.2} {:>9}  {worst}",
                truncate(&scenario.name, 44),
                account_name(state, row.account),
                row.pnl_usd,
                row.equity_after_usd,
                row.im_after_usd,
                row.mm_after_usd,
                if row.liquidated { "YES" } else { "no" },
            )?;
        }
        writeln!(
            out,
            "{} scenarios × {} accounts; time steps up to {:.0} h",
            scenarios.len(),
            rows.len() / scenarios.len().max(1),
            scenarios
                .iter()
                .map(|s| hours_of(s.time_step_ns))
                .fold(0.0, f64::max)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every scenario over the accounts (all when empty), in scenario then account order.
pub fn stress_rows(
    state: &ShardState,
    scenarios: &[Scenario],
    accounts: &[AccountId],
) -> anyhow::Result<Vec<AccountStress>> {
    let mut run = StressRun::new(state, accounts);
    let mut rows = Vec::with_capacity(scenarios.len() * run.accounts().len());
    for (index, scenario) in scenarios.iter().enumerate() {
        run.run(index, scenario, &mut rows)?;
    }
    Ok(rows)
}

/// Per account, its worst historical regime and its worst built-in scenario of any kind
/// (largest USD loss each): what reports show.
pub fn worst_builtin(state: &ShardState) -> BTreeMap<AccountId, WorstStress> {
    let scenarios = builtin(state);
    let mut worst: BTreeMap<AccountId, WorstStress> = BTreeMap::new();
    let Ok(rows) = stress_rows(state, &scenarios, &[]) else {
        return worst;
    };
    let historical = |row: &AccountStress| scenarios[row.scenario].name.starts_with("historical");
    for row in rows {
        let entry = worst.entry(row.account).or_default();
        let named = |row: &AccountStress| (scenarios[row.scenario].name.clone(), row.clone());
        if entry
            .any
            .as_ref()
            .is_none_or(|(_, w)| row.pnl_usd < w.pnl_usd)
        {
            entry.any = Some(named(&row));
        }
        if historical(&row)
            && entry
                .historical
                .as_ref()
                .is_none_or(|(_, w)| row.pnl_usd < w.pnl_usd)
        {
            entry.historical = Some(named(&row));
        }
    }
    worst
}

/// An account's worst stresses, with the scenario names.
#[derive(Default)]
pub struct WorstStress {
    pub historical: Option<(String, AccountStress)>,
    pub any: Option<(String, AccountStress)>,
}

fn account_name(state: &ShardState, id: AccountId) -> String {
    state
        .account_names
        .get(&id)
        .map_or_else(|| id.0.to_string(), |n| n.as_text())
}

fn instrument_name(state: &ShardState, id: keel_engine::events::InstrumentId) -> String {
    state
        .instruments
        .get(&id)
        .map_or_else(|| id.0.to_string(), |i| i.definition.name.as_text())
}

fn truncate(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// One row as JSON: the scenario, the account, USD totals and each currency in its own
/// unit.
pub fn row_json(state: &ShardState, scenarios: &[Scenario], row: &AccountStress) -> Value {
    let currencies: Vec<Value> = row
        .currencies
        .iter()
        .map(|c| {
            json!({
                "currency": currency_name(state, c.currency),
                "pnl": c.pnl,
                "equity_before": c.equity_before,
                "equity_after": c.after.equity,
                "im_after": c.after.initial_margin,
                "mm_after": c.after.maintenance_margin,
                "margin_ratio_after": c.after.margin_ratio(),
                "usd_rate_after": c.usd_rate_after,
                "liquidated": c.liquidated,
                "complete": c.after.complete,
            })
        })
        .collect();
    let worst: Vec<Value> = row
        .worst_positions
        .iter()
        .map(|(id, pnl)| json!({"instrument_name": instrument_name(state, *id), "pnl_usd": pnl}))
        .collect();
    json!({
        "scenario": scenarios[row.scenario].name,
        "account": account_name(state, row.account),
        "account_id": row.account.0,
        "pnl_usd": row.pnl_usd,
        "equity_after": row.equity_after_usd,
        "im_after": row.im_after_usd,
        "mm_after": row.mm_after_usd,
        "unit": "USD",
        "liquidated": row.liquidated,
        "complete": row.complete,
        "worst_positions": worst,
        "currencies": currencies,
    })
}
