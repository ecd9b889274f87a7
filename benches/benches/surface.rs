//! Volatility surface (`cargo bench -p keel-benches --bench surface`): one expiry of the
//! 500-option book (50 strikes, marked on a smile) fitted with raw SVI.
//!
//! - refit: warm-started from the expiry's previous parameters, after the marks moved
//!   (what a batch end runs for an expiry whose marks changed).
//! - cold fit: the same quotes from the fixed starts only (a fitter without memory).
//!   Baseline of the paired line: the cold fit.
//! - regit-svi: the same quotes and weights through `regit_svi::calibrate_slice` (its
//!   default: multi-start quasi-explicit, then a Levenberg-Marquardt polish), the
//!   maintained crate the fit was compared with (docs/ANALYTICS.md).

use std::hint::black_box;

use criterion::Criterion;
use keel_benches::option_book::{BTC, INDEX, book, state, tick};
use keel_benches::paired;
use keel_engine::surface::{CalendarBounds, ExpiryQuotes, fit_errors, fit_smile};

fn main() {
    let listed = book();
    let mut base = state(&listed);
    let expiry_ns = listed[0].expiry_ns;
    let mut scratch = Vec::new();
    let mut quotes = ExpiryQuotes::default();
    base.smile_quotes(BTC, expiry_ns, &mut scratch, &mut quotes);
    for event in tick(&listed, INDEX * 1.002) {
        base.apply(&event);
    }
    base.end_of_batch();
    let mut moved = ExpiryQuotes::default();
    base.smile_quotes(BTC, expiry_ns, &mut scratch, &mut moved);
    let bounds = CalendarBounds::default();
    let previous = fit_smile(&quotes.points, quotes.years, &bounds, None).expect("fit");
    let warm = || {
        fit_smile(&moved.points, moved.years, &bounds, Some(&previous.params))
            .map_or(f64::NAN, |f| f.rmse_vol_points)
    };
    let cold = || {
        fit_smile(&moved.points, moved.years, &bounds, None).map_or(f64::NAN, |f| f.rmse_vol_points)
    };
    let regit_quotes: Vec<regit_svi::market::quote::Quote> = moved
        .points
        .iter()
        .map(|p| regit_svi::market::quote::Quote::new(p.log_moneyness, p.total_variance, p.weight))
        .collect::<Result<_, _>>()
        .expect("valid quotes");
    let regit = || {
        regit_svi::calibration::calibrate_slice(&regit_quotes).map_or(f64::NAN, |f| {
            let s = f.slice();
            let params = keel_engine::surface::SviParams {
                a: s.a(),
                b: s.b(),
                rho: s.rho(),
                m: s.m(),
                sigma: s.sigma(),
            };
            fit_errors(&params, &moved.points, moved.years).rmse_vol_points
        })
    };
    println!(
        "expiry: {} strikes, {:.3} years; rmse {:.4} vol points (warm), {:.4} (cold), {:.4} (regit-svi)",
        moved.points.len(),
        moved.years,
        warm(),
        cold(),
        regit()
    );
    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("surface");
        group.bench_function("refit_expiry_warm", |b| b.iter(|| black_box(warm())));
        group.bench_function("fit_expiry_cold", |b| b.iter(|| black_box(cold())));
        group.bench_function("fit_expiry_regit_svi", |b| b.iter(|| black_box(regit())));
        group.finish();
    }
    criterion.final_summary();
    paired::compare(
        "SVI refit of one 50-strike expiry (warm start)",
        1,
        warm,
        cold,
        "cold fit from fixed starts",
    );
    paired::compare(
        "SVI cold fit of one 50-strike expiry",
        1,
        cold,
        regit,
        "regit-svi calibrate_slice",
    );
}
