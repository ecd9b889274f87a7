//! Deribit's portfolio margin (docs/MARGIN.md), per settlement currency: each position's PnL
//! over the scenario grid, the account's sum, and from it the worst case, the shocks,
//! and initial and maintenance margin. Pure functions; the engine keeps the sums
//! incrementally and calls [`margin_from_vector`] on them.
//!
//! Where Deribit publishes only parameter names, the choices made are in
//! `docs/MARGIN.md`, each marked as such.

use thiserror::Error;

use super::params::PmParams;
use super::scenarios::{
    EXTENDED_MOVES, EXTENDED_SCENARIOS, PRICE_BUCKETS, STANDARD_SCENARIOS, ScenarioVector,
    VOL_SCENARIOS, VolScenario, standard_move,
};
use crate::pricing::{OptionInputs, OptionKind, black76_price};

/// Days in the year for DTE and T (docs/PRICING.md).
const DAYS_PER_YEAR: f64 = 365.0;
/// Vol shocks use DTE of at least this (one minute): `(30/DTE)^p` is unbounded at 0.
const DTE_MIN_DAYS: f64 = 1.0 / 1440.0;

#[derive(Clone, Copy, Debug, PartialEq, Error)]
pub enum MarginError {
    #[error(
        "market input not finite or not positive (index {index}, forward {forward}, vol {vol})"
    )]
    InvalidMarket { index: f64, forward: f64, vol: f64 },
    #[error("{what} {value} is not a valid price")]
    InvalidPrice { what: &'static str, value: f64 },
    #[error("position quantity is not finite")]
    InvalidQuantity,
    #[error("option terms invalid (strike {strike}, years {years})")]
    InvalidOption { strike: f64, years: f64 },
    #[error("portfolio-margin parameters out of their domain")]
    InvalidParams,
    #[error("a scenario could not be valued")]
    Unpriced,
}

/// What a position is, for margin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PmContract {
    /// Coin-settled future (years > 0) or perpetual (years = 0); quantity in coin
    /// (USD notional / price), PnL in coin.
    InverseFuture { years: f64 },
    /// Quote-settled future or perpetual; quantity in coin, PnL in the quote currency.
    LinearFuture { years: f64 },
    /// Quantity in underlying units (contracts × contract size); PnL in coin when
    /// inverse, else in the quote currency.
    Option {
        kind: OptionKind,
        strike: f64,
        years: f64,
        inverse: bool,
    },
}

impl PmContract {
    fn years(&self) -> f64 {
        match *self {
            PmContract::InverseFuture { years }
            | PmContract::LinearFuture { years }
            | PmContract::Option { years, .. } => years,
        }
    }

    pub fn is_future(&self) -> bool {
        !matches!(self, PmContract::Option { .. })
    }
}

/// The market a position is valued at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PmMarket {
    /// Index price of the underlying (USD).
    pub index: f64,
    /// Forward of the option's expiry (options only; futures ignore it).
    pub forward: f64,
    /// Implied volatility, a fraction (options only).
    pub vol: f64,
}

/// Volatility after the down / same / up shock, for an option with `years` left.
pub fn shocked_vols(vol: f64, years: f64, params: &PmParams) -> [f64; VOL_SCENARIOS] {
    shocked_vols_scaled(vol, vol_shock_scale(years, params), params)
}

/// The tenor factor of the vol shocks, `(30 / DTE)^power`: the same for every option of
/// an expiry (so a batch computes it once per expiry).
pub fn vol_shock_scale(years: f64, params: &PmParams) -> f64 {
    let dte_days = (years * DAYS_PER_YEAR).max(DTE_MIN_DAYS);
    let power = if dte_days < 30.0 {
        params.short_term_vega_power
    } else {
        params.long_term_vega_power
    };
    (30.0 / dte_days).powf(power)
}

/// [`shocked_vols`] given its [`vol_shock_scale`].
pub fn shocked_vols_scaled(vol: f64, scale: f64, params: &PmParams) -> [f64; VOL_SCENARIOS] {
    let up =
        (vol * (1.0 + params.volatility_range_up * scale)).max(params.min_volatility_for_shock_up);
    let down = (vol * (1.0 - params.volatility_range_down * scale)).max(0.0);
    [down, vol, up]
}

