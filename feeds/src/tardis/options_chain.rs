//! Tardis `options_chain` rows (Deribit): one option's mark, IV, forward and quotes per
//! row, with Deribit's Greeks kept for comparison. IVs are fractions in this dataset
//! (Tardis divides Deribit's percent by 100); timestamps are µs since the epoch.

use keel_engine::events::{Event, EventBody, InstrumentKind, Ticker};

use super::{CsvLine, columns, non_negative, ns_of_us, number};
use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal};
use crate::venue_map::VenueMap;
use crate::venue_view::{VenueQuote, VenueView};

/// Mark IVs accepted, as fractions: outside, the unit is wrong (65 for 65 %).
pub const MARK_IV_FRACTION_MIN: f64 = 0.01;
pub const MARK_IV_FRACTION_MAX: f64 = 10.0;

const COLUMNS: [&str; 14] = [
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

pub struct OptionsChainDecoder {
    map: VenueMap,
    line: CsvLine,
    columns: Option<Result<[usize; 14], Refusal>>,
    counts: FeedCounts,
    view: VenueView,
}

impl OptionsChainDecoder {
    pub fn new(map: VenueMap) -> Self {
        OptionsChainDecoder {
            map,
            line: CsvLine::default(),
            columns: None,
            counts: FeedCounts::default(),
            view: VenueView::default(),
        }
    }

    fn row(&mut self, columns: &[usize; 14], out: &mut Vec<Event>) -> Result<(), Dropped> {
        let line = &self.line;
        let [
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
        ] = columns.map(|c| line.field(c));
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
        let mapped = self.map.instrument_by_name(symbol, timestamp_ns, out)?;
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
            self.view.set_quote(
                mapped.id,
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
                instrument: mapped.id,
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

/// Shared by the Tardis decoders: header first, then rows; counts and the rule that a
/// dropped row leaves only the definitions it made.
pub(crate) fn decode_row<const N: usize, D>(
    decoder: &mut D,
    line: &[u8],
    out: &mut Vec<Event>,
    names: [&str; N],
    parts: impl Fn(
        &mut D,
    ) -> (
        &mut CsvLine,
        &mut Option<Result<[usize; N], Refusal>>,
        &mut FeedCounts,
    ),
    row: impl FnOnce(&mut D, &[usize; N], &mut Vec<Event>) -> Result<(), Dropped>,
) -> Result<(), Dropped> {
    let (csv, header, counts) = parts(decoder);
    let Some(found) = header else {
        *header = Some(columns(csv, line, names));
        return Ok(());
    };
    counts.lines += 1;
    let found = *found;
    let before = out.len();
    let result = match found {
        Ok(found) => match csv.split(line) {
            Ok(()) => row(decoder, &found, out),
            Err(refusal) => Err(refusal.into()),
        },
        Err(refusal) => Err(refusal.into()),
    };
    let (_, _, counts) = parts(decoder);
    crate::feed::finish_line(counts, out, before, result)
}

impl FeedDecoder for OptionsChainDecoder {
    fn decode(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped> {
        decode_row(
            self,
            line,
            out,
            COLUMNS,
            |d| (&mut d.line, &mut d.columns, &mut d.counts),
            Self::row,
        )
    }

    fn counts(&self) -> &FeedCounts {
        &self.counts
    }

    fn counts_mut(&mut self) -> &mut FeedCounts {
        &mut self.counts
    }

    fn has_header(&self) -> bool {
        true
    }

    fn venue_map(&self) -> Option<&VenueMap> {
        Some(&self.map)
    }

    fn venue_view(&self) -> Option<&VenueView> {
        Some(&self.view)
    }
}
