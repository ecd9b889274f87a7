//! Many options at once over structure-of-arrays slices: the scenario grid's pricing path.
//!
//! Inputs are validated in one pass first, so a bad row is reported by index and nothing is
//! written; the pricing pass then has no error branches. Results equal the scalar
//! `black76` bit for bit (same kernel), so batch and scalar can be mixed freely.

use thiserror::Error;

use super::black76::{OptionInputs, OptionKind, black76_unchecked};
use super::error::PricingError;

/// Options to price, one per index; every slice must have the same length.
#[derive(Clone, Copy, Debug)]
pub struct BatchInputs<'a> {
    pub kind: &'a [OptionKind],
    pub forward: &'a [f64],
    pub strike: &'a [f64],
    pub years: &'a [f64],
    pub vol: &'a [f64],
    pub rate: &'a [f64],
}

/// Output columns, same length as the inputs; units as in [`super::Greeks`].
#[derive(Debug)]
pub struct BatchGreeks<'a> {
    pub price_usd: &'a mut [f64],
    pub delta: &'a mut [f64],
    pub gamma_per_usd: &'a mut [f64],
    pub vega_usd: &'a mut [f64],
    pub theta_usd_per_day: &'a mut [f64],
    pub rho_usd: &'a mut [f64],
}

/// Why a batch was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum BatchPricingError {
    #[error("batch columns differ in length: expected {expected}, a column has {found}")]
    LengthMismatch { expected: usize, found: usize },
    #[error("option {index}: {error}")]
    InvalidOption { index: usize, error: PricingError },
}

impl BatchInputs<'_> {
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    #[inline(always)]
    fn option(&self, index: usize) -> OptionInputs {
        OptionInputs {
            kind: self.kind[index],
            forward: self.forward[index],
            strike: self.strike[index],
            years: self.years[index],
            vol: self.vol[index],
            rate: self.rate[index],
        }
    }
}

/// Prices every option of `inputs` into `out`. Allocates nothing.
pub fn black76_batch(
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
) -> Result<(), BatchPricingError> {
    let count = inputs.len();
    let lengths = [
        inputs.forward.len(),
        inputs.strike.len(),
        inputs.years.len(),
        inputs.vol.len(),
        inputs.rate.len(),
        out.price_usd.len(),
        out.delta.len(),
        out.gamma_per_usd.len(),
        out.vega_usd.len(),
        out.theta_usd_per_day.len(),
        out.rho_usd.len(),
    ];
    if let Some(&found) = lengths.iter().find(|&&length| length != count) {
        return Err(BatchPricingError::LengthMismatch {
            expected: count,
            found,
        });
    }
    for index in 0..count {
        inputs
            .option(index)
            .validate()
            .map_err(|error| BatchPricingError::InvalidOption { index, error })?;
    }
    for index in 0..count {
        let greeks = black76_unchecked(&inputs.option(index));
        out.price_usd[index] = greeks.price_usd;
        out.delta[index] = greeks.delta;
        out.gamma_per_usd[index] = greeks.gamma_per_usd;
        out.vega_usd[index] = greeks.vega_usd;
        out.theta_usd_per_day[index] = greeks.theta_usd_per_day;
        out.rho_usd[index] = greeks.rho_usd;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::black76;

    struct Columns {
        kind: Vec<OptionKind>,
        forward: Vec<f64>,
        strike: Vec<f64>,
        years: Vec<f64>,
        vol: Vec<f64>,
        rate: Vec<f64>,
    }

    fn chain(count: usize) -> Columns {
        let mut columns = Columns {
            kind: vec![],
            forward: vec![],
            strike: vec![],
            years: vec![],
            vol: vec![],
            rate: vec![],
        };
        for index in 0..count {
            let step = index as f64;
            columns.kind.push(if index % 2 == 0 {
                OptionKind::Call
            } else {
                OptionKind::Put
            });
            columns.forward.push(60_000.0 + step);
            columns.strike.push(30_000.0 + 997.0 * step);
            columns
                .years
                .push(0.001 + 0.01 * step - if index % 17 == 0 { 1.0 } else { 0.0 });
            columns.vol.push(if index % 13 == 0 {
                0.0
            } else {
                0.2 + 0.01 * step
            });
            columns.rate.push(0.0005 * step);
        }
        columns
    }

    fn run(columns: &Columns) -> (Result<(), BatchPricingError>, Vec<Vec<f64>>) {
        let count = columns.kind.len();
        let mut out = vec![vec![f64::NAN; count]; 6];
        let [price, delta, gamma, vega, theta, rho] = out.as_mut_slice() else {
            unreachable!()
        };
        let inputs = BatchInputs {
            kind: &columns.kind,
            forward: &columns.forward,
            strike: &columns.strike,
            years: &columns.years,
            vol: &columns.vol,
            rate: &columns.rate,
        };
        let mut greeks = BatchGreeks {
            price_usd: price,
            delta,
            gamma_per_usd: gamma,
            vega_usd: vega,
            theta_usd_per_day: theta,
            rho_usd: rho,
        };
        (black76_batch(&inputs, &mut greeks), out)
    }

    #[test]
    fn batch_equals_scalar_bit_for_bit() {
        let columns = chain(100);
        let (result, out) = run(&columns);
        result.expect("valid batch");
        for index in 0..100 {
            let scalar = black76(&OptionInputs {
                kind: columns.kind[index],
                forward: columns.forward[index],
                strike: columns.strike[index],
                years: columns.years[index],
                vol: columns.vol[index],
                rate: columns.rate[index],
            })
            .unwrap();
            let expected = [
                scalar.price_usd,
                scalar.delta,
                scalar.gamma_per_usd,
                scalar.vega_usd,
                scalar.theta_usd_per_day,
                scalar.rho_usd,
            ];
            for (column, value) in out.iter().zip(expected) {
                assert_eq!(column[index].to_bits(), value.to_bits(), "option {index}");
            }
        }
    }

    #[test]
    fn bad_row_is_reported_by_index_and_nothing_is_written() {
        let mut columns = chain(10);
        columns.strike[7] = f64::NAN;
        let (result, out) = run(&columns);
        let Err(BatchPricingError::InvalidOption { index, error }) = result else {
            panic!("expected an invalid option, got {result:?}");
        };
        assert_eq!(index, 7);
        assert!(matches!(error, PricingError::InvalidStrike(_)));
        assert!(out.iter().flatten().all(|value| value.is_nan()));
    }

    #[test]
    fn length_mismatch_is_refused() {
        let mut columns = chain(10);
        columns.vol.pop();
        let (result, _) = run(&columns);
        assert_eq!(
            result,
            Err(BatchPricingError::LengthMismatch {
                expected: 10,
                found: 9
            })
        );
    }
}
