//! A stress scenario: per underlying a spot move, a volatility move (absolute vol points
//! and/or relative, optionally weighted by tenor) and one time step for the whole market.

use thiserror::Error;

use crate::attribution::DAY_NS;
use crate::events::UnderlyingId;
use crate::state::ShardState;
use crate::surface::VolSurface;

/// Shocked implied vols are floored here (a vol move cannot make a vol negative).
pub const STRESSED_VOL_FLOOR: f64 = 0.01;
/// Tenor weights `(reference / days)^power` use at least this many days to expiry (an
/// option about to expire would otherwise take an unbounded shock).
pub const TENOR_DAYS_MIN: f64 = 1.0;
/// Largest spot move down: −99 % (a price stays positive).
pub const SPOT_MOVE_MIN: f64 = -0.99;
/// Largest spot move up: +1,000 %.
pub const SPOT_MOVE_MAX: f64 = 10.0;
/// Longest time step a scenario may take: one year.
pub const TIME_STEP_MAX_NS: u64 = 365 * DAY_NS;
/// Most underlyings one scenario names.
pub const SHOCKS_PER_SCENARIO_MAX: usize = 64;

/// How implied vols move: `vol × (1 + relative) + points/100 × weight(tenor)`, where
/// `weight = (reference_days / days_to_expiry)^tenor_power` (1 when `tenor_power` is 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VolShock {
    /// Vol points (1 = 1 % of annualized vol) at the reference tenor.
    pub points: f64,
    /// Fraction of the vol itself (0.2 = vols 20 % higher).
    pub relative: f64,
    /// Tenor at which `points` apply in full, in days (default 30).
    pub reference_days: f64,
    /// Decay of the points with tenor (0: the same at every tenor; 0.5: square root).
    pub tenor_power: f64,
}

impl VolShock {
    pub fn is_zero(&self) -> bool {
        self.points == 0.0 && self.relative == 0.0
    }

    /// The shocked vol of an option with `days_to_expiry` left, from `vol` (a fraction).
    pub fn apply(&self, vol: f64, days_to_expiry: f64) -> f64 {
        if self.is_zero() {
            return vol;
        }
        let weight = if self.tenor_power == 0.0 {
            1.0
        } else {
            (self.reference_days / days_to_expiry.max(TENOR_DAYS_MIN)).powf(self.tenor_power)
        };
        (vol * (1.0 + self.relative) + self.points / 100.0 * weight).max(STRESSED_VOL_FLOOR)
    }
}

/// One underlying's move.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shock {
    /// Fraction: −0.3 is a 30 % fall of index, forwards and futures' prices.
    pub spot_move: f64,
    pub vol: VolShock,
}

/// How implied vols respond to a scenario's move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmileDynamics {
    /// Each option keeps its own mark IV, moved by the scenario's vol shock (the default:
    /// it needs nothing but the marks).
    #[default]
    StickyStrike,
    /// From the volatility surface: each option's IV moves along its expiry's fitted
    /// smile to its new moneyness (sticky moneyness), the vol shock is applied to the
    /// smile, and the shocked total variance is kept non-decreasing in expiry at every
    /// moneyness, so a tenor-weighted shock leaves no calendar arbitrage in the stressed
    /// surface. Options of an expiry without an accepted smile move sticky-strike.
    Surface,
}

/// A named market move.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Underlyings named by the scenario, with their moves.
    pub shocks: Vec<(UnderlyingId, Shock)>,
    /// The move of every underlying the scenario does not name (`None`: unmoved).
    pub others: Option<Shock>,
    /// Time that passes (options lose time value; nothing expires or settles).
    pub time_step_ns: u64,
    pub smile: SmileDynamics,
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum ScenarioError {
    #[error(
        "scenario {name:?}: spot move {spot_move} is outside [{SPOT_MOVE_MIN}, {SPOT_MOVE_MAX}]"
    )]
    SpotMove { name: String, spot_move: f64 },
    #[error("scenario {name:?}: vol move is not finite or makes vols negative ({what})")]
    VolMove { name: String, what: &'static str },
    #[error("scenario {name:?}: time step over one year")]
    TimeStep { name: String },
    #[error("scenario {name:?}: more than {SHOCKS_PER_SCENARIO_MAX} underlyings")]
    TooManyShocks { name: String },
    #[error("scenario {name:?}: underlying {underlying} named twice")]
    Duplicate { name: String, underlying: u16 },
}

impl Scenario {
    /// The move of `underlying` under this scenario.
    pub fn shock_of(&self, underlying: UnderlyingId) -> Shock {
        self.shocks
            .iter()
            .find(|(u, _)| *u == underlying)
            .map(|(_, s)| *s)
            .or(self.others)
            .unwrap_or_default()
    }

    /// The surface the scenario's vols move on, from `state` (`None`: sticky strike).
    pub fn surface<'a>(&self, state: &'a ShardState) -> Option<&'a VolSurface> {
        (self.smile == SmileDynamics::Surface).then_some(&state.surface.surface)
    }

    /// Checks every move is one the model can price.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let name = || self.name.clone();
        if self.shocks.len() > SHOCKS_PER_SCENARIO_MAX {
            return Err(ScenarioError::TooManyShocks { name: name() });
        }
        if self.time_step_ns > TIME_STEP_MAX_NS {
            return Err(ScenarioError::TimeStep { name: name() });
        }
        for (i, (u, _)) in self.shocks.iter().enumerate() {
            if self.shocks[..i].iter().any(|(v, _)| v == u) {
                return Err(ScenarioError::Duplicate {
                    name: name(),
                    underlying: u.0,
                });
            }
        }
        for shock in self.shocks.iter().map(|(_, s)| s).chain(&self.others) {
            let spot = shock.spot_move;
            if !(SPOT_MOVE_MIN..=SPOT_MOVE_MAX).contains(&spot) {
                return Err(ScenarioError::SpotMove {
                    name: name(),
                    spot_move: spot,
                });
            }
            let vol = &shock.vol;
            let finite = [
                vol.points,
                vol.relative,
                vol.reference_days,
                vol.tenor_power,
            ]
            .iter()
            .all(|v| v.is_finite());
            if !finite {
                return Err(ScenarioError::VolMove {
                    name: name(),
                    what: "not finite",
                });
            }
            if vol.relative <= -1.0 {
                return Err(ScenarioError::VolMove {
                    name: name(),
                    what: "relative move of −100 % or more",
                });
            }
            if vol.tenor_power != 0.0 && (vol.reference_days <= 0.0 || vol.tenor_power < 0.0) {
                return Err(ScenarioError::VolMove {
                    name: name(),
                    what: "tenor weighting needs reference_days > 0 and tenor_power ≥ 0",
                });
            }
            if vol.points.abs() > 1_000.0 {
                return Err(ScenarioError::VolMove {
                    name: name(),
                    what: "more than 1,000 vol points",
                });
            }
        }
        Ok(())
    }
}
