//! The scalar Black-76 loop of the `pricing` bench in a minimal binary, for comparing
//! code-placement effects (see docs/BENCHMARKS.md): `cargo run --release -p keel-benches
//! --example scalar_loop`.

use std::hint::black_box;
use std::time::Instant;

use keel_benches::option_chain::{option_chain, scalar_greeks_sum};

const ROUNDS: usize = 5;
const RUNS_PER_ROUND: usize = 200;

fn main() {
    let chain = option_chain();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..RUNS_PER_ROUND {
            black_box(scalar_greeks_sum(&chain));
        }
        let per_option_ns =
            start.elapsed().as_nanos() as f64 / (RUNS_PER_ROUND * chain.len()) as f64;
        println!("scalar black76, price + 6 Greeks: {per_option_ns:.1} ns/option");
    }
}
