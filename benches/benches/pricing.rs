//! Pricing micro-benchmarks: Black-76 price + all Greeks (scalar and batch, per option)
//! and implied volatility, each against the `implied-vol` crate (Jaeckel's algorithms in
//! Rust) on the same inputs, measured in the same run. Run: `cargo bench -p keel-benches
//! --bench pricing`. Targets (DESIGN 8): scalar ≤ 40 ns, batch ≤ 10 ns/option, IV ≤ 150 ns.

use std::hint::black_box;

use ::implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility, PriceBlackScholes};
use criterion::{Criterion, Throughput};
use keel_benches::option_chain::{option_chain, scalar_greeks_sum};
use keel_benches::paired;
use keel_engine::pricing::{GreeksColumns, OptionColumns, black76, black76_batch, implied_vol};

// Never inlined: criterion and the paired summary then time the same machine code.
#[inline(never)]
fn crate_price_only(chain: &OptionColumns) -> f64 {
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

// Never inlined: criterion and the paired summary then time the same machine code.
#[inline(never)]
fn keel_batch(chain: &OptionColumns, outputs: &mut GreeksColumns) -> f64 {
    black76_batch(black_box(&chain.as_batch()), &mut outputs.as_batch()).expect("valid chain");
    outputs.price_usd[0]
}

// Never inlined: criterion and the paired summary then time the same machine code.
#[inline(never)]
fn keel_iv(chain: &OptionColumns, prices: &[f64]) -> f64 {
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

// Never inlined: criterion and the paired summary then time the same machine code.
#[inline(never)]
fn crate_iv(chain: &OptionColumns, prices: &[f64]) -> f64 {
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

fn main() {
    let chain = option_chain();
    let len = chain.len();
    let prices: Vec<f64> = (0..len)
        .map(|index| black76(&chain.option(index)).expect("valid").price_usd)
        .collect();
    let mut outputs = GreeksColumns::filled(len, 0.0);

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("black76");
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function("keel_scalar_price_and_greeks", |b| {
            b.iter(|| scalar_greeks_sum(&chain))
        });
        group.bench_function("keel_batch_price_and_greeks", |b| {
            b.iter(|| keel_batch(&chain, &mut outputs))
        });
        group.bench_function("implied_vol_crate_price_only", |b| {
            b.iter(|| crate_price_only(&chain))
        });
        group.finish();
    }
    {
        let mut group = criterion.benchmark_group("implied_vol");
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function("keel", |b| b.iter(|| keel_iv(&chain, &prices)));
        group.bench_function("implied_vol_crate", |b| {
            b.iter(|| crate_iv(&chain, &prices))
        });
        group.finish();
    }
    criterion.final_summary();

    println!(
        "\nSummary ({len} Deribit-like options per run, median of {} paired rounds):",
        paired::PAIRED_ROUNDS
    );
    paired::compare(
        "black76 scalar, price + 6 Greeks",
        len,
        || scalar_greeks_sum(&chain),
        || crate_price_only(&chain),
        "implied-vol price only",
    );
    paired::compare(
        "black76 batch, price + 6 Greeks per option",
        len,
        || keel_batch(&chain, &mut outputs),
        || crate_price_only(&chain),
        "implied-vol price only",
    );
    paired::compare(
        "implied vol",
        len,
        || keel_iv(&chain, &prices),
        || crate_iv(&chain, &prices),
        "implied-vol crate directly",
    );
}
