//! Tardis `derivative_ticker` rows (Deribit perpetuals and futures): index and mark.
//! Funding is not turned into payments: Deribit settles perpetual funding continuously
//! and the dataset's `funding_rate` is a trailing 8-hour rate, not a payment, so any
//! payment derived from it would be Keel's invention (docs/FEEDS.md).

use keel_engine::events::ids::UNDERLYINGS_MAX;
use keel_engine::events::{Event, EventBody, IndexPrice, InstrumentKind, Ticker};

use super::options_chain::decode_row;
use super::{CsvLine, non_negative, ns_of_us, number};
use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal};
use crate::venue_map::VenueMap;

const COLUMNS: [&str; 5] = [
    "exchange",
    "symbol",
    "timestamp",
    "index_price",
    "mark_price",
];

pub struct DerivativeTickerDecoder {
    map: VenueMap,
    line: CsvLine,
    columns: Option<Result<[usize; 5], Refusal>>,
    counts: FeedCounts,
    last_index: [f64; UNDERLYINGS_MAX as usize],
}

impl DerivativeTickerDecoder {
    pub fn new(map: VenueMap) -> Self {
        DerivativeTickerDecoder {
            map,
            line: CsvLine::default(),
            columns: None,
            counts: FeedCounts::default(),
            last_index: [f64::NAN; UNDERLYINGS_MAX as usize],
        }
    }

    fn row(&mut self, columns: &[usize; 5], out: &mut Vec<Event>) -> Result<(), Dropped> {
        let line = &self.line;
        let [exchange, symbol, timestamp, index, mark] = columns.map(|c| line.field(c));
        if exchange != "deribit" {
            return Err(Refusal::UnsupportedExchange.into());
        }
        let timestamp_ns = ns_of_us(timestamp)?;
        let mark_price = non_negative(mark)?;
        let index = number(index)?;
        if index.is_some_and(|i| i <= 0.0) {
            return Err(Refusal::BadNumber.into());
        }
        let mapped = self.map.instrument_by_name(symbol, timestamp_ns, out)?;
        if mapped.definition.kind == InstrumentKind::Option {
            return Err(Refusal::WrongShape.into());
        }
        if let Some(price) = index {
            let underlying = mapped.definition.underlying;
            let last = &mut self.last_index[usize::from(underlying.0)];
            if *last != price {
                *last = price;
                out.push(Event {
                    timestamp_ns,
                    body: EventBody::IndexPrice(IndexPrice { underlying, price }),
                });
            }
        }
        out.push(Event {
            timestamp_ns,
            body: EventBody::Ticker(Ticker {
                instrument: mapped.id,
                mark_price,
                mark_iv: 0.0,
                forward: mark_price,
                best_bid: 0.0,
                best_ask: 0.0,
            }),
        });
        Ok(())
    }
}

impl FeedDecoder for DerivativeTickerDecoder {
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
}
