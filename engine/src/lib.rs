//! `keel-engine`: Keel's domain model, pricing and Greeks, implied volatility and (to come)
//! the risk state machine and margin models. See `DESIGN.md` sections 4–6.

pub mod events;
pub mod margin;
pub mod pricing;
pub mod runtime;
pub mod state;
