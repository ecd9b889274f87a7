//! Per-account risk snapshots in the engine file: built from an account at a batch end,
//! published into its seqlock slot by the owning shard, read by any number of clients.

use std::sync::atomic::AtomicU64;

use keel_engine::state::AccountState;

use super::codec::figures;
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
        snapshot.buckets[buckets] = SnapshotBucket {
            underlying: u64::from(underlying.0),
            expiry_ns: *expiry_ns,
            delta_coin: risk.delta_coin,
            black_delta_coin: risk.delta_usd,
            gamma_coin_per_usd: risk.gamma_usd,
            vega_usd_per_vol_point: risk.vega_usd,
            theta_usd_per_day: risk.theta_usd,
        };
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
