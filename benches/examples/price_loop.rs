//! The batch price-only loop of the `pricing` bench in a minimal binary, for profiling
//! the kernel: `cargo run --release -p keel-benches --example price_loop [RUNS]`.

use std::hint::black_box;
use std::time::Instant;

use keel_benches::option_chain::{keel_batch_price, option_chain};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let chain = option_chain();
    let mut prices = vec![0.0; chain.len()];
    let start = Instant::now();
    for _ in 0..runs {
        black_box(keel_batch_price(&chain, &mut prices));
    }
    let per_row_ns = start.elapsed().as_nanos() as f64 / (runs * chain.len()) as f64;
    println!("batch black76, price only: {per_row_ns:.1} ns/row");
}
