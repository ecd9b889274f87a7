//! What an instrument is: the static terms carried by `InstrumentDefined`.

use rkyv::{Archive, Deserialize, Serialize};

use super::decimal::Dec;
use super::ids::{InstrumentId, Name, UnderlyingId};

#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
)]
#[rkyv(derive(Debug))]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    Spot,
    Perpetual,
    Future,
    Option,
}

/// How the contract settles: in the underlying coin (Deribit's BTC options and futures)
/// or in the quote currency (USDC).
#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
)]
#[rkyv(derive(Debug))]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    Inverse,
    Linear,
}

#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
)]
#[rkyv(derive(Debug))]
#[serde(rename_all = "snake_case")]
pub enum OptionRight {
    Call,
    Put,
}

#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
)]
#[rkyv(derive(Debug))]
pub struct InstrumentDefinition {
    pub id: InstrumentId,
    /// The venue's name, e.g. `BTC-27SEP24-40000-C`.
    pub name: Name,
    pub kind: InstrumentKind,
    pub settlement: Settlement,
    pub underlying: UnderlyingId,
    /// Expiry in ns since the Unix epoch; 0 for spot and perpetuals.
    pub expiry_ns: u64,
    /// Strike in quote currency (options only; 0 otherwise).
    pub strike: Dec,
    /// Call or put (options only; ignored otherwise).
    pub right: OptionRight,
    /// Units of underlying per contract (1 for Deribit options; USD per contract for
    /// inverse futures, e.g. 10).
    pub contract_size: Dec,
}
