//! Per-account risk snapshots that other threads read while shards keep running: one
//! seqlock slot per account. The payload is stored as `AtomicU64` words (relaxed), so a
//! racing read is defined behaviour, not a data race; the version word tells a reader
//! whether what it copied is whole. Writers never wait; readers retry a bounded number
//! of times.

use std::sync::atomic::AtomicU64;

use crate::seqlock;

use keel_engine::state::AccountState;

/// Underlyings carried per account snapshot (the first ones by id).
pub const SNAPSHOT_UNDERLYINGS_MAX: usize = 4;
pub use crate::seqlock::READ_RETRIES_MAX;
/// Payload words: seq, count, rejected events, then per underlying: id + 5 Greeks.
const WORDS: usize = 3 + SNAPSHOT_UNDERLYINGS_MAX * 6;

/// One underlying's Greeks in a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UnderlyingRisk {
    pub underlying: u16,
    pub delta_coin: f64,
    pub delta_usd: f64,
    pub gamma_usd: f64,
    pub vega_usd: f64,
    pub theta_usd: f64,
}

/// A consistent view of one account, as of journal sequence `seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AccountRiskSnapshot {
    pub seq: u64,
    pub underlyings: [UnderlyingRisk; SNAPSHOT_UNDERLYINGS_MAX],
    pub underlying_count: usize,
    /// `TradingState` as its number (0 ACTIVE, 1 REDUCE_ONLY, 2 HALTED).
    pub trading_state: u8,
    /// `Condition` bits of the account's last margin evaluation.
    pub conditions: u8,
    /// The account's own events rejected so far (fills, transfers, limits, definitions).
    pub rejected_events: u64,
}

impl AccountRiskSnapshot {
    /// The account's Greeks per underlying (the first [`SNAPSHOT_UNDERLYINGS_MAX`] by
    /// id), as of `seq`. Summed straight from the account's ordered risk map, with no
    /// allocation: shards call this for every account at every batch end.
    pub fn of(account: &AccountState, seq: u64) -> Self {
        let mut snapshot = AccountRiskSnapshot {
            seq,
            trading_state: account.trading_state as u8,
            conditions: account.conditions,
            rejected_events: account.rejected_events,
            ..AccountRiskSnapshot::default()
        };
        // Keys are (underlying, currency), so one underlying's entries are adjacent.
        for ((underlying, _currency), risk) in &account.risk {
            let count = snapshot.underlying_count;
            let same = count > 0 && snapshot.underlyings[count - 1].underlying == underlying.0;
            if !same {
                if count == SNAPSHOT_UNDERLYINGS_MAX {
                    break;
                }
                snapshot.underlyings[count].underlying = underlying.0;
                snapshot.underlying_count += 1;
            }
            let slot = &mut snapshot.underlyings[snapshot.underlying_count - 1];
            slot.delta_coin += risk.delta_coin;
            slot.delta_usd += risk.delta_usd;
            slot.gamma_usd += risk.gamma_usd;
            slot.vega_usd += risk.vega_usd;
            slot.theta_usd += risk.theta_usd;
        }
        snapshot
    }

    fn to_words(self) -> [u64; WORDS] {
        let mut words = [0u64; WORDS];
        words[0] = self.seq;
        // Count, state and conditions share a word (8 bits each).
        words[1] = self.underlying_count as u64
            | (u64::from(self.trading_state) << 8)
            | (u64::from(self.conditions) << 16);
        words[2] = self.rejected_events;
        for (i, u) in self.underlyings.iter().enumerate() {
            let base = 3 + i * 6;
            words[base] = u64::from(u.underlying);
            for (j, value) in [
                u.delta_coin,
                u.delta_usd,
                u.gamma_usd,
                u.vega_usd,
                u.theta_usd,
            ]
            .iter()
            .enumerate()
            {
                words[base + 1 + j] = value.to_bits();
            }
        }
        words
    }