/// Black-76 inputs of an option at `forward` and `vol` (no discounting, as on Deribit;
/// an expired option is valued at T = 0).
fn option_inputs(
    kind: OptionKind,
    strike: f64,
    years: f64,
    forward: f64,
    vol: f64,
) -> OptionInputs {
    OptionInputs {
        kind,
        forward,
        strike,
        years: years.max(0.0),
        vol,
        rate: 0.0,
    }
}

/// Value of one unit of an option at forward `forward` and `vol`: coin when inverse.
fn option_value(
    kind: OptionKind,
    strike: f64,
    years: f64,
    inverse: bool,
    forward: f64,
    vol: f64,
) -> Result<f64, MarginError> {
    let usd = black76_price(&option_inputs(kind, strike, years, forward, vol))
        .map_err(|_| MarginError::Unpriced)?;
    Ok(if inverse { usd / forward } else { usd })
}

/// PnL of `quantity` of `contract` in every scenario (settlement currency).
pub fn position_vector(
    contract: &PmContract,
    quantity: f64,
    market: &PmMarket,
    params: &PmParams,
) -> Result<ScenarioVector, MarginError> {
    if !quantity.is_finite() {
        return Err(MarginError::InvalidQuantity);
    }
    let mut vector = ScenarioVector::ZERO;
    match *contract {
        PmContract::InverseFuture { .. } | PmContract::LinearFuture { .. } => {
            if !(market.index.is_finite() && market.index > 0.0) {
                return Err(invalid_market(market));
            }
            let pnl = |m: f64| match contract {
                // N USD of contract, q = N/F coin: N(1/F − 1/F(1+m)) = q(1 − 1/(1+m)).
                PmContract::InverseFuture { .. } => quantity * (1.0 - 1.0 / (1.0 + m)),
                _ => quantity * market.index * m,
            };
            for bucket in 0..PRICE_BUCKETS {
                let value = pnl(standard_move(bucket, params.price_range));
                for vol in VolScenario::ALL {
                    vector.standard[bucket * VOL_SCENARIOS + vol as usize] = value;
                }
            }
            // Futures have no convexity: the extended moves are capped at the grid's range.
            for (slot, m) in vector.extended.iter_mut().zip(EXTENDED_MOVES) {
                *slot = pnl(m.clamp(-params.price_range, params.price_range));
            }
        }
        PmContract::Option {
            kind,
            strike,
            years,
            inverse,
        } => {
            let valid_market = [market.index, market.forward, market.vol]
                .iter()
                .all(|v| v.is_finite())
                && market.forward > 0.0
                && market.vol >= 0.0;
            if !valid_market {
                return Err(invalid_market(market));
            }
            if !(strike.is_finite() && strike > 0.0 && years.is_finite()) {
                return Err(MarginError::InvalidOption { strike, years });
            }
            let value =
                |forward: f64, vol: f64| option_value(kind, strike, years, inverse, forward, vol);
            let base = value(market.forward, market.vol)?;
            let vols = shocked_vols(market.vol, years, params);
            for bucket in 0..PRICE_BUCKETS {
                let forward = market.forward * (1.0 + standard_move(bucket, params.price_range));
                for vol in VolScenario::ALL {
                    let shocked = value(forward, vols[vol as usize])?;
                    vector.standard[bucket * VOL_SCENARIOS + vol as usize] =
                        quantity * (shocked - base);
                }
            }
            for (slot, m) in vector.extended.iter_mut().zip(EXTENDED_MOVES) {
                let shocked = value(market.forward * (1.0 + m), vols[VolScenario::Up as usize])?;
                *slot = quantity * (shocked - base) * params.extended_table_factor;
            }
        }
    }
    if vector.is_finite() {
        Ok(vector)
    } else {
        Err(MarginError::Unpriced)
    }
}

fn invalid_market(market: &PmMarket) -> MarginError {
    MarginError::InvalidMarket {
        index: market.index,
        forward: market.forward,
        vol: market.vol,
    }
}

