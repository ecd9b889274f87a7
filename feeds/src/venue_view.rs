//! What a venue says about the book that Keel computes itself: its own Greeks per
//! instrument, its equity and margin per currency, its position sizes. Kept beside the
//! decoded events for comparison (reconciliation), never journaled: Keel's state is
//! Keel's computation, and a difference is a finding to report, not an input.

use keel_engine::events::InstrumentId;
use rust_decimal::Decimal;

/// The venue's Greeks of one contract (Deribit: delta in coin per contract, gamma,
/// vega in USD per vol point, theta in USD per day), as last quoted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VenueQuote {
    pub timestamp_ns: u64,
    pub delta: f64,
    pub gamma: f64,
    pub vega_usd: f64,
    pub theta_usd: f64,
    pub open_interest: f64,
}

/// The venue's account summary in one currency (Deribit `user.portfolio.{currency}`).
#[derive(Clone, Debug, PartialEq)]
pub struct VenuePortfolio {
    pub timestamp_ns: u64,
    pub currency: String,
    pub equity: f64,
    pub balance: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
}

/// The venue's position in one instrument, in contracts (Deribit `user.changes`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VenuePosition {
    pub timestamp_ns: u64,
    pub contracts: Decimal,
}

#[derive(Clone, Debug, Default)]
pub struct VenueView {
    quotes: Vec<Option<VenueQuote>>,
    pub portfolios: Vec<VenuePortfolio>,
    pub positions: Vec<(InstrumentId, VenuePosition)>,
}

impl VenueView {
    pub fn set_quote(&mut self, instrument: InstrumentId, quote: VenueQuote) {
        let at = instrument.0 as usize;
        if self.quotes.len() <= at {
            self.quotes.resize(at + 1, None);
        }
        self.quotes[at] = Some(quote);
    }

    pub fn quote(&self, instrument: InstrumentId) -> Option<&VenueQuote> {
        self.quotes.get(instrument.0 as usize)?.as_ref()
    }

    pub fn set_portfolio(&mut self, portfolio: VenuePortfolio) {
        match self
            .portfolios
            .iter_mut()
            .find(|p| p.currency == portfolio.currency)
        {
            Some(known) => *known = portfolio,
            None => self.portfolios.push(portfolio),
        }
    }

    pub fn set_position(&mut self, instrument: InstrumentId, position: VenuePosition) {
        match self.positions.iter_mut().find(|(id, _)| *id == instrument) {
            Some((_, known)) => *known = position,
            None => self.positions.push((instrument, position)),
        }
    }
}
