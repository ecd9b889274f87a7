//! Many options at once over structure-of-arrays slices: the scenario grid's pricing path.
//!
//! Inputs are validated in one pass first, so a bad row is reported by index and nothing is
//! written. The pricing pass runs the branch-free kernel of `lanes.rs` over the columns
//! (vectorised; on x86-64 the widest of AVX-512, AVX2 or SSE2 the CPU has, chosen at run
//! time, all giving the same bits since no FMA is formed), then prices the few options
//! the kernel leaves out (expired, σ = 0, far tails, deep OTM) on the scalar path. Results
//! agree with scalar `black76` to ~1e-15 relative (the scalar path uses libm).

use thiserror::Error;

use super::black76::{Greeks, OptionInputs, OptionKind, black76_unchecked};
use super::error::PricingError;
use super::lanes::{
    SharedRows, log_moneyness_lanes, price_lanes, price_only_lanes, price_only_lanes_shared,
    price_tail_rows,
};

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

    /// The option at `index`.
    #[inline(always)]
    pub fn option(&self, index: usize) -> OptionInputs {
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

/// One option valued by the batch kernel: the bits it gets in any batch (lanes are
/// independent), so a valuation made alone (an instrument nobody held, a what-if) equals
/// the one a batch end would have made. Allocates nothing.
pub fn black76_as_in_batch(option: &OptionInputs) -> Result<Greeks, BatchPricingError> {
    let inputs = BatchInputs {
        kind: &[option.kind],
        forward: &[option.forward],
        strike: &[option.strike],
        years: &[option.years],
        vol: &[option.vol],
        rate: &[option.rate],
    };
    // One row per output column: price, delta, gamma, vega, theta, rho.
    let mut row = [[0.0f64; 1]; 6];
    let [p, d, g, v, t, r] = &mut row;
    let mut out = BatchGreeks {
        price_usd: p,
        delta: d,
        gamma_per_usd: g,
        vega_usd: v,
        theta_usd_per_day: t,
        rho_usd: r,
    };
    black76_batch(&inputs, &mut out)?;
    let [[p], [d], [g], [v], [t], [r]] = row;
    Ok(Greeks {
        price_usd: p,
        delta: d,
        gamma_per_usd: g,
        vega_usd: v,
        theta_usd_per_day: t,
        theta_bounded_usd_per_day: t,
        rho_usd: r,
    })
}

/// Prices every option of `inputs` into `out`. Allocates nothing.
pub fn black76_batch(
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
) -> Result<(), BatchPricingError> {
    let (count, zero_rate) = checked_rows(
        inputs,
        &[
            out.price_usd.len(),
            out.delta.len(),
            out.gamma_per_usd.len(),
            out.vega_usd.len(),
            out.theta_usd_per_day.len(),
            out.rho_usd.len(),
        ],
    )?;
    price_lanes_dispatch(inputs, out, count, zero_rate);
    // The rare options the kernel leaves out (NaN price) take the scalar path.
    let BatchGreeks {
        price_usd,
        delta,
        gamma_per_usd,
        vega_usd,
        theta_usd_per_day,
        rho_usd,
    } = out;
    for_each_nan_row(&mut price_usd[..count], |index, price| {
        let greeks = black76_unchecked(&inputs.option(index));
        *price = greeks.price_usd;
        delta[index] = greeks.delta;
        gamma_per_usd[index] = greeks.gamma_per_usd;
        vega_usd[index] = greeks.vega_usd;
        theta_usd_per_day[index] = greeks.theta_usd_per_day;
        rho_usd[index] = greeks.rho_usd;
    });
    Ok(())
}

/// Prices only (no Greeks) of every option of `inputs` into `price_usd`: validated in one
/// pass first (a bad row is reported by index and nothing is written). Same values as
/// `black76_batch(..).price_usd`. Allocates nothing.
pub fn black76_batch_price(
    inputs: &BatchInputs<'_>,
    price_usd: &mut [f64],
) -> Result<(), BatchPricingError> {
    let (count, zero_rate) = checked_rows(inputs, &[price_usd.len()])?;
    price_only_dispatch(inputs, price_usd, count, zero_rate);
    for_each_nan_row(&mut price_usd[..count], |index, price| {
        *price = black76_unchecked(&inputs.option(index)).price_usd;
    });
    Ok(())
}

/// Rows of a chunk scanned as one block: a NaN is looked for in 8 prices at once, and
/// only a block holding one is searched row by row.
const NAN_SCAN_BLOCK: usize = 8;

/// Calls `on_nan(row, price)` for every NaN price (a row the kernel left to the scalar
/// path), in row order. Whole blocks are tested at once (fixed size, so the test is a
/// few vector instructions); only a block holding a NaN is searched row by row.
#[inline(always)]
fn for_each_nan_row(price_usd: &mut [f64], mut on_nan: impl FnMut(usize, &mut f64)) {
    let tail_start = price_usd.len() - price_usd.len() % NAN_SCAN_BLOCK;
    let mut blocks = price_usd.chunks_exact_mut(NAN_SCAN_BLOCK);
    for (index, block) in blocks.by_ref().enumerate() {
        if block.iter().fold(false, |any, price| any | price.is_nan()) {
            for (offset, price) in block.iter_mut().enumerate() {
                if price.is_nan() {
                    on_nan(index * NAN_SCAN_BLOCK + offset, price);
                }
            }
        }
    }
    let tail = blocks.into_remainder();
    for (offset, price) in tail.iter_mut().enumerate() {
        if price.is_nan() {
            on_nan(tail_start + offset, price);
        }
    }
}

/// The rows of a batch after its checks: every input and output column as long as the
/// inputs, and every row within the pricer's domain. A branch-free pass proves the common
/// case; only when it cannot do the exact per-row checks run (and name the first bad row).
/// Returns the row count and whether every rate is zero.
fn checked_rows(
    inputs: &BatchInputs<'_>,
    outputs: &[usize],
) -> Result<(usize, bool), BatchPricingError> {
    let count = inputs.len();
    let inputs_lengths = [
        inputs.forward.len(),
        inputs.strike.len(),
        inputs.years.len(),
        inputs.vol.len(),
        inputs.rate.len(),
    ];
    let mismatch = inputs_lengths
        .iter()
        .chain(outputs)
        .find(|&&length| length != count);
    if let Some(&found) = mismatch {
        return Err(BatchPricingError::LengthMismatch {
            expected: count,
            found,
        });
    }
    let mut verdict = DomainVerdict::default();
    domain_dispatch(inputs, &mut verdict);
    if !verdict.all_in_common_domain {
        for index in 0..count {
            inputs
                .option(index)
                .validate()
                .map_err(|error| BatchPricingError::InvalidOption { index, error })?;
        }
    }
    Ok((count, verdict.zero_rate))
}

/// What one pass over a batch's inputs found: every row in the common domain
/// ([`domain_verdict`]), and every rate zero (the kernel then skips the discount).
#[derive(Clone, Copy, Debug, Default)]
struct DomainVerdict {
    all_in_common_domain: bool,
    zero_rate: bool,
}

/// Forwards and strikes within 1e±100 of each other (so F/K is a normal number),
/// finite years ≤ `YEARS_MAX`, |rate| ≤ `RATE_MAX`, 0 ≤ σ ≤ `VOL_MAX`: a sufficient
/// condition for `OptionInputs::validate` on every row, checked without branches or
/// divisions (NaN fails every comparison); and whether every rate is zero. Indexed over
/// slices cut to one length, so the loop vectorises (as a zip of five it stayed scalar).
#[inline(always)]
fn domain_verdict(inputs: &BatchInputs<'_>) -> DomainVerdict {
    use super::black76::{RATE_MAX, VOL_MAX, YEARS_MAX};
    const LOW: f64 = 1e-100;
    const HIGH: f64 = 1e100;
    let count = inputs.len();
    let forward = &inputs.forward[..count];
    let strike = &inputs.strike[..count];
    let years = &inputs.years[..count];
    let vol = &inputs.vol[..count];
    let rate = &inputs.rate[..count];
    let mut ok = true;
    let mut zero_rate = true;
    for i in 0..count {
        ok &= (forward[i] >= LOW)
            & (forward[i] <= HIGH)
            & (strike[i] >= LOW)
            & (strike[i] <= HIGH)
            & (years[i] >= f64::MIN)
            & (years[i] <= YEARS_MAX)
            & (rate[i].abs() <= RATE_MAX)
            & (vol[i] >= 0.0)
            & (vol[i] <= VOL_MAX);
        zero_rate &= rate[i] == 0.0;
    }
    DomainVerdict {
        all_in_common_domain: ok,
        zero_rate,
    }
}

widest_simd! {
    /// [`domain_verdict`], widest build.
    fn domain_dispatch(inputs: &BatchInputs<'_>, verdict: &mut DomainVerdict) {
        *verdict = domain_verdict(inputs)
    }
}

/// The widest vector unit the kernels run on, chosen once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum SimdLevel {
    Avx512,
    Avx2,
    Baseline,
}

