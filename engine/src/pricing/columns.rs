//! Owned structure-of-arrays storage for batch pricing: the option columns and the Greek
//! columns, allocated once (preallocate, then reuse) and lent to `black76_batch`.

use super::batch::{BatchGreeks, BatchInputs};
use super::black76::{OptionInputs, OptionKind};

/// Option inputs, one option per index.
#[derive(Clone, Debug, Default)]
pub struct OptionColumns {
    pub kind: Vec<OptionKind>,
    pub forward: Vec<f64>,
    pub strike: Vec<f64>,
    pub years: Vec<f64>,
    pub vol: Vec<f64>,
    pub rate: Vec<f64>,
}

impl OptionColumns {
    /// Empty columns with room for `capacity` options.
    pub fn with_capacity(capacity: usize) -> Self {
        OptionColumns {
            kind: Vec::with_capacity(capacity),
            forward: Vec::with_capacity(capacity),
            strike: Vec::with_capacity(capacity),
            years: Vec::with_capacity(capacity),
            vol: Vec::with_capacity(capacity),
            rate: Vec::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, option: OptionInputs) {
        self.kind.push(option.kind);
        self.forward.push(option.forward);
        self.strike.push(option.strike);
        self.years.push(option.years);
        self.vol.push(option.vol);
        self.rate.push(option.rate);
    }

    /// The option at `index`.
    pub fn option(&self, index: usize) -> OptionInputs {
        self.as_batch().option(index)
    }

    /// Empties every column, keeping the capacity.
    pub fn clear(&mut self) {
        self.kind.clear();
        self.forward.clear();
        self.strike.clear();
        self.years.clear();
        self.vol.clear();
        self.rate.clear();
    }

    pub fn len(&self) -> usize {
        self.kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    pub fn as_batch(&self) -> BatchInputs<'_> {
        BatchInputs {
            kind: &self.kind,
            forward: &self.forward,
            strike: &self.strike,
            years: &self.years,
            vol: &self.vol,
            rate: &self.rate,
        }
    }
}

/// Batch results, one option per index; units as in [`super::Greeks`].
#[derive(Clone, Debug, Default)]
pub struct GreeksColumns {
    pub price_usd: Vec<f64>,
    pub delta: Vec<f64>,
    pub gamma_per_usd: Vec<f64>,
    pub vega_usd: Vec<f64>,
    pub theta_usd_per_day: Vec<f64>,
    pub rho_usd: Vec<f64>,
}

impl GreeksColumns {
    /// Columns of `len` entries, each `fill`.
    pub fn filled(len: usize, fill: f64) -> Self {
        GreeksColumns {
            price_usd: vec![fill; len],
            delta: vec![fill; len],
            gamma_per_usd: vec![fill; len],
            vega_usd: vec![fill; len],
            theta_usd_per_day: vec![fill; len],
            rho_usd: vec![fill; len],
        }
    }

    /// The first `len` entries of each column, as batch output.
    pub fn prefix(&mut self, len: usize) -> BatchGreeks<'_> {
        BatchGreeks {
            price_usd: &mut self.price_usd[..len],
            delta: &mut self.delta[..len],
            gamma_per_usd: &mut self.gamma_per_usd[..len],
            vega_usd: &mut self.vega_usd[..len],
            theta_usd_per_day: &mut self.theta_usd_per_day[..len],
            rho_usd: &mut self.rho_usd[..len],
        }
    }

    /// Row `index` as scalar Greeks (the bounded theta, which the batch does not compute,
    /// set to the instantaneous one).
    pub fn greeks(&self, index: usize) -> super::Greeks {
        super::Greeks {
            price_usd: self.price_usd[index],
            delta: self.delta[index],
            gamma_per_usd: self.gamma_per_usd[index],
            vega_usd: self.vega_usd[index],
            theta_usd_per_day: self.theta_usd_per_day[index],
            theta_bounded_usd_per_day: self.theta_usd_per_day[index],
            rho_usd: self.rho_usd[index],
        }
    }

    pub fn as_batch(&mut self) -> BatchGreeks<'_> {
        BatchGreeks {
            price_usd: &mut self.price_usd,
            delta: &mut self.delta,
            gamma_per_usd: &mut self.gamma_per_usd,
            vega_usd: &mut self.vega_usd,
            theta_usd_per_day: &mut self.theta_usd_per_day,
            rho_usd: &mut self.rho_usd,
        }
    }

    /// The six columns, in field order.
    pub fn columns(&self) -> [&[f64]; 6] {
        [
            &self.price_usd,
            &self.delta,
            &self.gamma_per_usd,
            &self.vega_usd,
            &self.theta_usd_per_day,
            &self.rho_usd,
        ]
    }
}
