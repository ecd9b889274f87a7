//! Scenario vectors of many options at once through the batch pricer: every option's base
//! value and its 27 + 8 shocked values go into one structure-of-arrays batch (36 rows an
//! option), priced in one vectorised pass. The engine's revaluation path; the offline
//! `position_vector` prices the same rows one at a time (they agree to ~1e-15 relative).
//!
//! A row the pricer would refuse is caught when its option is pushed, so one bad option
//! never spoils the batch: each option's result depends on its own inputs alone, whatever
//! else shares the batch.

use super::params::PmParams;
use super::portfolio_margin::{MarginError, shocked_vols_scaled, vol_shock_scale};
use super::scenarios::{
    EXTENDED_MOVES, EXTENDED_SCENARIOS, PRICE_BUCKETS, STANDARD_SCENARIOS, ScenarioVector,
    VOL_SCENARIOS, VolScenario, standard_move,
};
use crate::pricing::batch::{black76_batch_price_shared, log_moneyness, widest_simd};
use crate::pricing::lanes::SharedRows;
use crate::pricing::{OptionColumns, OptionInputs, OptionKind};

/// Rows priced per option: the base value, the standard grid, the extended table.
pub const ROWS_PER_OPTION: usize = 1 + STANDARD_SCENARIOS + EXTENDED_SCENARIOS;
/// Distinct forwards among an option's rows: the base (0), one per price bucket
/// (1 + bucket), one per extended move (1 + PRICE_BUCKETS + move). Each row's ln(F/K) is
/// computed once per distinct forward.
const FORWARDS_PER_OPTION: usize = 1 + PRICE_BUCKETS + EXTENDED_SCENARIOS;

/// Rows are laid out by vol so that each run of rows reads a run of distinct forwards at
/// one vol: rows `BASE_ROWS` price forwards 0..=PRICE_BUCKETS at the mark's vol (the base
/// and the unchanged-vol scenarios), rows `DOWN_ROWS` the bucket forwards at the down
/// shock, rows `UP_ROWS` the bucket and extended forwards at the up shock.
const BASE_ROWS: std::ops::Range<usize> = 0..1 + PRICE_BUCKETS;
const DOWN_ROWS: std::ops::Range<usize> = BASE_ROWS.end..BASE_ROWS.end + PRICE_BUCKETS;
const UP_ROWS: std::ops::Range<usize> =
    DOWN_ROWS.end..DOWN_ROWS.end + PRICE_BUCKETS + EXTENDED_SCENARIOS;
/// The distinct forwards each run reads.
const BASE_FORWARDS: std::ops::Range<usize> = 0..1 + PRICE_BUCKETS;
const DOWN_FORWARDS: std::ops::Range<usize> = 1..1 + PRICE_BUCKETS;
const UP_FORWARDS: std::ops::Range<usize> = 1..FORWARDS_PER_OPTION;

/// The row of a standard scenario (price bucket, vol scenario).
const fn standard_row(bucket: usize, vol: VolScenario) -> usize {
    match vol {
        VolScenario::Same => BASE_ROWS.start + 1 + bucket,
        VolScenario::Down => DOWN_ROWS.start + bucket,
        VolScenario::Up => UP_ROWS.start + bucket,
    }
}

/// A sufficient condition for every row to pass `OptionInputs::validate`, without
/// divisions or branches: forwards and strike within 1e±100 (so F/K is normal), years at
/// most `YEARS_MAX` (rate is 0), vols within [0, `VOL_MAX`]. When it fails, the exact
/// checks decide.
fn in_common_domain(
    forwards: &[f64; FORWARDS_PER_OPTION],
    strike: f64,
    years: f64,
    vols: &[f64; VOL_SCENARIOS],
) -> bool {
    use crate::pricing::black76::{VOL_MAX, YEARS_MAX};
    const RANGE: std::ops::RangeInclusive<f64> = 1e-100..=1e100;
    let forwards_ok = forwards.iter().fold(true, |ok, f| ok & RANGE.contains(f));
    let vols_ok = vols
        .iter()
        .fold(true, |ok, v| ok & (0.0..=VOL_MAX).contains(v));
    forwards_ok & vols_ok & RANGE.contains(&strike) & (years <= YEARS_MAX)
}

