//! Option pricing: Black-76 on the forward, Greeks in quote (USD) and coin units,
//! implied volatility, and a structure-of-arrays batch path (docs/PRICING.md).

pub mod batch;
pub mod black76;
pub mod columns;
pub mod error;
pub mod fast_math;
pub mod implied_vol;
pub mod inverse;
pub(crate) mod lanes;
pub mod normal;

pub use batch::{
    BatchGreeks, BatchInputs, BatchPricingError, black76_as_in_batch, black76_batch,
    black76_batch_price,
};
pub use black76::{Greeks, OptionInputs, OptionKind, black76, black76_price};
pub use columns::{GreeksColumns, OptionColumns};
pub use error::PricingError;
pub use implied_vol::{implied_vol, implied_vol_coin};
pub use inverse::{CoinGreeks, coin_greeks};
