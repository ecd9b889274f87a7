//! Account evaluation alone (margin from the maintained sums, limits, conditions) over a
//! warm realistic-mix state (standard-margin terms as the last batch end left them), for
//! profiling the batch end's evaluation step:
//! `cargo run --release -p keel-benches --example evaluate_loop [ROUNDS]`.

use std::hint::black_box;

use keel_engine::state::ShardState;
use keel_engine::state::account_margin::{Evaluation, evaluate_account_into};
use keel_feeds::{SyntheticConfig, SyntheticMarket};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let mut state = ShardState::new(0, 1);
    for (offset, event) in SyntheticMarket::new(SyntheticConfig::default())
        .take(300_000)
        .enumerate()
    {
        state.step(offset as u64 + 1, &event);
    }
    let ids: Vec<_> = state.accounts.keys().copied().collect();
    let mut evaluation = Evaluation::default();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let market = state.margin_market();
        for id in &ids {
            evaluate_account_into(black_box(&state.accounts[id]), &market, &mut evaluation);
            black_box(&evaluation);
        }
    }
    let calls = rounds * ids.len();
    println!(
        "{calls} evaluations, {:.0} ns per evaluation",
        start.elapsed().as_nanos() as f64 / calls as f64
    );
}