    fn from_words(words: &[u64; WORDS]) -> Self {
        let mut snapshot = AccountRiskSnapshot {
            seq: words[0],
            underlying_count: ((words[1] & 0xff) as usize).min(SNAPSHOT_UNDERLYINGS_MAX),
            trading_state: (words[1] >> 8) as u8,
            conditions: (words[1] >> 16) as u8,
            rejected_events: words[2],
            ..AccountRiskSnapshot::default()
        };
        for (i, u) in snapshot.underlyings.iter_mut().enumerate() {
            let base = 3 + i * 6;
            let value = |j: usize| f64::from_bits(words[base + 1 + j]);
            *u = UnderlyingRisk {
                underlying: words[base] as u16,
                delta_coin: value(0),
                delta_usd: value(1),
                gamma_usd: value(2),
                vega_usd: value(3),
                theta_usd: value(4),
            };
        }
        snapshot
    }
}

struct Slot {
    /// Even: stable; odd: being written. 0: never written.
    version: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// Snapshot slots for accounts `0..accounts_max`, shared by shards (one writer per
/// account: its owning shard) and any number of readers.
pub struct RiskSnapshots {
    slots: Vec<Slot>,
}

impl std::fmt::Debug for RiskSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RiskSnapshots({} slots)", self.slots.len())
    }
}

