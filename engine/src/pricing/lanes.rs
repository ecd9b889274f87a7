//! The vectorised Black-76 kernel behind the batch path.
//!
//! Branch-free (selects only, no calls), so each loop vectorises; pure IEEE arithmetic
//! (see `fast_math`), so every instruction set gives the same bits. The work for a chunk
//! of options runs in four short stages through stack arrays instead of one long chain per
//! option: one option's chain (ln → d1 → exp → rationals → Greeks) is longer than the
//! CPU's out-of-order window, so a fused loop is bound by latency; staged, the iterations
//! of each stage are independent and overlap.
//!
//! Covers the regular case, `|d1|, |d2| ≤ 4√2` with no cancellation in the price. For
//! everything else (expired, σ = 0, far tails, deep out of the money) it writes a NaN
//! price and the caller takes the scalar path. Inputs must be validated.

use super::batch::{BatchGreeks, BatchInputs};
use super::black76::{CANCELLATION_RATIO, DAYS_PER_YEAR, OptionKind};
use super::fast_math;
use super::normal::{CENTRAL_LIMIT, FRAC_1_SQRT_2PI, central_pair, central_rational};

/// Options per stage pass: large enough to amortise the loops, small enough that the
/// stage arrays (12 × 64 × 8 B) stay in L1.
pub const LANE_CHUNK: usize = 64;
/// Lanes the stages that run past a chunk's valid options round up to: the widest vector
/// (8 f64 in AVX-512), so a short chunk (one option valued alone) costs one block, not 64.
/// A batch of at most this many options also gets stage arrays of this size (nothing
/// larger to zero), and a batch of one a single lane (the same operations, scalar).
const LANE_BLOCK: usize = 8;
/// Largest |r·T| the kernel's `exp` covers with a normal result.
const RATE_YEARS_MAX: f64 = 700.0;

/// Per-chunk intermediates, on the stack.
struct Stage<const N: usize> {
    moneyness: [f64; N],
    inverse_forward: [f64; N],
    sqrt_years: [f64; N],
    inverse_std_dev: [f64; N],
    d1: [f64; N],
    d2: [f64; N],
    gaussian_d1: [f64; N],
    discount: [f64; N],
    n_d1: [f64; N],
    n_minus_d1: [f64; N],
    n_d2: [f64; N],
    n_minus_d2: [f64; N],
}

impl<const N: usize> Stage<N> {
    fn new() -> Self {
        let zeros = [0.0; N];
        Stage {
            moneyness: zeros,
            inverse_forward: zeros,
            sqrt_years: zeros,
            inverse_std_dev: zeros,
            d1: zeros,
            d2: zeros,
            gaussian_d1: zeros,
            discount: zeros,
            n_d1: zeros,
            n_minus_d1: zeros,
            n_d2: zeros,
            n_minus_d2: zeros,
        }
    }
}

/// Prices `inputs[..count]` into `out` with the staged kernel. `ZERO_RATE` (Deribit's
/// case) skips the discount `exp`; results are the same bits either way.
#[inline(always)]
pub(crate) fn price_lanes<const ZERO_RATE: bool>(
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
    count: usize,
) {
    if count == 1 {
        price_lanes_in::<ZERO_RATE, 1>(inputs, out, count);
    } else if count <= LANE_BLOCK {
        price_lanes_in::<ZERO_RATE, LANE_BLOCK>(inputs, out, count);
    } else {
        price_lanes_in::<ZERO_RATE, LANE_CHUNK>(inputs, out, count);
    }
}

/// [`price_lanes`] in chunks of `N` options (stage arrays of `N` lanes).
#[inline(always)]
fn price_lanes_in<const ZERO_RATE: bool, const N: usize>(
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
    count: usize,
) {
    let mut stage = Stage::<N>::new();
    let mut start = 0;
    while start < count {
        let len = N.min(count - start);
        let range = start..start + len;
        stage_moneyness(&mut stage, inputs, range.clone());
        stage_gaussians::<ZERO_RATE, N>(&mut stage, inputs, range.clone());
        stage_distribution(&mut stage, len);
        stage_greeks::<ZERO_RATE, N>(&stage, inputs, out, range);
        start += len;
    }
}

