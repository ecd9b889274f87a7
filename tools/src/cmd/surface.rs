//! `keel surface`: the volatility surface the engine holds at a point of a journal — per
//! underlying and expiry, the accepted raw SVI smile, how well it fits the venue marks it
//! was fitted to, and whether it is free of arbitrage (checked again here against its
//! neighbours) — with an SVG plot of each smile on request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use keel_engine::events::UnderlyingId;
use keel_engine::state::ShardState;
use keel_engine::surface::{ExpiryQuotes, ExpirySmile};
use serde_json::{Value, json};

use super::report::underlying_name;
use super::stress_scenarios::underlying_by_name;

#[derive(Args)]
pub struct SurfaceArgs {
    /// Journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// The surface after this sequence (default: the end).
    #[arg(long)]
    to: Option<u64>,
    /// Only this underlying (e.g. BTC).
    #[arg(long)]
    underlying: Option<String>,
    /// One JSON list of rows instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG plot of each smile (venue marks and the fit) into this directory.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// One expiry of the surface.
struct Row {
    underlying: UnderlyingId,
    expiry_ns: u64,
    smile: Option<ExpirySmile>,
    arbitrage_free: bool,
}

pub fn run(args: &SurfaceArgs) -> anyhow::Result<ExitCode> {
    let state = &super::replayed_state(&args.journal, args.to)?;
    let only = match &args.underlying {
        Some(name) => Some(
            underlying_by_name(state, name)
                .with_context(|| format!("no instrument of {name} in the journal"))?,
        ),
        None => None,
    };
    let rows = surface_rows(state, only);
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for row in &rows {
            if let Some(smile) = &row.smile {
                plot_smile(state, row, smile, dir)?;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<Value> = rows.iter().map(|r| row_json(state, r)).collect();
        writeln!(out, "{}", Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<6} {:<10} {:>8} {:>7} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6} {:>9} {:>9}  arbitrage-free",
        "under",
        "expiry",
        "years",
        "strikes",
        "a",
        "b",
        "rho",
        "m",
        "sigma",
        "",
        "rmse_vp",
        "worst_vp"
    )?;
    for row in &rows {
        let name = underlying_name(state, row.underlying);
        let date = date_of(row.expiry_ns);
        match &row.smile {
            Some(s) => {
                let p = s.fit.params;
                writeln!(
                    out,
                    "{name:<6} {date:<10} {:>8.4} {:>7} {:>10.6} {:>10.6} {:>10.4} {:>8.4} {:>8.4} {:>6} {:>9.3} {:>9.3}  {}",
                    s.fit.years,
                    s.fit.points,
                    p.a,
                    p.b,
                    p.rho,
                    p.m,
                    p.sigma,
                    "",
                    s.fit.rmse_vol_points,
                    s.fit.max_error_vol_points,
                    if row.arbitrage_free { "yes" } else { "NO" }
                )?;
            }
            None => writeln!(out, "{name:<6} {date:<10} (no accepted fit)")?,
        }
    }
    let s = &state.surface;
    writeln!(
        out,
        "fits accepted {}, refused {}; venue marks flagged far from the surface {}; model marks set {}",
        s.surface.accepted_fits, s.surface.refused_fits, s.bad_marks, s.model_marks
    )?;
    writeln!(
        out,
        "(vol points: 1 = 1 % of volatility; rmse and worst error against the marks the smile was fitted to)"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Every live expiry with options, in order, with its accepted smile (if any) checked
/// again as it stands (`VolSurface::recheck`).
fn surface_rows(state: &ShardState, only: Option<UnderlyingId>) -> Vec<Row> {
    let mut rows = Vec::new();
    for &(underlying, expiry_ns) in state.surface.expiries.keys() {
        if only.is_some_and(|u| u != underlying) || expiry_ns <= state.now_ns {
            continue;
        }
        let surface = &state.surface.surface;
        let smile = surface.smiles.get(&(underlying, expiry_ns)).copied();
        let arbitrage_free = surface
            .recheck((underlying, expiry_ns), state.now_ns)
            .is_some_and(|checked| checked.is_ok());
        rows.push(Row {
            underlying,
            expiry_ns,
            smile,
            arbitrage_free,
        });
    }
    rows
}

fn row_json(state: &ShardState, row: &Row) -> Value {
    let smile = row.smile.as_ref();
    json!({
        "underlying": underlying_name(state, row.underlying),
        "expiry": date_of(row.expiry_ns),
        "expiry_ns": row.expiry_ns,
        "params": smile.map(|s| json!({
            "a": s.fit.params.a,
            "b": s.fit.params.b,
            "rho": s.fit.params.rho,
            "m": s.fit.params.m,
            "sigma": s.fit.params.sigma,
        })),
        "years": smile.map(|s| s.fit.years),
        "forward": smile.map(|s| s.forward),
        "fitted_at_ns": smile.map(|s| s.fitted_ns),
        "strikes": smile.map(|s| s.fit.points),
        "rmse_vol_points": smile.map(|s| s.fit.rmse_vol_points),
        "max_error_vol_points": smile.map(|s| s.fit.max_error_vol_points),
        "worst_strike": smile.map(|s| s.forward * s.fit.worst_log_moneyness.exp()),
        "arbitrage_free": row.arbitrage_free,
    })
}

/// The smile against the venue marks it stands for now: implied vol (%) by strike.
fn plot_smile(
    state: &ShardState,
    row: &Row,
    smile: &ExpirySmile,
    dir: &Path,
) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let mut quotes = ExpiryQuotes::default();
    state.smile_quotes(row.underlying, row.expiry_ns, &mut Vec::new(), &mut quotes);
    let name = underlying_name(state, row.underlying);
    let date = date_of(row.expiry_ns);
    let path = dir.join(format!("{name}-{date}.svg"));
    let (k_lo, k_hi) = (smile.fit.k_min - 0.1, smile.fit.k_max + 0.1);
    let curve: Vec<(f64, f64)> = (0..=200)
        .filter_map(|i| {
            let k = k_lo + (k_hi - k_lo) * f64::from(i) / 200.0;
            let vol = smile.implied_vol_at(k)?;
            Some((smile.forward * k.exp(), vol * 100.0))
        })
        .collect();
    let marks: Vec<(f64, f64)> = quotes
        .strikes
        .iter()
        .zip(&quotes.quoted_vols)
        .map(|(k, v)| (*k, v * 100.0))
        .collect();
    let all = curve.iter().chain(&marks);
    let (x_lo, x_hi, y_lo, y_hi) = all.fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(a, b, c, d), (x, y)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
    );
    let pad = ((y_hi - y_lo) * 0.05).max(0.5);
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let area = SVGBackend::new(&path, (800, 500)).into_drawing_area();
        area.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!(
                    "{name} {date}: SVI fit (line) and venue marks (dots), RMSE {:.2} vol points",
                    smile.fit.rmse_vol_points
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("strike (USD)")
            .y_desc("implied volatility (%)")
            .draw()?;
        chart.draw_series(LineSeries::new(curve.iter().copied(), &BLUE))?;
        chart.draw_series(
            marks
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 3, RED.filled())),
        )?;
        area.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// `YYYY-MM-DD` (UTC) of a time in ns since the epoch.
pub(crate) fn date_of(ns: u64) -> String {
    let days = (ns / 86_400_000_000_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