impl RiskSnapshots {
    pub fn new(accounts_max: usize) -> Self {
        RiskSnapshots {
            slots: (0..accounts_max)
                .map(|_| Slot {
                    version: AtomicU64::new(0),
                    words: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
        }
    }

    /// Publishes `snapshot` for `account` (ignored beyond the slots). Only the account's
    /// owning shard calls this, so there is one writer per slot.
    pub fn publish(&self, account: u32, snapshot: &AccountRiskSnapshot) {
        if let Some(slot) = self.slots.get(account as usize) {
            seqlock::write(&slot.version, &slot.words, &snapshot.to_words());
        }
    }

    /// The latest whole snapshot of `account`, or `None` if none was published (or a
    /// writer kept it busy for [`READ_RETRIES_MAX`] tries). Never blocks a writer.
    pub fn read(&self, account: u32) -> Option<AccountRiskSnapshot> {
        let slot = self.slots.get(account as usize)?;
        let mut words = [0u64; WORDS];
        seqlock::read(&slot.version, &slot.words, &mut words)?;
        Some(AccountRiskSnapshot::from_words(&words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_engine::events::Currency;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn uniform(value: f64, seq: u64) -> AccountRiskSnapshot {
        let risk = UnderlyingRisk {
            underlying: 1,
            delta_coin: value,
            delta_usd: value,
            gamma_usd: value,
            vega_usd: value,
            theta_usd: value,
        };
        AccountRiskSnapshot {
            seq,
            underlyings: [risk; SNAPSHOT_UNDERLYINGS_MAX],
            underlying_count: SNAPSHOT_UNDERLYINGS_MAX,
            trading_state: 0,
            conditions: 0,
            rejected_events: seq,
        }
    }

    /// A writer publishes snapshots whose every field is the same number; a reader on
    /// another thread must never see a mix of two of them (a torn read). The writer keeps
    /// going until the reader has made enough whole reads, so the two always overlap.
    #[test]
    fn readers_never_see_a_torn_snapshot() {
        const READS_WANTED: u64 = 1_000;
        const PUBLISHES_MIN: u64 = 200_000;
        let snapshots = Arc::new(RiskSnapshots::new(4));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let reader = {
            let (snapshots, stop, reads) = (snapshots.clone(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut last_seq = 0;
                while !stop.load(Ordering::Acquire) {
                    if let Some(snapshot) = snapshots.read(2) {
                        let value = snapshot.underlyings[0].delta_coin;
                        for u in &snapshot.underlyings {
                            for field in [
                                u.delta_coin,
                                u.delta_usd,
                                u.gamma_usd,
                                u.vega_usd,
                                u.theta_usd,
                            ] {
                                assert_eq!(field, value, "torn read");
                            }
                        }
                        assert_eq!(snapshot.seq as f64, value, "seq and payload from one write");
                        assert_eq!(snapshot.rejected_events, snapshot.seq, "torn read");
                        assert!(snapshot.seq >= last_seq, "snapshots never go back in time");
                        last_seq = snapshot.seq;
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::yield_now();
                }
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seq = 0u64;
        while seq < PUBLISHES_MIN || reads.load(Ordering::Relaxed) < READS_WANTED {
            seq += 1;
            snapshots.publish(2, &uniform(seq as f64, seq));
            assert!(
                std::time::Instant::now() < deadline,
                "the reader never got {READS_WANTED} reads"
            );
        }
        stop.store(true, Ordering::Release);
        reader.join().expect("reader saw no torn snapshot");
        assert!(reads.load(Ordering::Relaxed) >= READS_WANTED);
        assert_eq!(snapshots.read(2).map(|s| s.seq), Some(seq));
        assert_eq!(snapshots.read(3), None, "never written");
        assert_eq!(snapshots.read(99), None, "out of range");
    }

    /// The allocation-free summation equals the report's per-underlying Greeks, bit for
    /// bit, including an underlying held in two currencies, and stops at the slot limit.
    #[test]
    fn snapshot_greeks_equal_the_accounts_per_underlying_greeks() {
        use keel_engine::events::{Name, UnderlyingId};
        use keel_engine::state::ContractRisk;
        let mut account = AccountState::new(Name::new("a").expect("name"), Default::default());
        let risk = |x: f64| ContractRisk {
            value: 9.0,
            delta_coin: x,
            delta_usd: 2.0 * x,
            gamma_usd: 0.1 * x,
            vega_usd: 10.0 * x,
            theta_usd: -x,
        };
        for underlying in 0..6u16 {
            for currency in [Currency::Coin(UnderlyingId(underlying)), Currency::Quote] {
                let x = 1.0 + f64::from(underlying) + f64::from(currency.code()) / 7.0;
                account.add_risk(
                    (UnderlyingId(underlying), currency),
                    (UnderlyingId(underlying), 0),
                    risk(x),
                );
            }
        }
        let snapshot = AccountRiskSnapshot::of(&account, 42);
        assert_eq!(snapshot.underlying_count, SNAPSHOT_UNDERLYINGS_MAX);
        for (slot, (underlying, greeks)) in snapshot
            .underlyings
            .iter()
            .zip(account.greeks_by_underlying())
        {
            assert_eq!(slot.underlying, underlying.0);
            let expected = [
                greeks.delta_coin,
                greeks.delta_usd,
                greeks.gamma_usd,
                greeks.vega_usd,
                greeks.theta_usd,
            ];
            let got = [
                slot.delta_coin,
                slot.delta_usd,
                slot.gamma_usd,
                slot.vega_usd,
                slot.theta_usd,
            ];
            assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits));
        }
    }

    /// The trading state and conditions survive the trip through the slot's words.
    #[test]
    fn trading_state_conditions_and_rejections_are_published() {
        use keel_engine::events::Name;
        use keel_engine::state::TradingState;
        let mut account = AccountState::new(Name::new("a").expect("name"), Default::default());
        account.trading_state = TradingState::ReduceOnly;
        account.conditions = 0b1010_0101;
        account.rejected_events = 3;
        let snapshots = RiskSnapshots::new(4);
        snapshots.publish(1, &AccountRiskSnapshot::of(&account, 7));
        let read = snapshots.read(1).expect("written");
        assert_eq!(read.trading_state, TradingState::ReduceOnly as u8);
        assert_eq!(read.conditions, 0b1010_0101);
        assert_eq!(read.seq, 7);
        assert_eq!(read.rejected_events, 3);
    }
}
