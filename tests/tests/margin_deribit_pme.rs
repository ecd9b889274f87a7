//! Deribit's two published portfolio-margin calculations
//! (`../shared/data/deribit/pme_simulate_examples.json`), reproduced: every
//! per-instrument and aggregated vector, the worst case and its bucket, the shocks, IM
//! and MM, each to 1e-9.

use keel_engine::margin::{VOL_SCENARIOS, VolScenario, evaluate_portfolio};
use keel_feeds::deribit::parse_cases;
use keel_tests::shared_data_dir;
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}

fn assert_close(got: f64, expected: f64, what: &str) {
    assert!(
        (got - expected).abs() <= TOLERANCE,
        "{what}: got {got}, Deribit {expected} (diff {:e})",
        got - expected
    );
}

fn assert_vector(got_standard: &[f64], got_extended: &[f64], expected: &Value, what: &str) {
    let per_bucket = numbers(&expected["standard_per_bucket"]);
    assert_eq!(per_bucket.len(), 9);
    for (bucket, expected) in per_bucket.iter().enumerate() {
        // Deribit repeats each bucket's value for the three vol scenarios.
        for vol in VolScenario::ALL {
            let got = got_standard[bucket * VOL_SCENARIOS + vol as usize];
            assert_close(
                got,
                *expected,
                &format!("{what} standard bucket {}", bucket + 1),
            );
        }
    }
    let extended = numbers(&expected["extended"]);
    assert_eq!(extended.len(), 8);
    for (i, (got, expected)) in got_extended.iter().zip(&extended).enumerate() {
        assert_close(*got, *expected, &format!("{what} extended {}", i + 1));
    }
}

#[test]
fn both_published_cases_are_reproduced() {
    let Some(dir) = shared_data_dir("margin_deribit_pme") else {
        return;
    };
    let path = dir.join("deribit/pme_simulate_examples.json");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON");
    let cases = parse_cases(&file).expect("both cases parse");
    assert_eq!(cases.len(), 2);
    for (name, case) in &cases {
        let published = &file[name];
        let (vectors, _totals, margin) =
            evaluate_portfolio(&case.positions, case.index, &case.params, &case.orders)
                .expect("evaluates");
        for (instrument, vector) in case.names.iter().zip(&vectors) {
            assert_vector(
                &vector.standard,
                &vector.extended,
                &published["initial_risk_vectors"][instrument],
                &format!("{name} {instrument}"),
            );
        }
        let key = format!("{}_{}", case.currency, case.currency);
        assert_vector(
            &margin.aggregated.standard,
            &margin.aggregated.extended,
            &published["aggregated_risk_vectors"][&key],
            &format!("{name} aggregated"),
        );
        let margins = &published["margins"][&case.currency];
        let details = &margins["initial_margin_details"];
        let risk = &details["risk_matrix_margin_details"];
        let number = |v: &Value| v.as_f64().expect("number");
        assert_close(margin.worst_case, number(&risk["worst_case"]), "worst case");
        assert_close(margin.roll_shock, number(&risk["roll_shock"]), "roll shock");
        assert_close(
            margin.delta_shock,
            number(&risk["delta_shock"]),
            "delta shock",
        );
        assert_close(
            margin.correlation_contingency,
            number(&risk["correlation_contingency"]),
            "correlation contingency",
        );
        let bucket = &risk["worst_case_bucket"];
        assert_eq!(
            margin.worst_case_bucket.bucket as u64,
            bucket["bucket"].as_u64().unwrap()
        );
        assert_eq!(
            margin.worst_case_bucket.index as u64,
            bucket["index"].as_u64().unwrap()
        );
        assert_eq!(
            margin.worst_case_bucket.side.as_str(),
            bucket["side"].as_str().unwrap()
        );
        assert_eq!(
            margin.worst_case_bucket.source.as_str(),
            bucket["source"].as_str().unwrap()
        );
        assert_close(
            margin.risk_matrix_margin,
            number(&details["risk_matrix_margin"]),
            "risk matrix margin",
        );
        assert_close(
            margin.initial_margin,
            number(&margins["initial_margin"]),
            "IM",
        );
        assert_close(
            margin.maintenance_margin,
            number(&margins["maintenance_margin"]),
            "MM",
        );
        println!(
            "{name}: IM {:.12} MM {:.12} (Deribit {} / {})",
            margin.initial_margin,
            margin.maintenance_margin,
            margins["initial_margin"],
            margins["maintenance_margin"]
        );
    }
}
