//! Per-contract value and Greeks of an instrument at the current market, in the units the
//! aggregates use (docs/PRICING.md). A position's contribution is `quantity × ContractRisk`.

use std::ops::{AddAssign, Mul, Sub};

use rkyv::{Archive, Deserialize, Serialize};

use crate::events::{InstrumentDefinition, InstrumentKind, OptionRight, Settlement};
use crate::pricing::{Greeks, OptionInputs, OptionKind, black76_as_in_batch, coin_greeks};

/// Seconds-in-a-year denominator for T (docs/PRICING.md): 365 days of ns.
pub const YEAR_NS: f64 = 365.0 * 86_400.0 * 1e9;

/// Value and Greeks of one contract. `value` is in the settlement currency (coin for
/// inverse contracts, quote currency for linear); Greeks as in docs/PRICING.md: `delta_coin` is the
/// BTC-equivalent exposure, `delta_usd` the Black (USD-value) delta, both in units of
/// the underlying; gamma per USD; vega USD per vol point; theta USD per day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct ContractRisk {
    pub value: f64,
    pub delta_coin: f64,
    pub delta_usd: f64,
    pub gamma_usd: f64,
    pub vega_usd: f64,
    pub theta_usd: f64,
}

impl ContractRisk {
    pub const ZERO: ContractRisk = ContractRisk {
        value: 0.0,
        delta_coin: 0.0,
        delta_usd: 0.0,
        gamma_usd: 0.0,
        vega_usd: 0.0,
        theta_usd: 0.0,
    };

    pub fn fields(&self) -> [f64; 6] {
        [
            self.value,
            self.delta_coin,
            self.delta_usd,
            self.gamma_usd,
            self.vega_usd,
            self.theta_usd,
        ]
    }

    pub fn is_finite(&self) -> bool {
        self.fields().iter().all(|v| v.is_finite())
    }
}

impl Mul<f64> for ContractRisk {
    type Output = ContractRisk;
    fn mul(self, quantity: f64) -> ContractRisk {
        ContractRisk {
            value: self.value * quantity,
            delta_coin: self.delta_coin * quantity,
            delta_usd: self.delta_usd * quantity,
            gamma_usd: self.gamma_usd * quantity,
            vega_usd: self.vega_usd * quantity,
            theta_usd: self.theta_usd * quantity,
        }
    }
}

impl Sub for ContractRisk {
    type Output = ContractRisk;
    fn sub(self, other: ContractRisk) -> ContractRisk {
        self + other * -1.0
    }
}

impl std::ops::Add for ContractRisk {
    type Output = ContractRisk;
    fn add(mut self, other: ContractRisk) -> ContractRisk {
        self += other;
        self
    }
}

impl AddAssign for ContractRisk {
    fn add_assign(&mut self, other: ContractRisk) {
        self.value += other.value;
        self.delta_coin += other.delta_coin;
        self.delta_usd += other.delta_usd;
        self.gamma_usd += other.gamma_usd;
        self.vega_usd += other.vega_usd;
        self.theta_usd += other.theta_usd;
    }
}

/// The market an instrument was last marked at.
#[derive(Clone, Copy, Debug, PartialEq, Archive, Serialize, Deserialize)]
pub struct Mark {
    pub timestamp_ns: u64,
    /// As quoted: coin for inverse options, quote currency otherwise.
    pub mark_price: f64,
    pub mark_iv: f64,
    pub forward: f64,
}

/// Value of one contract at `price` (as quoted), in the settlement currency: what the
/// average-entry accounting compares against. `None` when `price` cannot value it.
pub fn value_at(definition: &InstrumentDefinition, contract_size: f64, price: f64) -> Option<f64> {
    let inverse_future = definition.settlement == Settlement::Inverse
        && matches!(
            definition.kind,
            InstrumentKind::Future | InstrumentKind::Perpetual
        );
    if inverse_future {
        // N USD of contract: coin value −N/P, so a long gains N(1/entry − 1/exit).
        return (price > 0.0).then(|| -contract_size / price);
    }
    Some(price * contract_size)
}

