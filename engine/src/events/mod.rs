//! The engine's events (docs/EVENTS.md): what flows through the ring and into the journal.

pub mod codec;
pub mod currency;
pub mod decimal;
pub mod event;
pub mod ids;
pub mod instrument;

pub use codec::{CodecError, EVENT_ENCODED_MAX_BYTES, EventEncoder, decode, kind_name, kind_of};
pub use currency::{CURRENCIES_MAX, Currency, QUOTE_CURRENCY_NAME};
pub use decimal::Dec;
pub use event::{
    AccountDefinition, Collateral, DEFAULT_MARGIN_CALL_RATIO, Event, EventBody, Fill, Funding,
    HedgeBands, IndexPrice, InputPosition, Limits, MarginModel, RiskParams, SettlementPrice, Side,
    Ticker,
};
pub use ids::{AccountId, InstrumentId, Name, UnderlyingId};
pub use instrument::{InstrumentDefinition, InstrumentKind, OptionRight, Settlement};

#[cfg(test)]
mod tests;
