//! Raw SVI (Gatheral 2004): one expiry's total implied variance as a function of log
//! moneyness k = ln(K/F),
//!
//!   w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²)),
//!
//! and the checks that make a smile free of static arbitrage: Lee's wing bound
//! b·(1 + |ρ|) ≤ 2, a non-negative minimum variance, and Durrleman's density condition
//! g(k) ≥ 0 (butterfly); across expiries, total variance non-decreasing in time at every
//! k (calendar).

/// Lee's moment bound on the wings' slope of total variance.
pub const WING_SLOPE_MAX: f64 = 2.0;
/// Log-moneyness half-width of the grid the arbitrage checks scan, beyond the quoted
/// strikes (and at least ±[`CHECK_RANGE_MIN`] around the money).
pub const CHECK_MARGIN: f64 = 0.5;
pub const CHECK_RANGE_MIN: f64 = 1.5;
/// Points of that grid.
pub const CHECK_POINTS: usize = 241;
/// Tolerance of the checks (total variance, density): round-off, not arbitrage.
pub const CHECK_TOLERANCE: f64 = 1e-9;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SviParams {
    pub a: f64,
    pub b: f64,
    pub rho: f64,
    pub m: f64,
    pub sigma: f64,
}

/// Why a smile is not free of arbitrage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Arbitrage {
    #[error("parameters outside the SVI domain (b < 0, |rho| >= 1, sigma <= 0 or not finite)")]
    Domain,
    #[error("wing slope above Lee's bound of 2")]
    WingSlope,
    #[error("negative total variance")]
    NegativeVariance,
    #[error("butterfly arbitrage (negative density)")]
    Butterfly,
    #[error("calendar arbitrage (total variance falls with expiry)")]
    Calendar,
}

impl SviParams {
    pub fn total_variance(&self, k: f64) -> f64 {
        let x = k - self.m;
        self.a + self.b * (self.rho * x + (x * x + self.sigma * self.sigma).sqrt())
    }

    /// w, dw/dk, d²w/dk².
    pub fn derivatives(&self, k: f64) -> (f64, f64, f64) {
        let x = k - self.m;
        let root = (x * x + self.sigma * self.sigma).sqrt();
        let w = self.a + self.b * (self.rho * x + root);
        let w1 = self.b * (self.rho + x / root);
        let w2 = self.b * self.sigma * self.sigma / (root * root * root);
        (w, w1, w2)
    }

    /// Implied volatility (fraction) at log moneyness `k` for `years` to expiry; `None`
    /// where the variance is not positive.
    pub fn implied_vol(&self, k: f64, years: f64) -> Option<f64> {
        let w = self.total_variance(k);
        (w > 0.0 && years > 0.0).then(|| (w / years).sqrt())
    }

    /// Durrleman's g(k): the risk-neutral density is non-negative where g ≥ 0.
    pub fn density_condition(&self, k: f64) -> f64 {
        let (w, w1, w2) = self.derivatives(k);
        let term = 1.0 - k * w1 / (2.0 * w);
        term * term - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
    }

    /// The parameter-only conditions: domain, Lee's bound, minimum variance ≥ 0.
    pub fn check_parameters(&self) -> Result<(), Arbitrage> {
        let finite = [self.a, self.b, self.rho, self.m, self.sigma]
            .iter()
            .all(|v| v.is_finite());
        if !finite || self.b < 0.0 || self.rho.abs() >= 1.0 || self.sigma <= 0.0 {
            return Err(Arbitrage::Domain);
        }
        if self.b * (1.0 + self.rho.abs()) > WING_SLOPE_MAX + CHECK_TOLERANCE {
            return Err(Arbitrage::WingSlope);
        }
        let minimum = self.a + self.b * self.sigma * (1.0 - self.rho * self.rho).sqrt();
        if minimum < -CHECK_TOLERANCE {
            return Err(Arbitrage::NegativeVariance);
        }
        Ok(())
    }

