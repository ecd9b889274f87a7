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
    let mut batch_ends: Vec<u128> = Vec::new();
    for (offset, event) in events.iter().enumerate() {
        let seq = offset as u64 + 1;
        let start = std::time::Instant::now();
        let step = state.step(seq, event);
        let ns = start.elapsed().as_nanos();
        total += ns;
        if step.batch_end {
            batch_ends.push(ns);
        }
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
    // Batch-end steps by duration: what queues events behind it in the pipeline.
    batch_ends.sort_unstable();
    if !batch_ends.is_empty() {
        let at = |q: f64| batch_ends[((batch_ends.len() - 1) as f64 * q) as usize] / 1000;
        println!(
            "batch-end steps: {}, p50 {} us, p90 {} us, p99 {} us, max {} us",
            batch_ends.len(),
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        );
    }
    for (seq, ns, body) in slow.iter().take(20) {
        println!("seq {seq}: {} us  {body}", ns / 1000);
    }
}
