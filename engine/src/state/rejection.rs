//! Why an event was not applied: every rejection has a reason, counted per reason and
//! visible in reports (docs/RELIABILITY.md: never a panic, never a silent drop).

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
    /// A magnitude beyond its named bound (validation.rs).
    OutOfBounds,
    /// Stamped before 2015, after 2200, or too far from the model clock.
    TimestampOutOfRange,
    /// Limits that are NaN, infinite or negative.
    InvalidLimits,
    /// Decimal state arithmetic would overflow: nothing changed.
    Overflow,
    /// A settlement stamped before the instrument's expiry.
    SettlementBeforeExpiry,
    /// A fill stamped after its instrument's expiry.
    TradedAfterExpiry,
    /// A withdrawal above the available balance (equity − initial margin).
    InsufficientCollateral,
    /// A definition reusing another id's venue name.
    DuplicateName,
    /// A collateral or funding event whose venue id was already applied.
    DuplicateTransferId,
    /// A parked fill whose instrument or account was not defined in time.
    ParkedExpired,
    /// A mark or forward more than `PRICE_BAND_RATIO` off its index, an option mark above
    /// its no-arbitrage bound, or an index jump that large within the hour.
    ImplausiblePrice,
}

impl RejectReason {
    pub const ALL: [RejectReason; 26] = [
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
        RejectReason::OutOfBounds,
        RejectReason::TimestampOutOfRange,
        RejectReason::InvalidLimits,
        RejectReason::Overflow,
        RejectReason::SettlementBeforeExpiry,
        RejectReason::TradedAfterExpiry,
        RejectReason::InsufficientCollateral,
        RejectReason::DuplicateName,
        RejectReason::DuplicateTransferId,
        RejectReason::ParkedExpired,
        RejectReason::ImplausiblePrice,
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
            RejectReason::OutOfBounds => "out_of_bounds",
            RejectReason::TimestampOutOfRange => "timestamp_out_of_range",
            RejectReason::InvalidLimits => "invalid_limits",
            RejectReason::Overflow => "overflow",
            RejectReason::SettlementBeforeExpiry => "settlement_before_expiry",
            RejectReason::TradedAfterExpiry => "traded_after_expiry",
            RejectReason::InsufficientCollateral => "insufficient_collateral",
            RejectReason::DuplicateName => "duplicate_name",
            RejectReason::DuplicateTransferId => "duplicate_transfer_id",
            RejectReason::ParkedExpired => "parked_expired",
            RejectReason::ImplausiblePrice => "implausible_price",
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