/// Prices only (no Greeks) of `inputs[..count]` into `price_usd`, NaN where the scalar
/// path must take over: the scenario grid's kernel, which reads nothing else. Same bits
/// as the price of [`price_lanes`].
#[inline(always)]
pub(crate) fn price_only_lanes<const ZERO_RATE: bool>(
    inputs: &BatchInputs<'_>,
    price_usd: &mut [f64],
    count: usize,
) {
    if count == 1 {
        price_only_lanes_in::<ZERO_RATE, 1>(inputs, price_usd, count);
    } else if count <= LANE_BLOCK {
        price_only_lanes_in::<ZERO_RATE, LANE_BLOCK>(inputs, price_usd, count);
    } else {
        price_only_lanes_in::<ZERO_RATE, LANE_CHUNK>(inputs, price_usd, count);
    }
}

/// [`price_only_lanes`] in chunks of `N` options.
#[inline(always)]
fn price_only_lanes_in<const ZERO_RATE: bool, const N: usize>(
    inputs: &BatchInputs<'_>,
    price_usd: &mut [f64],
    count: usize,
) {
    let mut stage = Stage::<N>::new();
    let mut start = 0;
    while start < count {
        let len = N.min(count - start);
        let range = start..start + len;
        stage_moneyness(&mut stage, inputs, range.clone());
        stage_gaussians::<ZERO_RATE, N>(&mut stage, inputs, range.clone());
        stage_distribution(&mut stage, len);
        stage_price::<ZERO_RATE, N>(&stage, inputs, &mut price_usd[range.clone()], range);
        start += len;
    }
}

/// Per-row inputs of [`price_only_lanes_shared`]: what rows sharing a forward (ln F/K) or
/// a vol (σ√T and its inverse) computed once. Each value must be the one
/// [`stage_moneyness`] would compute for the row, so results are the same bits.
pub(crate) struct SharedRows<'a> {
    pub moneyness: &'a [f64],
    pub log_moneyness: &'a [f64],
    pub std_dev: &'a [f64],
    pub inverse_std_dev: &'a [f64],
}

/// [`price_only_lanes`] with each row's moneyness, ln moneyness and σ√T given: the
/// scenario grid, where 36 rows share 18 forwards and 3 vols. Zero rate only.
#[inline(always)]
pub(crate) fn price_only_lanes_shared(
    inputs: &BatchInputs<'_>,
    shared: &SharedRows<'_>,
    price_usd: &mut [f64],
    count: usize,
) {
    // Fewer rows than a chunk (one option's 36: a what-if on an instrument nobody
    // holds): chunks of 8, whose stage arrays cost nothing to set up.
    if count < LANE_CHUNK {
        price_only_lanes_shared_in::<LANE_BLOCK>(inputs, shared, price_usd, count);
    } else {
        price_only_lanes_shared_in::<LANE_CHUNK>(inputs, shared, price_usd, count);
    }
}

/// [`price_only_lanes_shared`] in chunks of `N` rows.
#[inline(always)]
fn price_only_lanes_shared_in<const N: usize>(
    inputs: &BatchInputs<'_>,
    shared: &SharedRows<'_>,
    price_usd: &mut [f64],
    count: usize,
) {
    let mut stage = Stage::<N>::new();
    let mut start = 0;
    while start < count {
        let len = N.min(count - start);
        let range = start..start + len;
        let moneyness = &shared.moneyness[range.clone()];
        let log_moneyness = &shared.log_moneyness[range.clone()];
        let std_dev = &shared.std_dev[range.clone()];
        let inverse_std_dev = &shared.inverse_std_dev[range.clone()];
        for i in 0..len {
            let d1 = log_moneyness[i] * inverse_std_dev[i] + 0.5 * std_dev[i];
            stage.moneyness[i] = moneyness[i];
            stage.inverse_std_dev[i] = inverse_std_dev[i];
            stage.d1[i] = d1;
            stage.d2[i] = d1 - std_dev[i];
        }
        stage_gaussians::<true, N>(&mut stage, inputs, range.clone());
        stage_distribution(&mut stage, len);
        stage_price::<true, N>(&stage, inputs, &mut price_usd[range.clone()], range);
        start += len;
    }
}