/// A position's roll-shock charge, in its settlement currency: futures only,
/// `|q| · max(min_annualised_move, annualised_move_risk · T)` coin for inverse futures,
/// times the price (`market.index`, USD per coin) for linear ones.
pub fn roll_shock(
    contract: &PmContract,
    quantity: f64,
    market: &PmMarket,
    params: &PmParams,
) -> f64 {
    if !contract.is_future() {
        return 0.0;
    }
    let rate = params
        .min_annualised_move
        .max(params.annualised_move_risk * contract.years().max(0.0));
    let coins = quantity.abs() * rate;
    match contract {
        PmContract::LinearFuture { .. } => coins * market.index,
        _ => coins,
    }
}

/// Which scenario gave the worst case, as Deribit reports it (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorstCaseBucket {
    pub source: ScenarioSource,
    /// Price bucket (standard: 1…9; extended: 1…8).
    pub bucket: usize,
    pub side: Side,
    /// Position in the source vector (standard: 1…27, bucket-major).
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioSource {
    Standard,
    Extended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Center,
    Right,
}

impl ScenarioSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioSource::Standard => "standard",
            ScenarioSource::Extended => "extended",
        }
    }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Center => "center",
            Side::Right => "right",
        }
    }
}

/// Inputs Keel does not derive from positions: market-maker-protection and open-order
/// margin come from the venue's order state (settlement currency).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OrderMargins {
    pub mmp_margin: f64,
    pub open_orders_margin: f64,
}

/// Portfolio margin of one settlement currency, with every intermediate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PmBreakdown {
    /// The account's vector after the PnL offset and the extended dampener.
    pub aggregated: ScenarioVector,
    pub worst_case: f64,
    pub worst_case_bucket: WorstCaseBucket,
    pub delta_shock: f64,
    pub roll_shock: f64,
    pub correlation_contingency: f64,
    pub risk_matrix_margin: f64,
    pub mmp_margin: f64,
    pub open_orders_margin: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
}

/// The account's sums for one settlement currency, as kept incrementally.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct PmTotals {
    /// Σ position vectors.
    pub vector: ScenarioVector,
    /// Σ roll-shock charges.
    pub roll_shock: f64,
    /// Σ delta (underlying units, coin-equivalent).
    pub delta: f64,
}

/// The currency a margin group's vectors and margin are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmSettlement {
    /// The underlying coin (inverse contracts): USD parameters are converted at the index.
    Coin,
    /// The quote currency (linear contracts): USD parameters apply as they are.
    Quote,
}

/// Margin from an account's totals: offset gains, dampen the extended table, take the
/// worst scenario, add the shocks. Coin-settled (Deribit's inverse books).
pub fn margin_from_vector(
    totals: &PmTotals,
    index: f64,
    params: &PmParams,
    orders: &OrderMargins,
) -> Result<PmBreakdown, MarginError> {
    margin_from_vector_in(PmSettlement::Coin, totals, index, params, orders)
}