widest_simd! {
    /// Gathers each row's F/K and ln(F/K) from its option's distinct forwards, and its
    /// σ√T and 1/(σ√T) from its run's vol: fixed-size per option, vectorised, no calls.
    #[allow(clippy::too_many_arguments)]
    fn lay_out_rows(
        years: &[f64],
        vols: &[[f64; VOL_SCENARIOS]],
        distinct_moneyness: &[f64],
        distinct_log_moneyness: &[f64],
        row_moneyness: &mut [f64],
        row_log_moneyness: &mut [f64],
        row_std_dev: &mut [f64],
        row_inverse_std_dev: &mut [f64],
    ) {
        let options = years
            .iter()
            .zip(vols)
            .zip(distinct_moneyness.chunks_exact(FORWARDS_PER_OPTION))
            .zip(distinct_log_moneyness.chunks_exact(FORWARDS_PER_OPTION))
            .zip(row_moneyness.chunks_exact_mut(ROWS_PER_OPTION))
            .zip(row_log_moneyness.chunks_exact_mut(ROWS_PER_OPTION))
            .zip(row_std_dev.chunks_exact_mut(ROWS_PER_OPTION))
            .zip(row_inverse_std_dev.chunks_exact_mut(ROWS_PER_OPTION));
        for (((((((years, vols), moneyness), log_moneyness), rows_m), rows_l), rows_s), rows_i)
            in options
        {
            // Fixed-size views: constant indices after unrolling, no bounds checks.
            let (Ok(moneyness), Ok(log_moneyness)) = (
                <&[f64; FORWARDS_PER_OPTION]>::try_from(moneyness),
                <&[f64; FORWARDS_PER_OPTION]>::try_from(log_moneyness),
            ) else {
                continue;
            };
            let (Ok(rows_m), Ok(rows_l), Ok(rows_s), Ok(rows_i)) = (
                <&mut [f64; ROWS_PER_OPTION]>::try_from(rows_m),
                <&mut [f64; ROWS_PER_OPTION]>::try_from(rows_l),
                <&mut [f64; ROWS_PER_OPTION]>::try_from(rows_s),
                <&mut [f64; ROWS_PER_OPTION]>::try_from(rows_i),
            ) else {
                continue;
            };
            let sqrt_years = years.sqrt();
            let std_devs = vols.map(|vol| vol * sqrt_years);
            let inverse_std_devs = std_devs.map(|std_dev| 1.0 / std_dev);
            // Contiguous runs of constant length: inline vector moves.
            let runs = [
                (BASE_ROWS, BASE_FORWARDS),
                (DOWN_ROWS, DOWN_FORWARDS),
                (UP_ROWS, UP_FORWARDS),
            ];
            for (run, (rows, sources)) in runs.into_iter().enumerate() {
                rows_m[rows.clone()].copy_from_slice(&moneyness[sources.clone()]);
                rows_l[rows.clone()].copy_from_slice(&log_moneyness[sources]);
                rows_s[rows.clone()].fill(std_devs[run]);
                rows_i[rows].fill(inverse_std_devs[run]);
            }
        }
    }
}

widest_simd! {
    /// Each row's value in its option's settlement currency: the USD price, ÷ the row's
    /// forward when inverse.
    fn settlement_values(inverse: &[bool], price_usd: &[f64], forward: &[f64], value: &mut [f64]) {
        let options = inverse
            .iter()
            .zip(price_usd.chunks_exact(ROWS_PER_OPTION))
            .zip(forward.chunks_exact(ROWS_PER_OPTION))
            .zip(value.chunks_exact_mut(ROWS_PER_OPTION));
        for (((&inverse, price), forward), value) in options {
            if inverse {
                for row in 0..ROWS_PER_OPTION {
                    value[row] = price[row] / forward[row];
                }
            } else {
                value.copy_from_slice(price);
            }
        }
    }
}

