//! Deribit formats: instrument names, websocket JSON-RPC messages, and portfolio-margin
//! simulation files.

pub mod chain_snapshot;
pub mod instrument_name;
pub mod jsonrpc;
pub mod pme;
pub mod session;
pub mod ticker_scan;

pub use instrument_name::{DeribitName, NamedContract, expiry_ms, parse_name};
pub use jsonrpc::DeribitDecoder;
pub use pme::{PmeCase, PmeError, parse_case, parse_cases};
