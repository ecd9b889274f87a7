//! Tardis `options_chain` rows (Deribit): one option's mark, IV, forward and quotes per
//! row, with Deribit's Greeks kept for comparison. IVs are fractions in this dataset
//! (Tardis divides Deribit's percent by 100); timestamps are µs since the epoch.

use keel_engine::events::{Event, EventBody, InstrumentKind, Ticker};

use super::{non_negative, ns_of_us, number};
use crate::csv_feed::{CsvDecoder, CsvRows};
use crate::feed::{Dropped, Refusal};
use crate::venue_map::VenueMap;
use crate::venue_view::{VenueQuote, VenueView};

/// Mark IVs accepted, as fractions: outside, the unit is wrong (65 for 65 %).
pub const MARK_IV_FRACTION_MIN: f64 = 0.01;
pub const MARK_IV_FRACTION_MAX: f64 = 10.0;

const COLUMNS: &[&str] = &[
    "exchange",
    "symbol",
    "timestamp",
    "type",
    "open_interest",
    "bid_price",
    "ask_price",
    "mark_price",
    "mark_iv",
    "underlying_price",
    "delta",
    "gamma",
    "vega",
    "theta",
];

/// The `options_chain` decoder.
pub type OptionsChainDecoder = CsvDecoder<OptionsChainRows>;

#[derive(Default)]
pub struct OptionsChainRows;

impl CsvRows for OptionsChainRows {
    const COLUMNS: &'static [&'static str] = COLUMNS;

    fn row(
        &mut self,
        fields: &[&str],
        map: &mut VenueMap,
        view: &mut VenueView,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let &[
            exchange,
            symbol,
            timestamp,
            _kind,
            open_interest,
            bid,
            ask,
            mark,
            mark_iv,
            forward,
            delta,
            gamma,
            vega,
            theta,
        ] = fields
        else {
            return Err(Refusal::BadColumns.into());
        };
        if exchange != "deribit" {
            return Err(Refusal::UnsupportedExchange.into());
        }
        let timestamp_ns = ns_of_us(timestamp)?;
        let mark_price = non_negative(mark)?;
        let iv = non_negative(mark_iv)?;
        if !(MARK_IV_FRACTION_MIN..=MARK_IV_FRACTION_MAX).contains(&iv) {
            return Err(Refusal::MarkIvWrongUnit.into());
        }
        let forward = non_negative(forward)?;
        let best_bid = number(bid)?.unwrap_or(0.0);
        let best_ask = number(ask)?.unwrap_or(0.0);
        if best_bid < 0.0 || best_ask < 0.0 {
            return Err(Refusal::BadNumber.into());
        }
        let greeks = [delta, gamma, vega, theta].map(number);
        let open_interest = number(open_interest)?.unwrap_or(0.0);
        let mapped = map.instrument_by_name(symbol, timestamp_ns, out)?;
        if mapped.definition.kind != InstrumentKind::Option {
            return Err(Refusal::WrongShape.into());
        }
        if let [
            Ok(Some(delta)),
            Ok(Some(gamma)),
            Ok(Some(vega)),
            Ok(Some(theta)),
        ] = greeks
        {
            view.set_quote(
                mapped.definition.id,
                VenueQuote {
                    timestamp_ns,
                    delta,
                    gamma,
                    vega_usd: vega,
                    theta_usd: theta,
                    open_interest,
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
