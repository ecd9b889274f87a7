//! `keel hedge`: the trades that would bring an account back inside its target bands,
//! from a journal's state, with the account's Greeks and margin before and after (every
//! trade checked together with what-if). Keel proposes; it never trades.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keel_engine::events::UnderlyingId;
use keel_engine::state::ShardState;
use keel_engine::state::account_margin::evaluate_account;
use keel_engine::state::contract_risk::ContractRisk;
use keel_engine::state::hedge::HedgeProposal;
use serde_json::{Value, json};

use super::explain::resolve_account;
use super::report::{currency_name, underlying_name};

#[derive(Args)]
pub struct HedgeArgs {
    /// Journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// Propose against the state after this sequence (default: the end).
    #[arg(long)]
    to: Option<u64>,
    /// The account (name or id).
    #[arg(long)]
    account: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &HedgeArgs) -> anyhow::Result<ExitCode> {
    let state = &super::replayed_state(&args.journal, args.to)?;
    let account = resolve_account(state, &args.account)?;
    let proposal = state.hedge_proposal(account)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", proposal_json(state, &proposal))?;
        return Ok(ExitCode::SUCCESS);
    }
    let a = &state.accounts[&account];
    if a.hedge_bands.is_empty() {
        writeln!(
            out,
            "{} has no target bands (hedge_bands events)",
            args.account
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    for bands in a.hedge_bands.values() {
        let name = underlying_name(state, bands.underlying);
        writeln!(
            out,
            "{name}: band delta [{}, {}] coin, |vega| <= {} USD, |gamma| <= {} USD (0: none)",
            bands.delta_min_coin,
            bands.delta_max_coin,
            bands.vega_max_abs_usd,
            bands.gamma_max_abs_usd
        )?;
        let sides = [
            ("now  ", &proposal.before, &proposal.outside_before),
            ("after", &proposal.after.greeks, &proposal.outside_after),
        ];
        for (when, list, outside) in sides {
            let g = greeks(list, bands.underlying);
            writeln!(
                out,
                "  {when} delta {:>12.4} coin  vega {:>12.2} USD  gamma {:>10.4} USD  {}",
                g.delta_coin,
                g.vega_usd,
                g.gamma_usd,
                if outside.contains(&bands.underlying) {
                    "OUTSIDE"
                } else {
                    "inside"
                }
            )?;
        }
    }
    if proposal.trades.is_empty() {
        writeln!(out, "no trades: every band holds")?;
    }
    for trade in &proposal.trades {
        writeln!(
            out,
            "propose: {} {} {} ({})",
            trade.side_name(),
            trade.quantity,
            state.instruments[&trade.instrument]
                .definition
                .name
                .as_text(),
            trade.purpose.name()
        )?;
    }
    let now = evaluate_account(a, &state.margin_market());
    for (currency, m) in now.iter() {
        let after = proposal.after.evaluation.get(currency);
        writeln!(
            out,
            "{}: IM {:.6} -> {:.6}, MM {:.6} -> {:.6}, equity {:.6} ({})",
            currency_name(state, currency),
            m.initial_margin,
            after.map_or(f64::NAN, |x| x.initial_margin),
            m.maintenance_margin,
            after.map_or(f64::NAN, |x| x.maintenance_margin),
            m.equity,
            currency_name(state, currency)
        )?;
    }
    for (u, why) in &proposal.unhedged {
        writeln!(out, "{}: not hedged: {why}", underlying_name(state, *u))?;
    }
    writeln!(
        out,
        "(as of journal sequence {}; nothing is traded)",
        proposal.cause_seq
    )?;
    Ok(ExitCode::SUCCESS)
}

fn greeks(list: &[(UnderlyingId, ContractRisk)], u: UnderlyingId) -> ContractRisk {
    list.iter()
        .find(|(x, _)| *x == u)
        .map_or(ContractRisk::ZERO, |(_, g)| *g)
}

fn greeks_json(state: &ShardState, list: &[(UnderlyingId, ContractRisk)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(u, g)| {
                json!({
                    "underlying": underlying_name(state, *u),
                    "delta_coin": g.delta_coin,
                    "vega_usd": g.vega_usd,
                    "gamma_usd": g.gamma_usd,
                    "theta_usd": g.theta_usd,
                })
            })
            .collect(),
    )
}

fn proposal_json(state: &ShardState, p: &HedgeProposal) -> Value {
    let account = &state.accounts[&p.account];
    let now = evaluate_account(account, &state.margin_market());
    let margin = |e: &keel_engine::state::account_margin::Evaluation| {
        Value::Array(
            e.iter()
                .map(|(c, m)| {
                    json!({
                        "currency": currency_name(state, c),
                        "equity": m.equity,
                        "im": m.initial_margin,
                        "mm": m.maintenance_margin,
                        "margin_ratio": m.margin_ratio(),
                    })
                })
                .collect(),
        )
    };
    let names = |list: &[UnderlyingId]| -> Vec<String> {
        list.iter().map(|u| underlying_name(state, *u)).collect()
    };
    json!({
        "account": account.name.as_text(),
        "as_of_seq": p.cause_seq,
        "trades": p.trades.iter().map(|t| json!({
            "instrument": state.instruments[&t.instrument].definition.name.as_text(),
            "side": t.side_name(),
            "quantity": t.quantity.to_string(),
            "purpose": t.purpose.name(),
        })).collect::<Vec<_>>(),
        "before": {"greeks": greeks_json(state, &p.before), "margin": margin(&now)},
        "after": {
            "greeks": greeks_json(state, &p.after.greeks),
            "margin": margin(&p.after.evaluation),
            "allowed": p.after.allowed,
        },
        "outside_before": names(&p.outside_before),
        "outside_after": names(&p.outside_after),
        "breaches_initial_margin": p.breaches_initial_margin(),
        "unhedged": p.unhedged.iter().map(|(u, why)| json!({
            "underlying": underlying_name(state, *u), "reason": why
        })).collect::<Vec<_>>(),
    })
}
