//! Per-account risk snapshots that other threads read while shards keep running: one
//! seqlock slot per account. The payload is stored as `AtomicU64` words (relaxed), so a
//! racing read is defined behaviour, not a data race; the version word tells a reader
//! whether what it copied is whole. Writers never wait; readers retry a bounded number
//! of times.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::state::{AccountState, ContractRisk};

/// Underlyings carried per account snapshot (the first ones by id).
pub const SNAPSHOT_UNDERLYINGS_MAX: usize = 4;
/// Times a reader retries a slot being written before giving up (returns `None`).
pub const READ_RETRIES_MAX: u32 = 1_000;
/// Payload words: seq, count, then per underlying: id + 5 Greeks.
const WORDS: usize = 2 + SNAPSHOT_UNDERLYINGS_MAX * 6;

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
}

impl AccountRiskSnapshot {
    /// The account's Greeks per underlying, as of `seq`.
    pub fn of(account: &AccountState, seq: u64) -> Self {
        let mut snapshot = AccountRiskSnapshot {
            seq,
            ..AccountRiskSnapshot::default()
        };
        for (slot, (underlying, risk)) in snapshot
            .underlyings
            .iter_mut()
            .zip(account.greeks_by_underlying())
        {
            let ContractRisk {
                delta_coin,
                delta_usd,
                gamma_usd,
                vega_usd,
                theta_usd,
                ..
            } = risk;
            *slot = UnderlyingRisk {
                underlying: underlying.0,
                delta_coin,
                delta_usd,
                gamma_usd,
                vega_usd,
                theta_usd,
            };
            snapshot.underlying_count += 1;
        }
        snapshot
    }

    fn to_words(self) -> [u64; WORDS] {
        let mut words = [0u64; WORDS];
        words[0] = self.seq;
        words[1] = self.underlying_count as u64;
        for (i, u) in self.underlyings.iter().enumerate() {
            let base = 2 + i * 6;
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
            underlying_count: (words[1] as usize).min(SNAPSHOT_UNDERLYINGS_MAX),
            ..AccountRiskSnapshot::default()
        };
        for (i, u) in snapshot.underlyings.iter_mut().enumerate() {
            let base = 2 + i * 6;
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
        let Some(slot) = self.slots.get(account as usize) else {
            return;
        };
        let version = slot.version.load(Ordering::Relaxed);
        // Odd while writing. The release fence keeps the payload stores below from being
        // seen before the odd version by a reader that acquires it.
        slot.version.store(version + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, value) in slot.words.iter().zip(snapshot.to_words()) {
            word.store(value, Ordering::Relaxed);
        }
        // Even again, released: a reader acquiring it sees the whole payload.
        slot.version.store(version + 2, Ordering::Release);
    }

    /// The latest whole snapshot of `account`, or `None` if none was published (or a
    /// writer kept it busy for [`READ_RETRIES_MAX`] tries). Never blocks a writer.
    pub fn read(&self, account: u32) -> Option<AccountRiskSnapshot> {
        let slot = self.slots.get(account as usize)?;
        for _ in 0..READ_RETRIES_MAX {
            let before = slot.version.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; WORDS];
            for (copy, word) in words.iter_mut().zip(&slot.words) {
                *copy = word.load(Ordering::Relaxed);
            }
            // The acquire fence orders the payload loads before the version re-check.
            fence(Ordering::Acquire);
            if slot.version.load(Ordering::Relaxed) == before {
                return Some(AccountRiskSnapshot::from_words(&words));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

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
}
