//! Hedge proposals: trades that bring an account back inside its target bands, checked
//! with what-if. A pure function of the state (the same journal gives the same
//! proposal); Keel proposes, it never trades.
//!
//! Per underlying outside its band:
//! - vega and gamma (where banded) with listed options near the money: the gamma leg is
//!   the option nearest the money in the nearest expiry at least
//!   [`HEDGE_OPTION_MIN_DAYS`] out, the vega leg the one nearest the money in the expiry
//!   nearest [`HEDGE_VEGA_TARGET_DAYS`]. A Greek outside its ± band is brought halfway
//!   back to zero (to half its limit); with both bands, the two quantities solve both
//!   Greeks together (2 × 2; the one inside keeps its value), else one leg for the one;
//! - then delta, the options' delta included, to the band's middle with the perpetual
//!   or a dated future, whichever leaves the lower initial margin (USD) with every other
//!   proposed trade.
//!
//! Quantities are whole lots: [`HEDGE_OPTION_LOT`] for options, one contract for futures.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use thiserror::Error;

use super::account_margin::{Condition, for_each_underlying};
use super::contract_risk::ContractRisk;
use super::hedge_bands::outside;
use super::shard_state::ShardState;
use super::what_if::{HypotheticalFill, WHAT_IF_FILLS_MAX, WhatIf, WhatIfError};
use crate::attribution::{DAY_NS, usd_rate};
use crate::decimal_f64::decimal_to_f64;
use crate::events::{
    AccountId, HedgeBands, InstrumentId, InstrumentKind, OptionRight, Side, UnderlyingId,
};

/// Options for vega and gamma legs expire at least this many days out (nearer ones'
/// Greeks move too fast to hold a hedge).
pub const HEDGE_OPTION_MIN_DAYS: f64 = 7.0;
/// The vega leg's expiry is the one nearest this many days.
pub const HEDGE_VEGA_TARGET_DAYS: f64 = 60.0;
/// Options trade in lots of this many contracts (Deribit's BTC minimum).
pub const HEDGE_OPTION_LOT: Decimal = Decimal::from_parts(1, 0, 0, false, 1);
/// Futures and perpetuals trade in whole contracts.
pub const HEDGE_FUTURE_LOT: Decimal = Decimal::ONE;

/// What a proposed trade is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgePurpose {
    Delta,
    Vega,
    Gamma,
}