/// The CPU's widest supported unit, or AVX2 when `KEEL_NO_AVX512` is set (any value;
/// for comparing builds). Decided on first use and cached: reading the environment takes
/// the process's environment lock, which has no place on the batch-end path.
pub(crate) fn simd_level() -> SimdLevel {
    static LEVEL: std::sync::OnceLock<SimdLevel> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::env::var_os("KEEL_NO_AVX512").is_none()
            {
                return SimdLevel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Baseline
    })
}

/// Defines a function that runs its body compiled for [`simd_level`]: AVX-512, AVX2 or
/// the baseline build. The kernels are plain IEEE arithmetic and no `fma` feature is
/// enabled, so every build gives the same bits.
macro_rules! widest_simd {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $body
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $body
                use $crate::pricing::batch::SimdLevel;
                match $crate::pricing::batch::simd_level() {
                    // SAFETY: `simd_level` chose AVX-512 only after detecting AVX-512F on
                    // this CPU; that is the only precondition of a `target_feature` fn.
                    SimdLevel::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above, AVX2 was detected.
                    SimdLevel::Avx2 => return unsafe { avx2($($arg),*) },
                    SimdLevel::Baseline => {}
                }
            }
            $body
        }
    };
}

pub(crate) use widest_simd;

/// Prices validated zero-rate rows whose moneyness and σ√T the caller computed once per
/// distinct forward and vol (the scenario grid). Regular rows get the bits of
/// [`black76_batch_price`]; rows the main kernel leaves out (normal tails, cancelling
/// out-of-the-money values) get a second vectorised pass (`price_tail_rows`: exact to
/// `SCENARIO_ROW_TOLERANCE` of min(F, K), absolute); the rest (σ√T = 0) take the scalar
/// path. `tail_rows` is working memory (capacity: the rows). Allocates nothing.
pub(crate) fn black76_batch_price_shared(
    inputs: &BatchInputs<'_>,
    shared: &SharedRows<'_>,
    price_usd: &mut [f64],
    tail_rows: &mut Vec<u32>,
) {
    let count = inputs.len().min(price_usd.len());
    shared_dispatch(inputs, shared, price_usd, count);
    tail_rows.clear();
    for_each_nan_row(&mut price_usd[..count], |index, _| {
        tail_rows.push(index as u32)
    });
    tails_dispatch(inputs, shared, price_usd, tail_rows);
    for &index in tail_rows.iter() {
        let index = index as usize;
        if price_usd[index].is_nan() {
            price_usd[index] = black76_unchecked(&inputs.option(index)).price_usd;
        }
    }
}

