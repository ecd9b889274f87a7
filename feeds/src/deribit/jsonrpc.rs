//! Deribit's websocket JSON-RPC (API v2), one message per line: what a gateway receives
//! live or has recorded. Mappings and refusals: docs/FEEDS.md.
//!
//! Ticker notifications, most of a feed, go through the one-pass scanner of
//! `ticker_scan.rs` when they can. Everything else is parsed by serde, borrowing from the
//! line: the envelope reads the channel, and `data` goes straight into its channel's
//! struct when it follows the channel (Deribit's order), or is kept raw and parsed once
//! the channel is known. Unknown fields are ignored (Deribit adds fields); missing or
//! mistyped fields Keel needs refuse the message.

use keel_engine::events::{
    Event, EventBody, Fill, InstrumentKind, OptionRight, Settlement, Side, Ticker,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::ticker_scan::{ScannedTicker, scan_ticker};
use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal, Skip, finish_line};
use crate::index_levels::IndexLevels;
use crate::venue_map::{InstrumentTerms, Mapped, VenueMap, coin_of, is_combo_name};
use crate::venue_view::{VenuePortfolio, VenuePosition, VenueQuote, VenueView};

/// Longest message accepted, in bytes: a full `get_instruments` response for one
/// currency is ~1 MB; anything far above it is not a message Keel expects.
pub const MESSAGE_BYTES_MAX: usize = 16 << 20;

/// Mark IVs Deribit may quote, in percent. Below 1 % is almost surely a fraction sent
/// where percent is due (0.65 for 65 %), which would price every option at 0.65 % vol.
pub const MARK_IV_PERCENT_MIN: f64 = 1.0;
pub const MARK_IV_PERCENT_MAX: f64 = 1_000.0;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    method: Option<&'a str>,
    #[serde(default, borrow)]
    params: Option<Params<'a>>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    /// When the venue sent a response, µs since the epoch.
    #[serde(default, rename = "usOut")]
    us_out: Option<u64>,
}

/// A notification's parameters. Deribit writes `channel` before `data`: the data is then
/// parsed straight into its channel's struct, in the same pass. In any other order it is
/// kept raw and parsed once the channel is known.
struct Params<'a> {
    channel: Option<&'a str>,
    data: Option<Data<'a>>,
}

enum Data<'a> {
    Ticker(TickerData<'a>),
    Index(IndexData<'a>),
    Raw(&'a RawValue),
}

/// The kind of a channel: its first dot-separated part.
fn channel_kind(channel: &str) -> &str {
    channel.split('.').next().unwrap_or_default()
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Fields<'a> {
            type Value = Params<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("notification parameters")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Params<'a>, A::Error> {
                let mut params = Params {
                    channel: None,
                    data: None,
                };
                while let Some(key) = map.next_key::<&'a str>()? {
                    match key {
                        "channel" => params.channel = Some(map.next_value()?),
                        "data" => {
                            params.data = Some(match params.channel.map(channel_kind) {
                                Some("ticker" | "incremental_ticker") => {
                                    Data::Ticker(map.next_value()?)
                                }
                                Some("deribit_price_index") => Data::Index(map.next_value()?),
                                _ => Data::Raw(map.next_value()?),
                            });
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(params)
            }
        }
        deserializer.deserialize_map(Fields(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct TickerData<'a> {
    #[serde(borrow)]
    instrument_name: &'a str,
    timestamp: i64,
    #[serde(default, borrow)]
    state: Option<&'a str>,
    mark_price: f64,
    #[serde(default)]
    mark_iv: Option<f64>,
    #[serde(default)]
    underlying_price: Option<f64>,
    #[serde(default)]
    index_price: Option<f64>,
    #[serde(default)]
    best_bid_price: Option<f64>,
    #[serde(default)]
    best_ask_price: Option<f64>,
    #[serde(default)]
    open_interest: Option<f64>,
    #[serde(default)]
    greeks: Option<Greeks>,
}

impl<'a> From<ScannedTicker<'a>> for TickerData<'a> {
    fn from(t: ScannedTicker<'a>) -> TickerData<'a> {
        TickerData {
            instrument_name: t.instrument_name,
            timestamp: t.timestamp,
            state: t.state,
            mark_price: t.mark_price,
            mark_iv: t.mark_iv,
            underlying_price: t.underlying_price,
            index_price: t.index_price,
            best_bid_price: t.best_bid_price,
            best_ask_price: t.best_ask_price,
            open_interest: t.open_interest,
            greeks: t.greeks.map(|[delta, gamma, vega, theta]| Greeks {
                delta,
                gamma,
                vega,
                theta,
            }),
        }
    }
}

#[derive(Deserialize)]
struct Greeks {
    #[serde(default)]
    delta: f64,
    #[serde(default)]
    gamma: f64,
    #[serde(default)]
    vega: f64,
    #[serde(default)]
    theta: f64,
}

#[derive(Deserialize)]
struct IndexData<'a> {
    #[serde(borrow)]
    index_name: &'a str,
    price: f64,
    timestamp: i64,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(borrow)]
    trade_id: &'a RawValue,
    #[serde(borrow)]
    instrument_name: &'a str,
    #[serde(borrow)]
    direction: &'a str,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    fee: &'a RawValue,
    #[serde(borrow)]
    fee_currency: &'a str,
    timestamp: i64,
}

#[derive(Deserialize)]
struct ChangesData<'a> {
    #[serde(default, borrow)]
    trades: Vec<TradeData<'a>>,
    #[serde(default, borrow)]
    positions: Vec<PositionData<'a>>,
}

#[derive(Deserialize)]
struct PositionData<'a> {
    #[serde(borrow)]
    instrument_name: &'a str,
    #[serde(borrow)]
    size: &'a RawValue,
}

