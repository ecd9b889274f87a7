//! Deribit formats: instrument names and portfolio-margin simulation files.

pub mod instrument_name;
pub mod pme;

pub use instrument_name::{DeribitName, NamedContract, expiry_ms, parse_name};
pub use pme::{PmeCase, PmeError, parse_case, parse_cases};