/// Accuracy contract of a scenario row, absolute, as a fraction of min(F, K): a scenario
/// vector is PnL per unit of underlying, summed and compared across positions, so its
/// rows must be exact to a fraction of the forward (the scalar path's relative accuracy
/// on a value that is itself a tiny fraction of the forward is beyond any figure).
pub(crate) const SCENARIO_ROW_TOLERANCE: f64 = 2e-14;
/// Bound on the relative error of each term `F·N(d1)`, `K·N(d2)` in the tail pass (the
/// normal rationals and `exp` are within a few ulp): the difference of the two is then
/// within `2 × this × long` of the exact time value, cancellation or not.
const TERM_RELATIVE_ERROR: f64 = 1e-15;
/// Largest |d| whose Gaussian factor is computed (exp(−37²/2) ≈ 1e-297, still normal);
/// beyond it the factor is taken at 37, which only overstates a negligible value.
const TAIL_D_MAX: f64 = 37.0;

/// `(N(x), N(−x))` for any `x` given `gaussian = exp(−x²/2)`: the central rational for
/// |x| ≤ 4√2, Cody's scaled-erfc tail beyond. Branch-free (both computed, one selected).
#[inline(always)]
fn cdf_pair_any(x: f64, gaussian: f64) -> (f64, f64) {
    let central = crate::pricing::normal::norm_cdf_pair_central(
        x.clamp(-CENTRAL_LIMIT, CENTRAL_LIMIT),
        gaussian,
    );
    let y = (x.abs() * std::f64::consts::FRAC_1_SQRT_2).max(4.0);
    let tail = 0.5 * gaussian * crate::pricing::normal::erfc_scaled_tail(y); // N(−|x|)
    let tails = if x < 0.0 {
        (tail, 1.0 - tail)
    } else {
        (1.0 - tail, tail)
    };
    if x.abs() <= CENTRAL_LIMIT {
        central
    } else {
        tails
    }
}

/// Second pass of the scenario grid over rows the main kernel left out, `rows[..]`
/// (indices into the columns): the normal tails (|d| > 4√2) by Cody's tail rational, and
/// out-of-the-money values that cancel, to the scenario contract
/// ([`SCENARIO_ROW_TOLERANCE`] of min(F, K), absolute). Writes a price, or NaN where the
/// scalar path must still take the row (σ√T = 0, or not finite). Zero rate only.
#[inline(always)]
pub(crate) fn price_tail_rows(
    inputs: &BatchInputs<'_>,
    shared: &SharedRows<'_>,
    price_usd: &mut [f64],
    rows: &[u32],
) {
    // A few rows (one option's): working arrays of 8, nothing larger to zero.
    if rows.len() <= LANE_BLOCK {
        price_tail_rows_in::<LANE_BLOCK>(inputs, shared, price_usd, rows);
    } else {
        price_tail_rows_in::<LANE_CHUNK>(inputs, shared, price_usd, rows);
    }
}