#[derive(Deserialize)]
struct PortfolioData<'a> {
    #[serde(borrow)]
    currency: &'a str,
    equity: f64,
    balance: f64,
    initial_margin: f64,
    maintenance_margin: f64,
}

#[derive(Deserialize)]
struct InstrumentData<'a> {
    #[serde(borrow)]
    instrument_name: &'a str,
    #[serde(borrow)]
    kind: &'a str,
    #[serde(borrow)]
    base_currency: &'a str,
    #[serde(default, borrow)]
    settlement_currency: Option<&'a str>,
    #[serde(default, borrow)]
    settlement_period: Option<&'a str>,
    #[serde(default, borrow)]
    instrument_type: Option<&'a str>,
    expiration_timestamp: i64,
    #[serde(default, borrow)]
    strike: Option<&'a RawValue>,
    #[serde(default, borrow)]
    option_type: Option<&'a str>,
    #[serde(borrow)]
    contract_size: &'a RawValue,
    tick_size: f64,
    #[serde(default)]
    is_active: Option<bool>,
}

/// Deribit's perpetuals carry this far-future expiry (3000-01-01).
const PERPETUAL_EXPIRY_MS: i64 = 32_503_708_800_000;

/// Decodes Deribit messages into events; fills go to one account, named at construction
/// and defined on first use.
pub struct DeribitDecoder {
    map: VenueMap,
    account_name: String,
    counts: FeedCounts,
    index_levels: IndexLevels,
    view: VenueView,
    /// Time of the last timed message: definitions and positions, which carry no time
    /// of their own, take it.
    last_timestamp_ns: Option<u64>,
    /// Ticker notifications through the one-pass scanner (off: serde for everything).
    fast_path: bool,
}

/// A parse error as a refusal: bad syntax or truncation, or the wrong shape.
fn shape(error: serde_json::Error) -> Dropped {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => Refusal::WrongShape.into(),
        Category::Io | Category::Syntax | Category::Eof => Refusal::Malformed.into(),
    }
}

/// Milliseconds since the epoch → nanoseconds; refused if negative or overflowing.
pub fn ns_of_ms(ms: i64) -> Result<u64, Refusal> {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or(Refusal::BadTimestamp)
}

/// An exact decimal from a JSON number or numeric string, as written (no binary
/// rounding): `0.1` is 0.1.
pub fn decimal_of(raw: &RawValue) -> Result<Decimal, Refusal> {
    let text = raw.get();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    parsed.map_err(|_| Refusal::BadNumber)
}

/// A trade id as the engine's u64: a decimal number below 2^63 as itself, anything else
/// (Deribit also writes ids like "ETH-2696097") as a 63-bit hash with the top bit set.
pub fn trade_id_of(raw: &RawValue) -> Result<u64, Refusal> {
    let text = raw.get();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.contains(['"', '\\']) {
        return Err(Refusal::WrongShape);
    }
    match text.parse::<u64>() {
        Ok(id) if id < 1 << 63 => Ok(id),
        _ => Ok(xxhash_rust::xxh3::xxh3_64(text.as_bytes()) | 1 << 63),
    }
}

