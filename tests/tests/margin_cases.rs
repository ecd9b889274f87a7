//! Hand-checked portfolio-margin cases — a short call, a short put, a covered call, a
//! calendar spread, a delta-hedged straddle — each against an independent full
//! revaluation written here: Jaeckel's Black pricer (the `implied-vol` crate, not our
//! Black-76), the grid and vol shocks written out from docs/MARGIN.md.

use implied_vol::{DefaultSpecialFn, PriceBlackScholes};
use keel_engine::margin::{
    EXTENDED_MOVES, OrderMargins, PmContract, PmMarket, PmParams, PmPosition, evaluate_portfolio,
};
use keel_engine::pricing::OptionKind;

const INDEX: f64 = 60_000.0;
const DAY: f64 = 1.0 / 365.0;

fn call(strike: f64, days: f64, quantity: f64, forward: f64, vol: f64) -> PmPosition {
    option(OptionKind::Call, strike, days, quantity, forward, vol)
}

fn put(strike: f64, days: f64, quantity: f64, forward: f64, vol: f64) -> PmPosition {
    option(OptionKind::Put, strike, days, quantity, forward, vol)
}

fn option(
    kind: OptionKind,
    strike: f64,
    days: f64,
    quantity: f64,
    forward: f64,
    vol: f64,
) -> PmPosition {
    PmPosition {
        contract: PmContract::Option {
            kind,
            strike,
            years: days * DAY,
            inverse: true,
        },
        quantity,
        market: PmMarket {
            index: INDEX,
            forward,
            vol,
        },
    }
}

fn future(days: f64, quantity: f64) -> PmPosition {
    PmPosition {
        contract: PmContract::InverseFuture { years: days * DAY },
        quantity,
        market: PmMarket {
            index: INDEX,
            forward: INDEX,
            vol: 0.0,
        },
    }
}

/// Coin value of an inverse option, by the `implied-vol` crate.
fn coin_value(kind: OptionKind, strike: f64, years: f64, forward: f64, vol: f64) -> f64 {
    let usd = PriceBlackScholes::builder()
        .forward(forward)
        .strike(strike)
        .volatility(vol)
        .expiry(years)
        .is_call(kind == OptionKind::Call)
        .build_unchecked()
        .calculate::<DefaultSpecialFn>();
    usd / forward
}

/// The independent full revaluation: (27 standard PnLs, 8 extended PnLs), summed.
fn revalue(positions: &[PmPosition], p: &PmParams) -> (Vec<f64>, Vec<f64>) {
    let mut standard = vec![0.0; 27];
    let mut extended = vec![0.0; 8];
    for position in positions {
        let q = position.quantity;
        match position.contract {
            PmContract::InverseFuture { .. } => {
                let pnl = |m: f64| q * (1.0 - 1.0 / (1.0 + m));
                for bucket in 0..9 {
                    let m = p.price_range * (bucket as f64 - 4.0) / 4.0;
                    for vol in 0..3 {
                        standard[bucket * 3 + vol] += pnl(m);
                    }
                }
                for (slot, m) in extended.iter_mut().zip(EXTENDED_MOVES) {
                    *slot += pnl(m.clamp(-p.price_range, p.price_range));
                }
            }
            PmContract::Option {
                kind,
                strike,
                years,
                ..
            } => {
                let PmMarket { forward, vol, .. } = position.market;
                let dte = years * 365.0;
                let power = if dte < 30.0 {
                    p.short_term_vega_power
                } else {
                    p.long_term_vega_power
                };
                let scale = (30.0 / dte).powf(power);
                let vols = [
                    (vol * (1.0 - p.volatility_range_down * scale)).max(0.0),
                    vol,
                    (vol * (1.0 + p.volatility_range_up * scale))
                        .max(p.min_volatility_for_shock_up),
                ];
                let base = coin_value(kind, strike, years, forward, vol);
                for bucket in 0..9 {
                    let shocked_forward =
                        forward * (1.0 + p.price_range * (bucket as f64 - 4.0) / 4.0);
                    for (v, shocked_vol) in vols.iter().enumerate() {
                        standard[bucket * 3 + v] += q
                            * (coin_value(kind, strike, years, shocked_forward, *shocked_vol)
                                - base);
                    }
                }
                for (slot, m) in extended.iter_mut().zip(EXTENDED_MOVES) {
                    *slot += q
                        * (coin_value(kind, strike, years, forward * (1.0 + m), vols[2]) - base)
                        * p.extended_table_factor;
                }
            }
            PmContract::LinearFuture { .. } => unreachable!("not used here"),
        }
    }
    (standard, extended)
}

