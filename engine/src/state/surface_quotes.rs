//! The state's option marks as the surface fit takes them.

use super::contract_risk::YEAR_NS;
use super::shard_state::ShardState;
use super::surface_state::MarkSource;
use crate::events::{InstrumentKind, OptionRight, UnderlyingId};
use crate::surface::{ExpiryQuotes, OptionQuote, VolSurface};

impl ShardState {
    /// Every (underlying, expiry) with a live, marked option, in order.
    pub fn option_expiries(&self) -> Vec<(UnderlyingId, u64)> {
        let mut expiries: Vec<_> = self
            .instruments
            .values()
            .filter(|i| {
                i.definition.kind == InstrumentKind::Option
                    && !i.settled
                    && i.mark.is_some()
                    && i.definition.expiry_ns > self.now_ns
            })
            .map(|i| (i.definition.underlying, i.definition.expiry_ns))
            .collect();
        expiries.sort_unstable();
        expiries.dedup();
        expiries
    }

    /// The current marks of one expiry's live options, into `out`.
    pub fn smile_quotes(
        &self,
        underlying: UnderlyingId,
        expiry_ns: u64,
        scratch: &mut Vec<OptionQuote>,
        out: &mut ExpiryQuotes,
    ) {
        scratch.clear();
        for instrument in self.instruments.values() {
            let d = &instrument.definition;
            // Venue marks only, and not those flagged far from the surface.
            if d.kind != InstrumentKind::Option
                || d.underlying != underlying
                || d.expiry_ns != expiry_ns
                || instrument.settled
                || instrument.mark_source != MarkSource::Venue
                || instrument.mark_suspect
            {
                continue;
            }
            if let Some(mark) = instrument.mark {
                scratch.push(OptionQuote {
                    instrument: d.id,
                    strike: instrument.strike,
                    is_call: d.right == OptionRight::Call,
                    mark_iv: mark.mark_iv,
                    forward: mark.forward,
                });
            }
        }
        let years = (expiry_ns as f64 - self.now_ns as f64) / YEAR_NS;
        out.build(underlying, expiry_ns, years, scratch);
    }

    /// A surface fitted from scratch to the current marks, every expiry in order
    /// (shortest first, so each is bounded by the one before), with each expiry's
    /// quotes and its fit or why it was refused.
    pub fn fit_surface(&self) -> (VolSurface, Vec<SurfaceRow>) {
        let mut surface = VolSurface::default();
        let mut rows = Vec::new();
        let mut scratch = Vec::new();
        for (underlying, expiry_ns) in self.option_expiries() {
            let mut quotes = ExpiryQuotes::default();
            self.smile_quotes(underlying, expiry_ns, &mut scratch, &mut quotes);
            let result = surface.refit(&quotes, self.now_ns);
            rows.push(SurfaceRow { quotes, result });
        }
        (surface, rows)
    }
}

/// One expiry of [`ShardState::fit_surface`].
#[derive(Clone, Debug, PartialEq)]
pub struct SurfaceRow {
    pub quotes: ExpiryQuotes,
    pub result: Result<crate::surface::SmileFit, crate::surface::RefitError>,
}