fn finite_non_negative(value: f64) -> Result<f64, Refusal> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Refusal::BadNumber)
    }
}

impl DeribitDecoder {
    pub fn new(map: VenueMap, account_name: &str) -> DeribitDecoder {
        DeribitDecoder {
            map,
            account_name: account_name.to_owned(),
            counts: FeedCounts::default(),
            index_levels: IndexLevels::default(),
            view: VenueView::default(),
            last_timestamp_ns: None,
            fast_path: true,
        }
    }

    /// Turns the ticker fast path off (or on): both paths must decode alike, which the
    /// tests check by running them side by side.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    fn decode_message(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped> {
        if line.len() > MESSAGE_BYTES_MAX {
            return Err(Refusal::TooLong.into());
        }
        // The fast path checks the UTF-8 of the strings it passes (JSON has non-ASCII
        // bytes only there); serde needs the whole line checked first.
        if self.fast_path {
            if let Some(scanned) = scan_ticker(line) {
                return self.ticker(&TickerData::from(scanned), out);
            }
        }
        let text = std::str::from_utf8(line).map_err(|_| Refusal::NotUtf8)?;
        let envelope: Envelope<'_> = serde_json::from_str(text).map_err(shape)?;
        if envelope.error.is_some() {
            return Err(Refusal::ErrorResponse.into());
        }
        if let Some(result) = envelope.result {
            if let Some(us) = envelope.us_out {
                let ns = us.checked_mul(1_000).ok_or(Refusal::BadTimestamp)?;
                self.last_timestamp_ns = Some(ns);
            }
            return self.response(result, out);
        }
        match (envelope.method, envelope.params) {
            (Some("subscription"), Some(params)) => {
                let channel = params.channel.ok_or(Refusal::WrongShape)?;
                let data = params.data.ok_or(Refusal::WrongShape)?;
                self.notification(channel, data, out)
            }
            (Some("heartbeat"), _) => Err(Skip::UnusedChannel.into()),
            (Some(_), _) => Err(Skip::UnknownChannel.into()),
            (None, _) => Err(Refusal::WrongShape.into()),
        }
    }

    fn notification(
        &mut self,
        channel: &str,
        data: Data<'_>,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let raw = match data {
            Data::Ticker(ticker) => return self.ticker(&ticker, out),
            Data::Index(index) => return self.index_message(&index, out),
            Data::Raw(raw) => raw,
        };
        match channel_kind(channel) {
            "ticker" | "incremental_ticker" => {
                let ticker: TickerData<'_> = serde_json::from_str(raw.get()).map_err(shape)?;
                self.ticker(&ticker, out)
            }
            "deribit_price_index" => {
                let index: IndexData<'_> = serde_json::from_str(raw.get()).map_err(shape)?;
                self.index_message(&index, out)
            }
            "user" => self.user(channel, raw, out),
            "book"
            | "trades"
            | "quote"
            | "chart"
            | "perpetual"
            | "markprice"
            | "platform_state"
            | "estimated_expiration_price"
            | "deribit_volatility_index"
            | "announcements" => Err(Skip::UnusedChannel.into()),
            _ => Err(Skip::UnknownChannel.into()),
        }
    }

    fn index_message(
        &mut self,
        index: &IndexData<'_>,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let timestamp_ns = ns_of_ms(index.timestamp)?;
        self.last_timestamp_ns = Some(timestamp_ns);
        let price = finite_non_negative(index.price)?;
        let coin = coin_of(index.index_name).to_ascii_uppercase();
        let underlying = self.map.underlying(&coin, timestamp_ns, out)?;
        self.index_levels.push(underlying, price, timestamp_ns, out);
        Ok(())
    }

    fn user(
        &mut self,
        channel: &str,
        data: &RawValue,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let sub = channel.split('.').nth(1).unwrap_or_default();
        match sub {
            "trades" => {
                let trades: Vec<TradeData<'_>> = serde_json::from_str(data.get()).map_err(shape)?;
                self.trades(&trades, out)
            }
            "changes" => {
                let changes: ChangesData<'_> = serde_json::from_str(data.get()).map_err(shape)?;
                self.positions(&changes.positions, out)?;
                self.trades(&changes.trades, out)
            }
            "portfolio" => {
                let portfolio: PortfolioData<'_> =
                    serde_json::from_str(data.get()).map_err(shape)?;
                let values = [
                    portfolio.equity,
                    portfolio.balance,
                    portfolio.initial_margin,
                    portfolio.maintenance_margin,
                ];
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(Refusal::BadNumber.into());
                }
                // The summary has no time of its own: the last message's stands in.
                self.view.set_portfolio(VenuePortfolio {
                    timestamp_ns: self.last_timestamp_ns.unwrap_or(0),
                    currency: portfolio.currency.to_ascii_uppercase(),
                    equity: portfolio.equity,
                    balance: portfolio.balance,
                    initial_margin: portfolio.initial_margin,
                    maintenance_margin: portfolio.maintenance_margin,
                });
                Ok(())
            }
            _ => Err(Skip::UnusedChannel.into()),
        }
    }

    /// Items of a message: each refused item is counted; the message fails only if no
    /// item gave anything (then with the first item's reason).
    fn each<T>(
        &mut self,
        items: &[T],
        out: &mut Vec<Event>,
        mut one: impl FnMut(&mut Self, &T, &mut Vec<Event>) -> Result<(), Dropped>,
    ) -> Result<(), Dropped> {
        let mut first_error = None;
        let mut any_ok = items.is_empty();
        for item in items {
            match one(self, item, out) {
                Ok(()) => any_ok = true,
                Err(dropped) if first_error.is_none() => first_error = Some(dropped),
                Err(dropped) => self.counts.note(dropped),
            }
        }
        match first_error {
            Some(dropped) if any_ok => {
                self.counts.note(dropped);
                Ok(())
            }
            Some(dropped) => Err(dropped),
            None => Ok(()),
        }
    }

    fn trades(&mut self, trades: &[TradeData<'_>], out: &mut Vec<Event>) -> Result<(), Dropped> {
        self.each(trades, out, Self::trade)
    }

    fn trade(&mut self, trade: &TradeData<'_>, out: &mut Vec<Event>) -> Result<(), Dropped> {
        let timestamp_ns = ns_of_ms(trade.timestamp)?;
        let side = match trade.direction {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => return Err(Refusal::BadEnum.into()),
        };
        let amount = decimal_of(trade.amount)?;
        let price = decimal_of(trade.price)?;
        let fee = decimal_of(trade.fee)?;
        let trade_id = trade_id_of(trade.trade_id)?;
        self.last_timestamp_ns = Some(timestamp_ns);
        let mapped = self
            .map
            .instrument_by_name(trade.instrument_name, timestamp_ns, out)?;
        if !fee_currency_matches(&mapped, &self.map, trade.fee_currency) {
            return Err(Refusal::FeeCurrencyMismatch.into());
        }
        let quantity = contracts(amount, mapped.contract_size)?;
        let account = self.map.account(&self.account_name, timestamp_ns, out)?;
        out.push(Event {
            timestamp_ns,
            body: EventBody::Fill(Fill {
                account,
                instrument: mapped.definition.id,
                side,
                quantity: quantity.into(),
                price: price.into(),
                fee: fee.into(),
                trade_id,
            }),
        });
        Ok(())
    }

    fn positions(
        &mut self,
        positions: &[PositionData<'_>],
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        for position in positions {
            let result = decimal_of(position.size)
                .map_err(Dropped::from)
                .and_then(|size| {
                    let at = self.last_timestamp_ns.ok_or(Refusal::BadTimestamp)?;
                    let mapped = self
                        .map
                        .instrument_by_name(position.instrument_name, at, out)?;
                    let contracts = size
                        .checked_div(mapped.contract_size)
                        .ok_or(Refusal::BadNumber)?;
                    self.view.set_position(
                        mapped.definition.id,
                        VenuePosition {
                            timestamp_ns: at,
                            contracts,
                        },
                    );
                    Ok(())
                });
            if let Err(dropped) = result {
                self.counts.note(dropped);
            }
        }
        Ok(())
    }

    fn ticker(&mut self, ticker: &TickerData<'_>, out: &mut Vec<Event>) -> Result<(), Dropped> {
        if ticker.state == Some("closed") {
            return Err(Skip::ClosedInstrument.into());
        }
        let timestamp_ns = ns_of_ms(ticker.timestamp)?;
        let mark_price = finite_non_negative(ticker.mark_price)?;
        self.last_timestamp_ns = Some(timestamp_ns);
        let mapped = self
            .map
            .instrument_by_name(ticker.instrument_name, timestamp_ns, out)?;
        let is_option = mapped.definition.kind == InstrumentKind::Option;
        let (mark_iv, forward) = if is_option {
            let iv = ticker.mark_iv.ok_or(Refusal::WrongShape)?;
            if !(MARK_IV_PERCENT_MIN..=MARK_IV_PERCENT_MAX).contains(&iv) {
                return Err(Refusal::MarkIvWrongUnit.into());
            }
            let forward = finite_non_negative(ticker.underlying_price.ok_or(Refusal::WrongShape)?)?;
            (iv / 100.0, forward)
        } else {
            (0.0, mark_price)
        };
        let best_bid = finite_non_negative(ticker.best_bid_price.unwrap_or(0.0))?;
        let best_ask = finite_non_negative(ticker.best_ask_price.unwrap_or(0.0))?;
        let index_price = ticker.index_price.map(finite_non_negative).transpose()?;
        if let Some(greeks) = &ticker.greeks {
            let values = [greeks.delta, greeks.gamma, greeks.vega, greeks.theta];
            if values.iter().all(|v| v.is_finite()) {
                self.view.set_quote(
                    mapped.definition.id,
                    VenueQuote {
                        timestamp_ns,
                        delta: greeks.delta,
                        gamma: greeks.gamma,
                        vega_usd: greeks.vega,
                        theta_usd: greeks.theta,
                        open_interest: ticker.open_interest.unwrap_or(0.0),
                    },
                );
            }
        }
        if let Some(index) = index_price {
            let underlying = mapped.definition.underlying;
            self.index_levels
                .push_if_changed(underlying, index, timestamp_ns, out);
        }
        out.push(Event {
            timestamp_ns,
            body: EventBody::Ticker(Ticker {
                instrument: mapped.definition.id,
                mark_price,
                mark_iv,
                forward,
                best_bid,
                best_ask,
            }),
        });
        Ok(())
    }

    /// A response: instrument definitions (`public/get_instruments`), or skipped.
    fn response(&mut self, result: &RawValue, out: &mut Vec<Event>) -> Result<(), Dropped> {
        let looks_like_instruments = result.get().trim_start().starts_with('[')
            && result.get().contains("\"instrument_name\"");
        if !looks_like_instruments {
            return Err(Skip::Response.into());
        }
        let instruments: Vec<InstrumentData<'_>> =
            serde_json::from_str(result.get()).map_err(shape)?;
        self.each(&instruments, out, Self::definition)
    }

    fn definition(
        &mut self,
        instrument: &InstrumentData<'_>,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        if instrument.kind.ends_with("_combo") || is_combo_name(instrument.instrument_name) {
            return Err(Skip::Combo.into());
        }
        if instrument.kind == "spot" {
            return Err(Skip::SpotInstrument.into());
        }
        if instrument.is_active == Some(false) {
            return Err(Skip::ClosedInstrument.into());
        }
        if !(instrument.tick_size.is_finite() && instrument.tick_size > 0.0) {
            return Err(Refusal::BadNumber.into());
        }
        let perpetual = instrument.settlement_period == Some("perpetual");
        let kind = match instrument.kind {
            "option" => InstrumentKind::Option,
            "future" if perpetual => InstrumentKind::Perpetual,
            "future" => InstrumentKind::Future,
            _ => return Err(Refusal::BadEnum.into()),
        };
        let settlement = match instrument.instrument_type {
            Some("reversed") => Settlement::Inverse,
            Some("linear") => Settlement::Linear,
            Some(_) => return Err(Refusal::BadEnum.into()),
            // Older responses: inverse when settled in the base coin.
            None if instrument.settlement_currency == Some(instrument.base_currency) => {
                Settlement::Inverse
            }
            None => Settlement::Linear,
        };
        let expiry_ns = if kind == InstrumentKind::Perpetual
            || instrument.expiration_timestamp == PERPETUAL_EXPIRY_MS
        {
            0
        } else {
            ns_of_ms(instrument.expiration_timestamp)?
        };
        let (strike, right) = if kind == InstrumentKind::Option {
            let strike = decimal_of(instrument.strike.ok_or(Refusal::WrongShape)?)?;
            let right = match instrument.option_type {
                Some("call") => OptionRight::Call,
                Some("put") => OptionRight::Put,
                _ => return Err(Refusal::BadEnum.into()),
            };
            (strike, right)
        } else {
            (Decimal::ZERO, OptionRight::Call)
        };
        let terms = InstrumentTerms {
            name: instrument.instrument_name,
            coin: instrument.base_currency,
            kind,
            settlement,
            expiry_ns,
            strike,
            right,
            contract_size: decimal_of(instrument.contract_size)?,
        };
        let at = self.last_timestamp_ns.ok_or(Refusal::BadTimestamp)?;
        self.map.define(terms, at, out).map(|_| ())
    }
}

