//! Why an event was not applied: every rejection has a reason, counted per reason and
//! visible in reports (DESIGN 4: never a panic, never a silent drop).

use rkyv::{Archive, Deserialize, Serialize};

/// A rejection reason. The order is the report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    IdOutOfRange,
    UnknownInstrument,
    UnknownAccount,
    InvalidDefinition,
    ConflictingDefinition,
    NotFinite,
    NonPositivePrice,
    QuantityZero,
    DuplicateTradeId,
    StaleMark,
    ExpiredInstrument,
    UnpricedMark,
    NotPerpetual,
    ParkingFull,
    /// Risk parameters outside their domain (kept: the previous ones).
    InvalidParams,
}

impl RejectReason {
    pub const ALL: [RejectReason; 15] = [
        RejectReason::IdOutOfRange,
        RejectReason::UnknownInstrument,
        RejectReason::UnknownAccount,
        RejectReason::InvalidDefinition,
        RejectReason::ConflictingDefinition,
        RejectReason::NotFinite,
        RejectReason::NonPositivePrice,
        RejectReason::QuantityZero,
        RejectReason::DuplicateTradeId,
        RejectReason::StaleMark,
        RejectReason::ExpiredInstrument,
        RejectReason::UnpricedMark,
        RejectReason::NotPerpetual,
        RejectReason::ParkingFull,
        RejectReason::InvalidParams,
    ];

    /// Snake-case name, as reports and JSON show it.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::IdOutOfRange => "id_out_of_range",
            RejectReason::UnknownInstrument => "unknown_instrument",
            RejectReason::UnknownAccount => "unknown_account",
            RejectReason::InvalidDefinition => "invalid_definition",
            RejectReason::ConflictingDefinition => "conflicting_definition",
            RejectReason::NotFinite => "not_finite",
            RejectReason::NonPositivePrice => "non_positive_price",
            RejectReason::QuantityZero => "quantity_zero",
            RejectReason::DuplicateTradeId => "duplicate_trade_id",
            RejectReason::StaleMark => "stale_mark",
            RejectReason::ExpiredInstrument => "expired_instrument",
            RejectReason::UnpricedMark => "unpriced_mark",
            RejectReason::NotPerpetual => "not_perpetual",
            RejectReason::ParkingFull => "parking_full",
            RejectReason::InvalidParams => "invalid_params",
        }
    }
}

/// Counts per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct RejectionCounts {
    counts: [u64; RejectReason::ALL.len()],
}

impl RejectionCounts {
    pub fn record(&mut self, reason: RejectReason) {
        self.counts[reason as usize] += 1;
    }

    pub fn add(&mut self, other: &RejectionCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
    }

    pub fn get(&self, reason: RejectReason) -> u64 {
        self.counts[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Reasons with a non-zero count, in report order.
    pub fn nonzero(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .iter()
            .map(|&reason| (reason, self.get(reason)))
            .filter(|&(_, count)| count > 0)
    }
}
