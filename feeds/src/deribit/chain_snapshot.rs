//! Deribit option-chain snapshots as CSV (`deribit-chain`): one row per option at one
//! moment, with the forward (`underlying`), the mark in coin, the mark IV as a fraction
//! (`implied_volatility`), Deribit's own delta and vega, and the index. What
//! `keel import deribit-chain` turns into a replayable journal. A line starting with
//! `timestamp,` is a header, wherever it appears, so snapshot files can be concatenated.

use keel_engine::events::{Event, EventBody, InstrumentKind, Ticker};

use super::instrument_name::days_from_civil;
use crate::csv_feed::{CsvDecoder, CsvRows};
use crate::feed::{Dropped, Refusal};
use crate::index_levels::IndexLevels;
use crate::tardis::{non_negative, number};
use crate::venue_map::VenueMap;
use crate::venue_view::{VenueQuote, VenueView};

const COLUMNS: &[&str] = &[
    "timestamp",
    "instrument_name",
    "underlying",
    "bid_price",
    "ask_price",
    "mark_price",
    "futures_price",
    "futures_instrument_name",
    "implied_volatility",
    "delta",
    "vega",
    "index_price",
];

/// Mark IVs accepted, as fractions (the column is `mark_iv / 100`).
const IV_FRACTION_MIN: f64 = 0.01;
const IV_FRACTION_MAX: f64 = 10.0;

/// The chain-snapshot decoder.
pub type ChainSnapshotDecoder = CsvDecoder<ChainSnapshotRows>;

#[derive(Default)]
pub struct ChainSnapshotRows {
    index_levels: IndexLevels,
    /// The last futures mark journaled, by instrument id (one per future per snapshot).
    last_future_mark: Vec<f64>,
}

/// `2025-12-30T17:31:15.944181+00:00` (or with `Z`) → ns since the epoch; UTC only.
pub fn parse_utc_ns(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let time = time
        .strip_suffix("+00:00")
        .or_else(|| time.strip_suffix('Z'))?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1970..=2200).contains(&year) {
        return None;
    }
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.splitn(3, ':');
    let hours: i64 = clock_parts.next()?.parse().ok()?;
    let minutes: i64 = clock_parts.next()?.parse().ok()?;
    let seconds: i64 = clock_parts.next()?.parse().ok()?;
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i64 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        nanos += i64::from(digit - b'0') * 10_i64.pow(8 - i as u32);
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    u64::try_from(seconds.checked_mul(1_000_000_000)?.checked_add(nanos)?).ok()
}

impl CsvRows for ChainSnapshotRows {
    const COLUMNS: &'static [&'static str] = COLUMNS;

    fn is_header(line: &[u8]) -> bool {
        line.starts_with(b"timestamp,")
    }

    fn row(
        &mut self,
        fields: &[&str],
        map: &mut VenueMap,
        view: &mut VenueView,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let &[
            time,
            name,
            forward,
            bid,
            ask,
            mark,
            future_price,
            future_name,
            iv,
            delta,
            vega,
            index,
        ] = fields
        else {
            return Err(Refusal::BadColumns.into());
        };
        let timestamp_ns = parse_utc_ns(time).ok_or(Refusal::BadTimestamp)?;
        let forward = non_negative(forward)?;
        let mark_price = non_negative(mark)?;
        let iv = non_negative(iv)?;
        if !(IV_FRACTION_MIN..=IV_FRACTION_MAX).contains(&iv) {
            return Err(Refusal::MarkIvWrongUnit.into());
        }
        let best_bid = number(bid)?.unwrap_or(0.0);
        let best_ask = number(ask)?.unwrap_or(0.0);
        let index = non_negative(index)?;
        let future_price = number(future_price)?;
        let greeks = (number(delta)?, number(vega)?);
        if best_bid < 0.0 || best_ask < 0.0 || index <= 0.0 || forward <= 0.0 {
            return Err(Refusal::BadNumber.into());
        }
        let mapped = map.instrument_by_name(name, timestamp_ns, out)?;
        if mapped.definition.kind != InstrumentKind::Option {
            return Err(Refusal::WrongShape.into());
        }
        let underlying = mapped.definition.underlying;
        self.index_levels
            .push_if_changed(underlying, index, timestamp_ns, out);
        // A listed future (not Deribit's synthetic `SYN.` forward) gets its mark too.
        if let (Some(price), false) = (future_price, future_name.starts_with("SYN.")) {
            let future = map.instrument_by_name(future_name, timestamp_ns, out)?;
            let at = future.definition.id.0 as usize;
            if self.last_future_mark.len() <= at {
                self.last_future_mark.resize(at + 1, f64::NAN);
            }
            if self.last_future_mark[at] != price && price > 0.0 {
                self.last_future_mark[at] = price;
                out.push(Event {
                    timestamp_ns,
                    body: EventBody::Ticker(Ticker {
                        instrument: future.definition.id,
                        mark_price: price,
                        mark_iv: 0.0,
                        forward: price,
                        best_bid: 0.0,
                        best_ask: 0.0,
                    }),
                });
            }
        }
        if let (Some(delta), Some(vega)) = greeks {
            view.set_quote(
                mapped.definition.id,
                VenueQuote {
                    timestamp_ns,
                    delta,
                    gamma: f64::NAN,
                    vega_usd: vega,
                    theta_usd: f64::NAN,
                    open_interest: 0.0,
                },
            );
        }
        out.push(Event {
            timestamp_ns,
            body: EventBody::Ticker(Ticker {
                instrument: mapped.definition.id,
                mark_price,
                mark_iv: iv,
                forward,
                best_bid,
                best_ask,
            }),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_parse_exactly_and_refuse_other_zones() {
        assert_eq!(
            parse_utc_ns("2025-12-30T17:31:15.944181+00:00"),
            Some(1_767_115_875_944_181_000)
        );
        assert_eq!(parse_utc_ns("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "2025-12-30T17:31:15+01:00",
            "2025-13-30T17:31:15Z",
            "2025-12-30 17:31:15Z",
            "2025-12-30T17:31:15.1234567890Z",
            "",
        ] {
            assert_eq!(parse_utc_ns(bad), None, "{bad}");
        }
    }
}
