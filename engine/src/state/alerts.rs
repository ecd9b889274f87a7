//! Alerts (docs/MARGIN.md): a margin call, liquidation or limit breach beginning, with the
//! journal sequence of the event that caused it. The shard keeps counts per kind and the
//! most recent alerts in a fixed ring (a named limit; the oldest is dropped first, and
//! counted); reports read both.

use rkyv::{Archive, Deserialize, Serialize};

use super::account_margin::{Condition, Finding};
use crate::events::{AccountId, Currency, UnderlyingId};

/// What a finding is about: a ledger currency (margin conditions) or an underlying
/// (Greek limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Archive, Serialize, Deserialize)]
#[rkyv(derive(Debug))]
pub enum Scope {
    Currency(Currency),
    Underlying(UnderlyingId),
}

/// Most recent alerts a shard keeps.
pub const ALERTS_RECENT_MAX: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Archive, Serialize, Deserialize)]
pub struct Alert {
    /// Journal sequence of the latest event that changed the account's margin inputs
    /// (fill, collateral, funding, limits, a mark of an instrument it holds, an index
    /// price, parameters) before the batch end that found the condition.
    pub cause_seq: u64,
    pub account: AccountId,
    /// `Condition` as its number (see [`Alert::condition`]).
    pub condition: u8,
    pub scope: Scope,
    pub value: f64,
    pub threshold: f64,
}

impl Alert {
    pub fn new(cause_seq: u64, account: AccountId, condition: Condition, at: &Finding) -> Self {
        Alert {
            cause_seq,
            account,
            condition: condition as u8,
            scope: at.scope,
            value: at.value,
            threshold: at.threshold,
        }
    }

    pub fn condition(&self) -> Option<Condition> {
        Condition::ALL.get(usize::from(self.condition)).copied()
    }

    pub fn name(&self) -> &'static str {
        self.condition().map_or("unknown", Condition::name)
    }
}

/// Counts and the recent ring.
#[derive(Clone, Debug, PartialEq, Archive, Serialize, Deserialize)]
pub struct AlertLog {
    /// Alerts raised, per condition number.
    pub counts: [u64; Condition::ALL.len()],
    /// Ring of the most recent, oldest at `next` once full.
    recent: Vec<Alert>,
    next: u32,
}

impl Default for AlertLog {
    fn default() -> Self {
        AlertLog {
            counts: [0; Condition::ALL.len()],
            recent: Vec::with_capacity(ALERTS_RECENT_MAX),
            next: 0,
        }
    }
}

impl AlertLog {
    pub fn push(&mut self, alert: Alert) {
        self.counts[usize::from(alert.condition).min(Condition::ALL.len() - 1)] += 1;
        if self.recent.len() < ALERTS_RECENT_MAX {
            self.recent.push(alert);
        } else {
            self.recent[self.next as usize] = alert;
        }
        self.next = ((self.next as usize + 1) % ALERTS_RECENT_MAX) as u32;
    }

    /// The log with its ring's full capacity (after decoding an image).
    pub fn restored(mut self) -> Self {
        self.recent
            .reserve(ALERTS_RECENT_MAX.saturating_sub(self.recent.len()));
        self
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The kept alerts, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Alert> {
        let split = if self.recent.len() < ALERTS_RECENT_MAX {
            0
        } else {
            self.next as usize
        };
        self.recent[split..].iter().chain(&self.recent[..split])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(seq: u64) -> Alert {
        Alert::new(
            seq,
            AccountId(1),
            Condition::MarginCall,
            &Finding::default(),
        )
    }

    #[test]
    fn the_ring_keeps_the_newest_in_order_and_counts_all() {
        let mut log = AlertLog::default();
        for seq in 0..(ALERTS_RECENT_MAX as u64 + 10) {
            log.push(alert(seq));
        }
        let seqs: Vec<u64> = log.recent().map(|a| a.cause_seq).collect();
        assert_eq!(seqs.len(), ALERTS_RECENT_MAX);
        assert_eq!(seqs[0], 10);
        assert_eq!(*seqs.last().expect("kept"), ALERTS_RECENT_MAX as u64 + 9);
        assert_eq!(log.total(), ALERTS_RECENT_MAX as u64 + 10);
        log.push(alert(999));
        assert_eq!(log.recent().last().map(|a| a.cause_seq), Some(999));
        assert_eq!(log.recent().count(), ALERTS_RECENT_MAX);
    }
}
