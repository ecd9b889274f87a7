//! `keel bench tick`: one underlying tick on the 500-option book — the index and all 500
//! options (and the perpetual) re-marked, then the batch end (Greeks, 500 × 36 scenario
//! prices, holder sums, margin). Baseline, same run, interleaved: full revaluation of every
//! position from scratch with scalar pricing.

use std::hint::black_box;

use clap::Args;
use keel_benches::option_book::{ACCOUNT, BTC, INDEX, book, full_revaluation, state, tick};
use keel_benches::paired;
use keel_engine::events::Currency;
use keel_engine::state::ShardState;

use super::Figures;

#[derive(Args)]
pub struct TickArgs {}

pub fn run(_: &TickArgs) -> anyhow::Result<Figures> {
    let listed = book();
    let mut shard = state(&listed);
    let ticks = [tick(&listed, INDEX * 1.001), tick(&listed, INDEX)];
    let im = |state: &ShardState| {
        state.accounts[&ACCOUNT]
            .margin
            .get(&Currency::Coin(BTC))
            .map_or(f64::NAN, |m| m.initial_margin)
    };
    let mut flip = 0;
    let (ours_ns, baseline_ns) = paired::medians(
        1,
        || {
            flip ^= 1;
            for event in &ticks[flip] {
                shard.apply(event);
            }
            shard.finish_batch();
            im(&shard)
        },
        || black_box(full_revaluation(&listed, INDEX * 1.001)),
    );
    // The incremental figure must be the from-scratch one (same market, same book).
    for event in &ticks[1] {
        shard.apply(event);
    }
    shard.finish_batch();
    let scratch_im = full_revaluation(&listed, INDEX);
    anyhow::ensure!(
        (im(&shard) - scratch_im).abs() <= 1e-9 * scratch_im.abs().max(1.0),
        "incremental IM {} differs from full revaluation {scratch_im}",
        im(&shard)
    );
    let mut figures = Figures::default();
    figures.set("bench", "tick");
    figures.set("options", listed.len() as u64);
    figures.number("initial_margin_btc", im(&shard));
    figures.number("us_per_tick", ours_ns / 1e3);
    figures.number("baseline_us_per_tick", baseline_ns / 1e3);
    figures.number("ratio", baseline_ns / ours_ns);
    Ok(figures)
}
