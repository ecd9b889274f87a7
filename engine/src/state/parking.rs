//! Fills held back until their instrument and account are defined. Never lost: each
//! parked fill is later applied, or expires into a counted rejection after
//! [`PARKED_FILL_TTL_NS`] of model time, and is listed in reports meanwhile.
//!
//! Every shard parks every fill (whatever account it is for), so what is parked, what
//! is refused for a full lot and what expires is the same for any shard count; only the
//! owner of the account applies or counts it.

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};

use super::rejection::RejectReason;
use crate::events::{AccountId, Fill};

/// Most fills parked per account.
pub const PARKED_FILLS_MAX: usize = 4_096;
/// Most fills parked in all (bounds memory whatever the account ids).
pub const PARKED_FILLS_TOTAL_MAX: usize = 65_536;
/// Model time a fill may wait for its definitions before it expires (rejected).
pub const PARKED_FILL_TTL_NS: u64 = 5 * 60 * 1_000_000_000;

/// A parked fill and when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct ParkedFill {
    pub fill: Fill,
    /// The fill event's own timestamp.
    pub timestamp_ns: u64,
    /// Journal sequence of the fill event.
    pub seq: u64,
    /// Model clock when it was parked (expiry is measured from it).
    pub parked_at_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parking {
    /// Arrival order; `parked_at_ns` never decreases along it (the clock never runs back).
    fills: Vec<ParkedFill>,
    /// Parked count per account (so admission is O(log n), not a scan).
    per_account: BTreeMap<AccountId, u32>,
}

impl Parking {
    pub fn from_fills(fills: Vec<ParkedFill>) -> Parking {
        let mut per_account = BTreeMap::new();
        for parked in &fills {
            *per_account.entry(parked.fill.account).or_insert(0) += 1;
        }
        Parking { fills, per_account }
    }

    pub fn len(&self) -> usize {
        self.fills.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fills.is_empty()
    }

    pub fn fills(&self) -> &[ParkedFill] {
        &self.fills
    }

    /// Whether one more fill of `account` may be parked.
    pub fn admit(&self, account: AccountId) -> Result<(), RejectReason> {
        let mine = self.per_account.get(&account).copied().unwrap_or(0) as usize;
        if mine >= PARKED_FILLS_MAX || self.fills.len() >= PARKED_FILLS_TOTAL_MAX {
            return Err(RejectReason::ParkingFull);
        }
        Ok(())
    }

    pub fn park(&mut self, parked: ParkedFill) {
        *self.per_account.entry(parked.fill.account).or_insert(0) += 1;
        self.fills.push(parked);
    }

    /// Removes and returns, in arrival order, the fills `ready` accepts.
    pub fn take_ready(&mut self, ready: impl Fn(&Fill) -> bool) -> Vec<ParkedFill> {
        let mut taken = Vec::new();
        let per_account = &mut self.per_account;
        self.fills.retain(|parked| {
            if !ready(&parked.fill) {
                return true;
            }
            forget(per_account, parked.fill.account);
            taken.push(*parked);
            false
        });
        taken
    }

    /// Removes and returns the fills parked longer than [`PARKED_FILL_TTL_NS`] at
    /// `now_ns` (the oldest first; allocates only when one expires).
    pub fn take_expired(&mut self, now_ns: u64) -> Vec<ParkedFill> {
        let expired = self
            .fills
            .iter()
            .take_while(|p| now_ns.saturating_sub(p.parked_at_ns) > PARKED_FILL_TTL_NS)
            .count();
        if expired == 0 {
            return Vec::new();
        }
        let taken: Vec<ParkedFill> = self.fills.drain(..expired).collect();
        for parked in &taken {
            forget(&mut self.per_account, parked.fill.account);
        }
        taken
    }
}

fn forget(per_account: &mut BTreeMap<AccountId, u32>, account: AccountId) {
    if let Some(count) = per_account.get_mut(&account) {
        *count -= 1;
        if *count == 0 {
            per_account.remove(&account);
        }
    }
}