/// [`price_tail_rows`] in chunks of `N` rows.
#[inline(always)]
fn price_tail_rows_in<const N: usize>(
    inputs: &BatchInputs<'_>,
    shared: &SharedRows<'_>,
    price_usd: &mut [f64],
    rows: &[u32],
) {
    let mut log_moneyness = [0.0; N];
    let mut moneyness = [0.0; N];
    let mut std_dev = [0.0; N];
    let mut inverse_std_dev = [0.0; N];
    let mut forward = [0.0; N];
    let mut strike = [0.0; N];
    let mut is_call = [false; N];
    let mut out = [0.0; N];
    for chunk in rows.chunks(N) {
        let len = chunk.len();
        for (lane, &row) in chunk.iter().enumerate() {
            let row = row as usize;
            log_moneyness[lane] = shared.log_moneyness[row];
            moneyness[lane] = shared.moneyness[row];
            std_dev[lane] = shared.std_dev[row];
            inverse_std_dev[lane] = shared.inverse_std_dev[row];
            forward[lane] = inputs.forward[row];
            strike[lane] = inputs.strike[row];
            is_call[lane] = inputs.kind[row] == OptionKind::Call;
        }
        for i in 0..len {
            let d1 = log_moneyness[i] * inverse_std_dev[i] + 0.5 * std_dev[i];
            let d2 = d1 - std_dev[i];
            let gaussian_d1 = fast_math::exp_neg_half_square(d1.clamp(-TAIL_D_MAX, TAIL_D_MAX));
            let gaussian_d2 = gaussian_d1 * moneyness[i];
            let (n_d1, n_minus_d1) = cdf_pair_any(d1, gaussian_d1);
            let (n_d2, n_minus_d2) = cdf_pair_any(d2, gaussian_d2);
            let (long, short) = if forward[i] <= strike[i] {
                (forward[i] * n_d1, strike[i] * n_d2)
            } else {
                (strike[i] * n_minus_d2, forward[i] * n_minus_d1)
            };
            let time_value = long - short;
            let intrinsic = if is_call[i] {
                (forward[i] - strike[i]).max(0.0)
            } else {
                (strike[i] - forward[i]).max(0.0)
            };
            // Without cancellation the result is exact to a few ulp of the value; with it,
            // to 2 × TERM_RELATIVE_ERROR × long absolute, accepted when that is within the
            // scenario contract (always, since long ≤ min(F, K); checked nonetheless).
            let within_contract = 2.0 * TERM_RELATIVE_ERROR * long
                <= SCENARIO_ROW_TOLERANCE * forward[i].min(strike[i]);
            let accepted = std_dev[i] > 0.0
                && std_dev[i].is_finite()
                && inverse_std_dev[i].is_finite()
                && d1.is_finite()
                && (time_value * CANCELLATION_RATIO >= long || within_contract);
            let price = intrinsic + time_value.max(0.0);
            out[i] = if accepted { price } else { f64::NAN };
        }
        for (lane, &row) in chunk.iter().enumerate() {
            price_usd[row as usize] = out[lane];
        }
    }
}

/// F/K and ln(F/K) of `forward[i]` against `strike[i]`, as [`stage_moneyness`] computes
/// them (one division, one `ln` each).
#[inline(always)]
pub(crate) fn log_moneyness_lanes(
    forward: &[f64],
    strike: &[f64],
    moneyness: &mut [f64],
    log_moneyness: &mut [f64],
) {
    let len = forward
        .len()
        .min(strike.len())
        .min(moneyness.len())
        .min(log_moneyness.len());
    for i in 0..len {
        let inverse_forward_strike = 1.0 / (forward[i] * strike[i]);
        let m = forward[i] * forward[i] * inverse_forward_strike;
        moneyness[i] = m;
        log_moneyness[i] = fast_math::ln(m);
    }
}

/// The price alone, with NaN marking the options the scalar path must take (the same
/// rule and arithmetic as [`stage_greeks`]).
#[inline(always)]
fn stage_price<const ZERO_RATE: bool, const N: usize>(
    stage: &Stage<N>,
    inputs: &BatchInputs<'_>,
    price: &mut [f64],
    range: std::ops::Range<usize>,
) {
    let len = range.len();
    let kind = &inputs.kind[range.clone()];
    let forward = &inputs.forward[range.clone()];
    let strike = &inputs.strike[range.clone()];
    let years = &inputs.years[range.clone()];
    let rate = &inputs.rate[range];
    let (price, kind, forward, strike, years, rate) = (
        &mut price[..len],
        &kind[..len],
        &forward[..len],
        &strike[..len],
        &years[..len],
        &rate[..len],
    );
    // Stage columns sliced to `len` (no bounds checks in the loop), both candidates of
    // each select computed, and non-short-circuit `&`: the loop vectorises (it ran
    // scalar, branching, before). The same operations as `stage_greeks`: the same bits.
    let (n_d1, n_minus_d1) = (&stage.n_d1[..len], &stage.n_minus_d1[..len]);
    let (n_d2, n_minus_d2) = (&stage.n_d2[..len], &stage.n_minus_d2[..len]);
    let (d1, d2, discount) = (&stage.d1[..len], &stage.d2[..len], &stage.discount[..len]);
    for i in 0..len {
        let is_call = kind[i] == OptionKind::Call;
        let below = forward[i] <= strike[i];
        let (long_below, long_above) = (forward[i] * n_d1[i], strike[i] * n_minus_d2[i]);
        let (short_below, short_above) = (strike[i] * n_d2[i], forward[i] * n_minus_d1[i]);
        let long = if below { long_below } else { long_above };
        let short = if below { short_below } else { short_above };
        let time_value = long - short;
        let call_intrinsic = (forward[i] - strike[i]).max(0.0);
        let put_intrinsic = (strike[i] - forward[i]).max(0.0);
        let intrinsic = if is_call {
            call_intrinsic
        } else {
            put_intrinsic
        };
        let price_usd = discount[i] * (intrinsic + time_value);
        let regular = (d1[i].abs() <= CENTRAL_LIMIT)
            & (d2[i].abs() <= CENTRAL_LIMIT)
            & (ZERO_RATE || (rate[i] * years[i]).abs() <= RATE_YEARS_MAX)
            & (time_value * CANCELLATION_RATIO >= long);
        price[i] = if regular { price_usd } else { f64::NAN };
    }
}