/// [`margin_from_vector`] for either settlement currency.
pub fn margin_from_vector_in(
    settlement: PmSettlement,
    totals: &PmTotals,
    index: f64,
    params: &PmParams,
    orders: &OrderMargins,
) -> Result<PmBreakdown, MarginError> {
    let unit_usd = checked_unit_usd(settlement, index, params)?;
    let aggregated = aggregated_vector(totals, params, unit_usd);
    // The first scenario in grid order wins ties (Deribit's reported bucket): the
    // standard grid first, then the extended table.
    let (worst_value, worst_at) = first_minimum(&aggregated);
    let (source, position) = if worst_at < STANDARD_SCENARIOS {
        (ScenarioSource::Standard, worst_at)
    } else {
        (ScenarioSource::Extended, worst_at - STANDARD_SCENARIOS)
    };
    let worst_case_bucket = match source {
        ScenarioSource::Standard => {
            let bucket = position / VOL_SCENARIOS;
            let middle = PRICE_BUCKETS / 2;
            WorstCaseBucket {
                source,
                bucket: bucket + 1,
                side: match bucket.cmp(&middle) {
                    std::cmp::Ordering::Less => Side::Left,
                    std::cmp::Ordering::Equal => Side::Center,
                    std::cmp::Ordering::Greater => Side::Right,
                },
                index: position + 1,
            }
        }
        ScenarioSource::Extended => WorstCaseBucket {
            source,
            bucket: position + 1,
            side: if EXTENDED_MOVES[position] < 0.0 {
                Side::Left
            } else {
                Side::Right
            },
            index: position + 1,
        },
    };
    let shocks = Shocks::of(totals, index, params, unit_usd, worst_value, orders);
    let breakdown = PmBreakdown {
        aggregated,
        worst_case: shocks.worst_case,
        worst_case_bucket,
        delta_shock: shocks.delta_shock,
        roll_shock: totals.roll_shock,
        correlation_contingency: CORRELATION_CONTINGENCY,
        risk_matrix_margin: shocks.risk_matrix_margin,
        mmp_margin: orders.mmp_margin,
        open_orders_margin: orders.open_orders_margin,
        initial_margin: shocks.initial_margin,
        maintenance_margin: shocks.maintenance_margin,
    };
    if shocks.all_finite() && aggregated.is_finite() {
        Ok(breakdown)
    } else {
        Err(MarginError::Unpriced)
    }
}

/// (initial, maintenance) margin alone, what an account evaluation reads: the arithmetic
/// of [`margin_from_vector_in`] (the same bits, and refused in the same cases) without
/// the breakdown — no copy of the aggregated vector, no search for the worst scenario's
/// position, one pass for the minimum and the finiteness check.
pub fn initial_and_maintenance_in(
    settlement: PmSettlement,
    totals: &PmTotals,
    index: f64,
    params: &PmParams,
    orders: &OrderMargins,
) -> Result<(f64, f64), MarginError> {
    let unit_usd = checked_unit_usd(settlement, index, params)?;
    let (worst_value, finite) =
        aggregated_minimum_and_finite(&totals.vector, &Aggregation::new(params, unit_usd));
    let shocks = Shocks::of(totals, index, params, unit_usd, worst_value, orders);
    if shocks.all_finite() && finite {
        Ok((shocks.initial_margin, shocks.maintenance_margin))
    } else {
        Err(MarginError::Unpriced)
    }
}

/// USD per unit of the settlement currency, once the parameters and index are checked.
#[inline(always)]
fn checked_unit_usd(
    settlement: PmSettlement,
    index: f64,
    params: &PmParams,
) -> Result<f64, MarginError> {
    if !params.is_valid() {
        return Err(MarginError::InvalidParams);
    }
    if !(index.is_finite() && index > 0.0) {
        return Err(MarginError::InvalidPrice {
            what: "index",
            value: index,
        });
    }
    Ok(match settlement {
        PmSettlement::Coin => index,
        PmSettlement::Quote => 1.0,
    })
}

/// How the totals' vector becomes the aggregated one: gains offset (capped) on the
/// standard grid, the extended table dampened. Per scenario value, one rule for both
/// margin paths.
struct Aggregation {
    pnl_offset: f64,
    offset_cap: f64,
    dampener: f64,
}

impl Aggregation {
    #[inline(always)]
    fn new(params: &PmParams, unit_usd: f64) -> Aggregation {
        Aggregation {
            pnl_offset: params.pnl_offset,
            offset_cap: params.max_offsetable_pnl_usd / unit_usd,
            dampener: params.extended_dampener_usd / unit_usd,
        }
    }

    /// Selects, not branches: the signs of a book's scenario PnLs are unpredictable.
    #[inline(always)]
    fn standard(&self, value: f64) -> f64 {
        let offset = (value * self.pnl_offset).min(self.offset_cap);
        if value > 0.0 { offset } else { value }
    }

    #[inline(always)]
    fn extended(&self, value: f64) -> f64 {
        (value + self.dampener).min(0.0)
    }
}

