//! The fitted surface: an accepted smile per (underlying, expiry). A refit that fails or
//! carries arbitrage (butterfly, or calendar against the accepted neighbours) is refused
//! and counted, and the previous smile stays.

use std::collections::BTreeMap;

use super::fit::{CalendarBounds, FitError, Neighbour, SmileFit, check_smile, fit_smile};
use super::quotes::ExpiryQuotes;
use super::svi::{Arbitrage, CheckGrid};
use crate::events::UnderlyingId;

/// One expiry's accepted smile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpirySmile {
    pub fit: SmileFit,
    /// The forward its moneyness is taken against.
    pub forward: f64,
    /// Model time of the fit (ns).
    pub fitted_ns: u64,
}

impl ExpirySmile {
    /// Implied volatility (fraction) at a strike, at the moneyness against the smile's
    /// own forward (the IV is what persists between fits).
    pub fn implied_vol_at_strike(&self, strike: f64) -> Option<f64> {
        self.implied_vol_at((strike / self.forward).ln())
    }

    /// Implied volatility (fraction) at log moneyness `k`; `None` where the smile gives
    /// no positive finite vol.
    pub fn implied_vol_at(&self, k: f64) -> Option<f64> {
        self.fit
            .params
            .implied_vol(k, self.fit.years)
            .filter(|v| v.is_finite())
    }

    pub fn neighbour(&self) -> Neighbour {
        Neighbour {
            params: self.fit.params,
            k_min: self.fit.k_min,
            k_max: self.fit.k_max,
        }
    }
}

/// Why a refit was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum RefitError {
    #[error(transparent)]
    Fit(#[from] FitError),
    /// The best fit found, refused for its arbitrage.
    #[error("the fit carries arbitrage: {arbitrage}")]
    Arbitrage { arbitrage: Arbitrage, fit: SmileFit },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolSurface {
    pub smiles: BTreeMap<(UnderlyingId, u64), ExpirySmile>,
    pub accepted_fits: u64,
    pub refused_fits: u64,
}

impl VolSurface {
    /// Fits `quotes` against the accepted neighbouring expiries and keeps the smile if
    /// it is free of arbitrage; else counts the refusal and keeps the previous one.
    /// Returns the fit either way (a refused fit carries its arbitrage).
    pub fn refit(&mut self, quotes: &ExpiryQuotes, now_ns: u64) -> Result<SmileFit, RefitError> {
        let key = (quotes.underlying, quotes.expiry_ns);
        let bounds = self.calendar_bounds(quotes.underlying, quotes.expiry_ns, now_ns);
        let start = self.smiles.get(&key).map(|s| s.fit.params);
        let fit = match fit_smile(&quotes.points, quotes.years, &bounds, start.as_ref()) {
            Ok(fit) => fit,
            Err(error) => {
                self.refused_fits += 1;
                return Err(error.into());
            }
        };
        if let Some(arbitrage) = fit.arbitrage {
            self.refused_fits += 1;
            return Err(RefitError::Arbitrage { arbitrage, fit });
        }
        self.accepted_fits += 1;
        self.smiles.insert(
            key,
            ExpirySmile {
                fit,
                forward: quotes.forward,
                fitted_ns: now_ns,
            },
        );
        Ok(fit)
    }

    /// The nearest accepted, unexpired expiries on either side. Their total variance is
    /// as of their own fit; refits keep neighbours within the refit interval of each
    /// other, where the decay of total variance is far below the fit error.
    pub fn calendar_bounds(
        &self,
        underlying: UnderlyingId,
        expiry_ns: u64,
        now_ns: u64,
    ) -> CalendarBounds {
        let live =
            |(key, _): &(&(UnderlyingId, u64), &ExpirySmile)| key.0 == underlying && key.1 > now_ns;
        let shorter = self
            .smiles
            .range(..(underlying, expiry_ns))
            .rev()
            .find(live)
            .map(|(_, s)| s.neighbour());
        let longer = self
            .smiles
            .range((underlying, expiry_ns.saturating_add(1))..)
            .find(live)
            .map(|(_, s)| s.neighbour());
        CalendarBounds { shorter, longer }
    }

    /// An accepted smile checked again as it stands now: butterfly on its fine grid, and
    /// calendar against its accepted, unexpired neighbours (`None`: no such smile).
    pub fn recheck(&self, key: (UnderlyingId, u64), now_ns: u64) -> Option<Result<(), Arbitrage>> {
        let smile = self.smiles.get(&key)?;
        let bounds = self.calendar_bounds(key.0, key.1, now_ns);
        let fit = &smile.fit;
        let grid = CheckGrid::around(fit.k_min, fit.k_max);
        Some(check_smile(
            &fit.params,
            &grid,
            fit.k_min,
            fit.k_max,
            &bounds,
        ))
    }
}
