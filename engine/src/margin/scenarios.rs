//! The scenario grid of Deribit's portfolio margin (docs/MARGIN.md) and the PnL vector over it.
//!
//! Standard grid: 9 price buckets (−R … +R in steps of R/4) × 3 volatility scenarios
//! (down, same, up), stored bucket-major: index `3·bucket + vol`, the order of Deribit's
//! 27-entry vectors. Extended table: 8 large moves, vol up only.

use std::ops::{AddAssign, Mul, Sub};

pub const PRICE_BUCKETS: usize = 9;
pub const VOL_SCENARIOS: usize = 3;
pub const STANDARD_SCENARIOS: usize = PRICE_BUCKETS * VOL_SCENARIOS;
/// Extended-table price moves (fractions of the underlying).
pub const EXTENDED_MOVES: [f64; 8] = [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0];
pub const EXTENDED_SCENARIOS: usize = EXTENDED_MOVES.len();

/// Volatility scenario, in grid order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolScenario {
    Down = 0,
    Same = 1,
    Up = 2,
}

impl VolScenario {
    pub const ALL: [VolScenario; VOL_SCENARIOS] =
        [VolScenario::Down, VolScenario::Same, VolScenario::Up];
}

/// Price move of standard bucket `bucket` (0-based) for range `price_range`.
pub fn standard_move(bucket: usize, price_range: f64) -> f64 {
    let half = (PRICE_BUCKETS / 2) as f64;
    price_range * (bucket as f64 - half) / half
}

/// PnL in every scenario, in the settlement currency (coin for inverse contracts).
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ScenarioVector {
    pub standard: [f64; STANDARD_SCENARIOS],
    pub extended: [f64; EXTENDED_SCENARIOS],
}

impl Default for ScenarioVector {
    fn default() -> Self {
        ScenarioVector::ZERO
    }
}

impl ScenarioVector {
    pub const ZERO: ScenarioVector = ScenarioVector {
        standard: [0.0; STANDARD_SCENARIOS],
        extended: [0.0; EXTENDED_SCENARIOS],
    };

    /// The value in standard bucket `bucket` (0-based) and vol scenario `vol`.
    pub fn at(&self, bucket: usize, vol: VolScenario) -> f64 {
        self.standard[bucket * VOL_SCENARIOS + vol as usize]
    }

    /// One value per price bucket when it does not depend on the vol scenario (futures):
    /// the vol-"same" column.
    pub fn per_bucket(&self) -> [f64; PRICE_BUCKETS] {
        std::array::from_fn(|bucket| self.at(bucket, VolScenario::Same))
    }

    /// Every scenario finite. Branch-free (no early exit), so the loop vectorises: every
    /// margin evaluation checks its vector.
    pub fn is_finite(&self) -> bool {
        self.standard
            .iter()
            .chain(&self.extended)
            .fold(true, |finite, v| finite & v.is_finite())
    }
}

impl AddAssign for ScenarioVector {
    fn add_assign(&mut self, other: ScenarioVector) {
        for (mine, theirs) in self.standard.iter_mut().zip(other.standard) {
            *mine += theirs;
        }
        for (mine, theirs) in self.extended.iter_mut().zip(other.extended) {
            *mine += theirs;
        }
    }
}

impl Sub for ScenarioVector {
    type Output = ScenarioVector;

    fn sub(mut self, other: ScenarioVector) -> ScenarioVector {
        self += other * -1.0;
        self
    }
}

impl Mul<f64> for ScenarioVector {
    type Output = ScenarioVector;

    fn mul(mut self, factor: f64) -> ScenarioVector {
        self.standard.iter_mut().for_each(|v| *v *= factor);
        self.extended.iter_mut().for_each(|v| *v *= factor);
        self
    }
}
