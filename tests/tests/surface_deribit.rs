//! The volatility surface on real Deribit chains (issue 15): every expiry of the three
//! snapshots in `../shared/data/deribit/` is fitted; every accepted smile must be free of
//! butterfly and calendar arbitrage on the fine grid, and the fit error per expiry stays
//! within the bounds below (measured by this test, stated in docs/ANALYTICS.md).

use keel_engine::surface::{CalendarBounds, CheckGrid, RefitError, fit::check_smile};

/// Bounds on the measured figures (docs/ANALYTICS.md), with a margin of about 2.
const MEDIAN_RMSE_VOL_POINTS_MAX: f64 = 0.6;
const REFUSED_MAX: usize = 6;

#[test]
fn every_real_expiry_fits_without_arbitrage() {
    let Some(data) = keel_tests::shared_data_dir("surface_fits_on_real_chains") else {
        return;
    };
    let paths = keel_tests::chain_snapshot_paths(&data);
    assert_eq!(paths.len(), 3);
    let mut rmses = Vec::new();
    let mut refused = 0;
    for path in paths {
        let name = path
            .file_name()
            .expect("test input")
            .to_string_lossy()
            .into_owned();
        let state = keel_tests::chain_snapshot_state(&path);
        let (surface, rows) = state.fit_surface();
        assert!(rows.len() >= 20, "{name}: {} expiries", rows.len());
        for row in &rows {
            let q = &row.quotes;
            let (status, fit) = match &row.result {
                Ok(fit) => ("accepted", fit),
                Err(RefitError::Arbitrage { fit, .. }) => ("REFUSED", fit),
                Err(e) => panic!("{name} u{} {:.3}y: {e}", q.underlying.0, q.years),
            };
            println!(
                "{name} u{} {:>6.3}y {:>3} strikes: rmse {:>6.3}, worst {:>6.3} vol points at k={:>5.2}, {status}",
                q.underlying.0,
                q.years,
                fit.points,
                fit.rmse_vol_points,
                fit.max_error_vol_points,
                fit.worst_log_moneyness,
            );
            rmses.push(fit.rmse_vol_points);
            refused += usize::from(row.result.is_err());
        }
        // Every accepted smile, checked again against its accepted neighbours in the
        // final surface (a later fit must not have broken an earlier one).
        let smiles: Vec<_> = surface.smiles.iter().collect();
        for (i, (key, smile)) in smiles.iter().enumerate() {
            let neighbour = |j: Option<usize>| {
                j.and_then(|j| smiles.get(j))
                    .filter(|(k, _)| k.0 == key.0)
                    .map(|(_, s)| s.neighbour())
            };
            let bounds = CalendarBounds {
                shorter: neighbour(i.checked_sub(1)),
                longer: neighbour(Some(i + 1)),
            };
            let grid = CheckGrid::around(smile.fit.k_min, smile.fit.k_max);
            assert_eq!(
                check_smile(
                    &smile.fit.params,
                    &grid,
                    smile.fit.k_min,
                    smile.fit.k_max,
                    &bounds
                ),
                Ok(()),
                "{name} {key:?}"
            );
        }
    }
    rmses.sort_by(f64::total_cmp);
    let median = rmses[rmses.len() / 2];
    let p90 = rmses[rmses.len() * 9 / 10];
    println!(
        "{} expiries: rmse median {median:.3}, p90 {p90:.3}, worst {:.3} vol points; {refused} refused",
        rmses.len(),
        rmses[rmses.len() - 1]
    );
    assert!(median < MEDIAN_RMSE_VOL_POINTS_MAX, "median rmse {median}");
    assert!(refused <= REFUSED_MAX, "{refused} refused fits");
}