/// The model's inputs for an option contract at `mark` and `now_ns`.
pub fn option_inputs(
    definition: &InstrumentDefinition,
    strike: f64,
    mark: &Mark,
    now_ns: u64,
) -> OptionInputs {
    OptionInputs {
        kind: match definition.right {
            OptionRight::Call => OptionKind::Call,
            OptionRight::Put => OptionKind::Put,
        },
        forward: mark.forward,
        strike,
        years: (definition.expiry_ns as f64 - now_ns as f64) / YEAR_NS,
        vol: mark.mark_iv,
        rate: 0.0,
    }
}

/// Whether [`contract_risk`] can value a contract at `mark` — the same domain checks
/// without pricing: a mark is checked on arrival and priced once, at the batch end.
pub fn contract_priceable(
    definition: &InstrumentDefinition,
    contract_size: f64,
    strike: f64,
    mark: &Mark,
    now_ns: u64,
) -> bool {
    let Some(value) = value_at(definition, contract_size, mark.mark_price) else {
        return false;
    };
    if !value.is_finite() {
        return false;
    }
    match (definition.kind, definition.settlement) {
        (InstrumentKind::Option, _) => option_inputs(definition, strike, mark, now_ns)
            .validate()
            .is_ok(),
        (InstrumentKind::Future | InstrumentKind::Perpetual, Settlement::Inverse) => {
            (contract_size / mark.forward).is_finite()
        }
        _ => contract_size.is_finite(),
    }
}

/// Value and Greeks of one option contract from its Black-76 USD Greeks at `inputs`
/// (computed one at a time or in a batch). `None` if anything is not finite.
pub fn option_risk(
    definition: &InstrumentDefinition,
    contract_size: f64,
    mark: &Mark,
    inputs: &OptionInputs,
    usd: &Greeks,
) -> Option<ContractRisk> {
    let value = value_at(definition, contract_size, mark.mark_price)?;
    let delta_coin = match definition.settlement {
        Settlement::Inverse => coin_greeks(inputs, usd).delta_coin,
        Settlement::Linear => usd.delta,
    };
    let greeks = ContractRisk {
        value: 0.0,
        delta_coin,
        delta_usd: usd.delta,
        gamma_usd: usd.gamma_per_usd,
        vega_usd: usd.vega_usd,
        theta_usd: usd.theta_usd_per_day,
    } * contract_size;
    let risk = ContractRisk { value, ..greeks };
    risk.is_finite().then_some(risk)
}

/// Value and Greeks of one contract at `mark`, at time `now_ns`, with the bits a batch
/// end's Greeks batch gives it (so valuing alone or in any batch agrees). Never NaN:
/// inputs the model refuses give `None` (the caller rejects the mark instead).
pub fn contract_risk(
    definition: &InstrumentDefinition,
    contract_size: f64,
    strike: f64,
    mark: &Mark,
    now_ns: u64,
) -> Option<ContractRisk> {
    let value = value_at(definition, contract_size, mark.mark_price)?;
    let forward = mark.forward;
    let risk = match (definition.kind, definition.settlement) {
        (InstrumentKind::Option, _) => {
            let inputs = option_inputs(definition, strike, mark, now_ns);
            let usd = black76_as_in_batch(&inputs).ok()?;
            return option_risk(definition, contract_size, mark, &inputs, &usd);
        }
        (InstrumentKind::Future | InstrumentKind::Perpetual, Settlement::Inverse) => {
            // N USD per contract: the BTC-equivalent exposure is N/F.
            let exposure = contract_size / forward;
            ContractRisk {
                value,
                delta_coin: exposure,
                delta_usd: exposure,
                ..ContractRisk::ZERO
            }
        }
        _ => ContractRisk {
            value,
            delta_coin: contract_size,
            delta_usd: contract_size,
            ..ContractRisk::ZERO
        },
    };
    risk.is_finite().then_some(risk)
}
