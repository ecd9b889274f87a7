//! The state's option marks as the surface fit takes them.

use super::contract_risk::YEAR_NS;
use super::id_map::IdMap;
use super::instrument_state::InstrumentState;
use super::shard_state::ShardState;
use super::surface_state::{ExpiryKey, MarkSource};
use crate::events::{InstrumentId, OptionRight, UnderlyingId};
use crate::surface::{ExpiryQuotes, OptionQuote, VolSurface};

impl ShardState {
    /// Every (underlying, expiry) with a live option on a venue mark, in order.
    pub fn option_expiries(&self) -> Vec<(UnderlyingId, u64)> {
        self.surface
            .expiries
            .iter()
            .filter(|(key, entry)| {
                key.1 > self.now_ns
                    && entry.options.iter().any(|id| {
                        self.instruments
                            .get(id)
                            .is_some_and(|i| !i.settled && i.mark.is_some())
                    })
            })
            .map(|(key, _)| *key)
            .collect()
    }

    /// The current marks of one expiry's live options, into `out`.
    pub fn smile_quotes(
        &self,
        underlying: UnderlyingId,
        expiry_ns: u64,
        scratch: &mut Vec<OptionQuote>,
        out: &mut ExpiryQuotes,
    ) {
        let options = self
            .surface
            .expiries
            .get(&(underlying, expiry_ns))
            .map_or(&[][..], |e| &e.options[..]);
        collect_quotes(
            &self.instruments,
            options,
            (underlying, expiry_ns),
            self.now_ns,
            scratch,
            out,
        );
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

/// The quotes a fit takes from an expiry's `options`: venue marks of live options, not
/// flagged far from the surface (model marks and flagged marks never feed a fit).
pub(crate) fn collect_quotes(
    instruments: &IdMap<InstrumentId, InstrumentState>,
    options: &[InstrumentId],
    (underlying, expiry_ns): ExpiryKey,
    now_ns: u64,
    scratch: &mut Vec<OptionQuote>,
    out: &mut ExpiryQuotes,
) {
    scratch.clear();
    for id in options {
        let Some(instrument) = instruments.get(id) else {
            continue;
        };
        let usable = !instrument.settled
            && instrument.mark_source == MarkSource::Venue
            && !instrument.mark_suspect;
        if let Some(mark) = instrument.mark.filter(|_| usable) {
            scratch.push(OptionQuote {
                instrument: *id,
                strike: instrument.strike,
                is_call: instrument.definition.right == OptionRight::Call,
                mark_iv: mark.mark_iv,
                forward: mark.forward,
            });
        }
    }
    let years = (expiry_ns as f64 - now_ns as f64) / YEAR_NS;
    out.build(underlying, expiry_ns, years, scratch);
}
