//! One position's price PnL over a step, split into Greek terms and a residual. The one
//! place the decomposition rule lives: the engine's accrual and `keel explain`'s
//! recomputation both call [`decompose_move`].

use super::components::PnlComponents;
use crate::events::{InstrumentDefinition, InstrumentKind, Settlement};
use crate::state::contract_risk::{ContractRisk, Mark};

/// Nanoseconds in the calendar day theta is quoted per.
pub const DAY_NS: u64 = 86_400_000_000_000;

/// How a contract's value depends on its price, which decides the Greek terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Payoff {
    /// USD-valued option (value in the quote currency): Black-76 Greeks as they are.
    LinearOption,
    /// Coin-settled option, value `V_usd / F` in coin: Greeks divided through by F.
    InverseOption,
    /// Linear future, perpetual or spot: value `size · P`.
    Linear { size: f64 },
    /// Inverse future or perpetual of `size_usd` USD: value `−size_usd / P` in coin.
    InverseFuture { size_usd: f64 },
}

impl Payoff {
    pub fn of(definition: &InstrumentDefinition, contract_size: f64) -> Payoff {
        match (definition.kind, definition.settlement) {
            (InstrumentKind::Option, Settlement::Inverse) => Payoff::InverseOption,
            (InstrumentKind::Option, Settlement::Linear) => Payoff::LinearOption,
            (InstrumentKind::Future | InstrumentKind::Perpetual, Settlement::Inverse) => {
                Payoff::InverseFuture {
                    size_usd: contract_size,
                }
            }
            _ => Payoff::Linear {
                size: contract_size,
            },
        }
    }
}

/// A contract's value per contract (ledger currency), its Greeks, and the mark and model
/// time they were computed at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Valuation {
    pub risk: ContractRisk,
    /// `None`: never valued from a mark (its value is 0 until it is).
    pub mark: Option<Mark>,
    pub at_ns: u64,
}

/// `quantity` contracts held from `before` to `after`: the price PnL
/// `quantity × (V_after − V_before)` as delta, gamma, vega and theta terms (from the
/// Greeks at `before`) and the residual they leave. Finite inputs give finite terms;
/// a degenerate forward leaves it all residual. A position never valued before (traded
/// before its instrument's first mark) has its first valuation counted as a new trade.
pub fn decompose_move(
    quantity: f64,
    payoff: Payoff,
    before: &Valuation,
    after: &Valuation,
) -> PnlComponents {
    let price_pnl = quantity * (after.risk.value - before.risk.value);
    if before.mark.is_none() {
        // Traded before its first mark (valued at 0 until then): the first valuation is
        // the trade's price against a mark, not a market move.
        return PnlComponents {
            new_trades: price_pnl,
            ..PnlComponents::ZERO
        };
    }
    let mut terms = PnlComponents::ZERO;
    if let (Some(m0), Some(m1)) = (before.mark, after.mark) {
        let r = &before.risk;
        let days = (after.at_ns as f64 - before.at_ns as f64) / DAY_NS as f64;
        let vol_points = (m1.mark_iv - m0.mark_iv) * 100.0;
        match payoff {
            Payoff::LinearOption => {
                let df = m1.forward - m0.forward;
                terms.delta = quantity * r.delta_usd * df;
                terms.gamma = 0.5 * quantity * r.gamma_usd * df * df;
                terms.vega = quantity * r.vega_usd * vol_points;
                terms.theta = quantity * r.theta_usd * days;
            }
            Payoff::InverseOption => {
                // V = V_usd/F: ∂V/∂F = Δ_coin/F, ∂²V/∂F² = (Γ − 2Δ_coin/F)/F, vega and
                // theta divided by F (`delta_coin` is Δ_usd − V, per contract).
                let (f0, df) = (m0.forward, m1.forward - m0.forward);
                terms.delta = quantity * r.delta_coin * df / f0;
                terms.gamma =
                    0.5 * quantity * (r.gamma_usd - 2.0 * r.delta_coin / f0) / f0 * df * df;
                terms.vega = quantity * r.vega_usd / f0 * vol_points;
                terms.theta = quantity * r.theta_usd / f0 * days;
            }
            Payoff::Linear { size } => {
                terms.delta = quantity * size * (m1.mark_price - m0.mark_price);
            }
            Payoff::InverseFuture { size_usd } => {
                let (p0, dp) = (m0.mark_price, m1.mark_price - m0.mark_price);
                terms.delta = quantity * size_usd / (p0 * p0) * dp;
                terms.gamma = -quantity * size_usd / (p0 * p0 * p0) * dp * dp;
            }
        }
    }
    if !terms.is_finite_greeks() {
        terms = PnlComponents::ZERO;
    }
    terms.residual = price_pnl - (terms.delta + terms.gamma + terms.vega + terms.theta);
    terms
}

