//! `keel bench size`: position sizing on the 500-option book (one portfolio-margin
//! account, 500 options and a perpetual): the largest quantity of each of 26 instruments
//! (25 options across expiries and strikes, and the perpetual), bought and sold, with the
//! binding constraint. Baseline, same run, interleaved: the same what-if rule searched by
//! plain bisection over the whole lot range (the obvious search the galloping one
//! replaces). Both must give the same answer. One core.

use clap::Args;
use keel_benches::option_book::{ACCOUNT, PERPETUAL, book, state};
use keel_benches::paired;
use keel_engine::events::{InstrumentId, Side};
use keel_engine::state::sizing::{SIZING_CONSTRAINTS, SIZING_LOTS_MAX, SizingQuery};
use keel_engine::state::{HypotheticalFill, ShardState, WhatIf};
use rust_decimal::Decimal;

use super::Figures;

#[derive(Args)]
pub struct SizeArgs {}

pub fn run(_: &SizeArgs) -> anyhow::Result<Figures> {
    let listed = book();
    let shard = state(&listed);
    let mut queries: Vec<SizingQuery> = Vec::new();
    for l in listed.iter().skip(7).step_by(20) {
        for side in [Side::Buy, Side::Sell] {
            queries.push(query(l.id, side, Decimal::new(1, 1)));
        }
    }
    for side in [Side::Buy, Side::Sell] {
        queries.push(query(PERPETUAL, side, Decimal::ONE));
    }
    let mut scratch = WhatIf::default();
    // Same answers from both searches.
    let mut evaluations = 0u64;
    for q in &queries {
        let ours = shard.max_quantity(q, &mut scratch)?;
        let plain = bisection(&shard, q, &mut scratch)?;
        anyhow::ensure!(
            ours.lots == plain,
            "sizing disagrees with plain bisection on {:?} {:?}: {} vs {plain} lots",
            q.instrument,
            q.side,
            ours.lots
        );
        evaluations += u64::from(ours.evaluations);
    }
    let (ours_ns, baseline_ns) = paired::medians(
        queries.len(),
        || {
            queries
                .iter()
                .map(|q| {
                    shard
                        .max_quantity(q, &mut scratch)
                        .map_or(f64::NAN, |s| s.lots as f64)
                })
                .sum()
        },
        || {
            let mut scratch = WhatIf::default();
            queries
                .iter()
                .map(|q| bisection(&shard, q, &mut scratch).map_or(f64::NAN, |l| l as f64))
                .sum()
        },
    );
    let mut figures = Figures::default();
    figures.set("bench", "size");
    figures.set("options", listed.len() as u64);
    figures.set("queries", queries.len() as u64);
    figures.number("us_per_query", ours_ns / 1e3);
    figures.number("baseline_us_per_query", baseline_ns / 1e3);
    figures.number("ratio", baseline_ns / ours_ns);
    figures.number(
        "what_ifs_per_query",
        evaluations as f64 / queries.len() as f64,
    );
    Ok(figures)
}

fn query(instrument: InstrumentId, side: Side, lot: Decimal) -> SizingQuery {
    SizingQuery {
        account: ACCOUNT,
        instrument,
        side,
        lot,
        stress: None,
    }
}

/// The baseline: bisection on [0, SIZING_LOTS_MAX] with the same what-if rule.
fn bisection(shard: &ShardState, q: &SizingQuery, scratch: &mut WhatIf) -> anyhow::Result<u64> {
    let constraints = SIZING_CONSTRAINTS.iter().fold(0u8, |m, c| m | c.bit());
    let mut feasible = |lots: u64| -> anyhow::Result<bool> {
        let fill = HypotheticalFill {
            instrument: q.instrument,
            side: q.side,
            quantity: q.lot * Decimal::from(lots),
            price: Decimal::ZERO,
            fee: Decimal::ZERO,
        };
        shard.what_if_into(q.account, &[fill], scratch)?;
        Ok(scratch.evaluation.conditions & constraints == 0)
    };
    if !feasible(1)? {
        return Ok(0);
    }
    let (mut good, mut bad) = (1u64, SIZING_LOTS_MAX + 1);
    if feasible(SIZING_LOTS_MAX)? {
        return Ok(SIZING_LOTS_MAX);
    }
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if feasible(mid)? {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Ok(good)
}