widest_simd! {
    /// [`price_only_lanes_shared`], widest build.
    fn shared_dispatch(
        inputs: &BatchInputs<'_>,
        shared: &SharedRows<'_>,
        price_usd: &mut [f64],
        count: usize,
    ) {
        price_only_lanes_shared(inputs, shared, price_usd, count)
    }
}

widest_simd! {
    /// [`price_tail_rows`], widest build.
    fn tails_dispatch(
        inputs: &BatchInputs<'_>,
        shared: &SharedRows<'_>,
        price_usd: &mut [f64],
        rows: &[u32],
    ) {
        price_tail_rows(inputs, shared, price_usd, rows)
    }
}

widest_simd! {
    /// F/K and ln(F/K) per (forward, strike) pair, vectorised: the shared part of the
    /// scenario grid. Same bits as the batch kernel's own.
    pub(crate) fn log_moneyness(
        forward: &[f64],
        strike: &[f64],
        moneyness: &mut [f64],
        log_moneyness: &mut [f64],
    ) {
        log_moneyness_lanes(forward, strike, moneyness, log_moneyness)
    }
}

widest_simd! {
    /// [`price_only_lanes`], widest build.
    fn price_only_dispatch(
        inputs: &BatchInputs<'_>,
        price_usd: &mut [f64],
        count: usize,
        zero_rate: bool,
    ) {
        if zero_rate {
            price_only_lanes::<true>(inputs, price_usd, count)
        } else {
            price_only_lanes::<false>(inputs, price_usd, count)
        }
    }
}

