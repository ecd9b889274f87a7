//! Margin models (docs/MARGIN.md): Deribit's portfolio margin (scenario grid) and standard
//! margin. See `docs/MARGIN.md` for the model, its parameters, and what is and is not
//! Deribit-identical.

pub mod params;
pub mod portfolio_margin;
pub mod scenario_batch;
pub mod scenarios;
pub mod standard_margin;

pub use params::PmParams;
pub use portfolio_margin::{
    MarginError, OrderMargins, PmBreakdown, PmContract, PmMarket, PmPosition, PmSettlement,
    PmTotals, ScenarioSource, Side, WorstCaseBucket, evaluate_portfolio, evaluate_portfolio_in,
    initial_and_maintenance_in, margin_from_vector, margin_from_vector_in, position_delta,
    position_vector, roll_shock, shocked_vols,
};
pub use scenario_batch::{ROWS_PER_OPTION, ScenarioBatch, ScenarioOption};
pub use scenarios::{
    EXTENDED_MOVES, EXTENDED_SCENARIOS, PRICE_BUCKETS, STANDARD_SCENARIOS, ScenarioVector,
    VOL_SCENARIOS, VolScenario,
};
pub use standard_margin::{StandardMargin, standard_margin};
