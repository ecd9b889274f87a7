//! Profiling target: the stress benchmark's work alone (the 500-option book under the
//! 100-scenario grid, margin included), `ROUNDS` times (argument, default 20).
//! `perf record -e cpu-clock --call-graph dwarf target/release/examples/stress_loop`.

use std::hint::black_box;

use keel_benches::option_book::{ACCOUNT, book, state, stress_grid, stress_scenarios};
use keel_engine::stress::StressRun;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let listed = book();
    let shard = state(&listed);
    let scenarios = stress_scenarios(&stress_grid());
    let mut run = StressRun::new(&shard, &[ACCOUNT]);
    let mut rows = Vec::new();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        rows.clear();
        for (index, scenario) in scenarios.iter().enumerate() {
            run.run(index, scenario, &mut rows).expect("valid");
        }
        black_box(&rows);
    }
    let per_100 = start.elapsed().as_secs_f64() * 1e3 / rounds as f64;
    println!("{per_100:.3} ms per 100 scenarios");
}