    /// Every butterfly condition, the density scanned on `grid`.
    pub fn check_butterfly(&self, grid: &CheckGrid) -> Result<(), Arbitrage> {
        self.check_parameters()?;
        for k in grid.points() {
            if self.total_variance(k) <= 0.0 {
                return Err(Arbitrage::NegativeVariance);
            }
            if self.density_condition(k) < -CHECK_TOLERANCE {
                return Err(Arbitrage::Butterfly);
            }
        }
        Ok(())
    }
}

/// No calendar arbitrage between a shorter and a longer expiry: w_longer(k) ≥
/// w_shorter(k) at every point of `grid`.
pub fn check_calendar(
    shorter: &SviParams,
    longer: &SviParams,
    grid: &CheckGrid,
) -> Result<(), Arbitrage> {
    for k in grid.points() {
        if longer.total_variance(k) < shorter.total_variance(k) - CHECK_TOLERANCE {
            return Err(Arbitrage::Calendar);
        }
    }
    Ok(())
}

/// The log-moneyness points the arbitrage checks scan: the quoted range widened by
/// [`CHECK_MARGIN`], and at least ±[`CHECK_RANGE_MIN`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckGrid {
    pub from: f64,
    pub to: f64,
    pub points: usize,
}

impl CheckGrid {
    pub fn around(k_min: f64, k_max: f64) -> CheckGrid {
        CheckGrid {
            from: (k_min - CHECK_MARGIN).min(-CHECK_RANGE_MIN),
            to: (k_max + CHECK_MARGIN).max(CHECK_RANGE_MIN),
            points: CHECK_POINTS,
        }
    }

    /// The same span with fewer points (the fit's penalty scans this one).
    pub fn coarse(&self, points: usize) -> CheckGrid {
        CheckGrid { points, ..*self }
    }

    pub fn points(&self) -> impl Iterator<Item = f64> + '_ {
        let step = (self.to - self.from) / (self.points.max(2) - 1) as f64;
        (0..self.points).map(move |i| self.from + step * i as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gatheral & Jacquier (2014), example 3.1: raw SVI parameters that satisfy Lee's
    /// bound yet carry butterfly arbitrage (g < 0 near k = 1.5).
    const GATHERAL_JACQUIER_ARBITRAGE: SviParams = SviParams {
        a: -0.0410,
        b: 0.1331,
        rho: 0.3060,
        m: 0.3586,
        sigma: 0.4153,
    };

    #[test]
    fn the_published_counterexample_is_refused_and_a_plain_smile_accepted() {
        let grid = CheckGrid::around(-1.0, 1.0);
        assert_eq!(GATHERAL_JACQUIER_ARBITRAGE.check_parameters(), Ok(()));
        assert_eq!(
            GATHERAL_JACQUIER_ARBITRAGE.check_butterfly(&grid),
            Err(Arbitrage::Butterfly)
        );
        let plain = SviParams {
            a: 0.02,
            b: 0.1,
            rho: -0.3,
            m: 0.0,
            sigma: 0.2,
        };
        assert_eq!(plain.check_butterfly(&grid), Ok(()));
        let steep = SviParams { b: 1.8, ..plain };
        assert_eq!(steep.check_parameters(), Err(Arbitrage::WingSlope));
        let longer = SviParams { a: 0.04, ..plain };
        assert_eq!(check_calendar(&plain, &longer, &grid), Ok(()));
        assert_eq!(
            check_calendar(&longer, &plain, &grid),
            Err(Arbitrage::Calendar)
        );
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let p = GATHERAL_JACQUIER_ARBITRAGE;
        for k in [-1.0, -0.2, 0.0, 0.4, 1.3] {
            let h = 1e-5;
            let (_, w1, w2) = p.derivatives(k);
            let fd1 = (p.total_variance(k + h) - p.total_variance(k - h)) / (2.0 * h);
            let fd2 = (p.total_variance(k + h) - 2.0 * p.total_variance(k)
                + p.total_variance(k - h))
                / (h * h);
            assert!((w1 - fd1).abs() < 1e-8, "{k}: {w1} vs {fd1}");
            assert!((w2 - fd2).abs() < 1e-4, "{k}: {w2} vs {fd2}");
        }
    }
}
