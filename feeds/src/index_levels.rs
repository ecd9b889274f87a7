//! Index levels as feeds carry them: most tickers and rows repeat their underlying's
//! index, so a level is journaled when it changed (or when the index's own message says
//! it), not once per ticker.

use keel_engine::events::ids::UNDERLYINGS_MAX;
use keel_engine::events::{Event, EventBody, IndexPrice, UnderlyingId};

/// The last index level journaled per underlying.
pub struct IndexLevels {
    last: [f64; UNDERLYINGS_MAX as usize],
}

impl Default for IndexLevels {
    fn default() -> Self {
        IndexLevels {
            last: [f64::NAN; UNDERLYINGS_MAX as usize],
        }
    }
}

impl IndexLevels {
    /// Journals `price` (an index channel's own update: always news).
    pub fn push(
        &mut self,
        underlying: UnderlyingId,
        price: f64,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) {
        if let Some(last) = self.last.get_mut(usize::from(underlying.0)) {
            *last = price;
        }
        out.push(Event {
            timestamp_ns,
            body: EventBody::IndexPrice(IndexPrice { underlying, price }),
        });
    }

    /// Journals `price` when it differs from the last level of its underlying (a ticker
    /// or row repeating the index).
    pub fn push_if_changed(
        &mut self,
        underlying: UnderlyingId,
        price: f64,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) {
        if self.last.get(usize::from(underlying.0)) != Some(&price) {
            self.push(underlying, price, timestamp_ns, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_level_is_journaled_once_unless_pushed() {
        let mut levels = IndexLevels::default();
        let mut out = Vec::new();
        let btc = UnderlyingId(0);
        levels.push_if_changed(btc, 90_000.0, 1, &mut out);
        levels.push_if_changed(btc, 90_000.0, 2, &mut out);
        levels.push_if_changed(UnderlyingId(1), 90_000.0, 2, &mut out);
        assert_eq!(out.len(), 2);
        levels.push(btc, 90_000.0, 3, &mut out);
        levels.push_if_changed(btc, 90_001.0, 4, &mut out);
        assert_eq!(out.len(), 4);
    }
}