/// The row of an extended move.
const fn extended_row(slot: usize) -> usize {
    UP_ROWS.start + PRICE_BUCKETS + slot
}

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
    /// Output column at full capacity; a batch prices a prefix.
    price_usd: Vec<f64>,
    /// Per option: √T's input (years ≥ 0) and the vols of its three runs of rows.
    years: Vec<f64>,
    vols: Vec<[f64; 3]>,
    /// Per option × distinct forward: (forward, strike) in, F/K and ln(F/K) out.
    distinct_forward: Vec<f64>,
    distinct_strike: Vec<f64>,
    distinct_moneyness: Vec<f64>,
    distinct_log_moneyness: Vec<f64>,
    /// Per row, gathered from the distinct values (full capacity; a prefix is used).
    row_moneyness: Vec<f64>,
    row_log_moneyness: Vec<f64>,
    row_std_dev: Vec<f64>,
    row_inverse_std_dev: Vec<f64>,
    /// Rows the main kernel left to the tail pass (working memory).
    tail_rows: Vec<u32>,
    /// Per row, after pricing: the value in the option's settlement currency (coin when
    /// inverse: the USD price ÷ the row's forward).
    value: Vec<f64>,
    /// The last vol-shock scale computed: (years, short-term power, long-term power) as
    /// bits, and the scale. Options of one expiry arrive together (ids are listed by
    /// expiry), so one `powf` serves them all; the same bits as computing it each time.
    scale_memo: Option<([u64; 3], f64)>,
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
            years: Vec::with_capacity(options_max),
            vols: Vec::with_capacity(options_max),
            distinct_forward: Vec::with_capacity(options_max * FORWARDS_PER_OPTION),
            distinct_strike: Vec::with_capacity(options_max * FORWARDS_PER_OPTION),
            distinct_moneyness: vec![0.0; options_max * FORWARDS_PER_OPTION],
            distinct_log_moneyness: vec![0.0; options_max * FORWARDS_PER_OPTION],
            row_moneyness: vec![0.0; rows],
            row_log_moneyness: vec![0.0; rows],
            row_std_dev: vec![0.0; rows],
            row_inverse_std_dev: vec![0.0; rows],
            tail_rows: Vec::with_capacity(rows),
            value: vec![0.0; rows],
            scale_memo: None,
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
        self.years.clear();
        self.vols.clear();
        self.distinct_forward.clear();
        self.distinct_strike.clear();
        self.inputs.clear();
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
        let key = [
            years.to_bits(),
            params.short_term_vega_power.to_bits(),
            params.long_term_vega_power.to_bits(),
        ];
        let scale = match self.scale_memo {
            Some((memo_key, scale)) if memo_key == key => scale,
            _ => {
                let scale = vol_shock_scale(years, params);
                self.scale_memo = Some((key, scale));
                scale
            }
        };
        let vols = shocked_vols_scaled(vol, scale, params);
        let down = vols[VolScenario::Down as usize];
        let up = vols[VolScenario::Up as usize];
        let mut distinct = [forward; FORWARDS_PER_OPTION];
        for bucket in 0..PRICE_BUCKETS {
            distinct[1 + bucket] = forward * (1.0 + standard_move(bucket, params.price_range));
        }
        for (slot, m) in EXTENDED_MOVES.iter().enumerate() {
            distinct[1 + PRICE_BUCKETS + slot] = forward * (1.0 + m);
        }
        let mut forwards = [forward; ROWS_PER_OPTION];
        let mut row_vols = [vol; ROWS_PER_OPTION];
        for (rows, sources, run_vol) in [
            (BASE_ROWS, BASE_FORWARDS, vol),
            (DOWN_ROWS, DOWN_FORWARDS, down),
            (UP_ROWS, UP_FORWARDS, up),
        ] {
            forwards[rows.clone()].copy_from_slice(&distinct[sources]);
            row_vols[rows].fill(run_vol);
        }
        // A row is valid when its forward passes the market checks and its vol the vol
        // check (the two are independent): check each distinct value once, not 36 rows.
        let row = |forward: f64, vol: f64| OptionInputs {
            kind,
            forward,
            strike,
            years,
            vol,
            rate: 0.0,
        };
        let market_ok = |f: f64| row(f, vol).validate().is_ok();
        let vol_ok = |v: f64| row(forward, v).validate().is_ok();
        let valid = in_common_domain(&distinct, strike, years, &vols)
            || (distinct.iter().all(|&f| market_ok(f)) && vols.iter().all(|&v| vol_ok(v)));
        if !valid {
            return Err(MarginError::InvalidOption { strike, years });
        }
        let c = &mut self.inputs;
        c.forward.extend_from_slice(&forwards);
        c.vol.extend_from_slice(&row_vols);
        c.strike.extend_from_slice(&[strike; ROWS_PER_OPTION]);
        c.years.extend_from_slice(&[years; ROWS_PER_OPTION]);
        c.rate.extend_from_slice(&[0.0; ROWS_PER_OPTION]);
        c.kind.extend_from_slice(&[kind; ROWS_PER_OPTION]);
        self.inverse.push(option.inverse);
        self.extended_factor.push(params.extended_table_factor);
        self.years.push(years);
        self.vols.push([vol, down, up]);
        self.distinct_forward.extend_from_slice(&distinct);
        self.distinct_strike
            .extend_from_slice(&[strike; FORWARDS_PER_OPTION]);
        Ok(())
    }

    /// Prices every row pushed (validated when pushed): ln(F/K) once per distinct forward
    /// and σ√T once per distinct vol, then the price-only kernel over the rows. The same
    /// bits as pricing each row on its own. Allocates nothing.
    pub fn price(&mut self) -> Result<(), MarginError> {
        let rows = self.inputs.len();
        let distinct = self.distinct_forward.len();
        log_moneyness(
            &self.distinct_forward,
            &self.distinct_strike,
            &mut self.distinct_moneyness[..distinct],
            &mut self.distinct_log_moneyness[..distinct],
        );
        lay_out_rows(
            &self.years,
            &self.vols,
            &self.distinct_moneyness[..distinct],
            &self.distinct_log_moneyness[..distinct],
            &mut self.row_moneyness[..rows],
            &mut self.row_log_moneyness[..rows],
            &mut self.row_std_dev[..rows],
            &mut self.row_inverse_std_dev[..rows],
        );
        let shared = SharedRows {
            moneyness: &self.row_moneyness[..rows],
            log_moneyness: &self.row_log_moneyness[..rows],
            std_dev: &self.row_std_dev[..rows],
            inverse_std_dev: &self.row_inverse_std_dev[..rows],
        };
        black76_batch_price_shared(
            &self.inputs.as_batch(),
            &shared,
            &mut self.price_usd[..rows],
            &mut self.tail_rows,
        );
        settlement_values(
            &self.inverse,
            &self.price_usd[..rows],
            &self.inputs.forward[..rows],
            &mut self.value[..rows],
        );
        Ok(())
    }

    /// PnL vector of one unit of the option in slot `slot` (after [`price`]), in coin
    /// when inverse, else in the quote currency.
    ///
    /// [`price`]: ScenarioBatch::price
    pub fn unit_vector(&self, slot: usize) -> ScenarioVector {
        let first = slot * ROWS_PER_OPTION;
        let value = |row: usize| self.value[first + row];
        let base = value(0);
        let factor = self.extended_factor[slot];
        let mut vector = ScenarioVector::ZERO;
        for bucket in 0..PRICE_BUCKETS {
            for scenario in VolScenario::ALL {
                vector.standard[bucket * VOL_SCENARIOS + scenario as usize] =
                    value(standard_row(bucket, scenario)) - base;
            }
        }
        for (slot, v) in vector.extended.iter_mut().enumerate() {
            *v = (value(extended_row(slot)) - base) * factor;
        }
        vector
    }

    /// The base value of one unit (slot `slot`, after pricing).
    pub fn unit_value(&self, slot: usize) -> f64 {
        self.value[slot * ROWS_PER_OPTION]
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

    /// Sharing ln(F/K) and σ√T across rows changes no bit of a regular row; rows the tail
    /// pass prices (normal tails, cancelling values) agree with the scalar path to 1e-14
    /// relative or to the scenario contract (2e-14 of min(F, K)), whichever is larger.
    #[test]
    fn shared_rows_agree_with_pricing_each_row() {
        let params = PmParams::BTC;
        let mut batch = ScenarioBatch::with_capacity(64);
        for index in 0..64 {
            let step = index as f64;
            let option = ScenarioOption {
                kind: if index % 2 == 0 {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                },
                strike: 40_000.0 + 1_500.0 * step,
                years: if index % 11 == 0 {
                    0.0
                } else {
                    0.0005 + 0.03 * step
                },
                inverse: index % 3 == 0,
                forward: 90_000.0,
                vol: if index % 13 == 0 {
                    0.0
                } else {
                    0.2 + 0.02 * step
                },
            };
            batch.push(&option, &params).expect("valid");
        }
        batch.price().expect("priced");
        let rows = batch.inputs.len();
        let mut alone = vec![f64::NAN; rows];
        crate::pricing::black76_batch_price(&batch.inputs.as_batch(), &mut alone)
            .expect("valid rows");
        let (mut same_bits, mut tails) = (0, 0);
        for (row, (a, b)) in batch.price_usd[..rows].iter().zip(&alone).enumerate() {
            if a.to_bits() == b.to_bits() {
                same_bits += 1;
                continue;
            }
            tails += 1;
            let scale = batch.inputs.forward[row].min(batch.inputs.strike[row]);
            let tolerance = 1e-14 * b.abs() + crate::pricing::lanes::SCENARIO_ROW_TOLERANCE * scale;
            assert!((a - b).abs() <= tolerance, "row {row}: {a:e} vs {b:e}");
        }
        assert!(
            same_bits > rows / 2,
            "most rows are regular: {same_bits} of {rows}"
        );
        assert!(tails > 0, "the tail pass was exercised");
    }

    /// Nearly expired options: σ√T tiny, so many rows' out-of-the-money values cancel.
    /// Every row stays within the scenario contract of the scalar path.
    #[test]
    fn nearly_expired_rows_stay_within_the_scenario_contract() {
        let params = PmParams::BTC;
        let mut batch = ScenarioBatch::with_capacity(200);
        for index in 0..200 {
            let step = index as f64;
            let option = ScenarioOption {
                kind: if index % 2 == 0 {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                },
                strike: 85_000.0 + 50.0 * step,
                years: 1e-6 * (1.0 + step * step / 10.0),
                inverse: index % 3 == 0,
                forward: 90_000.0,
                vol: 0.3 + 0.005 * step,
            };
            batch.push(&option, &params).expect("valid");
        }
        batch.price().expect("priced");
        let rows = batch.inputs.len();
        let mut worst = 0.0f64;
        for row in 0..rows {
            let scalar = crate::pricing::black76(&batch.inputs.option(row))
                .expect("valid row")
                .price_usd;
            let scale = batch.inputs.forward[row].min(batch.inputs.strike[row]);
            let error = (batch.price_usd[row] - scalar).abs();
            let tolerance =
                1e-14 * scalar.abs() + crate::pricing::lanes::SCENARIO_ROW_TOLERANCE * scale;
            assert!(
                error <= tolerance,
                "row {row}: {} vs {scalar}",
                batch.price_usd[row]
            );
            worst = worst.max(error / scale);
        }
        assert!(worst < 2e-14, "worst {worst:e} of min(F, K)");
    }

    /// An option priced alone (a what-if on an instrument nobody holds: fewer rows than a
    /// chunk, so chunks of 8) gets the bits it gets inside a full batch.
    #[test]
    fn an_option_alone_gets_its_bits_in_a_batch() {
        let params = PmParams::BTC;
        let options: Vec<ScenarioOption> = (0..80)
            .map(|index| {
                let step = index as f64;
                ScenarioOption {
                    kind: if index % 2 == 0 {
                        OptionKind::Call
                    } else {
                        OptionKind::Put
                    },
                    strike: 30_000.0 + 2_000.0 * step,
                    years: 0.002 + 0.01 * step,
                    inverse: index % 3 == 0,
                    forward: 90_000.0,
                    vol: 0.25 + 0.01 * step,
                }
            })
            .collect();
        let mut all = ScenarioBatch::with_capacity(options.len());
        for option in &options {
            all.push(option, &params).expect("valid");
        }
        all.price().expect("priced");
        let mut alone = ScenarioBatch::with_capacity(1);
        for (slot, option) in options.iter().enumerate() {
            alone.clear();
            alone.push(option, &params).expect("valid");
            alone.price().expect("priced");
            let (a, b) = (alone.unit_vector(0), all.unit_vector(slot));
            let bits = |v: &ScenarioVector| {
                v.standard
                    .iter()
                    .chain(&v.extended)
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&a), bits(&b), "option {slot}");
            assert_eq!(
                alone.unit_value(0).to_bits(),
                all.unit_value(slot).to_bits()
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
