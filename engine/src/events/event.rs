//! The event set (docs/EVENTS.md): fixed-size, `Copy`, archived with rkyv 0.8 into journal
//! records. Time comes from `timestamp_ns` (the venue or gateway's), never the wall clock.
//! Parameters and limits are events too, so replay reproduces decisions made under the
//! parameters in force at the time.

use rkyv::{Archive, Deserialize, Serialize};

use super::currency::Currency;
use super::decimal::Dec;
use super::ids::{AccountId, InstrumentId, Name, UnderlyingId};
use super::instrument::InstrumentDefinition;
use crate::margin::PmParams;

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
    InputPosition(InputPosition),
    HedgeBands(HedgeBands),
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
    /// The venue's margin model for this account.
    #[serde(default)]
    pub margin_model: MarginModel,
}

/// Which margin rules an account is under (docs/MARGIN.md).
#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
)]
#[rkyv(derive(Debug))]
#[serde(rename_all = "snake_case")]
pub enum MarginModel {
    /// Deribit portfolio margin (scenario grid).
    #[default]
    Portfolio,
    /// Deribit standard margin (per-position rates).
    Standard,
}

/// Equity / maintenance margin under which an account without limits gets a margin call
/// (maintenance margin above 80 % of equity).
pub const DEFAULT_MARGIN_CALL_RATIO: f64 = 1.25;

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
    /// The coin for inverse accounting, or the quote currency.
    pub currency: Currency,
    pub amount: Dec,
    /// The venue's transfer id: a repeat (a resent feed) is rejected as a duplicate.
    pub transfer_id: u64,
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
    /// The venue's id of this funding payment: a repeat is rejected as a duplicate.
    pub funding_id: u64,
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

/// Portfolio-margin parameters of an underlying (docs/MARGIN.md), every one of Deribit's
/// `model_params`. In force from this event on; until the first, the built-in BTC set.
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
    pub params: PmParams,
}

/// How far into its input a feeder (`keel run`) had journaled everything: every input
/// line up to `line` is in the journal before this record. Changes no risk state; a
/// restarted feeder resumes after it (`keel run --resume`).
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
pub struct InputPosition {
    /// Input lines consumed (1-based line number of the last one).
    pub line: u64,
}

/// Per-account limits, per underlying for the Greeks; 0 means no limit. An account
/// without a `Limits` event has none, and margin calls at [`DEFAULT_MARGIN_CALL_RATIO`].
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
    /// Equity / maintenance margin below this breaches the limit (REDUCE_ONLY).
    pub min_margin_ratio: f64,
    /// Equity / maintenance margin below this raises a margin call (0: never).
    pub margin_call_ratio: f64,
}

/// An account's target band for one underlying: where its Greeks should stay. Leaving
/// it raises a band alert at a batch end, and Keel proposes trades that bring the
/// account back to the band's middle (docs/ANALYTICS.md). Keel proposes; it never
/// trades. Delta in coin: `delta_min_coin == delta_max_coin == 0` means no delta band;
/// vega and gamma bands are ± the value (USD), 0 meaning none. A later event for the same
/// account and underlying replaces it.
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
pub struct HedgeBands {
    pub account: AccountId,
    pub underlying: UnderlyingId,
    pub delta_min_coin: f64,
    pub delta_max_coin: f64,
    pub vega_max_abs_usd: f64,
    pub gamma_max_abs_usd: f64,
}

impl HedgeBands {
    pub fn has_delta_band(&self) -> bool {
        !(self.delta_min_coin == 0.0 && self.delta_max_coin == 0.0)
    }
}
