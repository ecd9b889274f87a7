//! The parts a PnL is explained by. Every figure is in one currency: the ledger
//! currency of the positions it comes from (coin for inverse contracts, the quote
//! currency for linear ones), or USD in the USD view.

use std::ops::{AddAssign, Mul};

use rkyv::{Archive, Deserialize, Serialize};

/// Components of a PnL. `sum()` is the PnL they explain: the Greek terms of positions
/// held through a step, trades against the step's closing mark, cash flows, and what the
/// Greeks leave unexplained (`residual`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct PnlComponents {
    /// First order in the forward: Δ·ΔF.
    pub delta: f64,
    /// Second order in the forward: ½Γ·ΔF².
    pub gamma: f64,
    /// vega · Δσ, each option at the change of its own mark IV.
    pub vega: f64,
    /// θ · Δt (calendar days).
    pub theta: f64,
    /// Trades of the step: quantity × (value at the step's closing mark − value at the
    /// trade price).
    pub new_trades: f64,
    /// Fees paid (negative) or rebates received (positive).
    pub fees: f64,
    /// Funding received (positive) or paid (negative).
    pub funding: f64,
    /// Settlement at expiry: quantity × (value at the settlement price − value at the
    /// last mark).
    pub settlement: f64,
    /// Price PnL of positions held through a step that the Greek terms do not explain
    /// (higher orders, cross terms, the venue's mark against the model).
    pub residual: f64,
}

/// Names of the components, in `fields()` order (what reports print).
pub const COMPONENT_NAMES: [&str; 9] = [
    "delta",
    "gamma",
    "vega",
    "theta",
    "new_trades",
    "fees",
    "funding",
    "settlement",
    "residual",
];

impl PnlComponents {
    pub const ZERO: PnlComponents = PnlComponents {
        delta: 0.0,
        gamma: 0.0,
        vega: 0.0,
        theta: 0.0,
        new_trades: 0.0,
        fees: 0.0,
        funding: 0.0,
        settlement: 0.0,
        residual: 0.0,
    };

    pub fn fields(&self) -> [f64; 9] {
        [
            self.delta,
            self.gamma,
            self.vega,
            self.theta,
            self.new_trades,
            self.fees,
            self.funding,
            self.settlement,
            self.residual,
        ]
    }

    /// The PnL the components explain.
    pub fn sum(&self) -> f64 {
        self.fields().iter().sum()
    }

    /// Σ |component|: the scale a sum is checked against.
    pub fn gross(&self) -> f64 {
        self.fields().iter().map(|v| v.abs()).sum()
    }

    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|v| *v == 0.0)
    }
}

impl AddAssign for PnlComponents {
    fn add_assign(&mut self, other: PnlComponents) {
        self.delta += other.delta;
        self.gamma += other.gamma;
        self.vega += other.vega;
        self.theta += other.theta;
        self.new_trades += other.new_trades;
        self.fees += other.fees;
        self.funding += other.funding;
        self.settlement += other.settlement;
        self.residual += other.residual;
    }
}

impl std::ops::Sub for PnlComponents {
    type Output = PnlComponents;
    fn sub(mut self, other: PnlComponents) -> PnlComponents {
        self += other * -1.0;
        self
    }
}

impl Mul<f64> for PnlComponents {
    type Output = PnlComponents;
    fn mul(self, factor: f64) -> PnlComponents {
        PnlComponents {
            delta: self.delta * factor,
            gamma: self.gamma * factor,
            vega: self.vega * factor,
            theta: self.theta * factor,
            new_trades: self.new_trades * factor,
            fees: self.fees * factor,
            funding: self.funding * factor,
            settlement: self.settlement * factor,
            residual: self.residual * factor,
        }
    }
}
