//! `keel bench pricing`: on 1,024 Deribit-like options (strikes 0.5–2× the forward, 1 day
//! to 1 year, σ 30–150 %, calls and puts), the batch path's price-only kernel (validation
//! included; what the scenario grid uses), the scalar price + six Greeks, one option at a
//! time through the batch kernel (against the scalar path), and implied volatility. Baseline, same run, interleaved: the `implied-vol` crate (Jaeckel's
//! algorithms) pricing the same options one at a time, and solving their implied vols.

use clap::Args;
use keel_benches::option_chain::{
    crate_iv, crate_price_only, keel_batch_price, keel_iv, one_at_a_time_batch_greeks_sum,
    option_chain, scalar_greeks_sum,
};
use keel_benches::paired;
use keel_engine::pricing::black76;

use super::Figures;

#[derive(Args)]
pub struct PricingArgs {}

pub fn run(_: &PricingArgs) -> anyhow::Result<Figures> {
    let chain = option_chain();
    let len = chain.len();
    let prices: Vec<f64> = (0..len)
        .map(|index| black76(&chain.option(index)).map(|g| g.price_usd))
        .collect::<Result<_, _>>()?;
    let mut out = vec![0.0; len];
    let (batch_ns, crate_price_ns) = paired::medians(
        len,
        || keel_batch_price(&chain, &mut out),
        || crate_price_only(&chain),
    );
    let (scalar_ns, _) = paired::medians(
        len,
        || scalar_greeks_sum(&chain),
        || crate_price_only(&chain),
    );
    // One option at a time through the batch kernel, against the scalar path on the same
    // options: the cost of valuing alone with the batch's bits.
    let (alone_ns, alone_scalar_ns) = paired::medians(
        len,
        || one_at_a_time_batch_greeks_sum(&chain),
        || scalar_greeks_sum(&chain),
    );
    let (iv_ns, crate_iv_ns) = paired::medians(
        len,
        || keel_iv(&chain, &prices),
        || crate_iv(&chain, &prices),
    );
    let mut figures = Figures::default();
    figures.set("bench", "pricing");
    figures.set("options", len as u64);
    figures.number("batch_price_ns_per_row", batch_ns);
    figures.number("baseline_price_ns", crate_price_ns);
    figures.number("batch_price_ratio", crate_price_ns / batch_ns);
    figures.number("scalar_greeks_ns", scalar_ns);
    figures.number("one_option_batch_kernel_ns", alone_ns);
    figures.number("one_option_scalar_baseline_ns", alone_scalar_ns);
    figures.number("one_option_ratio", alone_scalar_ns / alone_ns);
    figures.number("implied_vol_ns", iv_ns);
    figures.number("baseline_implied_vol_ns", crate_iv_ns);
    figures.number("implied_vol_ratio", crate_iv_ns / iv_ns);
    Ok(figures)
}