impl HedgePurpose {
    pub fn name(self) -> &'static str {
        match self {
            HedgePurpose::Delta => "delta",
            HedgePurpose::Vega => "vega",
            HedgePurpose::Gamma => "gamma",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProposedTrade {
    pub instrument: InstrumentId,
    pub side: Side,
    pub quantity: Decimal,
    pub purpose: HedgePurpose,
}

impl ProposedTrade {
    pub fn side_name(&self) -> &'static str {
        match self.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// The proposal for one account: trades, and the account before and after them.
#[derive(Clone, Debug, PartialEq)]
pub struct HedgeProposal {
    pub account: AccountId,
    /// Journal sequence of the latest event that changed the account's margin inputs.
    pub cause_seq: u64,
    pub trades: Vec<ProposedTrade>,
    /// Greeks per underlying now.
    pub before: Vec<(UnderlyingId, ContractRisk)>,
    /// The what-if of every trade together (Greeks, margin, trading state after).
    pub after: WhatIf,
    /// Underlyings outside their band now.
    pub outside_before: Vec<UnderlyingId>,
    /// Underlyings still outside after the trades (none when the proposal works).
    pub outside_after: Vec<UnderlyingId>,
    /// Underlyings left as they are, and why (no instrument to hedge with).
    pub unhedged: Vec<(UnderlyingId, &'static str)>,
}

impl HedgeProposal {
    /// The trades would leave the account below initial margin.
    pub fn breaches_initial_margin(&self) -> bool {
        self.after.evaluation.conditions & Condition::BelowInitialMargin.bit() != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum HedgeError {
    #[error("account {0} is not held by this shard")]
    UnknownAccount(u32),
    #[error(transparent)]
    WhatIf(#[from] WhatIfError),
}

impl ShardState {
    /// The trades that bring `account` back inside its bands (none when it is inside).
    pub fn hedge_proposal(&self, account_id: AccountId) -> Result<HedgeProposal, HedgeError> {
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(HedgeError::UnknownAccount(account_id.0))?;
        let mut proposal = HedgeProposal {
            account: account_id,
            cause_seq: account.cause_seq,
            trades: Vec::new(),
            before: Vec::new(),
            after: WhatIf::default(),
            outside_before: Vec::new(),
            outside_after: Vec::new(),
            unhedged: Vec::new(),
        };
        for_each_underlying(&account.risk, |u, g| proposal.before.push((u, *g)));
        let greeks_of = |u: UnderlyingId, list: &[(UnderlyingId, ContractRisk)]| {
            list.iter()
                .find(|(x, _)| *x == u)
                .map_or(ContractRisk::ZERO, |(_, g)| *g)
        };
        let mut fills: Vec<HypotheticalFill> = Vec::new();
        let mut scratch = WhatIf::default();
        for bands in account.hedge_bands.values() {
            let u = bands.underlying;
            let greeks = greeks_of(u, &proposal.before);
            if !outside(bands, &greeks) {
                continue;
            }
            proposal.outside_before.push(u);
            // Vega and gamma legs.
            let mut delta_after = greeks.delta_coin;
            for (instrument, quantity, purpose) in self.option_legs(bands, &greeks, &mut proposal) {
                // The delta of what is actually proposed: whole lots, none if the query
                // is full.
                let traded = push_trade(
                    &mut proposal,
                    &mut fills,
                    instrument,
                    quantity,
                    HEDGE_OPTION_LOT,
                    purpose,
                );
                delta_after += self.contract_greeks(instrument).delta_coin * traded;
            }
            // Delta leg, the options' delta included.
            let delta_out = bands.has_delta_band()
                && (delta_after < bands.delta_min_coin || delta_after > bands.delta_max_coin);
            if !delta_out {
                continue;
            }
            let target = (bands.delta_min_coin + bands.delta_max_coin) / 2.0;
            let mut best: Option<(f64, InstrumentId, f64)> = None;
            for (id, instrument) in self.instruments.iter() {
                let d = &instrument.definition;
                let dated = d.kind == InstrumentKind::Future
                    && d.expiry_ns > self.now_ns.saturating_add(DAY_NS);
                let usable = d.underlying == u
                    && !instrument.settled
                    && instrument.mark.is_some()
                    && (d.kind == InstrumentKind::Perpetual || dated);
                if !usable {
                    continue;
                }
                let per_contract = self.contract_greeks(*id).delta_coin;
                if per_contract == 0.0 || !per_contract.is_finite() {
                    continue;
                }
                let quantity = ((target - delta_after) / per_contract).round();
                if quantity == 0.0 || fills.len() >= WHAT_IF_FILLS_MAX {
                    continue;
                }
                let Some(fill) = fill_of(*id, quantity, HEDGE_FUTURE_LOT) else {
                    continue;
                };
                fills.push(fill);
                let answer = self.what_if_into(account_id, &fills, &mut scratch);
                fills.pop();
                if answer.is_err() {
                    continue;
                }
                let im_usd = initial_margin_usd(self, &scratch);
                if best.is_none_or(|(b, _, _)| im_usd < b) {
                    best = Some((im_usd, *id, quantity));
                }
            }
            match best {
                Some((_, id, quantity)) => {
                    push_trade(
                        &mut proposal,
                        &mut fills,
                        id,
                        quantity,
                        HEDGE_FUTURE_LOT,
                        HedgePurpose::Delta,
                    );
                }
                None => proposal
                    .unhedged
                    .push((u, "no perpetual or future to hedge delta with")),
            }
        }
        if fills.is_empty() {
            // Nothing to trade: the account as it stands.
            proposal.after.greeks = proposal.before.clone();
            proposal.after.evaluation =
                super::account_margin::evaluate_account(account, &self.margin_market());
            proposal.after.state = account.trading_state;
            proposal.after.allowed = true;
        } else {
            self.what_if_into(account_id, &fills, &mut proposal.after)?;
        }
        for bands in account.hedge_bands.values() {
            let greeks = greeks_of(bands.underlying, &proposal.after.greeks);
            if outside(bands, &greeks) {
                proposal.outside_after.push(bands.underlying);
            }
        }
        Ok(proposal)
    }

    /// Greeks per contract of an instrument as of the last batch end (zero if none).
    fn contract_greeks(&self, id: InstrumentId) -> ContractRisk {
        self.instruments
            .get(&id)
            .and_then(|i| i.current_risk())
            .unwrap_or(ContractRisk::ZERO)
    }

    /// The vega and gamma legs for an underlying outside its band: (instrument,
    /// signed contracts, purpose).
    fn option_legs(
        &self,
        bands: &HedgeBands,
        greeks: &ContractRisk,
        proposal: &mut HedgeProposal,
    ) -> Vec<(InstrumentId, f64, HedgePurpose)> {
        let vega_banded = bands.vega_max_abs_usd > 0.0;
        let gamma_banded = bands.gamma_max_abs_usd > 0.0;
        let vega_out = vega_banded && greeks.vega_usd.abs() > bands.vega_max_abs_usd;
        let gamma_out = gamma_banded && greeks.gamma_usd.abs() > bands.gamma_max_abs_usd;
        if !vega_out && !gamma_out {
            return Vec::new();
        }
        let u = bands.underlying;
        let gamma_leg = self.near_money_option(u, |days| days, HEDGE_OPTION_MIN_DAYS);
        let vega_leg = self.near_money_option(
            u,
            |days| (days - HEDGE_VEGA_TARGET_DAYS).abs(),
            HEDGE_OPTION_MIN_DAYS,
        );
        let (Some(gamma_leg), Some(vega_leg)) = (gamma_leg, vega_leg) else {
            proposal.unhedged.push((
                u,
                "no listed option near the money to hedge vega or gamma with",
            ));
            return Vec::new();
        };
        let g = self.contract_greeks(gamma_leg);
        let v = self.contract_greeks(vega_leg);
        // A Greek outside its ± band goes halfway back to zero (half its limit, on its
        // side); one inside stays where it is.
        let target = |value: f64, limit: f64, out: bool| {
            if out {
                value.signum() * limit / 2.0
            } else {
                value
            }
        };
        let d_vega = target(greeks.vega_usd, bands.vega_max_abs_usd, vega_out) - greeks.vega_usd;
        let d_gamma =
            target(greeks.gamma_usd, bands.gamma_max_abs_usd, gamma_out) - greeks.gamma_usd;
        if vega_banded && gamma_banded && gamma_leg != vega_leg {
            // [g.gamma v.gamma; g.vega v.vega] · [q_g; q_v] = [ΔΓ; ΔV]
            let det = g.gamma_usd * v.vega_usd - v.gamma_usd * g.vega_usd;
            if det.abs() > f64::EPSILON * (g.gamma_usd * v.vega_usd).abs() && det.is_finite() {
                let q_g = (d_gamma * v.vega_usd - v.gamma_usd * d_vega) / det;
                let q_v = (g.gamma_usd * d_vega - g.vega_usd * d_gamma) / det;
                return vec![
                    (gamma_leg, q_g, HedgePurpose::Gamma),
                    (vega_leg, q_v, HedgePurpose::Vega),
                ];
            }
        }
        let (leg, q, purpose) = if vega_out {
            (vega_leg, d_vega / v.vega_usd, HedgePurpose::Vega)
        } else {
            (gamma_leg, d_gamma / g.gamma_usd, HedgePurpose::Gamma)
        };
        if q.is_finite() {
            vec![(leg, q, purpose)]
        } else {
            Vec::new()
        }
    }

    /// The live, marked option of `underlying` nearest the money (out of the money side
    /// first) in the expiry minimizing `rank(days)` among those at least `min_days` out.
    fn near_money_option(
        &self,
        underlying: UnderlyingId,
        rank: impl Fn(f64) -> f64,
        min_days: f64,
    ) -> Option<InstrumentId> {
        let forward = self.index_prices.get(&underlying)?.1;
        let days = |expiry_ns: u64| (expiry_ns as f64 - self.now_ns as f64) / DAY_NS as f64;
        let usable = |i: &&super::instrument_state::InstrumentState| {
            let d = &i.definition;
            d.kind == InstrumentKind::Option
                && d.underlying == underlying
                && !i.settled
                && i.mark.is_some()
                && i.current_risk().is_some()
                && days(d.expiry_ns) >= min_days
        };
        let expiry = self
            .instruments
            .values()
            .filter(usable)
            .map(|i| i.definition.expiry_ns)
            .min_by(|a, b| rank(days(*a)).total_cmp(&rank(days(*b))).then(a.cmp(b)))?;
        self.instruments
            .values()
            .filter(usable)
            .filter(|i| i.definition.expiry_ns == expiry)
            .min_by(|a, b| {
                let key = |i: &super::instrument_state::InstrumentState| {
                    let otm = (i.definition.right == OptionRight::Call) == (i.strike >= forward);
                    ((i.strike / forward).ln().abs(), !otm, i.definition.id)
                };
                let (ka, kb) = (key(a), key(b));
                ka.0.total_cmp(&kb.0)
                    .then(ka.1.cmp(&kb.1))
                    .then(ka.2.cmp(&kb.2))
            })
            .map(|i| i.definition.id)
    }
}

/// A fill of `contracts` (signed) rounded to whole `lot`s; `None` under one lot.
fn fill_of(instrument: InstrumentId, contracts: f64, lot: Decimal) -> Option<HypotheticalFill> {
    let lots = Decimal::from_f64((contracts.abs() / decimal_to_f64(&lot)).round())?;
    if lots.is_zero() {
        return None;
    }
    Some(HypotheticalFill {
        instrument,
        side: if contracts > 0.0 {
            Side::Buy
        } else {
            Side::Sell
        },
        quantity: lots * lot,
        price: Decimal::ZERO,
        fee: Decimal::ZERO,
    })
}

/// Adds `contracts` (signed) of `instrument` in whole lots to the proposal; the signed
/// contracts added (0: under one lot, or the query is full).
fn push_trade(
    proposal: &mut HedgeProposal,
    fills: &mut Vec<HypotheticalFill>,
    instrument: InstrumentId,
    contracts: f64,
    lot: Decimal,
    purpose: HedgePurpose,
) -> f64 {
    if fills.len() >= WHAT_IF_FILLS_MAX {
        return 0.0;
    }
    let Some(fill) = fill_of(instrument, contracts, lot) else {
        return 0.0;
    };
    proposal.trades.push(ProposedTrade {
        instrument,
        side: fill.side,
        quantity: fill.quantity,
        purpose,
    });
    fills.push(fill);
    let traded = decimal_to_f64(&fill.quantity);
    if fill.side == Side::Buy {
        traded
    } else {
        -traded
    }
}

/// Initial margin over every currency of a what-if, in USD at the current indexes.
fn initial_margin_usd(state: &ShardState, answer: &WhatIf) -> f64 {
    let index = |u| state.index_prices.get(&u).map(|&(_, p)| p);
    answer
        .evaluation
        .iter()
        .map(|(c, m)| m.initial_margin * usd_rate(c, index).unwrap_or(0.0))
        .sum()
}