impl PnlComponents {
    fn is_finite_greeks(&self) -> bool {
        [self.delta, self.gamma, self.vega, self.theta]
            .iter()
            .all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{
        Dec, InstrumentDefinition, InstrumentId, InstrumentKind, Name, OptionRight, Settlement,
        UnderlyingId,
    };
    use crate::state::contract_risk::contract_risk;

    fn definition(kind: InstrumentKind, settlement: Settlement) -> InstrumentDefinition {
        InstrumentDefinition {
            id: InstrumentId(1),
            name: Name::new("X").unwrap(),
            kind,
            settlement,
            underlying: UnderlyingId(0),
            expiry_ns: 30 * DAY_NS,
            strike: Dec::new(rust_decimal::Decimal::from(100_000)),
            right: OptionRight::Call,
            contract_size: Dec::new(rust_decimal::Decimal::ONE),
        }
    }

    fn option(settlement: Settlement) -> InstrumentDefinition {
        definition(InstrumentKind::Option, settlement)
    }

    fn valued(definition: &InstrumentDefinition, forward: f64, vol: f64, at_ns: u64) -> Valuation {
        let years = (definition.expiry_ns - at_ns) as f64 / crate::state::contract_risk::YEAR_NS;
        let inputs = crate::pricing::OptionInputs {
            kind: crate::pricing::OptionKind::Call,
            forward,
            strike: 100_000.0,
            years,
            vol,
            rate: 0.0,
        };
        let usd = crate::pricing::black76_price(&inputs).unwrap();
        let price = match definition.settlement {
            Settlement::Inverse => usd / forward,
            Settlement::Linear => usd,
        };
        let mark = Mark {
            timestamp_ns: at_ns,
            mark_price: price,
            mark_iv: vol,
            forward,
        };
        Valuation {
            risk: contract_risk(definition, 1.0, 100_000.0, &mark, at_ns).unwrap(),
            mark: Some(mark),
            at_ns,
        }
    }

    /// Small moves: the Greek terms explain the model's PnL to third order, so the
    /// residual is tiny against the move; the parts always add up to the price PnL.
    #[test]
    fn greek_terms_explain_small_moves_and_the_parts_add_up() {
        for settlement in [Settlement::Inverse, Settlement::Linear] {
            let definition = option(settlement);
            let payoff = Payoff::of(&definition, 1.0);
            let before = valued(&definition, 100_000.0, 0.6, 0);
            let after = valued(&definition, 100_500.0, 0.605, DAY_NS / 24);
            let parts = decompose_move(-3.0, payoff, &before, &after);
            let price_pnl = -3.0 * (after.risk.value - before.risk.value);
            assert!((parts.sum() - price_pnl).abs() <= 1e-12 * price_pnl.abs().max(1.0));
            assert!(
                parts.residual.abs() < 0.02 * price_pnl.abs(),
                "{settlement:?}: {parts:?} against {price_pnl}"
            );
            assert!(parts.delta.abs() > parts.gamma.abs());
        }
    }

    #[test]
    fn inverse_future_terms_are_the_exact_expansion_to_second_order() {
        let definition = definition(InstrumentKind::Future, Settlement::Inverse);
        let payoff = Payoff::of(&definition, 10.0);
        let at = |price: f64| {
            let mark = Mark {
                timestamp_ns: 0,
                mark_price: price,
                mark_iv: 0.0,
                forward: price,
            };
            Valuation {
                risk: contract_risk(&definition, 10.0, 0.0, &mark, 0).unwrap(),
                mark: Some(mark),
                at_ns: 0,
            }
        };
        let parts = decompose_move(2.0, payoff, &at(50_000.0), &at(50_010.0));
        // Third order: 2·10·(dp³/p⁴) ≈ 3e-14 coin.
        assert!(parts.residual.abs() < 1e-12, "{parts:?}");
    }

    #[test]
    fn a_first_valuation_is_a_new_trade() {
        let definition = option(Settlement::Linear);
        let after = valued(&definition, 100_000.0, 0.6, 0);
        let before = Valuation {
            risk: ContractRisk::ZERO,
            mark: None,
            at_ns: 0,
        };
        let parts = decompose_move(1.0, Payoff::LinearOption, &before, &after);
        assert_eq!(parts.new_trades, after.risk.value);
        assert_eq!(parts.residual, 0.0);
        assert_eq!(parts.delta, 0.0);
    }
}