/// Whether a fee currency is the instrument's settlement currency (the coin for inverse
/// contracts; USDC, USDT or USD, one quote ledger in Keel, for linear ones).
fn fee_currency_matches(mapped: &Mapped, map: &VenueMap, fee_currency: &str) -> bool {
    match mapped.definition.settlement {
        Settlement::Linear => matches!(fee_currency, "USDC" | "USDT" | "USD"),
        Settlement::Inverse => map
            .coin(mapped.definition.underlying)
            .is_some_and(|coin| fee_currency.eq_ignore_ascii_case(coin)),
    }
}

/// A traded amount in contracts: Deribit states amounts in USD for inverse futures and
/// in coin otherwise, i.e. in units of the contract size either way.
fn contracts(amount: Decimal, contract_size: Decimal) -> Result<Decimal, Refusal> {
    let quantity = amount
        .checked_div(contract_size)
        .ok_or(Refusal::BadNumber)?;
    if quantity <= Decimal::ZERO {
        return Err(Refusal::BadNumber);
    }
    match quantity.checked_mul(contract_size) {
        Some(back) if back == amount => Ok(quantity.normalize()),
        _ => Err(Refusal::AmountNotContracts),
    }
}

impl FeedDecoder for DeribitDecoder {
    fn decode(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped> {
        self.counts.lines += 1;
        let before = out.len();
        let result = self.decode_message(line, out);
        finish_line(&mut self.counts, out, before, result)
    }

    fn counts(&self) -> &FeedCounts {
        &self.counts
    }

    fn counts_mut(&mut self) -> &mut FeedCounts {
        &mut self.counts
    }

    fn venue_view(&self) -> Option<&VenueView> {
        Some(&self.view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTRUMENTS: &str = r#"{"jsonrpc":"2.0","id":7,"usIn":1767115875000000,"usOut":1767115875000100,"result":[{"tick_size":0.0005,"taker_commission":0.0003,"strike":100000.0,"settlement_period":"month","settlement_currency":"BTC","quote_currency":"BTC","option_type":"call","min_trade_amount":0.1,"maker_commission":0.0003,"kind":"option","is_active":true,"instrument_name":"BTC-27MAR26-100000-C","instrument_type":"reversed","expiration_timestamp":1774598400000,"creation_timestamp":1735000000000,"counter_currency":"USD","contract_size":1.0,"block_trade_commission":0.0003,"base_currency":"BTC"},{"tick_size":0.5,"settlement_period":"perpetual","settlement_currency":"BTC","kind":"future","is_active":true,"instrument_name":"BTC-PERPETUAL","instrument_type":"reversed","expiration_timestamp":32503708800000,"contract_size":10.0,"base_currency":"BTC"},{"tick_size":0.0001,"settlement_period":"perpetual","settlement_currency":"USDC","kind":"future","is_active":true,"instrument_name":"SOL_USDC-PERPETUAL","instrument_type":"linear","expiration_timestamp":32503708800000,"contract_size":0.1,"base_currency":"SOL"},{"tick_size":0.5,"kind":"future_combo","instrument_name":"BTC-FS-27MAR26_PERP","expiration_timestamp":1774598400000,"contract_size":10.0,"base_currency":"BTC"}]}"#;

    fn decoder() -> DeribitDecoder {
        DeribitDecoder::new(VenueMap::new(), "main")
    }

    fn decode(decoder: &mut DeribitDecoder, line: &str) -> (Result<(), Dropped>, Vec<Event>) {
        let mut out = Vec::new();
        let result = decoder.decode(line.as_bytes(), &mut out);
        (result, out)
    }

    #[test]
    fn get_instruments_defines_each_and_skips_combos() {
        let mut d = decoder();
        let (result, events) = decode(&mut d, INSTRUMENTS);
        assert_eq!(result, Ok(()));
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(matches!(events[0].body, EventBody::RiskParams(_)));
        let events = &events[1..];
        let EventBody::InstrumentDefined(option) = events[0].body else {
            panic!("{events:?}")
        };
        assert_eq!(option.kind, InstrumentKind::Option);
        assert_eq!(option.settlement, Settlement::Inverse);
        assert_eq!(option.expiry_ns, 1_774_598_400_000_000_000);
        assert_eq!(option.strike.get(), Some(Decimal::from(100_000)));
        assert_eq!(events[0].timestamp_ns, 1_767_115_875_000_100_000);
        let EventBody::InstrumentDefined(sol) = events[2].body else {
            panic!()
        };
        assert_eq!(
            (sol.kind, sol.settlement, sol.underlying.0, sol.expiry_ns),
            (InstrumentKind::Perpetual, Settlement::Linear, 2, 0)
        );
        assert_eq!(sol.contract_size.get(), Some(Decimal::new(1, 1)));
        assert_eq!(d.counts().skipped(Skip::Combo), 1);
        // The same response again defines nothing new.
        let (_, again) = decode(&mut d, INSTRUMENTS);
        assert!(again.is_empty());
        assert_eq!(d.counts().skipped(Skip::KnownDefinition), 3);
    }

    #[test]
    fn trades_become_fills_in_contracts_with_exact_decimals() {
        let mut d = decoder();
        decode(&mut d, INSTRUMENTS).0.expect("defined");
        let trades = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.trades.any.BTC.raw","data":[{"trade_seq":1,"trade_id":"48079573","timestamp":1767115876000,"tick_direction":0,"state":"filled","price":0.1,"order_id":"1","mark_price":0.0995,"liquidity":"T","instrument_name":"BTC-27MAR26-100000-C","index_price":88500.0,"fee_currency":"BTC","fee":0.0003,"direction":"sell","amount":1.5},{"trade_id":"ETH-2696097","timestamp":1767115876001,"price":88510.5,"instrument_name":"BTC-PERPETUAL","fee_currency":"BTC","fee":-0.00000011,"direction":"buy","amount":250},{"trade_id":"7","timestamp":1767115876002,"price":88510.5,"instrument_name":"BTC-PERPETUAL","fee_currency":"BTC","fee":0,"direction":"buy","amount":255}]}}"#;
        let (result, events) = decode(&mut d, trades);
        assert_eq!(result, Ok(()));
        let fills: Vec<Fill> = events
            .iter()
            .filter_map(|e| match e.body {
                EventBody::Fill(f) => Some(f),
                _ => None,
            })
            .collect();
        assert!(
            matches!(events[0].body, EventBody::AccountDefined(_)),
            "{events:?}"
        );
        assert_eq!(fills.len(), 3);
        assert_eq!(fills[0].side, Side::Sell);
        assert_eq!(fills[0].price.get(), Some(Decimal::new(1, 1)));
        assert_eq!(fills[0].quantity.get(), Some(Decimal::new(15, 1)));
        assert_eq!(fills[0].trade_id, 48_079_573);
        assert_eq!(fills[1].quantity.get(), Some(Decimal::from(25)));
        assert_eq!(fills[1].fee.get(), Some(Decimal::new(-11, 8)));
        assert!(fills[1].trade_id >= 1 << 63, "a text id is hashed");
        assert_eq!(fills[2].quantity.get(), Some(Decimal::new(255, 1)));
        let usdc_fee = trades.replace(
            "\"fee_currency\":\"BTC\",\"fee\":0.0003",
            "\"fee_currency\":\"USDC\",\"fee\":0.0003",
        );
        let (result, events) = decode(&mut d, &usdc_fee);
        assert_eq!(result, Ok(()));
        assert_eq!(
            events.len(),
            2,
            "the option fill refused, the perpetual fills kept"
        );
        assert_eq!(d.counts().refused(Refusal::FeeCurrencyMismatch), 1);
    }

    #[test]
    fn ticker_gives_index_once_and_refuses_wrong_units() {
        let mut d = decoder();
        let ticker = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC-5JUN20-9250-C.raw","data":{"underlying_price":9440.73,"timestamp":1590969652595,"state":"open","mark_price":0.03847784,"mark_iv":63.21,"instrument_name":"BTC-5JUN20-9250-C","index_price":9424.59,"greeks":{"vega":3.29,"theta":-61.1,"rho":0.37,"gamma":0.0005,"delta":0.58},"best_bid_price":0.037,"best_ask_price":0.0395,"open_interest":533.2}}}"#;
        let (result, events) = decode(&mut d, ticker);
        assert_eq!(result, Ok(()));
        assert_eq!(
            events.len(),
            4,
            "parameters, definition, index, ticker: {events:?}"
        );
        let EventBody::Ticker(t) = events[3].body else {
            panic!()
        };
        assert_eq!((t.mark_iv, t.forward), (0.6321, 9440.73));
        let (_, again) = decode(&mut d, ticker);
        assert_eq!(again.len(), 1, "an unchanged index is not journaled again");
        let quote = d.venue_view().and_then(|v| v.quote(t.instrument)).copied();
        assert_eq!(quote.map(|q| q.vega_usd), Some(3.29));
        // Data before its channel (legal JSON, not Deribit's order) decodes the same.
        let (head, data) = ticker.split_once(",\"data\":").expect("data");
        let reordered = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{{\"data\":{},\"channel\":{}}}}}",
            &data[..data.len() - 2],
            head.split_once("\"channel\":").expect("channel").1
        );
        let (result, events) = decode(&mut d, &reordered);
        assert_eq!((result, events.len()), (Ok(()), 1), "{reordered}");
        let fraction = ticker.replace("\"mark_iv\":63.21", "\"mark_iv\":0.6321");
        assert_eq!(
            decode(&mut d, &fraction).0,
            Err(Refusal::MarkIvWrongUnit.into())
        );
        let huge = ticker.replace("9440.73", "1e999");
        assert_eq!(decode(&mut d, &huge).0, Err(Refusal::Malformed.into()));
        let truncated = &ticker[..ticker.len() / 2];
        assert_eq!(decode(&mut d, truncated).0, Err(Refusal::Malformed.into()));
        let wrong_type = ticker.replace("\"timestamp\":1590969652595", "\"timestamp\":\"x\"");
        assert_eq!(
            decode(&mut d, &wrong_type).0,
            Err(Refusal::WrongShape.into())
        );
        let book = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{}}}"#;
        assert_eq!(decode(&mut d, book).0, Err(Skip::UnusedChannel.into()));
        let ack = r#"{"jsonrpc":"2.0","id":3,"result":["ticker.BTC-PERPETUAL.raw"]}"#;
        assert_eq!(decode(&mut d, ack).0, Err(Skip::Response.into()));
        let error =
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":10028,"message":"too_many_requests"}}"#;
        assert_eq!(decode(&mut d, error).0, Err(Refusal::ErrorResponse.into()));
        assert_eq!(d.counts().lines, 10);
        assert_eq!(d.counts().events, 6);
    }

    #[test]
    fn portfolio_and_positions_are_kept_for_reconciliation() {
        let mut d = decoder();
        decode(&mut d, INSTRUMENTS).0.expect("defined");
        let portfolio = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.portfolio.btc","data":{"total_pl":0.0,"session_upl":0.0,"projected_maintenance_margin":0.01,"maintenance_margin":0.012,"margin_balance":2.1,"initial_margin":0.02,"equity":2.1,"currency":"BTC","balance":2.0,"available_funds":2.08}}}"#;
        let (result, events) = decode(&mut d, portfolio);
        assert_eq!((result, events.len()), (Ok(()), 0));
        let changes = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.changes.future.BTC.raw","data":{"trades":[],"positions":[{"instrument_name":"BTC-PERPETUAL","size":-120.0,"kind":"future"}],"orders":[]}}}"#;
        decode(&mut d, changes).0.expect("positions kept");
        let view = d.venue_view().expect("view");
        assert_eq!(view.portfolios[0].equity, 2.1);
        assert_eq!(view.positions[0].1.contracts, Decimal::from(-12));
    }

    #[test]
    fn hostile_decimals_are_refused_not_panicked_on() {
        for text in [
            "1e999999999999999999999",
            "1e-99999999999999999999",
            "1E+2147483648",
            "-0.000000000000000000000000000001",
            "99999999999999999999999999999999999",
            "1.5e28",
            "\"\"",
            "\"1e\"",
            "1e",
        ] {
            let raw = RawValue::from_string(text.to_string()).ok();
            if let Some(raw) = raw {
                let result = decimal_of(&raw);
                // In range for a 96-bit decimal: the last two (the first rounds to the
                // 28th place, far below any fee or price tick).
                let in_range = matches!(text, "-0.000000000000000000000000000001" | "1.5e28");
                assert_eq!(result.is_ok(), in_range, "{text}: {result:?}");
            }
        }
        let exact = RawValue::from_string("0.1".to_string()).expect("json");
        assert_eq!(decimal_of(&exact), Ok(Decimal::new(1, 1)));
    }
}
