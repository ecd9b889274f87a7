//! The volatility surface: per underlying and expiry, a raw SVI smile fitted to the
//! venue's mark IVs (vega-weighted), checked free of butterfly and calendar arbitrage.
//! See docs/ANALYTICS.md for the method, its decisions and its error on real chains.

pub mod fit;
pub mod quotes;
pub mod svi;
pub mod vol_surface;

pub use fit::{
    CalendarBounds, FitError, FitErrors, Neighbour, SmileFit, SmilePoint, fit_errors, fit_smile,
};
pub use quotes::{ExpiryQuotes, OptionQuote};
pub use svi::{Arbitrage, CheckGrid, SviParams};
pub use vol_surface::{ExpirySmile, RefitError, VolSurface};
