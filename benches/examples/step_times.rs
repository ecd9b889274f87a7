//! Time of every `ShardState::step` over the synthetic market, for finding stalls:
//! `cargo run --release -p keel-benches --example step_times [EVENTS]`.

use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let events: Vec<_> = SyntheticMarket::new(SyntheticConfig::default())
        .take(count)
        .collect();
    let mut state = ShardState::new(0, 1);
    let mut slow: Vec<(u64, u128, String)> = Vec::new();
    let mut total = 0u128;
    for (offset, event) in events.iter().enumerate() {
        let seq = offset as u64 + 1;
        let start = std::time::Instant::now();
        state.step(seq, event);
        let ns = start.elapsed().as_nanos();
        total += ns;
        if ns > 200_000 {
            slow.push((
                seq,
                ns,
                format!("{:?}", event.body).chars().take(60).collect(),
            ));
        }
    }
    println!(
        "{count} events, {:.0} ns per event",
        total as f64 / count as f64
    );
    println!("{} steps over 200 us", slow.len());
    for (seq, ns, body) in slow.iter().take(20) {
        println!("seq {seq}: {} us  {body}", ns / 1000);
    }
}
