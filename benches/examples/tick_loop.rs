//! The 500-option underlying tick alone, in a loop, for profiling (`perf record`):
//! `cargo run --release -p keel-benches --example tick_loop [SECONDS]`.

use keel_benches::option_book::{INDEX, book, state, tick};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let listed = book();
    let mut shard = state(&listed);
    let ticks = [tick(&listed, INDEX * 1.001), tick(&listed, INDEX)];
    let start = std::time::Instant::now();
    let mut count = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for event in &ticks[(count % 2) as usize] {
            shard.apply(event);
        }
        shard.finish_batch();
        count += 1;
    }
    println!(
        "{count} ticks, {:.1} us per tick",
        start.elapsed().as_secs_f64() * 1e6 / count as f64
    );
}
