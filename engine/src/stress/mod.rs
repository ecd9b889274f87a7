//! Stress testing: accounts fully revalued (not by Taylor expansion of the Greeks) under
//! market moves, with the margin model re-run on the stressed market. See
//! docs/ANALYTICS.md for the scenario conventions and the built-in library.

pub mod evaluate;
pub mod library;
pub mod scenario;
pub mod stressed_market;

pub use evaluate::{AccountStress, CurrencyStress, StressRun, TOP_LOSSES_MAX};
pub use library::{Regime, builtin_scenarios};
pub use scenario::{Scenario, ScenarioError, Shock, SmileDynamics, VolShock};
pub use stressed_market::stressed_mark;
