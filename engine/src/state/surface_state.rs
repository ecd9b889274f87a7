//! The shard's volatility surface and what it decides: which expiries are refitted at a
//! batch end, which venue marks are flagged as far from the surface (a bad-oracle
//! signal), and which options get a model mark because the venue's is missing or stale.
//! Everything here is decided by event time and the journal alone.

use std::collections::BTreeMap;

use crate::events::{InstrumentId, UnderlyingId};
use crate::surface::{ExpiryQuotes, OptionQuote, VolSurface};

/// An expiry whose venue marks changed is refitted at the first batch end at least this
/// long (event time) after its last fit; an expiry never fitted, at the first batch end.
pub const SURFACE_REFIT_INTERVAL_NS: u64 = 30_000_000_000;
/// A venue mark older than this (event time) is stale: the option is marked from the
/// surface until the venue marks it again.
pub const MODEL_MARK_STALE_NS: u64 = 300_000_000_000;
/// A venue mark whose IV is further than this from the surface (vol points) is flagged…
pub const BAD_MARK_VOL_POINTS: f64 = 10.0;
/// …or further than this many times the smile's own RMSE, when that is wider (smiles
/// near expiry fit less well, and their marks must not all be flagged).
pub const BAD_MARK_RMSE_MULTIPLE: f64 = 5.0;

/// Where an instrument's current mark came from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub enum MarkSource {
    #[default]
    Venue,
    /// Set from the surface: no venue mark, or a stale one.
    Model,
}

/// Expiry key: underlying and expiry (ns).
pub type ExpiryKey = (UnderlyingId, u64);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpiryEntry {
    /// The expiry's options, in id order (derived from the definitions: not hashed or
    /// imaged).
    pub options: Vec<InstrumentId>,
    /// Venue marks arrived since its last refit attempt.
    pub due: bool,
    /// Event time of the last refit attempt, accepted or refused (0: none).
    pub attempted_ns: u64,
    /// Options on a venue mark (one more when a venue mark replaces none or a model
    /// mark, one fewer when a model mark replaces a stale one).
    pub venue_marked: u32,
    /// `venue_marked` at the last attempt: when it has grown by a quarter since, the
    /// expiry is refitted at the next batch end, interval or not (a chain's marks arrive
    /// over the first batches; the first fit must not stand for 30 s on a handful of
    /// strikes).
    pub venue_marked_at_attempt: u32,
}

impl ExpiryEntry {
    /// Whether the expiry is refitted at a batch end at `now_ns`.
    pub fn refit_due(&self, now_ns: u64) -> bool {
        let never = self.attempted_ns == 0;
        let interval = now_ns >= self.attempted_ns.saturating_add(SURFACE_REFIT_INTERVAL_NS);
        let grown = self.venue_marked
            >= self.venue_marked_at_attempt + (self.venue_marked_at_attempt / 4).max(1);
        self.due && (never || interval || grown)
    }
}

#[derive(Clone, Debug, Default)]
pub struct SurfaceState {
    pub surface: VolSurface,
    /// Every expiry with a defined option (entries are never removed, so marking one due
    /// on the hot path never allocates).
    pub expiries: BTreeMap<ExpiryKey, ExpiryEntry>,
    /// Venue marks flagged far from the surface.
    pub bad_marks: u64,
    /// Model marks set.
    pub model_marks: u64,
    /// Working memory of a refit.
    pub(crate) scratch: Vec<OptionQuote>,
    pub(crate) quotes: ExpiryQuotes,
}

/// Equal when everything but working memory is.
impl PartialEq for SurfaceState {
    fn eq(&self, other: &SurfaceState) -> bool {
        self.surface == other.surface
            && self.expiries == other.expiries
            && self.bad_marks == other.bad_marks
            && self.model_marks == other.model_marks
    }
}

impl SurfaceState {
    /// Registers a defined option under its expiry (kept in id order, so a rebuild from
    /// the instruments gives the same lists).
    pub fn add_option(&mut self, definition: &crate::events::InstrumentDefinition) {
        let ids = &mut self
            .expiries
            .entry((definition.underlying, definition.expiry_ns))
            .or_default()
            .options;
        if let Err(at) = ids.binary_search(&definition.id) {
            ids.insert(at, definition.id);
        }
        // A refit's working memory holds any expiry's quotes without growing at a
        // batch end.
        let options = ids.len();
        self.scratch
            .reserve(options.saturating_sub(self.scratch.len()));
        self.quotes
            .reserve(options.min(crate::surface::fit::FIT_POINTS_MAX));
    }

    /// A venue mark arrived for an option of the expiry (`first`: where it had none or
    /// a model mark).
    pub fn mark_due(&mut self, key: ExpiryKey, first: bool) {
        if let Some(entry) = self.expiries.get_mut(&key) {
            entry.due = true;
            entry.venue_marked = entry.venue_marked.saturating_add(u32::from(first));
        }
    }

    /// Whether a venue mark's IV is far from the surface: `None` without a smile, or
    /// outside the strikes it was fitted to.
    pub fn is_bad_mark(
        &self,
        underlying: UnderlyingId,
        expiry_ns: u64,
        strike: f64,
        forward: f64,
        mark_iv: f64,
    ) -> Option<bool> {
        let smile = self.surface.smiles.get(&(underlying, expiry_ns))?;
        let k = (strike / forward).ln();
        // Extrapolation is no evidence against a mark: only strikes the fit covers.
        if k < smile.fit.k_min || k > smile.fit.k_max {
            return None;
        }
        let fitted = smile.implied_vol_at(k)?;
        let threshold = BAD_MARK_VOL_POINTS.max(BAD_MARK_RMSE_MULTIPLE * smile.fit.rmse_vol_points);
        Some(((mark_iv - fitted) * 100.0).abs() > threshold)
    }
}
