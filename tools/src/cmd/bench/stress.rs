//! `keel bench stress`: the 500-option book (and a perpetual) fully revalued under 100
//! scenarios, margin included (`StressRun`: stressed marks, Greeks, 500 × 36 scenario
//! prices in the batch pricer, the margin model re-run). Baseline, same run, interleaved:
//! the same scenarios priced from scratch with the scalar pricer (each option's value and
//! the offline portfolio-margin evaluation of the whole book). One core.

use std::hint::black_box;

use clap::Args;
use keel_benches::option_book::{
    ACCOUNT, BTC, book, state, stress_grid, stress_scenarios, stressed_full_revaluation,
};
use keel_benches::paired;
use keel_engine::events::Currency;
use keel_engine::stress::{AccountStress, StressRun};

use super::Figures;

#[derive(Args)]
pub struct StressArgs {
    /// Scenarios of the 100-scenario grid to run, evenly spread (figures are still per
    /// 100 scenarios; fewer only for a quick check of the command).
    #[arg(long, default_value_t = 100)]
    scenarios: usize,
}

pub fn run(args: &StressArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(
        (1..=100).contains(&args.scenarios),
        "--scenarios must be 1 to 100"
    );
    let listed = book();
    let shard = state(&listed);
    let full = stress_grid();
    let grid: Vec<(f64, f64)> = full
        .iter()
        .step_by(full.len() / args.scenarios)
        .take(args.scenarios)
        .copied()
        .collect();
    let scenarios = stress_scenarios(&grid);
    let mut rows: Vec<AccountStress> = Vec::with_capacity(scenarios.len());
    let mut run = StressRun::new(&shard, &[ACCOUNT]);
    let mut ours = || {
        rows.clear();
        for (index, scenario) in scenarios.iter().enumerate() {
            if run.run(index, scenario, &mut rows).is_err() {
                return f64::NAN;
            }
        }
        rows.iter().map(|r| r.pnl_usd).sum::<f64>()
    };
    let (ours_ns, baseline_ns) = paired::medians(1, &mut ours, || {
        grid.iter()
            .map(|&(s, v)| black_box(stressed_full_revaluation(&listed, s, v)).1)
            .sum()
    });
    // Both compute the same thing: IM and PnL per scenario agree.
    black_box(ours());
    let mut worst_gap: f64 = 0.0;
    for (row, &(s, v)) in rows.iter().zip(&grid) {
        let (pnl, im) = stressed_full_revaluation(&listed, s, v);
        let btc = row
            .currencies
            .iter()
            .find(|c| c.currency == Currency::Coin(BTC))
            .ok_or_else(|| anyhow::anyhow!("no BTC row"))?;
        let gap_im = (btc.after.initial_margin - im).abs() / im.abs().max(1e-9);
        let gap_pnl = (btc.pnl - pnl).abs() / pnl.abs().max(1.0);
        worst_gap = worst_gap.max(gap_im).max(gap_pnl);
    }
    anyhow::ensure!(
        worst_gap <= 1e-9,
        "stress and the from-scratch baseline disagree (relative gap {worst_gap:e})"
    );
    let mut figures = Figures::default();
    figures.set("bench", "stress");
    figures.set("options", listed.len() as u64);
    figures.set("scenarios", scenarios.len() as u64);
    figures.number(
        "ms_per_100_scenarios",
        ours_ns / 1e6 * 100.0 / scenarios.len() as f64,
    );
    figures.number(
        "baseline_ms_per_100_scenarios",
        baseline_ns / 1e6 * 100.0 / scenarios.len() as f64,
    );
    figures.number("us_per_scenario", ours_ns / 1e3 / scenarios.len() as f64);
    figures.number("ratio", baseline_ns / ours_ns);
    figures.set("agreement_gap_relative_max", worst_gap);
    Ok(figures)
}