/// F/K, 1/F, √T, 1/(σ√T), d1, d2. Two divisions per option.
#[inline(always)]
fn stage_moneyness<const N: usize>(
    stage: &mut Stage<N>,
    inputs: &BatchInputs<'_>,
    range: std::ops::Range<usize>,
) {
    let len = range.len();
    let forward = &inputs.forward[range.clone()];
    let strike = &inputs.strike[range.clone()];
    let years = &inputs.years[range.clone()];
    let vol = &inputs.vol[range];
    for i in 0..len {
        let inverse_forward_strike = 1.0 / (forward[i] * strike[i]);
        let moneyness = forward[i] * forward[i] * inverse_forward_strike;
        let sqrt_years = years[i].sqrt();
        let std_dev = vol[i] * sqrt_years;
        let inverse_std_dev = 1.0 / std_dev;
        // The scenario path (`log_moneyness_lanes`, `price_only_lanes_shared`) repeats
        // these operations in this order: keep them in step.
        let d1 = fast_math::ln(moneyness) * inverse_std_dev + 0.5 * std_dev;
        stage.moneyness[i] = moneyness;
        stage.inverse_forward[i] = strike[i] * inverse_forward_strike;
        stage.sqrt_years[i] = sqrt_years;
        stage.inverse_std_dev[i] = inverse_std_dev;
        stage.d1[i] = d1;
        stage.d2[i] = d1 - std_dev;
    }
}

/// `len` valid lanes rounded up to whole `LANE_BLOCK`s, at most the chunk.
#[inline(always)]
fn block_lanes<const N: usize>(len: usize) -> usize {
    len.next_multiple_of(LANE_BLOCK).min(N)
}

/// exp(−d1²/2) and the discount factor.
#[inline(always)]
fn stage_gaussians<const ZERO_RATE: bool, const N: usize>(
    stage: &mut Stage<N>,
    inputs: &BatchInputs<'_>,
    range: std::ops::Range<usize>,
) {
    if ZERO_RATE {
        // The valid lanes rounded up to whole vector blocks: whole vectors with no scalar
        // epilogue run; lanes past `range` hold finite leftovers and are never read.
        for i in 0..block_lanes::<N>(range.len()) {
            let d1 = stage.d1[i].clamp(-CENTRAL_LIMIT, CENTRAL_LIMIT);
            stage.gaussian_d1[i] = fast_math::exp_neg_half_square(d1);
            stage.discount[i] = 1.0;
        }
        return;
    }
    let len = range.len();
    let years = &inputs.years[range.clone()];
    let rate = &inputs.rate[range];
    for i in 0..len {
        let d1 = stage.d1[i].clamp(-CENTRAL_LIMIT, CENTRAL_LIMIT);
        stage.gaussian_d1[i] = fast_math::exp_neg_half_square(d1);
        stage.discount[i] = fast_math::exp(-rate[i] * years[i]);
    }
}

