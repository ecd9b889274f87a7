//! A deterministic, Deribit-like option set for pricing benchmarks: strikes 0.5–2× the
//! forward, 1 day to 1 year, vols 30–150 %, calls and puts mixed.

use keel_engine::pricing::{OptionColumns, OptionInputs, OptionKind};

/// Options in the benchmark set: one scenario grid's worth for a mid-sized book.
pub const CHAIN_LEN: usize = 1024;

/// The benchmark chain; the same every run (fixed-seed xorshift).
pub fn option_chain() -> OptionColumns {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut columns = OptionColumns::with_capacity(CHAIN_LEN);
    for _ in 0..CHAIN_LEN {
        let forward = 60_000.0 * (0.9 + 0.2 * uniform());
        let kind = if uniform() < 0.5 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        columns.push(OptionInputs {
            kind,
            forward,
            strike: forward * (0.5f64).powf(1.0 - 2.0 * uniform()),
            years: (1.0 + 364.0 * uniform()) / 365.0,
            vol: 0.3 + 1.2 * uniform(),
            rate: 0.0,
        });
    }
    columns
}

/// Prices every option of `chain` one at a time with the scalar path and sums all
/// outputs (so nothing is optimised away). Never inlined, so every caller times the
/// same machine code.
#[inline(never)]
pub fn scalar_greeks_sum(chain: &OptionColumns) -> f64 {
    let mut sum = 0.0;
    for index in 0..chain.len() {
        let option = std::hint::black_box(chain.option(index));
        let greeks = keel_engine::pricing::black76(&option).expect("valid chain");
        sum += greeks.price_usd
            + greeks.delta
            + greeks.gamma_per_usd
            + greeks.vega_usd
            + greeks.theta_usd_per_day
            + greeks.rho_usd;
    }
    sum
}
