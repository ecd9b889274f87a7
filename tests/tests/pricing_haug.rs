//! Pins Black-76 prices and Greeks to Haug's published tables (Option Pricing Formulas,
//! 1998, as tabulated in QuantLib's test suite). Generalized Black-Scholes-Merton cases
//! are priced as Black-76 on the forward `F = S·e^{(r−q)T}`; spot Greeks follow by the
//! chain rule. The table is a public fact, so it lives here; when `../shared/data` is
//! present the copy is also checked against the CSV there.

use keel_engine::pricing::{Greeks, OptionInputs, OptionKind as Kind, black76};
use keel_tests::shared_data_dir;

/// (kind, strike, spot, q, r, years, vol, value), tolerance 1e-4.
type ValueRow = (Kind, f64, f64, f64, f64, f64, f64, f64);
/// (greek, kind, strike, spot, q, r, years, vol, value), tolerance 1e-4.
type GreekRow = (&'static str, Kind, f64, f64, f64, f64, f64, f64, f64);

const HAUG_VALUES: [ValueRow; 43] = [
    (Kind::Call, 65.00, 60.00, 0.00, 0.08, 0.25, 0.30, 2.1334),
    (Kind::Put, 95.00, 100.00, 0.05, 0.10, 0.50, 0.20, 2.4648),
    (Kind::Put, 19.00, 19.00, 0.10, 0.10, 0.75, 0.28, 1.7011),
    (Kind::Call, 19.00, 19.00, 0.10, 0.10, 0.75, 0.28, 1.7011),
    (Kind::Call, 1.60, 1.56, 0.08, 0.06, 0.50, 0.12, 0.0291),
    (Kind::Put, 70.00, 75.00, 0.05, 0.10, 0.50, 0.35, 4.0870),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.10, 0.15, 0.0205),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.10, 0.15, 1.8734),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.10, 0.15, 9.9413),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.10, 0.25, 0.3150),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.10, 0.25, 3.1217),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.10, 0.25, 10.3556),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.10, 0.35, 0.9474),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.10, 0.35, 4.3693),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.10, 0.35, 11.1381),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.50, 0.15, 0.8069),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.50, 0.15, 4.0232),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.50, 0.15, 10.5769),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.50, 0.25, 2.7026),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.50, 0.25, 6.6997),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.50, 0.25, 12.7857),
    (Kind::Call, 100.00, 90.00, 0.10, 0.10, 0.50, 0.35, 4.9329),
    (Kind::Call, 100.00, 100.00, 0.10, 0.10, 0.50, 0.35, 9.3679),
    (Kind::Call, 100.00, 110.00, 0.10, 0.10, 0.50, 0.35, 15.3086),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.10, 0.15, 9.9210),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.10, 0.15, 1.8734),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.10, 0.15, 0.0408),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.10, 0.25, 10.2155),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.10, 0.25, 3.1217),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.10, 0.25, 0.4551),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.10, 0.35, 10.8479),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.10, 0.35, 4.3693),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.10, 0.35, 1.2376),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.50, 0.15, 10.3192),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.50, 0.15, 4.0232),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.50, 0.15, 1.0646),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.50, 0.25, 12.2149),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.50, 0.25, 6.6997),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.50, 0.25, 3.2734),
    (Kind::Put, 100.00, 90.00, 0.10, 0.10, 0.50, 0.35, 14.4452),
    (Kind::Put, 100.00, 100.00, 0.10, 0.10, 0.50, 0.35, 9.3679),
    (Kind::Put, 100.00, 110.00, 0.10, 0.10, 0.50, 0.35, 5.7963),
    (Kind::Call, 40.00, 42.00, 0.08, 0.04, 0.75, 0.35, 5.0975),
];

