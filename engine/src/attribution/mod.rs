//! PnL attribution: why an account made or lost money, step by step (a step ends at each
//! batch end). Each position held through a step has its price PnL split into delta,
//! gamma, vega and theta terms from its Greeks at the step's start, and a residual;
//! trades are valued against the step's closing mark; fees, funding and settlement are
//! their own parts. The parts add up to the actual PnL (change in equity less collateral
//! moved), which is kept beside them so the identity can be checked. See
//! docs/ANALYTICS.md for the definitions and conventions.

pub mod account_pnl;
pub mod components;
pub mod decompose;

pub use account_pnl::{
    AccountAttribution, CurrencyPnl, DAY_START_OFFSET_NS, KeyPnl, PriceMove, StepTrade,
    attribution_day, usd_rate,
};
pub use components::{COMPONENT_NAMES, PnlComponents};
pub use decompose::{DAY_NS, Payoff, Valuation, decompose_move};
