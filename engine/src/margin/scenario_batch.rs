//! Scenario vectors of many options at once through the batch pricer: every option's base
//! value and its 27 + 8 shocked values go into one structure-of-arrays batch (36 rows an
//! option), priced in one vectorised pass. The engine's revaluation path; the offline
//! `position_vector` prices the same rows one at a time (they agree to ~1e-15 relative).
//!
//! A row the pricer would refuse is caught when its option is pushed, so one bad option
//! never spoils the batch: each option's result depends on its own inputs alone, whatever
//! else shares the batch.

use super::params::PmParams;
use super::portfolio_margin::{MarginError, shocked_vols};
use super::scenarios::{
    EXTENDED_MOVES, EXTENDED_SCENARIOS, PRICE_BUCKETS, STANDARD_SCENARIOS, ScenarioVector,
    VOL_SCENARIOS, VolScenario, standard_move,
};
use crate::pricing::{BatchGreeks, OptionColumns, OptionInputs, OptionKind, black76_batch};

/// Rows priced per option: the base value, the standard grid, the extended table.
pub const ROWS_PER_OPTION: usize = 1 + STANDARD_SCENARIOS + EXTENDED_SCENARIOS;

/// One option to revalue: its terms and market, per unit of underlying.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioOption {
    pub kind: OptionKind,
    pub strike: f64,
    /// Years to expiry (≤ 0 values at expiry).
    pub years: f64,
    /// Values in coin (÷ the scenario's forward) rather than the quote currency.
    pub inverse: bool,
    pub forward: f64,
    pub vol: f64,
}

/// Preallocated batch of options (a named limit: `options_max`); reused, never grown.
#[derive(Debug)]
pub struct ScenarioBatch {
    options_max: usize,
    inverse: Vec<bool>,
    extended_factor: Vec<f64>,
    inputs: OptionColumns,
    /// Output columns at full capacity; a batch prices a prefix.
    price_usd: Vec<f64>,
    scratch: [Vec<f64>; 5],
}

impl ScenarioBatch {
    pub fn with_capacity(options_max: usize) -> Self {
        let rows = options_max * ROWS_PER_OPTION;
        ScenarioBatch {
            options_max,
            inverse: Vec::with_capacity(options_max),
            extended_factor: Vec::with_capacity(options_max),
            inputs: OptionColumns::with_capacity(rows),
            price_usd: vec![0.0; rows],
            scratch: std::array::from_fn(|_| vec![0.0; rows]),
        }
    }

    /// Options pushed since the last `clear`.
    pub fn len(&self) -> usize {
        self.inverse.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inverse.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.len() == self.options_max
    }

    pub fn clear(&mut self) {
        self.inverse.clear();
        self.extended_factor.clear();
        let c = &mut self.inputs;
        for column in [
            &mut c.forward,
            &mut c.strike,
            &mut c.years,
            &mut c.vol,
            &mut c.rate,
        ] {
            column.clear();
        }
        c.kind.clear();
    }

    /// Adds an option's 36 rows; its slot is `len() - 1` afterwards. Refused (nothing
    /// added) when the batch is full or any row is outside the pricer's domain.
    pub fn push(&mut self, option: &ScenarioOption, params: &PmParams) -> Result<(), MarginError> {
        if self.is_full() {
            return Err(MarginError::Unpriced);
        }
        let ScenarioOption {
            kind,
            strike,
            forward,
            vol,
            ..
        } = *option;
        let years = option.years.max(0.0);
        let row = |forward: f64, vol: f64| OptionInputs {
            kind,
            forward,
            strike,
            years,
            vol,
            rate: 0.0,
        };
        let vols = shocked_vols(vol, years, params);
        let mut rows = [row(forward, vol); ROWS_PER_OPTION];
        for bucket in 0..PRICE_BUCKETS {
            let shocked_forward = forward * (1.0 + standard_move(bucket, params.price_range));
            for scenario in VolScenario::ALL {
                rows[1 + bucket * VOL_SCENARIOS + scenario as usize] =
                    row(shocked_forward, vols[scenario as usize]);
            }
        }
        for (slot, m) in EXTENDED_MOVES.iter().enumerate() {
            rows[1 + STANDARD_SCENARIOS + slot] =
                row(forward * (1.0 + m), vols[VolScenario::Up as usize]);
        }
        if rows.iter().any(|r| r.validate().is_err()) {
            return Err(MarginError::InvalidOption { strike, years });
        }
        rows.iter().for_each(|r| self.inputs.push(*r));
        self.inverse.push(option.inverse);
        self.extended_factor.push(params.extended_table_factor);
        Ok(())
    }

