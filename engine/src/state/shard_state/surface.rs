//! Batch-end surface work: refit the expiries whose venue marks changed (each at most
//! once per `SURFACE_REFIT_INTERVAL_NS` of event time, unless its marks cover a quarter
//! more options than at the last attempt), then mark from the surface the options of a
//! refitted expiry whose venue mark is missing or stale.

use super::*;
use crate::events::Settlement;
use crate::pricing::{OptionInputs, OptionKind, black76_price};
use crate::state::contract_risk::YEAR_NS;
use crate::state::surface_state::{ExpiryEntry, ExpiryKey, MODEL_MARK_STALE_NS};
use crate::surface::OptionQuote;

impl ShardState {
    pub(super) fn refresh_surface(&mut self) {
        let now_ns = self.now_ns;
        let due_now = |e: &ExpiryEntry| e.refit_due(now_ns);
        let mut next = self
            .surface
            .expiries
            .iter()
            .find(|(_, e)| due_now(e))
            .map(|(k, _)| *k);
        while let Some(key) = next {
            next = self
                .surface
                .expiries
                .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
                .find(|(_, e)| due_now(e))
                .map(|(k, _)| *k);
            if let Some(entry) = self.surface.expiries.get_mut(&key) {
                entry.due = false;
                entry.attempted_ns = now_ns;
                entry.venue_marked_at_attempt = entry.venue_marked;
            }
            if key.1 <= now_ns {
                continue;
            }
            self.gather_quotes(key);
            let state = &mut self.surface;
            if state.surface.refit(&state.quotes, now_ns).is_ok() {
                self.mark_from_surface(key);
            }
        }
    }

    /// The expiry's venue marks that are not flagged, into `surface.quotes`.
    fn gather_quotes(&mut self, key: ExpiryKey) {
        let ShardState {
            instruments,
            surface,
            now_ns,
            ..
        } = self;
        surface.scratch.clear();
        for id in surface
            .expiries
            .get(&key)
            .into_iter()
            .flat_map(|e| &e.options)
        {
            let Some(instrument) = instruments.get(id) else {
                continue;
            };
            let usable = !instrument.settled
                && instrument.mark_source == MarkSource::Venue
                && !instrument.mark_suspect;
            if let Some(mark) = instrument.mark.filter(|_| usable) {
                surface.scratch.push(OptionQuote {
                    instrument: *id,
                    strike: instrument.strike,
                    is_call: instrument.definition.right == crate::events::OptionRight::Call,
                    mark_iv: mark.mark_iv,
                    forward: mark.forward,
                });
            }
        }
        let years = (key.1 as f64 - *now_ns as f64) / YEAR_NS;
        surface
            .quotes
            .build(key.0, key.1, years, &mut surface.scratch);
    }

    /// Model marks for the expiry's options without a fresh venue mark. A model mark
    /// keeps the time of the venue mark it stands in for (0: none), so a late venue mark
    /// is judged stale only against venue marks.
    fn mark_from_surface(&mut self, key: ExpiryKey) {
        let ShardState {
            instruments,
            surface,
            now_ns,
            dirty,
            seq,
            ..
        } = self;
        let Some(smile) = surface.surface.smiles.get(&key) else {
            return;
        };
        let years = (key.1 as f64 - *now_ns as f64) / YEAR_NS;
        for id in surface
            .expiries
            .get(&key)
            .into_iter()
            .flat_map(|e| &e.options)
        {
            let Some(instrument) = instruments.get_mut(id) else {
                continue;
            };
            let stale = match instrument.mark {
                None => true,
                Some(mark) => {
                    instrument.mark_source == MarkSource::Model
                        || now_ns.saturating_sub(mark.timestamp_ns) > MODEL_MARK_STALE_NS
                }
            };
            if instrument.settled || !stale {
                continue;
            }
            let k = (instrument.strike / smile.forward).ln();
            let Some(vol) = smile.fit.params.implied_vol(k, smile.fit.years) else {
                continue;
            };
            let kind = match instrument.definition.right {
                crate::events::OptionRight::Call => OptionKind::Call,
                crate::events::OptionRight::Put => OptionKind::Put,
            };
            let inputs = OptionInputs {
                kind,
                forward: smile.forward,
                strike: instrument.strike,
                years,
                vol,
                rate: 0.0,
            };
            let Ok(usd) = black76_price(&inputs) else {
                continue;
            };
            let mark_price = match instrument.definition.settlement {
                Settlement::Inverse => usd / smile.forward,
                Settlement::Linear => usd,
            };
            let mark = Mark {
                timestamp_ns: instrument.mark.map_or(0, |m| m.timestamp_ns),
                mark_price,
                mark_iv: vol,
                forward: smile.forward,
            };
            let priceable = contract_priceable(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                *now_ns,
            );
            if !priceable {
                continue;
            }
            instrument.mark = Some(mark);
            instrument.mark_source = MarkSource::Model;
            instrument.mark_suspect = false;
            instrument.mark_seq = *seq;
            surface.model_marks += 1;
            if !instrument.dirty {
                instrument.dirty = true;
                dirty.push(*id);
            }
        }
    }
}
