//! The state machine over the synthetic market, for profiling (`perf record`):
//! `cargo run --release -p keel-benches --example apply_loop [realistic|index-heavy] [EVENTS]`.

use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

fn main() {
    let mut args = std::env::args().skip(1);
    let config = match args.next().as_deref() {
        Some("index-heavy") => SyntheticConfig::index_heavy(),
        _ => SyntheticConfig::default(),
    };
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let events: Vec<_> = SyntheticMarket::new(config).take(count).collect();
    let mut state = ShardState::new(0, 1);
    let start = std::time::Instant::now();
    for (offset, event) in events.iter().enumerate() {
        state.step(offset as u64 + 1, event);
    }
    println!(
        "{count} events, {:.0} ns per event",
        start.elapsed().as_nanos() as f64 / count as f64
    );
}