/// N(±d1), N(±d2); exp(−d2²/2) = exp(−d1²/2)·F/K exactly, and the two rationals share
/// one division.
#[inline(always)]
fn stage_distribution<const N: usize>(stage: &mut Stage<N>, len: usize) {
    // Whole vector blocks (see `stage_gaussians`): lanes past the valid ones hold finite
    // leftovers or zeros and are never read.
    for i in 0..block_lanes::<N>(len) {
        let rational_d1 = central_rational(stage.d1[i]);
        let rational_d2 = central_rational(stage.d2[i]);
        let inverse_denominators = 1.0 / (rational_d1.denominator * rational_d2.denominator);
        let ratio_d1 = rational_d1.numerator * rational_d2.denominator * inverse_denominators;
        let ratio_d2 = rational_d2.numerator * rational_d1.denominator * inverse_denominators;
        let gaussian_d2 = stage.gaussian_d1[i] * stage.moneyness[i];
        let (n_d1, n_minus_d1) = central_pair(&rational_d1, ratio_d1, stage.gaussian_d1[i]);
        let (n_d2, n_minus_d2) = central_pair(&rational_d2, ratio_d2, gaussian_d2);
        stage.n_d1[i] = n_d1;
        stage.n_minus_d1[i] = n_minus_d1;
        stage.n_d2[i] = n_d2;
        stage.n_minus_d2[i] = n_minus_d2;
    }
}

/// Price and Greeks, with NaN marking the options the scalar path must take.
#[inline(always)]
fn stage_greeks<const ZERO_RATE: bool, const N: usize>(
    stage: &Stage<N>,
    inputs: &BatchInputs<'_>,
    out: &mut BatchGreeks<'_>,
    range: std::ops::Range<usize>,
) {
    let len = range.len();
    let kind = &inputs.kind[range.clone()];
    let forward = &inputs.forward[range.clone()];
    let strike = &inputs.strike[range.clone()];
    let years = &inputs.years[range.clone()];
    let vol = &inputs.vol[range.clone()];
    let rate = &inputs.rate[range.clone()];
    let price = &mut out.price_usd[range.clone()];
    let delta = &mut out.delta[range.clone()];
    let gamma = &mut out.gamma_per_usd[range.clone()];
    let vega = &mut out.vega_usd[range.clone()];
    let theta = &mut out.theta_usd_per_day[range.clone()];
    let rho = &mut out.rho_usd[range];
    for i in 0..len {
        let is_call = kind[i] == OptionKind::Call;
        let (n_d1, n_minus_d1) = (stage.n_d1[i], stage.n_minus_d1[i]);
        let (n_d2, n_minus_d2) = (stage.n_d2[i], stage.n_minus_d2[i]);
        let discount = stage.discount[i];
        // Price = intrinsic + the OTM option's value (see `black76_unchecked`).
        let (long, short) = if forward[i] <= strike[i] {
            (forward[i] * n_d1, strike[i] * n_d2)
        } else {
            (strike[i] * n_minus_d2, forward[i] * n_minus_d1)
        };
        let time_value = long - short;
        let intrinsic = if is_call {
            (forward[i] - strike[i]).max(0.0)
        } else {
            (strike[i] - forward[i]).max(0.0)
        };
        let price_usd = discount * (intrinsic + time_value);
        let pdf_d1 = FRAC_1_SQRT_2PI * stage.gaussian_d1[i];
        let carry = if ZERO_RATE { 0.0 } else { rate[i] * price_usd };
        // σ/(2√T) = σ²/(2σ√T).
        let decay = 0.5 * vol[i] * vol[i] * stage.inverse_std_dev[i];
        let regular = stage.d1[i].abs() <= CENTRAL_LIMIT
            && stage.d2[i].abs() <= CENTRAL_LIMIT
            && (rate[i] * years[i]).abs() <= RATE_YEARS_MAX
            && time_value * CANCELLATION_RATIO >= long;
        price[i] = if regular { price_usd } else { f64::NAN };
        delta[i] = discount * if is_call { n_d1 } else { -n_minus_d1 };
        gamma[i] = discount * pdf_d1 * stage.inverse_forward[i] * stage.inverse_std_dev[i];
        vega[i] = discount * forward[i] * pdf_d1 * stage.sqrt_years[i] * 0.01;
        theta[i] = (-discount * forward[i] * pdf_d1 * decay + carry) * (1.0 / DAYS_PER_YEAR);
        let rho_factor = if is_call {
            strike[i] * n_d2
        } else {
            -strike[i] * n_minus_d2
        };
        rho[i] = rho_factor * years[i] * discount * 0.01;
    }
}
