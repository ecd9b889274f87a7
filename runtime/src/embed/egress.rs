//! Per-account risk snapshots in the engine file: built from an account at a batch end,
//! published into its seqlock slot by the owning shard, read by any number of clients.

use std::sync::atomic::AtomicU64;

use keel_engine::state::AccountState;

use super::codec::{bucket_greeks, figures};
use super::wire::*;
use crate::risk_snapshots::AccountRiskSnapshot;
use crate::seqlock;

/// The account's snapshot as of `seq`. Allocation-free: shards call it for every changed
/// account at every batch end.
pub fn snapshot_of(account_id: u32, account: &AccountState, seq: u64) -> AccountSnapshot {
    let greeks = AccountRiskSnapshot::of(account, seq);
    let mut snapshot = AccountSnapshot {
        seq,
        account: u64::from(account_id),
        trading_state: account.trading_state as u64,
        conditions: u64::from(account.conditions),
        rejected_events: account.rejected_events,
        underlying_count: greeks.underlying_count as u64,
        ..AccountSnapshot::default()
    };
    for (slot, risk) in snapshot.underlyings.iter_mut().zip(&greeks.underlyings) {
        *slot = SnapshotUnderlying {
            underlying: u64::from(risk.underlying),
            delta_coin: risk.delta_coin,
            black_delta_coin: risk.delta_usd,
            gamma_coin_per_usd: risk.gamma_usd,
            vega_usd_per_vol_point: risk.vega_usd,
            theta_usd_per_day: risk.theta_usd,
        };
    }
    let underlyings_held = {
        let mut count = 0u64;
        let mut last = None;
        for ((underlying, _), _) in &account.risk {
            if last != Some(*underlying) {
                count += 1;
                last = Some(*underlying);
            }
        }
        count
    };
    if underlyings_held > snapshot.underlying_count {
        snapshot.truncated |= 1;
    }
    let mut buckets = 0;
    for ((underlying, expiry_ns), risk) in &account.buckets {
        if buckets == SNAPSHOT_BUCKETS_MAX {
            snapshot.truncated |= 2;
            break;
        }
        snapshot.buckets[buckets] = bucket_greeks(*underlying, *expiry_ns, risk);
        buckets += 1;
    }
    snapshot.bucket_count = buckets as u64;
    let mut currencies = 0;
    for (currency, margin) in &account.margin {
        if currencies == SNAPSHOT_CURRENCIES_MAX {
            snapshot.truncated |= 4;
            break;
        }
        snapshot.currencies[currencies] = figures(*currency, Some(margin));
        currencies += 1;
    }
    snapshot.currency_count = currencies as u64;
    snapshot
}

/// Publishes `snapshot` into `slot` (the account's [`AccountSnapshot::WORDS`] words).
/// One writer per slot: the account's owning shard.
pub fn publish(slot: &[AtomicU64], snapshot: &AccountSnapshot) {
    let (version, payload) = slot.split_at(1);
    seqlock::write(&version[0], payload, &words_of(snapshot)[1..]);
}

/// A whole snapshot from `slot`, or `None` if never written (or kept busy by the writer
/// for every retry).
pub fn read(slot: &[AtomicU64]) -> Option<AccountSnapshot> {
    if slot.len() < AccountSnapshot::WORDS {
        return None;
    }
    let (version, payload) = slot.split_at(1);
    let mut snapshot = AccountSnapshot::default();
    let words = words_of_mut(&mut snapshot);
    let stable = seqlock::read(&version[0], payload, &mut words[1..])?;
    snapshot.version = stable;
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::region::Region;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64 as Counter, Ordering};

    /// A snapshot whose every number is `value` (a torn copy would mix two).
    fn uniform(value: u64) -> AccountSnapshot {
        let x = value as f64;
        let greeks = SnapshotUnderlying {
            underlying: value,
            delta_coin: x,
            black_delta_coin: x,
            gamma_coin_per_usd: x,
            vega_usd_per_vol_point: x,
            theta_usd_per_day: x,
        };
        let bucket = SnapshotBucket {
            underlying: value,
            expiry_ns: value,
            delta_coin: x,
            black_delta_coin: x,
            gamma_coin_per_usd: x,
            vega_usd_per_vol_point: x,
            theta_usd_per_day: x,
        };
        let currency = CurrencyFigures {
            currency: value,
            equity: x,
            initial_margin: x,
            maintenance_margin: x,
            maintenance_ratio: x,
            complete: value,
        };
        AccountSnapshot {
            version: 0,
            seq: value,
            account: value,
            trading_state: value,
            conditions: value,
            rejected_events: value,
            underlying_count: value,
            bucket_count: value,
            currency_count: value,
            truncated: value,
            underlyings: [greeks; SNAPSHOT_UNDERLYINGS_MAX],
            buckets: [bucket; SNAPSHOT_BUCKETS_MAX],
            currencies: [currency; SNAPSHOT_CURRENCIES_MAX],
            reserved: [value; 2],
        }
    }

    /// A writer publishes into a slot of a mapped file while a reader copies it through
    /// another mapping of the same file: every copy is one whole snapshot.
    #[test]
    fn readers_of_shared_memory_never_see_a_torn_snapshot() {
        const READS_WANTED: u64 = 1_000;
        const PUBLISHES_MIN: u64 = 100_000;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("slots");
        let writer = Region::create(&path, AccountSnapshot::WORDS * 8).expect("created");
        let reader_map = Region::open(&path, false).expect("mapped again");
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(Counter::new(0));
        let reader = {
            let (stop, reads) = (stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    if let Some(snapshot) = read(reader_map.words()) {
                        let expected = uniform(snapshot.seq);
                        assert_eq!(words_of(&snapshot)[1..], words_of(&expected)[1..], "torn");
                        assert!(snapshot.seq >= last, "never back in time");
                        last = snapshot.seq;
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::yield_now();
                }
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut value = 0;
        while value < PUBLISHES_MIN || reads.load(Ordering::Relaxed) < READS_WANTED {
            value += 1;
            publish(writer.words(), &uniform(value));
            assert!(std::time::Instant::now() < deadline, "too few reads");
        }
        stop.store(true, Ordering::Release);
        reader.join().expect("no torn snapshot");
        assert_eq!(read(writer.words()).map(|s| s.seq), Some(value));
    }
}
