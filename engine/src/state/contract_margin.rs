//! Per-contract portfolio-margin inputs of an instrument (docs/MARGIN.md): its scenario PnL
//! vector, roll-shock charge and delta, per contract held. A holder's margin sums include
//! `quantity × vector`, `|quantity| × roll_shock` and `quantity × delta` (the incremental
//! invariant, as for Greeks).

use rkyv::{Archive, Deserialize, Serialize};

use super::contract_risk::{ContractRisk, Mark, YEAR_NS};
use crate::events::{InstrumentDefinition, InstrumentKind, OptionRight, Settlement};
use crate::margin::{
    MarginError, PmContract, PmMarket, PmParams, PmTotals, ScenarioBatch, ScenarioOption,
    ScenarioVector, position_vector, roll_shock,
};
use crate::pricing::OptionKind;

/// One contract's margin inputs, in the settlement currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct ContractMargin {
    pub vector: ScenarioVector,
    /// Per contract of |position|.
    pub roll_shock: f64,
    /// Coin-equivalent delta per contract.
    pub delta: f64,
    /// The vector is that of `as_of` at `as_of_ns`. False when nobody held the instrument
    /// at that batch end (valued, from `as_of`, when somebody trades it) or when valuation
    /// failed (the previous vector is kept, as holders include it).
    pub valued: bool,
    /// The mark this instrument's margin stands for: the one revalued at the last batch
    /// end that handled it (`None` before the first).
    pub as_of: Option<Mark>,
    /// Model time of that batch end.
    pub as_of_ns: u64,
}

impl ContractMargin {
    /// A holder's contribution for `quantity` contracts.
    pub fn contribution(&self, quantity: f64) -> PmTotals {
        PmTotals {
            vector: self.vector * quantity,
            roll_shock: self.roll_shock * quantity.abs(),
            delta: self.delta * quantity,
        }
    }

    /// How a holder's sums move when this contract's inputs change from `old` to `self`.
    pub fn change_from(&self, old: &ContractMargin, quantity: f64) -> PmTotals {
        PmTotals {
            vector: (self.vector - old.vector) * quantity,
            roll_shock: (self.roll_shock - old.roll_shock) * quantity.abs(),
            delta: (self.delta - old.delta) * quantity,
        }
    }
}

/// Adds `other` to `totals` (the account's sums of one margin group).
pub fn add_totals(totals: &mut PmTotals, other: &PmTotals) {
    totals.vector += other.vector;
    totals.roll_shock += other.roll_shock;
    totals.delta += other.delta;
}

/// What an instrument is for margin, and how many margin units (coin for futures' USD
/// contracts, underlying units otherwise) one contract is, at `mark`.
pub fn pm_contract(
    definition: &InstrumentDefinition,
    contract_size: f64,
    strike: f64,
    mark: &Mark,
    now_ns: u64,
) -> (PmContract, f64) {
    let years = if definition.kind == InstrumentKind::Perpetual {
        0.0
    } else {
        (definition.expiry_ns as f64 - now_ns as f64) / YEAR_NS
    };
    match (definition.kind, definition.settlement) {
        (InstrumentKind::Option, settlement) => (
            PmContract::Option {
                kind: match definition.right {
                    OptionRight::Call => OptionKind::Call,
                    OptionRight::Put => OptionKind::Put,
                },
                strike,
                years,
                inverse: settlement == Settlement::Inverse,
            },
            contract_size,
        ),
        // N USD a contract: N / price coin.
        (_, Settlement::Inverse) => (
            PmContract::InverseFuture { years },
            contract_size / mark.mark_price,
        ),
        (InstrumentKind::Spot, Settlement::Linear) => {
            (PmContract::LinearFuture { years: 0.0 }, contract_size)
        }
        (_, Settlement::Linear) => (PmContract::LinearFuture { years }, contract_size),
    }
}

/// The option of a contract, for the scenario batch; `None` for futures.
pub fn scenario_option(contract: &PmContract, mark: &Mark) -> Option<ScenarioOption> {
    match *contract {
        PmContract::Option {
            kind,
            strike,
            years,
            inverse,
        } => Some(ScenarioOption {
            kind,
            strike,
            years,
            inverse,
            forward: mark.forward,
            vol: mark.mark_iv,
        }),
        _ => None,
    }
}

/// Margin inputs of a future or perpetual at `mark` (no option pricing needed). Its
/// scenario PnL is measured from its own price.
pub fn future_margin(
    definition: &InstrumentDefinition,
    contract: &PmContract,
    units: f64,
    mark: &Mark,
    params: &PmParams,
    now_ns: u64,
) -> Result<ContractMargin, MarginError> {
    let market = PmMarket {
        index: mark.mark_price,
        forward: mark.mark_price,
        vol: 0.0,
    };
    let vector = position_vector(contract, units, &market, params)?;
    let roll = if definition.kind == InstrumentKind::Spot {
        0.0
    } else {
        roll_shock(contract, units, &market, params)
    };
    Ok(ContractMargin {
        vector,
        roll_shock: roll,
        delta: units,
        valued: true,
        as_of: Some(*mark),
        as_of_ns: now_ns,
    })
}

/// Margin inputs of an option from slot `slot` of a priced batch. `risk` is the contract's
/// Greeks at the same mark and time: its coin delta is the margin delta.
pub fn option_margin(
    batch: &ScenarioBatch,
    slot: usize,
    units: f64,
    risk: &ContractRisk,
    mark: &Mark,
    now_ns: u64,
) -> Result<ContractMargin, MarginError> {
    let margin = ContractMargin {
        vector: batch.unit_vector(slot) * units,
        roll_shock: 0.0,
        delta: risk.delta_coin,
        valued: true,
        as_of: Some(*mark),
        as_of_ns: now_ns,
    };
    if margin.vector.is_finite() && margin.delta.is_finite() {
        Ok(margin)
    } else {
        Err(MarginError::Unpriced)
    }
}

/// One instrument's margin inputs from scratch (a batch of one option, so the same bits
/// as inside any batch): what revaluation computes, for the checker and one-off valuation.
#[allow(clippy::too_many_arguments)] // each is a model input
pub fn contract_margin(
    definition: &InstrumentDefinition,
    contract_size: f64,
    strike: f64,
    mark: &Mark,
    risk: &ContractRisk,
    params: &PmParams,
    now_ns: u64,
    batch: &mut ScenarioBatch,
) -> Result<ContractMargin, MarginError> {
    let (contract, units) = pm_contract(definition, contract_size, strike, mark, now_ns);
    match scenario_option(&contract, mark) {
        None => future_margin(definition, &contract, units, mark, params, now_ns),
        Some(option) => {
            batch.clear();
            batch.push(&option, params)?;
            batch.price()?;
            option_margin(batch, 0, units, risk, mark, now_ns)
        }
    }
}
