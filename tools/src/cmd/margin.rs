//! `keel margin --portfolio FILE`: offline portfolio margin of a portfolio file in the
//! shape of Deribit's `private/pme/simulate` (one case, or several by name), printed as
//! Deribit's simulator breaks it down; `--verbose` adds every vector.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use keel_engine::margin::{PmBreakdown, ScenarioVector, evaluate_portfolio_in};
use keel_feeds::deribit::{PmeCase, parse_cases};
use serde_json::{Value, json};

#[derive(Args)]
pub struct MarginArgs {
    /// Portfolio file (JSON; Deribit's pme/simulate shape, see docs/MARGIN.md).
    #[arg(long)]
    portfolio: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also print every per-instrument and aggregated scenario vector.
    #[arg(long)]
    verbose: bool,
}

pub fn run(args: &MarginArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.portfolio)
        .with_context(|| format!("reading {}", args.portfolio.display()))?;
    let file: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.portfolio.display()))?;
    let cases = parse_cases(&file).map_err(anyhow::Error::msg)?;
    let mut report = serde_json::Map::new();
    let mut out = std::io::stdout().lock();
    for (name, case) in &cases {
        let (vectors, _, margin) = evaluate_portfolio_in(
            case.settlement(),
            &case.positions,
            case.index,
            &case.params,
            &case.orders,
        )
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        if args.json {
            report.insert(
                name.clone(),
                case_json(case, &vectors, &margin, args.verbose),
            );
        } else {
            print_case(&mut out, name, case, &vectors, &margin, args.verbose)?;
        }
    }
    if args.json {
        writeln!(out, "{}", Value::Object(report))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn vector_json(vector: &ScenarioVector) -> Value {
    json!({ "standard": vector.standard.to_vec(), "extended": vector.extended.to_vec() })
}

fn case_json(
    case: &PmeCase,
    vectors: &[ScenarioVector],
    margin: &PmBreakdown,
    verbose: bool,
) -> Value {
    let bucket = &margin.worst_case_bucket;
    let mut value = json!({
        "currency": case.currency,
        "index_price": case.index,
        "initial_margin": margin.initial_margin,
        "maintenance_margin": margin.maintenance_margin,
        "initial_margin_details": {
            "risk_matrix_margin": margin.risk_matrix_margin,
            "mmp_margin": margin.mmp_margin,
            "open_orders_margin": margin.open_orders_margin,
            "risk_matrix_margin_details": {
                "worst_case": margin.worst_case,
                "worst_case_bucket": {
                    "source": bucket.source.as_str(),
                    "bucket": bucket.bucket,
                    "side": bucket.side.as_str(),
                    "index": bucket.index,
                },
                "delta_shock": margin.delta_shock,
                "roll_shock": margin.roll_shock,
                "correlation_contingency": margin.correlation_contingency,
            },
        },
        "order_margins_from": case.orders_source,
    });
    if verbose {
        let per_instrument: serde_json::Map<String, Value> = case
            .names
            .iter()
            .zip(vectors)
            .map(|(name, vector)| (name.clone(), vector_json(vector)))
            .collect();
        value["initial_risk_vectors"] = Value::Object(per_instrument);
        value["aggregated_risk_vector"] = vector_json(&margin.aggregated);
    }
    value
}

fn print_vector(out: &mut impl Write, label: &str, vector: &ScenarioVector) -> std::io::Result<()> {
    let fmt = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.9}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "  {label}")?;
    writeln!(
        out,
        "    standard (bucket-major, vol down/same/up): {}",
        fmt(&vector.standard)
    )?;
    writeln!(out, "    extended: {}", fmt(&vector.extended))
}

fn print_case(
    out: &mut impl Write,
    name: &str,
    case: &PmeCase,
    vectors: &[ScenarioVector],
    margin: &PmBreakdown,
    verbose: bool,
) -> std::io::Result<()> {
    let unit = case.currency.to_ascii_uppercase();
    let bucket = &margin.worst_case_bucket;
    writeln!(
        out,
        "{name}: {} positions, {} index {}",
        case.positions.len(),
        case.pair,
        case.index
    )?;
    writeln!(
        out,
        "  initial margin       {:>16.9} {unit}",
        margin.initial_margin
    )?;
    writeln!(
        out,
        "  maintenance margin   {:>16.9} {unit}",
        margin.maintenance_margin
    )?;
    writeln!(
        out,
        "  risk matrix margin   {:>16.9}",
        margin.risk_matrix_margin
    )?;
    writeln!(
        out,
        "    worst case         {:>16.9}  ({} bucket {}, {}, index {})",
        margin.worst_case,
        bucket.source.as_str(),
        bucket.bucket,
        bucket.side.as_str(),
        bucket.index
    )?;
    writeln!(out, "    delta shock        {:>16.9}", margin.delta_shock)?;
    writeln!(out, "    roll shock         {:>16.9}", margin.roll_shock)?;
    writeln!(
        out,
        "    correlation        {:>16.9}",
        margin.correlation_contingency
    )?;
    writeln!(out, "  mmp margin           {:>16.9}", margin.mmp_margin)?;
    writeln!(
        out,
        "  open orders margin   {:>16.9}  (from {})",
        margin.open_orders_margin, case.orders_source
    )?;
    if verbose {
        for (instrument, vector) in case.names.iter().zip(vectors) {
            print_vector(out, instrument, vector)?;
        }
        print_vector(
            out,
            "aggregated (after PnL offset and dampener)",
            &margin.aggregated,
        )?;
    }
    writeln!(out)
}