widest_simd! {
    /// [`price_lanes`], widest build.
    fn price_lanes_dispatch(
        inputs: &BatchInputs<'_>,
        out: &mut BatchGreeks<'_>,
        count: usize,
        zero_rate: bool,
    ) {
        price_lanes_any(inputs, out, count, zero_rate)
    }
}

/// The kernel loop as the baseline build compiles it.
#[inline(always)]
fn price_lanes_any(
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
    count: usize,
    zero_rate: bool,
) {
    if zero_rate {
        price_lanes::<true>(inputs, out, count);
    } else {
        price_lanes::<false>(inputs, out, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{GreeksColumns, OptionColumns, black76};

    /// Calls and puts over a wide range, with some expired, zero-vol and tail options.
    fn chain(count: usize) -> OptionColumns {
        let mut columns = OptionColumns::with_capacity(count);
        for index in 0..count {
            let step = index as f64;
            columns.push(OptionInputs {
                kind: if index % 2 == 0 {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                },
                forward: 60_000.0 + step,
                strike: 30_000.0 + 997.0 * step,
                years: 0.001 + 0.01 * step - if index % 17 == 0 { 1.0 } else { 0.0 },
                vol: if index % 13 == 0 {
                    0.0
                } else {
                    0.2 + 0.01 * step
                },
                rate: 0.0005 * step,
            });
        }
        columns
    }

    fn run(columns: &OptionColumns) -> (Result<(), BatchPricingError>, GreeksColumns) {
        let mut out = GreeksColumns::filled(columns.len(), f64::NAN);
        (black76_batch(&columns.as_batch(), &mut out.as_batch()), out)
    }

    /// Lanes are independent: an option valued alone gets the bits it gets in a batch,
    /// kernel rows and scalar-fallback rows alike.
    #[test]
    fn one_option_alone_gets_its_bits_in_a_batch() {
        let columns = chain(257);
        let (result, batched) = run(&columns);
        result.expect("valid batch");
        for index in 0..columns.len() {
            let alone = black76_as_in_batch(&columns.option(index)).expect("valid option");
            let in_batch = batched.greeks(index);
            let pairs = [
                (alone.price_usd, in_batch.price_usd),
                (alone.delta, in_batch.delta),
                (alone.gamma_per_usd, in_batch.gamma_per_usd),
                (alone.vega_usd, in_batch.vega_usd),
                (alone.theta_usd_per_day, in_batch.theta_usd_per_day),
                (alone.rho_usd, in_batch.rho_usd),
            ];
            for (a, b) in pairs {
                assert_eq!(a.to_bits(), b.to_bits(), "option {index}: {a:e} vs {b:e}");
            }
        }
    }

    #[test]
    fn batch_agrees_with_scalar_to_1e12() {
        let columns = chain(100);
        let (result, out) = run(&columns);
        result.expect("valid batch");
        for index in 0..100 {
            let scalar = black76(&columns.option(index)).unwrap();
            let expected = [
                scalar.price_usd,
                scalar.delta,
                scalar.gamma_per_usd,
                scalar.vega_usd,
                scalar.theta_usd_per_day,
                scalar.rho_usd,
            ];
            for (column, value) in out.columns().iter().zip(expected) {
                let tolerance = 1e-12 * value.abs().max(1e-300);
                assert!((column[index] - value).abs() <= tolerance, "option {index}");
            }
        }
    }

    /// The dispatched (widest-ISA) build against the plain build of the same loop.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        for zero_rate in [false, true] {
            let mut columns = chain(257);
            if zero_rate {
                columns.rate.iter_mut().for_each(|rate| *rate = 0.0);
            }
            let (result, dispatched) = run(&columns);
            result.expect("valid batch");
            let mut plain = GreeksColumns::filled(257, 0.0);
            price_lanes_any(&columns.as_batch(), &mut plain.as_batch(), 257, zero_rate);
            // Options the kernel leaves out have a NaN price in the plain pass and the
            // scalar path's values in the dispatched one: compare the others.
            let kernel_lanes: Vec<usize> =
                (0..257).filter(|&i| !plain.price_usd[i].is_nan()).collect();
            assert!(kernel_lanes.len() > 200, "most options take the kernel");
            for (plain_column, dispatched_column) in
                plain.columns().iter().zip(dispatched.columns())
            {
                for &index in &kernel_lanes {
                    let (a, b) = (plain_column[index], dispatched_column[index]);
                    assert_eq!(a.to_bits(), b.to_bits(), "option {index}: {a:e} vs {b:e}");
                }
            }
        }
    }

    #[test]
    fn price_only_gives_the_bits_of_the_full_batch() {
        for zero_rate in [false, true] {
            let mut columns = chain(257);
            if zero_rate {
                columns.rate.iter_mut().for_each(|rate| *rate = 0.0);
            }
            let (result, full) = run(&columns);
            result.expect("valid batch");
            let mut prices = vec![f64::NAN; 257];
            black76_batch_price(&columns.as_batch(), &mut prices).expect("valid batch");
            for (index, (a, b)) in prices.iter().zip(&full.price_usd).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "option {index}: {a:e} vs {b:e}");
            }
        }
        let mut columns = chain(10);
        columns.vol[3] = -1.0;
        let mut prices = vec![f64::NAN; 10];
        assert!(matches!(
            black76_batch_price(&columns.as_batch(), &mut prices),
            Err(BatchPricingError::InvalidOption { index: 3, .. })
        ));
        assert!(prices.iter().all(|p| p.is_nan()), "nothing written");
    }

    /// The rows the kernel leaves out are found in whole blocks of 8 and in a short tail,
    /// one or several to a block: at every batch length each gets the scalar path's
    /// bits, and the others keep the kernel's (a row alone takes the tail pass).
    #[test]
    fn rows_left_to_the_scalar_path_are_found_in_blocks_and_in_the_tail() {
        for count in 1..=40 {
            let columns = chain(count);
            let mut prices = vec![f64::NAN; count];
            black76_batch_price(&columns.as_batch(), &mut prices).expect("valid batch");
            let (result, full) = run(&columns);
            result.expect("valid batch");
            let mut left_out = 0;
            for (index, price) in prices.iter().enumerate() {
                let option = columns.as_batch().option(index);
                let alone = black76_as_in_batch(&option).expect("valid option");
                assert_eq!(
                    price.to_bits(),
                    alone.price_usd.to_bits(),
                    "{count}/{index}"
                );
                assert_eq!(full.delta[index].to_bits(), alone.delta.to_bits());
                if index % 13 == 0 || index % 17 == 0 {
                    let scalar = black76_unchecked(&option);
                    assert_eq!(price.to_bits(), scalar.price_usd.to_bits());
                    assert_eq!(full.rho_usd[index].to_bits(), scalar.rho_usd.to_bits());
                    left_out += 1;
                }
            }
            assert!(left_out >= 1, "row 0 is expired and has σ = 0");
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
        assert!(
            out.columns()
                .iter()
                .all(|column| column.iter().all(|v| v.is_nan()))
        );
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