/// The totals' vector with gains offset (capped) and the extended table dampened.
#[inline(always)]
fn aggregated_vector(totals: &PmTotals, params: &PmParams, unit_usd: f64) -> ScenarioVector {
    let rule = Aggregation::new(params, unit_usd);
    let mut aggregated = totals.vector;
    aggregated
        .standard
        .iter_mut()
        .for_each(|v| *v = rule.standard(*v));
    aggregated
        .extended
        .iter_mut()
        .for_each(|v| *v = rule.extended(*v));
    aggregated
}

/// Cross-currency correlation sets are not modelled: each currency stands alone.
const CORRELATION_CONTINGENCY: f64 = 0.0;

/// The margin figures that follow from the worst scenario's value.
struct Shocks {
    worst_case: f64,
    delta_shock: f64,
    risk_matrix_margin: f64,
    initial_margin: f64,
    maintenance_margin: f64,
}

impl Shocks {
    #[inline(always)]
    fn of(
        totals: &PmTotals,
        index: f64,
        params: &PmParams,
        unit_usd: f64,
        worst_value: f64,
        orders: &OrderMargins,
    ) -> Shocks {
        let worst_case = (-worst_value).max(0.0);
        let delta = totals.delta.abs();
        let excess = (delta - params.delta_total_liq_shock_threshold_usd / index).max(0.0);
        // In coin, then in the settlement currency.
        let delta_shock =
            delta * (params.m_inc * excess).min(params.max_delta_shock) * (index / unit_usd);
        let risk_matrix_margin =
            worst_case + delta_shock + totals.roll_shock + CORRELATION_CONTINGENCY;
        Shocks {
            worst_case,
            delta_shock,
            risk_matrix_margin,
            initial_margin: risk_matrix_margin + orders.mmp_margin + orders.open_orders_margin,
            maintenance_margin: params.mm_factor * risk_matrix_margin,
        }
    }

