//! The Deribit ticker workload of `keel bench feeds` decoded in a loop, for instruction
//! counts: `valgrind --tool=callgrind target/release/examples/deribit_decode_loop keel`
//! (or `value` for the `serde_json::Value` baseline, `none` for the setup alone; the
//! per-message count is (total − setup) / messages, both printed by the program).

use std::hint::black_box;

use keel_benches::feeds::{decode_all, deribit, value_decode_all, warmed_for};

const MESSAGES: usize = 2_000;
const ROUNDS: usize = 20;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "keel".into());
    let workload = deribit(MESSAGES);
    let mut decoder = warmed_for(&workload);
    let mut out = Vec::new();
    let bytes: usize = workload.lines.iter().map(String::len).sum();
    for _ in 0..ROUNDS {
        match which.as_str() {
            "keel" => black_box(decode_all(decoder.as_mut(), &workload.lines, &mut out)),
            "value" => black_box(value_decode_all(&workload.lines)),
            _ => break,
        };
    }
    println!(
        "{which}: {} messages decoded ({} bytes on average)",
        if which == "none" {
            0
        } else {
            ROUNDS * workload.lines.len()
        },
        bytes / workload.lines.len()
    );
}
