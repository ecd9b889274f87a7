//! Pins Black-76 (coin mark, delta, vega, and for raw tickers all five Greeks) to Deribit's
//! own published values: the three full option-chain snapshots and the raw websocket
//! tickers in `../shared/data/deribit`. Rows missing an input are counted and reported,
//! never silently dropped.

use keel_engine::pricing::{OptionInputs, OptionKind, black76, coin_greeks};
use keel_tests::{median, relative_error, shared_data_dir};
use serde::Deserialize;

const SNAPSHOTS: [&str; 3] = [
    "deribit_options_snapshot_20251230T173115Z.csv",
    "deribit_options_snapshot_20260302T093957Z.csv",
    "deribit_options_snapshot_20260531T070333Z.csv",
];
const ONE_DAY_YEARS: f64 = 1.0 / 365.0;

#[derive(Deserialize)]
struct SnapshotRow {
    instrument_name: String,
    underlying: Option<f64>,
    option_type: String,
    strike: Option<f64>,
    time_to_maturity: Option<f64>,
    mark_price: Option<f64>,
    implied_volatility: Option<f64>,
    delta: Option<f64>,
    vega: Option<f64>,
}

#[test]
fn snapshot_marks_deltas_and_vegas_match_deribit() {
    let Some(dir) = shared_data_dir("snapshot_marks_deltas_and_vegas_match_deribit") else {
        return;
    };
    let (mut mark_errors, mut delta_errors, mut vega_errors) = (vec![], vec![], vec![]);
    let (mut near_expiry, mut incomplete) = (0usize, 0usize);
    for file in SNAPSHOTS {
        let mut reader = csv::Reader::from_path(dir.join("deribit").join(file)).expect(file);
        for row in reader.deserialize::<SnapshotRow>() {
            let row = row.expect("snapshot row parses");
            let (
                Some(forward),
                Some(strike),
                Some(years),
                Some(vol),
                Some(mark),
                Some(delta),
                Some(vega),
            ) = (
                row.underlying,
                row.strike,
                row.time_to_maturity,
                row.implied_volatility,
                row.mark_price,
                row.delta,
                row.vega,
            )
            else {
                incomplete += 1;
                continue;
            };
            if years < ONE_DAY_YEARS {
                near_expiry += 1;
                continue;
            }
            let inputs = OptionInputs {
                kind: row.option_type.parse::<OptionKind>().expect("call or put"),
                forward,
                strike,
                years,
                vol,
                rate: 0.0,
            };
            let usd = black76(&inputs).unwrap_or_else(|e| panic!("{}: {e}", row.instrument_name));
            let coin = coin_greeks(&inputs, &usd);
            let name = &row.instrument_name;
            let mark_error = (coin.price_coin - mark).abs();
            let delta_error = (usd.delta - delta).abs();
            let vega_error = (usd.vega_usd - vega).abs();
            assert!(
                mark_error <= 3e-4,
                "{name}: mark {} vs {mark}",
                coin.price_coin
            );
            assert!(
                delta_error <= 0.01,
                "{name}: delta {} vs {delta}",
                usd.delta
            );
            assert!(
                vega_error <= 0.08 * vega.abs() + 0.01,
                "{name}: vega {} vs {vega}",
                usd.vega_usd
            );
            mark_errors.push(mark_error);
            delta_errors.push(delta_error);
            vega_errors.push(relative_error(usd.vega_usd, vega));
        }
    }
    let checked = mark_errors.len();
    assert!(checked > 3_000, "only {checked} rows checked");
    println!(
        "deribit snapshots: {checked} options checked ({near_expiry} under one day and \
         {incomplete} with an empty field not checked); median |error| mark {:.2e} coin, \
         delta {:.2e}, vega {:.2e} relative",
        median(&mut mark_errors),
        median(&mut delta_errors),
        median(&mut vega_errors)
    );
}

/// Expiry of a Deribit name's date part (`5JUN20`) at 08:00 UTC, in ms since the epoch.
fn deribit_expiry_ms(date: &str) -> Option<i64> {
    keel_feeds::deribit::expiry_ms(date)
}

/// Deribit prints Greeks to 5 decimals; where that rounding is coarse, 1 % is allowed.
fn within_printed_precision(ours: f64, deribit: f64) -> bool {
    (ours - deribit).abs() <= (0.5e-5f64).max(0.01 * deribit.abs())
}

#[test]
fn raw_tickers_greeks_match_deribit() {
    let Some(dir) = shared_data_dir("raw_tickers_greeks_match_deribit") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("deribit/tickers_raw.jsonl")).expect("readable");
    let (mut options_checked, mut combos_skipped, mut worst) = (0, 0, 0.0f64);
    for line in text.lines() {
        let message: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        let channel = message["params"]["channel"].as_str().unwrap_or_default();
        if !channel.starts_with("ticker.") {
            continue;
        }
        let data = &message["params"]["data"];
        let name = data["instrument_name"].as_str().expect("instrument name");
        let parts: Vec<&str> = name.split('-').collect();
        let kind = match parts.as_slice() {
            [_, _, _, "C"] => OptionKind::Call,
            [_, _, _, "P"] => OptionKind::Put,
            _ => {
                combos_skipped += 1; // combos and futures spreads are not single options
                continue;
            }
        };
        let expiry_ms = deribit_expiry_ms(parts[1]).expect("expiry date");
        let now_ms = data["timestamp"].as_i64().expect("timestamp");
        let inputs = OptionInputs {
            kind,
            forward: data["underlying_price"].as_f64().expect("underlying"),
            strike: parts[2].replace('d', ".").parse().expect("strike"),
            years: (expiry_ms - now_ms) as f64 / (365.0 * 86_400_000.0),
            vol: data["mark_iv"].as_f64().expect("mark iv") / 100.0,
            rate: data["interest_rate"].as_f64().unwrap_or(0.0),
        };
        let greeks = black76(&inputs).expect("valid ticker inputs");
        let deribit = &data["greeks"];
        for (label, ours) in [
            ("delta", greeks.delta),
            ("gamma", greeks.gamma_per_usd),
            ("vega", greeks.vega_usd),
            ("theta", greeks.theta_bounded_usd_per_day),
            ("rho", greeks.rho_usd),
        ] {
            let theirs = deribit[label].as_f64().expect("greek");
            assert!(
                within_printed_precision(ours, theirs),
                "{name} {label}: ours {ours} vs Deribit {theirs}"
            );
            if theirs != 0.0 {
                worst = worst.max(relative_error(ours, theirs));
            }
        }
        options_checked += 1;
    }
    assert_eq!(options_checked, 5, "the five option tickers (one expired)");
    println!(
        "deribit tickers: {options_checked} options, all five Greeks within printed \
         precision (worst relative {worst:.2e}); {combos_skipped} combo tickers not options"
    );
}
