//! Tardis `derivative_ticker` rows (Deribit perpetuals and futures): index and mark.
//! Funding is not turned into payments: Deribit settles perpetual funding continuously
//! and the dataset's `funding_rate` is a trailing 8-hour rate, not a payment, so any
//! payment derived from it would be Keel's invention (docs/FEEDS.md).

use keel_engine::events::{Event, EventBody, InstrumentKind, Ticker};

use super::{non_negative, ns_of_us, number};
use crate::csv_feed::{CsvDecoder, CsvRows};
use crate::feed::{Dropped, Refusal};
use crate::index_levels::IndexLevels;
use crate::venue_map::VenueMap;
use crate::venue_view::VenueView;

/// The `derivative_ticker` decoder.
pub type DerivativeTickerDecoder = CsvDecoder<DerivativeTickerRows>;

#[derive(Default)]
pub struct DerivativeTickerRows {
    index_levels: IndexLevels,
}

impl CsvRows for DerivativeTickerRows {
    const COLUMNS: &'static [&'static str] = &[
        "exchange",
        "symbol",
        "timestamp",
        "index_price",
        "mark_price",
    ];

    fn row(
        &mut self,
        fields: &[&str],
        map: &mut VenueMap,
        _view: &mut VenueView,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped> {
        let &[exchange, symbol, timestamp, index, mark] = fields else {
            return Err(Refusal::BadColumns.into());
        };
        if exchange != "deribit" {
            return Err(Refusal::UnsupportedExchange.into());
        }
        let timestamp_ns = ns_of_us(timestamp)?;
        let mark_price = non_negative(mark)?;
        let index = number(index)?;
        if index.is_some_and(|i| i <= 0.0) {
            return Err(Refusal::BadNumber.into());
        }
        let mapped = map.instrument_by_name(symbol, timestamp_ns, out)?;
        if mapped.definition.kind == InstrumentKind::Option {
            return Err(Refusal::WrongShape.into());
        }
        if let Some(price) = index {
            let underlying = mapped.definition.underlying;
            self.index_levels
                .push_if_changed(underlying, price, timestamp_ns, out);
        }
        out.push(Event {
            timestamp_ns,
            body: EventBody::Ticker(Ticker {
                instrument: mapped.definition.id,
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
