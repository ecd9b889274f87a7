//! Pins Black prices, implied volatilities and N(z) to the 1,000 reference cases generated
//! with Jaeckel's "Let's Be Rational" C++ code (`pricing/lets_be_rational_test_values.json`
//! in the shared data): every case must agree to 1e-12 relative.

use keel_engine::pricing::normal::norm_cdf;
use keel_engine::pricing::{OptionInputs, OptionKind, PricingError, black76_price, implied_vol};
use keel_tests::{relative_error, shared_data_dir};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "F")]
    forward: f64,
    #[serde(rename = "K")]
    strike: f64,
    #[serde(rename = "T")]
    years: f64,
    sigma: f64,
    /// +1 call, −1 put.
    q: f64,
    z: f64,
}

#[derive(Deserialize)]
struct Expected {
    black: f64,
    /// `NaN` in the file (written as `null` before parsing) where T = 0.
    implied_volatility_from_a_transformed_rational_guess: Option<f64>,
    norm_cdf: f64,
}

#[derive(Deserialize)]
struct Cases {
    input: Vec<Case>,
    output: Vec<Expected>,
}

fn load() -> Option<Cases> {
    let dir = shared_data_dir("lets_be_rational")?;
    let path = dir.join("pricing/lets_be_rational_test_values.json");
    let text = std::fs::read_to_string(&path).expect("reference file readable");
    // Jaeckel's file writes the undefined vol of the T = 0 cases as a bare `NaN`.
    let text = text.replace("NaN", "null");
    Some(serde_json::from_str(&text).expect("reference file parses"))
}

fn kind(q: f64) -> OptionKind {
    if q > 0.0 {
        OptionKind::Call
    } else {
        OptionKind::Put
    }
}

#[test]
fn black_price_and_implied_vol_match_jaeckel_to_1e12() {
    let Some(cases) = load() else { return };
    assert_eq!(cases.input.len(), 1000);
    let (mut worst_price, mut worst_vol, mut worst_cdf) = (0.0f64, 0.0f64, 0.0f64);
    let mut expired_cases = 0;
    for (index, (case, expected)) in cases.input.iter().zip(&cases.output).enumerate() {
        let inputs = OptionInputs {
            kind: kind(case.q),
            forward: case.forward,
            strike: case.strike,
            years: case.years,
            vol: case.sigma,
            rate: 0.0,
        };
        let price = black76_price(&inputs).expect("valid case");
        let price_error = relative_error(price, expected.black);
        assert!(
            price_error <= 1e-12,
            "case {index}: price {price:e} vs {:e}",
            expected.black
        );

        let vol = implied_vol(
            inputs.kind,
            case.forward,
            case.strike,
            case.years,
            0.0,
            expected.black,
        );
        let Some(reference_vol) = expected.implied_volatility_from_a_transformed_rational_guess
        else {
            // T = 0: price is intrinsic and no volatility is implied; ours says so, typed.
            assert_eq!(case.years, 0.0, "case {index}: reference vol undefined");
            assert!(
                matches!(vol, Err(PricingError::ExpiredForImpliedVol(_))),
                "case {index}"
            );
            expired_cases += 1;
            continue;
        };
        let vol = vol.unwrap_or_else(|error| panic!("case {index}: {error}"));
        let vol_error = relative_error(vol, reference_vol);
        assert!(
            vol_error <= 1e-12,
            "case {index}: vol {vol} vs {reference_vol}"
        );

        worst_price = worst_price.max(price_error);
        worst_vol = worst_vol.max(vol_error);
    }
    for (index, (case, expected)) in cases.input.iter().zip(&cases.output).enumerate() {
        let cdf_error = relative_error(norm_cdf(case.z), expected.norm_cdf);
        assert!(
            cdf_error <= 1e-15,
            "case {index}: N({}) off by {cdf_error:e}",
            case.z
        );
        worst_cdf = worst_cdf.max(cdf_error);
    }
    assert!(expired_cases < 10, "most cases must exercise the solver");
    println!(
        "lets_be_rational: 1000 cases ({expired_cases} with T = 0), worst relative error \
         price {worst_price:.2e}, implied vol {worst_vol:.2e}, N(z) {worst_cdf:.2e}"
    );
}
