//! One instrument's state: its definition, last mark, current contract risk, holders.

use super::account::{BucketKey, RiskKey};
use super::contract_margin::ContractMargin;
use super::contract_risk::{ContractRisk, Mark, contract_risk};
use super::sorted_map::SortedVecMap;
use super::surface_state::MarkSource;
use crate::events::{AccountId, Currency, InstrumentDefinition, InstrumentKind, Settlement};

#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentState {
    pub definition: InstrumentDefinition,
    /// Contract size and strike as f64 for the model (exact values stay in the definition).
    pub contract_size: f64,
    pub strike: f64,
    pub mark: Option<Mark>,
    /// Risk per contract as last revalued; every holder's aggregates include
    /// `quantity × risk` (the incremental invariant).
    pub risk: ContractRisk,
    /// `risk` is that of the last batch end's mark (`margin.as_of`, at `margin.as_of_ns`).
    /// False when nobody held the instrument then: its Greeks are computed, from those
    /// same inputs, when somebody trades it (no work for the chain nobody holds).
    pub risk_current: bool,
    /// The mark and model time `risk` was computed at (`None`: never valued): the start
    /// of the next price move PnL attribution decomposes.
    pub risk_mark: Option<Mark>,
    pub risk_ns: u64,
    /// An account of this shard traded it in the step in progress: its price move is
    /// recorded at the batch end even if nobody holds it then (attribution needs it).
    pub traded_in_step: bool,
    /// Margin inputs per contract; every holder's margin sums include
    /// `quantity × margin` (not valued while nobody holds it).
    pub margin: ContractMargin,
    /// Journal sequence of the event that last made it due for revaluation (a mark or
    /// new parameters): what alerts cite.
    pub mark_seq: u64,
    /// A mark arrived since the last revaluation (conflated until end of batch).
    pub dirty: bool,
    /// Settled at expiry: no more fills or marks.
    pub settled: bool,
    /// Where `mark` came from: the venue, or the surface (no or a stale venue mark).
    pub mark_source: MarkSource,
    /// The venue's last mark was far from the surface (a bad-oracle signal): kept as
    /// the mark (the venue margins on it) but left out of the next fit.
    pub mark_suspect: bool,
    /// Accounts with a non-zero position, and the position in contracts as f64 (a copy of
    /// the exact decimal, refreshed whenever it changes, so revaluation never converts).
    pub holders: SortedVecMap<AccountId, f64>,
}

impl InstrumentState {
    /// Ledger currency of its PnL: the coin for inverse contracts, else the quote currency.
    pub fn currency(&self) -> Currency {
        match self.definition.settlement {
            Settlement::Inverse => Currency::Coin(self.definition.underlying),
            Settlement::Linear => Currency::Quote,
        }
    }

    /// Greeks as of the last batch end that handled it (its own when current, else
    /// valued from that batch end's mark and time); `None` when the model refuses them.
    pub fn current_risk(&self) -> Option<ContractRisk> {
        if self.risk_current {
            return Some(self.risk);
        }
        let mark = self.margin.as_of?;
        contract_risk(
            &self.definition,
            self.contract_size,
            self.strike,
            &mark,
            self.margin.as_of_ns,
        )
    }

    /// `risk` with the mark and time it was computed at.
    pub fn valuation(&self) -> crate::attribution::Valuation {
        crate::attribution::Valuation {
            risk: self.risk,
            mark: self.risk_mark,
            at_ns: self.risk_ns,
        }
    }

    pub fn payoff(&self) -> crate::attribution::Payoff {
        crate::attribution::Payoff::of(&self.definition, self.contract_size)
    }

    pub fn risk_key(&self) -> RiskKey {
        (self.definition.underlying, self.currency())
    }

    pub fn bucket_key(&self) -> BucketKey {
        let expiry = match self.definition.kind {
            InstrumentKind::Future | InstrumentKind::Option => self.definition.expiry_ns,
            InstrumentKind::Spot | InstrumentKind::Perpetual => 0,
        };
        (self.definition.underlying, expiry)
    }
}
