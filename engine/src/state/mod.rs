//! The risk state machine (docs/PIPELINE.md): pure `apply`, incremental aggregates, a
//! from-scratch checker and a canonical state hash.

pub mod account;
pub mod account_margin;
pub mod alerts;
pub mod checker;
pub mod contract_margin;
pub mod contract_risk;
pub mod driver;
pub mod hash;
pub mod hedge;
pub mod hedge_bands;
pub mod id_map;
pub mod instrument_state;
pub mod liquidation;
pub mod parking;
pub mod position;
pub mod rejection;
pub mod shard_state;
pub mod sizing;
pub mod snapshot;
pub mod sorted_map;
pub mod surface_quotes;
pub mod surface_state;
pub mod trade_ids;
pub mod validation;
pub mod what_if;
pub mod working_memory;

pub use account::AccountState;
pub use account_margin::{Condition, CurrencyMargin, TradingState};
pub use alerts::{ALERTS_RECENT_MAX, Alert, AlertLog, Scope};
pub use contract_risk::ContractRisk;
pub use driver::{BATCH_EVENTS_MAX, Step, ends_batch};
pub use id_map::{DenseKey, IdMap};
pub use liquidation::{LiquidationDistance, LiquidationError, LiquidationPoint};
pub use parking::{
    PARKED_FILL_TTL_NS, PARKED_FILLS_MAX, PARKED_FILLS_TOTAL_MAX, ParkedFill, Parking,
};
pub use rejection::{RejectReason, RejectionCounts};
pub use shard_state::{FUNDING_IDS_MAX, Outcome, ShardState, TRADE_IDS_MAX};
pub use snapshot::{SnapshotError, decode_state, encode_state};
pub use sorted_map::SortedVecMap;
pub use trade_ids::TradeIdWindow;
pub use what_if::{HypotheticalFill, WHAT_IF_FILLS_MAX, WhatIf, WhatIfError, WhatIfReason};

#[cfg(test)]
mod tests;
