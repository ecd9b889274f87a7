//! Batch-end surface work: refit the expiries whose venue marks changed (each at most
//! once per `SURFACE_REFIT_INTERVAL_NS` of event time, unless its marks cover a quarter
//! more options than at the last attempt), then mark from the surface the options of a
//! refitted expiry whose venue mark is missing or stale.

use super::*;
use crate::state::surface_quotes::collect_quotes;
use crate::state::surface_state::{ExpiryEntry, ExpiryKey, MODEL_MARK_STALE_NS};
use crate::stress::stressed_market::option_model_value;

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
        let SurfaceState {
            expiries,
            scratch,
            quotes,
            ..
        } = &mut self.surface;
        let options = expiries.get(&key).map_or(&[][..], |e| &e.options[..]);
        collect_quotes(
            &self.instruments,
            options,
            key,
            self.now_ns,
            scratch,
            quotes,
        );
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
        let mut replaced_venue_marks = 0u32;
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
            let Some(vol) = smile.implied_vol_at_strike(instrument.strike) else {
                continue;
            };
            let model = Mark {
                timestamp_ns: instrument.mark.map_or(0, |m| m.timestamp_ns),
                mark_price: 0.0,
                mark_iv: vol,
                forward: smile.forward,
            };
            let Some(mark_price) = option_model_value(instrument, &model, *now_ns) else {
                continue;
            };
            let mark = Mark {
                mark_price,
                ..model
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
            // A stale venue mark gives way: the expiry covers one venue mark fewer.
            replaced_venue_marks +=
                u32::from(instrument.mark.is_some() && instrument.mark_source == MarkSource::Venue);
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
        if let Some(entry) = surface.expiries.get_mut(&key) {
            entry.venue_marked = entry.venue_marked.saturating_sub(replaced_venue_marks);
        }
    }
}
