//! Portfolio-margin parameters, named as Deribit's `model_params` name them: per
//! currency pair (the underlying's moves), per settlement currency (PnL treatment,
//! futures shocks), and general.

/// The parameters of one settlement currency's portfolio margin. Journaled inside the
/// `RiskParams` event, so its layout is part of the journal format.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct PmParams {
    // currency pair (e.g. btc_usd)
    /// R: the standard grid's largest move (0.16 = ±16 %).
    pub price_range: f64,
    pub volatility_range_up: f64,
    pub volatility_range_down: f64,
    pub short_term_vega_power: f64,
    pub long_term_vega_power: f64,
    pub min_volatility_for_shock_up: f64,
    pub extended_table_factor: f64,
    pub max_delta_shock: f64,
    /// |delta| (USD) above which the delta shock applies.
    pub delta_total_liq_shock_threshold_usd: f64,
    pub m_inc: f64,
    // settlement currency (e.g. btc)
    /// Share of a scenario's gain that may offset losses (0: none).
    pub pnl_offset: f64,
    /// Cap on that offset, USD.
    pub max_offsetable_pnl_usd: f64,
    /// Extended-table losses up to this (USD) are forgiven.
    pub extended_dampener_usd: f64,
    pub min_annualised_move: f64,
    pub annualised_move_risk: f64,
    // general
    pub mm_factor: f64,
}

impl PmParams {
    /// Deribit's published BTC parameters (the API docs example, June 2024).
    pub const BTC: PmParams = PmParams {
        price_range: 0.16,
        volatility_range_up: 0.5,
        volatility_range_down: 0.25,
        short_term_vega_power: 0.3,
        long_term_vega_power: 0.13,
        min_volatility_for_shock_up: 0.5,
        extended_table_factor: 1.0,
        max_delta_shock: 0.1,
        delta_total_liq_shock_threshold_usd: 20_000_000.0,
        m_inc: 5e-5,
        pnl_offset: 0.0,
        max_offsetable_pnl_usd: 0.0,
        extended_dampener_usd: 100_000.0,
        min_annualised_move: 0.01,
        annualised_move_risk: 0.075,
        mm_factor: 0.8,
    };

    /// Deribit's ETH parameters (a mainnet capture, February 2026).
    pub const ETH: PmParams = PmParams {
        price_range: 0.18,
        volatility_range_up: 0.4,
        volatility_range_down: 0.25,
        short_term_vega_power: 0.3,
        long_term_vega_power: 0.13,
        min_volatility_for_shock_up: 0.5,
        extended_table_factor: 1.0,
        max_delta_shock: 0.1,
        delta_total_liq_shock_threshold_usd: 20_000_000.0,
        m_inc: 4e-6,
        pnl_offset: 0.6,
        max_offsetable_pnl_usd: 20_000_000.0,
        extended_dampener_usd: 200_000.0,
        min_annualised_move: 0.005,
        annualised_move_risk: 0.05,
        mm_factor: 0.8,
    };

    /// Every parameter, in declaration order.
    pub fn fields(&self) -> [f64; 16] {
        [
            self.price_range,
            self.volatility_range_up,
            self.volatility_range_down,
            self.short_term_vega_power,
            self.long_term_vega_power,
            self.min_volatility_for_shock_up,
            self.extended_table_factor,
            self.max_delta_shock,
            self.delta_total_liq_shock_threshold_usd,
            self.m_inc,
            self.pnl_offset,
            self.max_offsetable_pnl_usd,
            self.extended_dampener_usd,
            self.min_annualised_move,
            self.annualised_move_risk,
            self.mm_factor,
        ]
    }

    /// Every parameter is finite, within [`PARAM_MAX`] and in its domain.
    pub fn is_valid(&self) -> bool {
        // Branch-free over the fields (every margin evaluation checks its parameters);
        // the range excludes NaN and infinities.
        self.fields()
            .iter()
            .fold(true, |ok, v| ok & (0.0..=PARAM_MAX).contains(v))
            && self.price_range > 0.0
            && self.price_range < 1.0
            && self.volatility_range_down < 1.0
    }
}

/// Largest value of any parameter (the USD thresholds are the largest real ones, ~1e7).
pub const PARAM_MAX: f64 = 1e12;
