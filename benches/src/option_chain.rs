//! A deterministic, Deribit-like option set for pricing benchmarks: strikes 0.5–2× the
//! forward, 1 day to 1 year, vols 30–150 %, calls and puts mixed.

use std::hint::black_box;

use ::implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility, PriceBlackScholes};
use keel_engine::pricing::{
    GreeksColumns, OptionColumns, OptionInputs, OptionKind, black76_batch, implied_vol,
};

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
    one_at_a_time_sum(chain, |option| {
        keel_engine::pricing::black76(option).expect("valid chain")
    })
}

/// Each option valued alone through the batch kernel (`black76_as_in_batch`: what a
/// what-if, a stressed mark or a surface model mark costs), price and Greeks summed.
#[inline(never)]
pub fn one_at_a_time_batch_greeks_sum(chain: &OptionColumns) -> f64 {
    one_at_a_time_sum(chain, |option| {
        keel_engine::pricing::black76_as_in_batch(option).expect("valid chain")
    })
}

/// Every option of `chain` priced alone by `price`, price and six Greeks summed.
#[inline(always)]
fn one_at_a_time_sum(
    chain: &OptionColumns,
    price: impl Fn(&keel_engine::pricing::OptionInputs) -> keel_engine::pricing::Greeks,
) -> f64 {
    let mut sum = 0.0;
    for index in 0..chain.len() {
        let greeks = price(&black_box(chain.option(index)));
        sum += greeks.price_usd
            + greeks.delta
            + greeks.gamma_per_usd
            + greeks.vega_usd
            + greeks.theta_usd_per_day
            + greeks.rho_usd;
    }
    sum
}

/// Never inlined: criterion and `keel bench pricing` then time the same machine code.
#[inline(never)]
pub fn crate_price_only(chain: &OptionColumns) -> f64 {
    let mut sum = 0.0;
    for index in 0..chain.len() {
        let option = black_box(chain.option(index));
        sum += PriceBlackScholes::builder()
            .forward(option.forward)
            .strike(option.strike)
            .volatility(option.vol)
            .expiry(option.years)
            .is_call(option.kind.is_call())
            .build()
            .expect("valid chain")
            .calculate::<DefaultSpecialFn>();
    }
    sum
}

/// Never inlined: criterion and `keel bench pricing` then time the same machine code.
#[inline(never)]
pub fn keel_batch(chain: &OptionColumns, outputs: &mut GreeksColumns) -> f64 {
    black76_batch(black_box(&chain.as_batch()), &mut outputs.as_batch()).expect("valid chain");
    outputs.price_usd[0]
}

/// Never inlined: criterion and `keel bench pricing` then time the same machine code.
#[inline(never)]
pub fn keel_iv(chain: &OptionColumns, prices: &[f64]) -> f64 {
    let mut sum = 0.0;
    for (index, &price) in prices.iter().enumerate() {
        let option = chain.option(index);
        sum += implied_vol(
            option.kind,
            option.forward,
            option.strike,
            option.years,
            option.rate,
            black_box(price),
        )
        .expect("attainable price");
    }
    sum
}

/// Never inlined: criterion and `keel bench pricing` then time the same machine code.
#[inline(never)]
pub fn crate_iv(chain: &OptionColumns, prices: &[f64]) -> f64 {
    let mut sum = 0.0;
    for (index, &price) in prices.iter().enumerate() {
        let option = chain.option(index);
        sum += ImpliedBlackVolatility::builder()
            .forward(option.forward)
            .strike(option.strike)
            .expiry(option.years)
            .is_call(option.kind.is_call())
            .option_price(black_box(price))
            .build()
            .and_then(|solver| solver.calculate::<DefaultSpecialFn>())
            .expect("attainable price");
    }
    sum
}

/// Prices only, batch path, validation included. Never inlined.
#[inline(never)]
pub fn keel_batch_price(chain: &OptionColumns, prices: &mut [f64]) -> f64 {
    keel_engine::pricing::black76_batch_price(black_box(&chain.as_batch()), prices)
        .expect("valid chain");
    prices[0]
}