/// Checks the engine against the revaluation, and IM/MM against the worst loss + roll
/// shock (BTC parameters: no PnL offset; these books are far below the delta-shock
/// threshold and the extended dampener is 100,000 USD).
fn check_case(name: &str, positions: &[PmPosition]) -> f64 {
    let params = PmParams::BTC;
    let (_, totals, margin) =
        evaluate_portfolio(positions, INDEX, &params, &OrderMargins::default()).expect(name);
    let (standard, extended) = revalue(positions, &params);
    for (i, (ours, theirs)) in totals.vector.standard.iter().zip(&standard).enumerate() {
        assert!(
            (ours - theirs).abs() < 1e-9,
            "{name} standard {i}: {ours} vs {theirs}"
        );
    }
    for (i, (ours, theirs)) in totals.vector.extended.iter().zip(&extended).enumerate() {
        assert!(
            (ours - theirs).abs() < 1e-9,
            "{name} extended {i}: {ours} vs {theirs}"
        );
    }
    let dampener = params.extended_dampener_usd / INDEX;
    let worst_standard = standard.iter().copied().fold(0.0f64, f64::min);
    let worst_extended = extended
        .iter()
        .map(|v| (v + dampener).min(0.0))
        .fold(0.0f64, f64::min);
    let worst = -worst_standard.min(worst_extended);
    let roll: f64 = positions
        .iter()
        .filter_map(|p| match p.contract {
            PmContract::InverseFuture { years } => Some(
                p.quantity.abs()
                    * params
                        .min_annualised_move
                        .max(params.annualised_move_risk * years),
            ),
            _ => None,
        })
        .sum();
    assert_eq!(margin.delta_shock, 0.0, "{name}");
    assert!(
        (margin.worst_case - worst).abs() < 1e-9,
        "{name}: worst {} vs {worst}",
        margin.worst_case
    );
    assert!(
        (margin.initial_margin - (worst + roll)).abs() < 1e-9,
        "{name} IM"
    );
    assert!(
        (margin.maintenance_margin - 0.8 * (worst + roll)).abs() < 1e-9,
        "{name} MM"
    );
    margin.initial_margin
}

#[test]
fn single_short_options_lose_on_their_side_and_under_vol_up() {
    let short_call = [call(70_000.0, 30.0, -1.0, 60_300.0, 0.6)];
    let im_call = check_case("short call", &short_call);
    let short_put = [put(50_000.0, 30.0, -1.0, 60_300.0, 0.65)];
    let im_put = check_case("short put", &short_put);
    assert!(im_call > 0.0 && im_put > 0.0);
    // The short call's worst scenario is the top price bucket with vol up (index 27).
    let (_, _, margin) =
        evaluate_portfolio(&short_call, INDEX, &PmParams::BTC, &OrderMargins::default()).unwrap();
    assert_eq!(
        (
            margin.worst_case_bucket.bucket,
            margin.worst_case_bucket.index
        ),
        (9, 27)
    );
}

#[test]
fn covered_call_needs_less_than_its_legs() {
    let leg_call = [call(70_000.0, 30.0, -1.0, 60_300.0, 0.6)];
    let covered = [future(30.0, 1.0), call(70_000.0, 30.0, -1.0, 60_300.0, 0.6)];
    let covered_im = check_case("covered call", &covered);
    let future_im = check_case("future alone", &[future(30.0, 1.0)]);
    let call_im = check_case("call alone", &leg_call);
    assert!(
        covered_im < future_im + call_im,
        "{covered_im} vs {future_im} + {call_im}"
    );
}

#[test]
fn calendar_spread_and_delta_hedged_straddle() {
    let calendar = [
        call(60_000.0, 60.0, 1.0, 60_600.0, 0.55),
        call(60_000.0, 14.0, -1.0, 60_150.0, 0.65),
    ];
    check_case("calendar spread", &calendar);
    let straddle = [
        call(60_000.0, 30.0, 1.0, 60_300.0, 0.6),
        put(60_000.0, 30.0, 1.0, 60_300.0, 0.6),
    ];
    // Hedge the straddle's coin delta with the perpetual.
    let (_, totals, _) =
        evaluate_portfolio(&straddle, INDEX, &PmParams::BTC, &OrderMargins::default()).unwrap();
    let mut hedged = straddle.to_vec();
    hedged.push(PmPosition {
        contract: PmContract::InverseFuture { years: 0.0 },
        quantity: -totals.delta,
        market: PmMarket {
            index: INDEX,
            forward: INDEX,
            vol: 0.0,
        },
    });
    let hedged_im = check_case("delta-hedged straddle", &hedged);
    let (_, hedged_totals, _) =
        evaluate_portfolio(&hedged, INDEX, &PmParams::BTC, &OrderMargins::default()).unwrap();
    assert!(hedged_totals.delta.abs() < 1e-12);
    // A long straddle, hedged: losses only where the vol falls near the money.
    assert!(hedged_im > 0.0 && hedged_im < 0.1, "{hedged_im}");
}