const HAUG_GREEKS: [GreekRow; 11] = [
    (
        "delta",
        Kind::Call,
        100.0,
        105.0,
        0.10,
        0.10,
        0.5,
        0.36,
        0.5946,
    ),
    (
        "delta",
        Kind::Put,
        100.0,
        105.0,
        0.10,
        0.10,
        0.5,
        0.36,
        -0.3566,
    ),
    (
        "elasticity",
        Kind::Put,
        100.0,
        105.0,
        0.10,
        0.10,
        0.5,
        0.36,
        -4.8775,
    ),
    (
        "gamma",
        Kind::Call,
        60.0,
        55.0,
        0.00,
        0.10,
        0.75,
        0.30,
        0.0278,
    ),
    (
        "gamma",
        Kind::Put,
        60.0,
        55.0,
        0.00,
        0.10,
        0.75,
        0.30,
        0.0278,
    ),
    (
        "vega",
        Kind::Call,
        60.0,
        55.0,
        0.00,
        0.10,
        0.75,
        0.30,
        18.9358,
    ),
    (
        "vega",
        Kind::Put,
        60.0,
        55.0,
        0.00,
        0.10,
        0.75,
        0.30,
        18.9358,
    ),
    (
        "theta",
        Kind::Put,
        405.0,
        430.0,
        0.05,
        0.07,
        1.0 / 12.0,
        0.20,
        -31.1924,
    ),
    (
        "theta per day",
        Kind::Put,
        405.0,
        430.0,
        0.05,
        0.07,
        1.0 / 12.0,
        0.20,
        -0.0855,
    ),
    (
        "rho",
        Kind::Call,
        75.0,
        72.0,
        0.00,
        0.09,
        1.0,
        0.19,
        38.7325,
    ),
    (
        "dividendRho",
        Kind::Put,
        490.0,
        500.0,
        0.05,
        0.08,
        0.25,
        0.15,
        42.2254,
    ),
];

const TOLERANCE: f64 = 1e-4;

struct Priced {
    greeks: Greeks,
    forward: f64,
    carry_growth: f64,
}

fn price_bsm(kind: Kind, strike: f64, spot: f64, q: f64, r: f64, years: f64, vol: f64) -> Priced {
    let carry_growth = ((r - q) * years).exp();
    let forward = spot * carry_growth;
    let inputs = OptionInputs {
        kind,
        forward,
        strike,
        years,
        vol,
        rate: r,
    };
    let greeks = black76(&inputs).expect("Haug inputs are valid");
    Priced {
        greeks,
        forward,
        carry_growth,
    }
}

#[test]
fn haug_prices_to_1e4() {
    for (kind, strike, spot, q, r, years, vol, expected) in HAUG_VALUES {
        let got = price_bsm(kind, strike, spot, q, r, years, vol)
            .greeks
            .price_usd;
        assert!(
            (got - expected).abs() <= TOLERANCE,
            "{kind:?} K={strike} S={spot} q={q} r={r} T={years} σ={vol}: {got} vs {expected}"
        );
    }
}

#[test]
fn haug_greeks_to_1e4() {
    for (greek, kind, strike, spot, q, r, years, vol, expected) in HAUG_GREEKS {
        let priced = price_bsm(kind, strike, spot, q, r, years, vol);
        let g = priced.greeks;
        let delta_spot = g.delta * priced.carry_growth;
        // θ with spot fixed = θ with forward fixed − ∂V/∂F · (r − q)·F.
        let theta_spot_per_year = g.theta_usd_per_day * 365.0 - g.delta * (r - q) * priced.forward;
        let got = match greek {
            "delta" => delta_spot,
            "elasticity" => delta_spot * spot / g.price_usd,
            "gamma" => g.gamma_per_usd * priced.carry_growth * priced.carry_growth,
            "vega" => g.vega_usd * 100.0,
            "theta" => theta_spot_per_year,
            "theta per day" => theta_spot_per_year / 365.0,
            "rho" => g.rho_usd * 100.0,
            "dividendRho" => -years * priced.forward * g.delta,
            other => panic!("unknown greek {other}"),
        };
        assert!(
            (got - expected).abs() <= TOLERANCE,
            "{greek} {kind:?} K={strike} S={spot}: {got} vs {expected}"
        );
    }
}

#[test]
fn embedded_table_matches_shared_csv() {
    let Some(dir) = shared_data_dir("embedded_table_matches_shared_csv") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("pricing/haug_values.csv")).expect("readable");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter(|line| line.starts_with("Call") || line.starts_with("Put"))
        .map(|line| {
            line.split(',')
                .skip(1)
                .map(|f| f.parse().expect("number"))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), HAUG_VALUES.len());
    for (row, (_, strike, spot, q, r, years, vol, value)) in rows.iter().zip(HAUG_VALUES) {
        assert_eq!(row, &vec![strike, spot, q, r, years, vol, value]);
    }
}
