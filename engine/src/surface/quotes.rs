//! One expiry's quotes as the fit takes them: a point per strike, from the
//! out-of-the-money option's mark IV (a call at or above the forward, a put below;
//! venues mark both sides of a strike at one IV, so one is enough), weighted by its
//! Black vega with a floor (so the wings, whose vega is tiny, still count a little).

use super::fit::{FIT_POINTS_MAX, SmilePoint};
use crate::events::{InstrumentId, UnderlyingId};

/// The smallest weight, as a share of the largest vega among the expiry's quotes.
pub const WEIGHT_FLOOR_SHARE: f64 = 0.01;

/// A quote before weighting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionQuote {
    pub instrument: InstrumentId,
    pub strike: f64,
    pub is_call: bool,
    /// Mark IV as a fraction.
    pub mark_iv: f64,
    /// The forward the venue marked it against.
    pub forward: f64,
}

/// The quotes of one expiry, ready to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpiryQuotes {
    pub underlying: UnderlyingId,
    pub expiry_ns: u64,
    pub years: f64,
    /// The forward the points' moneyness is taken against (the quotes' median).
    pub forward: f64,
    pub points: Vec<SmilePoint>,
    /// Per point: the instrument, its strike and its quoted IV (fraction).
    pub instruments: Vec<InstrumentId>,
    pub strikes: Vec<f64>,
    pub quoted_vols: Vec<f64>,
}

impl Default for ExpiryQuotes {
    fn default() -> Self {
        ExpiryQuotes {
            underlying: UnderlyingId(0),
            expiry_ns: 0,
            years: 0.0,
            forward: 0.0,
            points: Vec::new(),
            instruments: Vec::new(),
            strikes: Vec::new(),
            quoted_vols: Vec::new(),
        }
    }
}

impl ExpiryQuotes {
    /// Room for `points` points in every vector.
    pub fn reserve(&mut self, points: usize) {
        let more = points.saturating_sub(self.points.len());
        self.points.reserve(more);
        self.instruments.reserve(more);
        self.strikes.reserve(more);
        self.quoted_vols.reserve(more);
    }

    /// Builds the points from `quotes` (any order), keeping at most
    /// [`FIT_POINTS_MAX`] strikes nearest the money. Reuses its vectors.
    pub fn build(
        &mut self,
        underlying: UnderlyingId,
        expiry_ns: u64,
        years: f64,
        quotes: &mut [OptionQuote],
    ) {
        self.underlying = underlying;
        self.expiry_ns = expiry_ns;
        self.years = years;
        self.points.clear();
        self.instruments.clear();
        self.strikes.clear();
        self.quoted_vols.clear();
        let usable = |q: &OptionQuote| {
            q.mark_iv.is_finite()
                && q.mark_iv > 0.0
                && q.forward.is_finite()
                && q.forward > 0.0
                && q.strike.is_finite()
                && q.strike > 0.0
        };
        // The median forward of the usable quotes: one number for the whole expiry.
        quotes.sort_by(|a, b| {
            (!usable(a), a.forward)
                .partial_cmp(&(!usable(b), b.forward))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let count = quotes.iter().filter(|q| usable(q)).count();
        if count == 0 || !(years.is_finite() && years > 0.0) {
            self.forward = 0.0;
            return;
        }
        let forward = quotes[count / 2].forward;
        self.forward = forward;
        let quotes = &mut quotes[..count];
        // Nearest the money first, then by strike and the OTM side first: the first
        // quote of each strike is the one kept.
        quotes.sort_by(|a, b| {
            let key = |q: &OptionQuote| {
                let otm = q.is_call == (q.strike >= forward);
                (q.strike, !otm)
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut max_vega: f64 = 0.0;
        let mut last_strike = f64::NAN;
        for q in quotes.iter() {
            if q.strike == last_strike {
                continue;
            }
            last_strike = q.strike;
            let k = (q.strike / forward).ln();
            let total_variance = q.mark_iv * q.mark_iv * years;
            let vega = black_vega(forward, k, total_variance, years);
            max_vega = max_vega.max(vega);
            self.points.push(SmilePoint {
                log_moneyness: k,
                total_variance,
                weight: vega,
            });
            self.instruments.push(q.instrument);
            self.strikes.push(q.strike);
            self.quoted_vols.push(q.mark_iv);
        }
        for p in &mut self.points {
            p.weight = p
                .weight
                .max(max_vega * WEIGHT_FLOOR_SHARE)
                .max(f64::MIN_POSITIVE);
        }
        if self.points.len() > FIT_POINTS_MAX {
            self.keep_nearest_the_money(FIT_POINTS_MAX);
        }
    }

    fn keep_nearest_the_money(&mut self, count: usize) {
        let mut order: Vec<usize> = (0..self.points.len()).collect();
        order.sort_by(|&i, &j| {
            self.points[i]
                .log_moneyness
                .abs()
                .total_cmp(&self.points[j].log_moneyness.abs())
        });
        order.truncate(count);
        order.sort_unstable();
        fn pick<T: Copy>(order: &[usize], v: &mut Vec<T>) {
            *v = order.iter().map(|&i| v[i]).collect();
        }
        pick(&order, &mut self.points);
        pick(&order, &mut self.instruments);
        pick(&order, &mut self.strikes);
        pick(&order, &mut self.quoted_vols);
    }
}

/// Black vega per unit of volatility, forward terms (undiscounted): F·φ(d1)·√T.
fn black_vega(forward: f64, log_moneyness: f64, total_variance: f64, years: f64) -> f64 {
    let root = total_variance.sqrt();
    let d1 = -log_moneyness / root + root / 2.0;
    let density = (-d1 * d1 / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let vega = forward * density * years.sqrt();
    if vega.is_finite() { vega } else { 0.0 }
}
