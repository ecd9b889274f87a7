//! The event set (DESIGN 4): fixed-size, `Copy`, archived with rkyv 0.8 into journal
//! records. Time comes from `timestamp_ns` (the venue or gateway's), never the wall clock.
//! Parameters and limits are events too, so replay reproduces decisions made under the
//! parameters in force at the time.

use rkyv::{Archive, Deserialize, Serialize};

use super::decimal::Dec;
use super::ids::{AccountId, InstrumentId, Name, UnderlyingId};
use super::instrument::InstrumentDefinition;

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
)]
#[rkyv(derive(Debug))]
pub struct Event {
    /// Exchange or gateway time, ns since the Unix epoch (UTC).
    pub timestamp_ns: u64,
    #[serde(flatten)]
    pub body: EventBody,
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
)]
#[rkyv(derive(Debug))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    InstrumentDefined(InstrumentDefinition),
    AccountDefined(AccountDefinition),
    IndexPrice(IndexPrice),
    Ticker(Ticker),
    Fill(Fill),
    Collateral(Collateral),
    Funding(Funding),
    Settlement(SettlementPrice),
    RiskParams(RiskParams),
    Limits(Limits),
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
pub struct AccountDefinition {
    pub id: AccountId,
    pub name: Name,
}

/// The venue's index price of an underlying, in quote currency.
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
)]
#[rkyv(derive(Debug))]
pub struct IndexPrice {
    pub underlying: UnderlyingId,
    pub price: f64,
}

/// A ticker / mark update. Prices are as the venue quotes them: coin for inverse options,
/// quote currency otherwise.
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
)]
#[rkyv(derive(Debug))]
pub struct Ticker {
    pub instrument: InstrumentId,
    pub mark_price: f64,
    /// Mark implied volatility as a fraction (options; 0 otherwise).
    pub mark_iv: f64,
    /// The forward the venue prices against (its `underlying_price`).
    pub forward: f64,
    pub best_bid: f64,
    pub best_ask: f64,
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
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// One of the firm's own fills.
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
pub struct Fill {
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    /// Contracts, > 0.
    pub quantity: Dec,
    /// As traded (coin for inverse options).
    pub price: Dec,
    /// Paid in the settlement currency (negative for a rebate).
    pub fee: Dec,
    /// The venue's trade id: a repeat is rejected as a duplicate.
    pub trade_id: u64,
}

/// Collateral moved into (`amount > 0`) or out of an account, in a currency.
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
pub struct Collateral {
    pub account: AccountId,
    /// The coin for inverse accounting (`UnderlyingId`), or the quote currency.
    pub currency: UnderlyingId,
    pub amount: Dec,
}

/// A funding payment on a perpetual: every holder pays `quantity × rate_per_contract`
/// (longs pay when positive) in the settlement currency.
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
pub struct Funding {
    pub instrument: InstrumentId,
    pub rate_per_contract: Dec,
}

/// Expiry: positions settle at `price` into the ledger and close.
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
pub struct SettlementPrice {
    pub instrument: InstrumentId,
    pub price: Dec,
}

/// Risk-model parameters for an underlying (the portfolio-margin parameters of DESIGN 6).
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
)]
#[rkyv(derive(Debug))]
pub struct RiskParams {
    pub underlying: UnderlyingId,
    pub price_range: f64,
    pub volatility_range_up: f64,
    pub volatility_range_down: f64,
    pub short_term_vega_power: f64,
    pub long_term_vega_power: f64,
    pub min_volatility_for_shock_up: f64,
    pub mm_factor: f64,
}

/// Per-account limits; 0 means no limit.
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
)]
#[rkyv(derive(Debug))]
pub struct Limits {
    pub account: AccountId,
    pub max_abs_delta_coin: f64,
    pub max_abs_vega_usd: f64,
    pub max_abs_gamma_usd: f64,
    pub min_margin_ratio: f64,
}
