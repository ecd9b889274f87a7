//! Margin (`cargo bench -p keel-benches --bench margin`), on one account holding a
//! 500-option BTC book (10 expiries × 50 strikes, calls and puts) plus a perpetual:
//!
//! - underlying tick: the index and all 500 options re-marked at a new forward, then the
//!   batch end (Greeks, 500 × 36 scenario prices through the batch pricer, holder sums,
//!   margin). Baseline: full revaluation of every position from scratch
//!   (`evaluate_portfolio`, scalar pricing), the design incremental margin replaces.
//! - single-option tick: one option re-marked, then the batch end. Same baseline (a
//!   full-revaluation engine revalues the book on every tick).
//! - what-if of one fill. Baseline: answering it by applying the fill to a copy of the
//!   state and running a batch end.
//!
//! First targets: ≤ 100 µs for the 500-option refresh, ≤ 2 µs per what-if. The current
//! targets and every measured figure: docs/BENCHMARKS.md.

use std::hint::black_box;

use criterion::Criterion;
use keel_benches::option_book::{
    ACCOUNT, BTC, INDEX, OPTIONS, at, book, full_revaluation, mark_coin, state, tick,
};
use keel_benches::paired;
use keel_engine::events::{Currency, Dec, EventBody, Fill, Side};
use keel_engine::state::{HypotheticalFill, ShardState};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

fn main() {
    let listed = book();
    let base = state(&listed);
    let ticks = [tick(&listed, INDEX * 1.001), tick(&listed, INDEX)];
    let single = [
        vec![tick(&listed, INDEX * 1.001)[2]],
        vec![tick(&listed, INDEX)[2]],
    ];
    let fill = HypotheticalFill {
        instrument: listed[123].id,
        side: Side::Sell,
        quantity: Decimal::ONE,
        price: Decimal::from_f64(mark_coin(&listed[123], INDEX))
            .unwrap_or_default()
            .round_dp(6)
            .max(Decimal::new(1, 4)),
        fee: Decimal::ZERO,
    };
    let im =
        |state: &ShardState| state.accounts[&ACCOUNT].margin[&Currency::Coin(BTC)].initial_margin;
    println!(
        "book: {OPTIONS} options + a perpetual, IM {:.4} BTC (full revaluation: {:.4} BTC)",
        im(&base),
        full_revaluation(&listed, INDEX)
    );

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("margin");
        let mut state = base.clone();
        let mut flip = 0;
        group.bench_function("underlying_tick_500_options", |b| {
            b.iter(|| {
                flip ^= 1;
                for event in &ticks[flip] {
                    state.apply(event);
                }
                state.end_of_batch();
                black_box(im(&state))
            })
        });
        group.bench_function("single_option_tick", |b| {
            b.iter(|| {
                flip ^= 1;
                state.apply(&single[flip][0]);
                state.end_of_batch();
                black_box(im(&state))
            })
        });
        group.bench_function("full_revaluation_500_options", |b| {
            b.iter(|| black_box(full_revaluation(&listed, INDEX * 1.001)))
        });
        group.bench_function("what_if_one_fill", |b| {
            b.iter(|| black_box(base.what_if(ACCOUNT, &[fill]).map(|w| w.allowed)))
        });
        group.finish();
    }
    criterion.final_summary();

    let mut state = base.clone();
    let mut flip = 0;
    paired::compare(
        "underlying tick, 500-option book (incremental, batch pricer)",
        1,
        || {
            flip ^= 1;
            for event in &ticks[flip] {
                state.apply(event);
            }
            state.end_of_batch();
            im(&state)
        },
        || full_revaluation(&listed, INDEX * 1.001),
        "full revaluation from scratch, scalar",
    );
    paired::compare(
        "single-option tick, 500-option book",
        1,
        || {
            flip ^= 1;
            state.apply(&single[flip][0]);
            state.end_of_batch();
            im(&state)
        },
        || full_revaluation(&listed, INDEX * 1.001),
        "full revaluation from scratch, scalar",
    );
    let mut trade_id = 1_000_000;
    paired::compare(
        "what-if, one fill on the 500-option book",
        1,
        || {
            base.what_if(ACCOUNT, &[fill]).map_or(f64::NAN, |w| {
                w.evaluation
                    .get(Currency::Coin(BTC))
                    .map_or(0.0, |m| m.initial_margin)
            })
        },
        || {
            let mut copy = base.clone();
            trade_id += 1;
            copy.apply(&at(EventBody::Fill(Fill {
                account: ACCOUNT,
                instrument: fill.instrument,
                side: fill.side,
                quantity: Dec::new(fill.quantity),
                price: Dec::new(fill.price),
                fee: Dec::new(fill.fee),
                trade_id,
            })));
            copy.end_of_batch();
            im(&copy)
        },
        "apply to a copy of the state + batch end",
    );
}
