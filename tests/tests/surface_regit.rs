//! Keel's SVI fit against the `regit-svi` crate (issue 15 asked whether a maintained crate
//! is good enough): every expiry of the real Deribit chains is fitted alone (no calendar
//! neighbours) by both, on the same points and weights, and both fits are judged by the
//! same measures: RMSE and worst error in vol points, and Keel's fine-grid butterfly check
//! (domain, Lee's bound, minimum variance, density on 241 points). The figures are in
//! docs/ANALYTICS.md; the assertions pin the decision they support (Keel's own fit is kept).

use keel_engine::surface::{
    CalendarBounds, CheckGrid, SmilePoint, SviParams, fit::check_smile, fit_errors,
};
use regit_svi::calibration::calibrate_slice;
use regit_svi::market::quote::Quote;

struct Judged {
    rmse_vol_points: f64,
    max_error_vol_points: f64,
    arbitrage_free: bool,
}

fn judge(params: &SviParams, points: &[SmilePoint], years: f64) -> Judged {
    let errors = fit_errors(params, points, years);
    let k_min = points
        .iter()
        .map(|p| p.log_moneyness)
        .fold(f64::MAX, f64::min);
    let k_max = points
        .iter()
        .map(|p| p.log_moneyness)
        .fold(f64::MIN, f64::max);
    let grid = CheckGrid::around(k_min, k_max);
    Judged {
        rmse_vol_points: errors.rmse_vol_points,
        max_error_vol_points: errors.max_error_vol_points,
        arbitrage_free: check_smile(params, &grid, k_min, k_max, &CalendarBounds::default())
            .is_ok(),
    }
}

fn regit_fit(points: &[SmilePoint]) -> Option<SviParams> {
    let quotes: Vec<Quote> = points
        .iter()
        .map(|p| Quote::new(p.log_moneyness, p.total_variance, p.weight))
        .collect::<Result<_, _>>()
        .ok()?;
    let fit = calibrate_slice(&quotes).ok()?.slice();
    Some(SviParams {
        a: fit.a(),
        b: fit.b(),
        rho: fit.rho(),
        m: fit.m(),
        sigma: fit.sigma(),
    })
}

#[test]
fn keel_fit_against_regit_svi_on_real_chains() {
    let Some(data) = keel_tests::shared_data_dir("keel_fit_against_regit_svi_on_real_chains")
    else {
        return;
    };
    let mut keel_rmse = Vec::new();
    let mut regit_rmse = Vec::new();
    let (mut keel_clean, mut regit_clean, mut regit_failed, mut expiries) = (0, 0, 0, 0);
    let (mut keel_better, mut regit_better) = (0, 0);
    for path in keel_tests::chain_snapshot_paths(&data) {
        let state = keel_tests::chain_snapshot_state(&path);
        let (_, rows) = state.fit_surface();
        for row in &rows {
            let q = &row.quotes;
            expiries += 1;
            let ours = keel_engine::surface::fit_smile(
                &q.points,
                q.years,
                &CalendarBounds::default(),
                None,
            )
            .expect("keel fits every real expiry");
            let ours = judge(&ours.params, &q.points, q.years);
            keel_clean += usize::from(ours.arbitrage_free);
            keel_rmse.push(ours.rmse_vol_points);
            let Some(theirs) = regit_fit(&q.points) else {
                regit_failed += 1;
                println!(
                    "u{} {:>6.3}y: regit-svi found no fit",
                    q.underlying.0, q.years
                );
                continue;
            };
            let theirs = judge(&theirs, &q.points, q.years);
            regit_clean += usize::from(theirs.arbitrage_free);
            regit_rmse.push(theirs.rmse_vol_points);
            // Better by more than 0.01 vol points (a tie otherwise).
            keel_better += usize::from(ours.rmse_vol_points + 0.01 < theirs.rmse_vol_points);
            regit_better += usize::from(theirs.rmse_vol_points + 0.01 < ours.rmse_vol_points);
            println!(
                "u{} {:>6.3}y {:>3} strikes: keel rmse {:>6.3} worst {:>6.3} {}; regit-svi rmse {:>6.3} worst {:>6.3} {}",
                q.underlying.0,
                q.years,
                q.points.len(),
                ours.rmse_vol_points,
                ours.max_error_vol_points,
                if ours.arbitrage_free {
                    "clean"
                } else {
                    "ARBITRAGE"
                },
                theirs.rmse_vol_points,
                theirs.max_error_vol_points,
                if theirs.arbitrage_free {
                    "clean"
                } else {
                    "ARBITRAGE"
                },
            );
        }
    }
    let keel_median = keel_tests::median(&mut keel_rmse);
    let regit_median = keel_tests::median(&mut regit_rmse);
    println!(
        "{expiries} expiries. keel: median rmse {keel_median:.3} vol points, {keel_clean} free of butterfly arbitrage. \
         regit-svi: median rmse {regit_median:.3}, {regit_clean} free, {regit_failed} without a fit. \
         Better fit (by > 0.01 vol points): keel {keel_better}, regit-svi {regit_better}"
    );
    assert!(expiries >= 70, "{expiries} expiries");
    // The decision (docs/ANALYTICS.md): Keel's fit is the more accurate one on the real
    // chains, while the crate's constrained search finds a clean smile on the few expiries
    // Keel refuses (measured: 3; the surface keeps the previous smile there). If that gap
    // grows, the decision needs revisiting.
    assert!(
        keel_median <= regit_median,
        "{keel_median} vs {regit_median}"
    );
    assert!(
        keel_better > regit_better,
        "{keel_better} vs {regit_better}"
    );
    assert!(
        regit_clean <= keel_clean + 3,
        "regit-svi clean on {regit_clean}, keel on {keel_clean}"
    );
}
