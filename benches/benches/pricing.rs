//! Pricing micro-benchmarks: Black-76 price + all Greeks (scalar and batch, per option)
//! and implied volatility, each against the `implied-vol` crate (Jaeckel's algorithms in
//! Rust) on the same inputs, measured in the same run. Run: `cargo bench -p keel-benches
//! --bench pricing`. First targets: scalar ≤ 40 ns, batch ≤ 10 ns/option,
//! IV ≤ 150 ns. The current targets and every measured figure: docs/BENCHMARKS.md.

use criterion::{Criterion, Throughput};
use keel_benches::option_chain::{
    crate_iv, crate_price_only, keel_batch, keel_iv, option_chain, scalar_greeks_sum,
};
use keel_benches::paired;
use keel_engine::pricing::{GreeksColumns, black76};

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