    /// Prices every row pushed. Allocates nothing.
    pub fn price(&mut self) -> Result<(), MarginError> {
        let rows = self.inputs.len();
        let [delta, gamma, vega, theta, rho] = &mut self.scratch;
        let mut out = BatchGreeks {
            price_usd: &mut self.price_usd[..rows],
            delta: &mut delta[..rows],
            gamma_per_usd: &mut gamma[..rows],
            vega_usd: &mut vega[..rows],
            theta_usd_per_day: &mut theta[..rows],
            rho_usd: &mut rho[..rows],
        };
        black76_batch(&self.inputs.as_batch(), &mut out).map_err(|_| MarginError::Unpriced)
    }

    /// PnL vector of one unit of the option in slot `slot` (after [`price`]), in coin
    /// when inverse, else in the quote currency.
    ///
    /// [`price`]: ScenarioBatch::price
    pub fn unit_vector(&self, slot: usize) -> ScenarioVector {
        let first = slot * ROWS_PER_OPTION;
        let inverse = self.inverse[slot];
        let value = |row: usize| {
            let price = self.price_usd[first + row];
            if inverse {
                price / self.inputs.forward[first + row]
            } else {
                price
            }
        };
        let base = value(0);
        let factor = self.extended_factor[slot];
        let mut vector = ScenarioVector::ZERO;
        for (i, v) in vector.standard.iter_mut().enumerate() {
            *v = value(1 + i) - base;
        }
        for (i, v) in vector.extended.iter_mut().enumerate() {
            *v = (value(1 + STANDARD_SCENARIOS + i) - base) * factor;
        }
        vector
    }

    /// The base value of one unit (slot `slot`, after pricing).
    pub fn unit_value(&self, slot: usize) -> f64 {
        let first = slot * ROWS_PER_OPTION;
        let price = self.price_usd[first];
        if self.inverse[slot] {
            price / self.inputs.forward[first]
        } else {
            price
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::margin::{PmContract, PmMarket, position_vector};

    #[test]
    fn batch_vectors_match_the_scalar_path_and_ignore_their_neighbours() {
        let params = PmParams::BTC;
        let options = [
            ScenarioOption {
                kind: OptionKind::Call,
                strike: 100_000.0,
                years: 0.1,
                inverse: true,
                forward: 95_000.0,
                vol: 0.6,
            },
            ScenarioOption {
                kind: OptionKind::Put,
                strike: 3_000.0,
                years: 0.002,
                inverse: false,
                forward: 3_100.0,
                vol: 0.9,
            },
        ];
        let mut batch = ScenarioBatch::with_capacity(4);
        for option in &options {
            batch.push(option, &params).expect("valid");
        }
        batch.price().expect("priced");
        let mut alone = ScenarioBatch::with_capacity(1);
        for (slot, option) in options.iter().enumerate() {
            let scalar = position_vector(
                &PmContract::Option {
                    kind: option.kind,
                    strike: option.strike,
                    years: option.years,
                    inverse: option.inverse,
                },
                1.0,
                &PmMarket {
                    index: option.forward,
                    forward: option.forward,
                    vol: option.vol,
                },
                &params,
            )
            .expect("scalar");
            let batched = batch.unit_vector(slot);
            for (a, b) in batched
                .standard
                .iter()
                .chain(&batched.extended)
                .zip(scalar.standard.iter().chain(&scalar.extended))
            {
                assert!((a - b).abs() <= 1e-12 * option.forward, "{a} vs {b}");
            }
            alone.clear();
            alone.push(option, &params).expect("valid");
            alone.price().expect("priced");
            assert_eq!(
                alone.unit_vector(0),
                batched,
                "same bits whatever the batch"
            );
        }
    }

    #[test]
    fn a_row_outside_the_domain_is_refused_on_push_and_a_full_batch_too() {
        let mut batch = ScenarioBatch::with_capacity(1);
        let bad = ScenarioOption {
            kind: OptionKind::Call,
            strike: 100.0,
            years: 0.1,
            inverse: true,
            forward: 100.0,
            vol: 99.0, // the up shock exceeds the pricer's vol limit
        };
        assert!(batch.push(&bad, &PmParams::BTC).is_err());
        assert!(batch.is_empty());
        let good = ScenarioOption { vol: 0.5, ..bad };
        batch.push(&good, &PmParams::BTC).expect("valid");
        assert!(batch.push(&good, &PmParams::BTC).is_err(), "full");
    }
}
