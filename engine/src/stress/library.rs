//! The built-in scenarios: historical regimes (one-day index and ATM-vol moves of BTC and
//! ETH on known crash days; the figures and their public sources are in
//! docs/ANALYTICS.md), a SPAN-like grid of 16, and Deribit's extended moves.

use super::scenario::{Scenario, Shock, SmileDynamics, VolShock};
use crate::attribution::DAY_NS;
use crate::events::UnderlyingId;
use crate::margin::EXTENDED_MOVES;

/// A historical day: per coin the index move (fraction) and the 1-month ATM implied-vol
/// move (vol points), applied at once with one day passing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regime {
    pub name: &'static str,
    pub btc_spot_move: f64,
    pub btc_vol_points: f64,
    pub eth_spot_move: f64,
    pub eth_vol_points: f64,
}

/// Vol moves of the regimes are 1-month ATM figures: they apply in full at 30 days and
/// fall with the square root of tenor beyond (short tenors take more), as crash
/// term structures do.
const REGIME_VOL_REFERENCE_DAYS: f64 = 30.0;
const REGIME_VOL_TENOR_POWER: f64 = 0.5;

pub const REGIMES: [Regime; 5] = [
    Regime {
        name: "2020-03-12 covid crash",
        btc_spot_move: -0.50,
        btc_vol_points: 119.0,
        eth_spot_move: -0.50,
        eth_vol_points: 119.0,
    },
    Regime {
        name: "2021-05-19 china ban flash crash",
        btc_spot_move: -0.32,
        btc_vol_points: 60.0,
        eth_spot_move: -0.46,
        eth_vol_points: 60.0,
    },
    Regime {
        name: "2022-06-13 celsius freeze",
        btc_spot_move: -0.17,
        btc_vol_points: 25.0,
        eth_spot_move: -0.18,
        eth_vol_points: 25.0,
    },
    Regime {
        name: "2022-11-08/09 ftx collapse",
        btc_spot_move: -0.20,
        btc_vol_points: 80.0,
        eth_spot_move: -0.25,
        eth_vol_points: 80.0,
    },
    Regime {
        name: "2024-08-05 yen carry unwind",
        btc_spot_move: -0.18,
        btc_vol_points: 30.0,
        eth_spot_move: -0.26,
        eth_vol_points: 30.0,
    },
];

/// SPAN-like grid: price scan range and vol scan range of the 14 regular scenarios, and
/// the extreme moves (3 × the range, vol unchanged) of the last two.
pub const SPAN_PRICE_SCAN_RANGE: f64 = 0.15;
pub const SPAN_VOL_SCAN_POINTS: f64 = 10.0;
pub const SPAN_EXTREME_MULTIPLE: f64 = 3.0;

fn vol_points(points: f64, tenor_weighted: bool) -> VolShock {
    VolShock {
        points,
        relative: 0.0,
        reference_days: REGIME_VOL_REFERENCE_DAYS,
        tenor_power: if tenor_weighted {
            REGIME_VOL_TENOR_POWER
        } else {
            0.0
        },
    }
}

impl Regime {
    /// The scenario on underlyings resolved by coin name; any other underlying moves
    /// like the worse of the two coins (crypto moves together on such days).
    pub fn scenario(&self, resolve: &impl Fn(&str) -> Option<UnderlyingId>) -> Scenario {
        let btc = Shock {
            spot_move: self.btc_spot_move,
            vol: vol_points(self.btc_vol_points, true),
        };
        let eth = Shock {
            spot_move: self.eth_spot_move,
            vol: vol_points(self.eth_vol_points, true),
        };
        let worse = if self.eth_spot_move < self.btc_spot_move {
            eth
        } else {
            btc
        };
        let shocks = [("BTC", btc), ("ETH", eth)]
            .into_iter()
            .filter_map(|(coin, shock)| Some((resolve(coin)?, shock)))
            .collect();
        Scenario {
            name: format!("historical: {}", self.name),
            shocks,
            others: Some(worse),
            time_step_ns: DAY_NS,
            smile: SmileDynamics::StickyStrike,
        }
    }
}

/// Every underlying moved alike.
fn uniform(name: String, spot_move: f64, vol: VolShock) -> Scenario {
    Scenario {
        name,
        shocks: Vec::new(),
        others: Some(Shock { spot_move, vol }),
        time_step_ns: 0,
        smile: SmileDynamics::StickyStrike,
    }
}

/// The 16 SPAN-like scenarios: price unchanged, ±1/3, ±2/3, ±3/3 of the range, each with
/// vol up and down by the vol range; then ±3 ranges with vol unchanged.
pub fn span_scenarios() -> Vec<Scenario> {
    let mut scenarios = Vec::with_capacity(16);
    for thirds in [0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0] {
        let spot = SPAN_PRICE_SCAN_RANGE * thirds / 3.0;
        for vol in [SPAN_VOL_SCAN_POINTS, -SPAN_VOL_SCAN_POINTS] {
            scenarios.push(uniform(
                format!("span: price {:+.0} %, vol {vol:+.0} pts", spot * 100.0),
                spot,
                vol_points(vol, false),
            ));
        }
    }
    for sign in [1.0, -1.0] {
        let spot = sign * SPAN_EXTREME_MULTIPLE * SPAN_PRICE_SCAN_RANGE;
        scenarios.push(uniform(
            format!("span: extreme price {:+.0} %", spot * 100.0),
            spot,
            VolShock::default(),
        ));
    }
    scenarios
}

/// Deribit's extended moves (its portfolio margin's extended table), price only.
pub fn extended_scenarios() -> Vec<Scenario> {
    EXTENDED_MOVES
        .iter()
        .map(|&m| {
            uniform(
                format!("deribit extended: price {:+.0} %", m * 100.0),
                m,
                VolShock::default(),
            )
        })
        .collect()
}

/// The whole built-in library: historical regimes, the SPAN-like grid, Deribit's extended
/// moves.
pub fn builtin_scenarios(resolve: impl Fn(&str) -> Option<UnderlyingId>) -> Vec<Scenario> {
    let mut scenarios: Vec<Scenario> = REGIMES.iter().map(|r| r.scenario(&resolve)).collect();
    scenarios.extend(span_scenarios());
    scenarios.extend(extended_scenarios());
    scenarios
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_valid_and_complete() {
        let resolve = |coin: &str| match coin {
            "BTC" => Some(UnderlyingId(0)),
            "ETH" => Some(UnderlyingId(1)),
            _ => None,
        };
        let scenarios = builtin_scenarios(resolve);
        assert_eq!(scenarios.len(), 5 + 16 + 8);
        for s in &scenarios {
            s.validate().expect("valid");
        }
        assert_eq!(span_scenarios().len(), 16);
        let ftx = &scenarios[3];
        assert_eq!(ftx.shock_of(UnderlyingId(1)).spot_move, -0.25);
        // Tenor weighting: a 1-week option takes more than the 1-month figure.
        let vol = ftx.shock_of(UnderlyingId(0)).vol;
        assert!(vol.apply(0.5, 7.0) > vol.apply(0.5, 30.0));
        assert!((vol.apply(0.5, 30.0) - 1.3).abs() < 1e-12);
    }
}