    fn all_finite(&self) -> bool {
        [
            self.worst_case,
            self.delta_shock,
            self.risk_matrix_margin,
            self.initial_margin,
            self.maintenance_margin,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// Four interleaved running minima (no chain of dependent compares), and per lane a
/// finiteness probe: `v × 0` is ±0 for a finite `v` and NaN otherwise, so the probes sum
/// to 0 exactly when every value taken was finite.
struct LaneMinima {
    minima: [f64; 4],
    probes: [f64; 4],
}

impl LaneMinima {
    const LANES: usize = 4;

    fn new() -> LaneMinima {
        LaneMinima {
            minima: [f64::INFINITY; 4],
            probes: [0.0; 4],
        }
    }

    /// Takes `values` into the lanes in turn, each through `map`.
    #[inline(always)]
    fn take(&mut self, values: &[f64], map: impl Fn(f64) -> f64) {
        let chunks = values.chunks_exact(Self::LANES);
        let rest = chunks.remainder();
        for chunk in chunks {
            // Fixed-size view: constant lane indices, the loop vectorises.
            if let Ok(chunk) = <&[f64; 4]>::try_from(chunk) {
                for (lane, &value) in chunk.iter().enumerate() {
                    self.take_one(lane, map(value));
                }
            }
        }
        for (lane, &value) in rest.iter().enumerate() {
            self.take_one(lane, map(value));
        }
    }

    #[inline(always)]
    fn take_one(&mut self, lane: usize, value: f64) {
        let minimum = self.minima[lane];
        self.minima[lane] = if value < minimum { value } else { minimum };
        self.probes[lane] += value * 0.0;
    }

    fn smallest(&self) -> f64 {
        self.minima
            .into_iter()
            .fold(f64::INFINITY, |m, v| if v < m { v } else { m })
    }

    fn all_finite(&self) -> bool {
        self.probes.iter().sum::<f64>() == 0.0
    }
}

/// The smallest aggregated scenario value (as [`first_minimum`]'s: its bits may differ
/// only between +0 and −0, which the margin figures do not see, `(−v).max(0)` being added
/// to a nonnegative shock) and whether every aggregated value is finite, in one
/// branch-free pass over the totals, without storing the aggregated vector.
#[inline(always)]
fn aggregated_minimum_and_finite(vector: &ScenarioVector, rule: &Aggregation) -> (f64, bool) {
    let mut lanes = LaneMinima::new();
    lanes.take(&vector.standard, |v| rule.standard(v));
    lanes.take(&vector.extended, |v| rule.extended(v));
    (lanes.smallest(), lanes.all_finite())
}

/// The smallest scenario PnL and the first scenario (standard grid, then extended table)
/// that has it: what a scan replacing only on strictly smaller finds, without its chain
/// of 35 dependent compares. The minimum by four interleaved running minima, then the
/// first scenario equal to it (±0 compare equal, as in the scan; its own bits are
/// returned). With a NaN the index may differ from the scan's, but such a vector is
/// refused afterwards whatever the index.
fn first_minimum(vector: &ScenarioVector) -> (f64, usize) {
    const ALL: usize = STANDARD_SCENARIOS + EXTENDED_SCENARIOS;
    let mut all = [0.0; ALL];
    all[..STANDARD_SCENARIOS].copy_from_slice(&vector.standard);
    all[STANDARD_SCENARIOS..].copy_from_slice(&vector.extended);
    let mut lanes = LaneMinima::new();
    lanes.take(&all, |v| v);
    let smallest = lanes.smallest();
    let at = all.iter().position(|&v| v == smallest).unwrap_or(0);
    (all[at], at)
}

/// A position's delta for the delta shock (underlying units): futures their quantity;
/// options Black delta × quantity, minus the premium's own exposure when inverse.
pub fn position_delta(
    contract: &PmContract,
    quantity: f64,
    market: &PmMarket,
) -> Result<f64, MarginError> {
    match *contract {
        PmContract::InverseFuture { .. } | PmContract::LinearFuture { .. } => Ok(quantity),
        PmContract::Option {
            kind,
            strike,
            years,
            inverse,
        } => {
            let inputs = option_inputs(kind, strike, years, market.forward, market.vol);
            let greeks = crate::pricing::black76(&inputs).map_err(|_| MarginError::Unpriced)?;
            let delta = if inverse {
                crate::pricing::coin_greeks(&inputs, &greeks).delta_coin
            } else {
                greeks.delta
            };
            Ok(quantity * delta)
        }
    }
}

/// One position of an offline portfolio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PmPosition {
    pub contract: PmContract,
    pub quantity: f64,
    pub market: PmMarket,
}

/// Margin of a whole coin-settled (inverse) portfolio, from scratch: each position's
/// vector (in input order), the totals, and the breakdown.
pub fn evaluate_portfolio(
    positions: &[PmPosition],
    index: f64,
    params: &PmParams,
    orders: &OrderMargins,
) -> Result<(Vec<ScenarioVector>, PmTotals, PmBreakdown), MarginError> {
    evaluate_portfolio_in(PmSettlement::Coin, positions, index, params, orders)
}

/// [`evaluate_portfolio`] for either settlement currency: a linear (USDC) portfolio's
/// vectors, shocks and margin are in USD, and its USD parameters apply as they are.
pub fn evaluate_portfolio_in(
    settlement: PmSettlement,
    positions: &[PmPosition],
    index: f64,
    params: &PmParams,
    orders: &OrderMargins,
) -> Result<(Vec<ScenarioVector>, PmTotals, PmBreakdown), MarginError> {
    let mut vectors = Vec::with_capacity(positions.len());
    let mut totals = PmTotals::default();
    for position in positions {
        let vector = position_vector(
            &position.contract,
            position.quantity,
            &position.market,
            params,
        )?;
        totals.vector += vector;
        totals.roll_shock += roll_shock(
            &position.contract,
            position.quantity,
            &position.market,
            params,
        );
        totals.delta += position_delta(&position.contract, position.quantity, &position.market)?;
        vectors.push(vector);
    }
    let breakdown = margin_from_vector_in(settlement, &totals, index, params, orders)?;
    Ok((vectors, totals, breakdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan `first_minimum` replaces: strictly smaller replaces, first wins ties.
    fn scan(vector: &ScenarioVector) -> (f64, usize) {
        let mut worst_value = vector.standard[0];
        let mut worst_at = 0usize;
        let scenarios = vector.standard.iter().chain(&vector.extended);
        for (at, &value) in scenarios.enumerate().skip(1) {
            if value < worst_value {
                (worst_value, worst_at) = (value, at);
            }
        }
        (worst_value, worst_at)
    }

    #[test]
    fn initial_and_maintenance_alone_equal_the_breakdowns_bits_and_refusals() {
        // Values from a small pool (ties, ±0, infinities, NaN) or a wide range, random
        // shocks, both settlements, valid and invalid parameters and indexes.
        let pool = [-2.5e6, -1.0, -0.0, 0.0, 3.0, 7.5e5, f64::INFINITY, f64::NAN];
        let mut rng = crate::test_lcg::Lcg(0x2545_F491_4F6C_DD1D);
        let mut next = || rng.next_u64() >> 11;
        let (mut answered, mut refused) = (0, 0);
        for case in 0..20_000u32 {
            let mut totals = PmTotals::default();
            for value in totals
                .vector
                .standard
                .iter_mut()
                .chain(&mut totals.vector.extended)
            {
                let draw = next();
                *value = match case % 3 {
                    // Rare non-finite values, so most cases are answered.
                    0 if draw % 97 == 0 => pool[6 + (draw as usize / 97) % 2],
                    0 => pool[draw as usize % 6],
                    _ => (draw % 2_000_001) as f64 - 1e6,
                };
            }
            totals.delta = (next() % 2001) as f64 / 100.0 - 10.0;
            totals.roll_shock = (next() % 1000) as f64 / 1000.0;
            let settlement = if case % 2 == 0 {
                PmSettlement::Coin
            } else {
                PmSettlement::Quote
            };
            let mut params = PmParams::BTC;
            if case % 101 == 0 {
                params.price_range = 1.5;
            }
            let index = if case % 103 == 0 { 0.0 } else { 60_000.0 };
            let orders = OrderMargins {
                mmp_margin: (next() % 10) as f64,
                open_orders_margin: 0.0,
            };
            let full = margin_from_vector_in(settlement, &totals, index, &params, &orders);
            let lean = initial_and_maintenance_in(settlement, &totals, index, &params, &orders);
            match (full, lean) {
                (Ok(full), Ok((im, mm))) => {
                    assert_eq!(im.to_bits(), full.initial_margin.to_bits(), "case {case}");
                    assert_eq!(
                        mm.to_bits(),
                        full.maintenance_margin.to_bits(),
                        "case {case}"
                    );
                    answered += 1;
                }
                (Err(full), Err(lean)) => {
                    assert_eq!(format!("{full:?}"), format!("{lean:?}"), "case {case}");
                    refused += 1;
                }
                (full, lean) => panic!("case {case}: {full:?} against {lean:?}"),
            }
        }
        assert!(
            answered > 15_000 && refused > 300,
            "{answered} answered, {refused} refused"
        );
    }

    #[test]
    fn first_minimum_equals_the_scan_with_ties_signed_zeros_and_infinities() {
        // Few distinct values, so ties (and ±0 ties) are common; a seeded LCG.
        let pool = [-2.5, -1.0, -0.0, 0.0, 3.0, f64::INFINITY, f64::NEG_INFINITY];
        let mut rng = crate::test_lcg::Lcg(0x9E37_79B9_7F4A_7C15);
        let mut next = || (rng.next_u64() >> 33) as usize;
        for case in 0..20_000 {
            let mut vector = ScenarioVector::ZERO;
            // Some cases draw from the small pool only, the rest from a wider range too.
            for value in vector.standard.iter_mut().chain(vector.extended.iter_mut()) {
                *value = if case % 2 == 0 {
                    pool[next() % pool.len()]
                } else {
                    pool[next() % 5] + (next() % 7) as f64
                };
            }
            let (value, at) = first_minimum(&vector);
            let (expected_value, expected_at) = scan(&vector);
            assert_eq!(at, expected_at, "case {case}: {vector:?}");
            assert_eq!(value.to_bits(), expected_value.to_bits(), "case {case}");
        }
    }
}
