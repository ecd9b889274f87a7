//! What one `sched_yield` costs on this machine with nothing else runnable (the idle
//! producer's wait under `yield`): `cargo run --release -p keel-benches --example
//! yield_cost [CALLS]`.

use std::time::Instant;

fn main() {
    let calls: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    for round in 0..2 {
        let start = Instant::now();
        for _ in 0..calls {
            std::thread::yield_now();
        }
        let yield_ns = start.elapsed().as_nanos() as f64 / f64::from(calls);
        let start = Instant::now();
        for _ in 0..calls {
            std::hint::spin_loop();
        }
        let pause_ns = start.elapsed().as_nanos() as f64 / f64::from(calls);
        if round == 1 {
            println!(
                "sched_yield: {yield_ns:.0} ns per call; spin-loop hint (baseline): {pause_ns:.1} ns per call; ratio {:.0}",
                yield_ns / pause_ns
            );
        }
    }
}
