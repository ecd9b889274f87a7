//! The from-scratch checker: recomputes every account's aggregates from its positions
//! and the instruments' current contract risk, and compares them with the incremental
//! ones. The two sum the same terms in different orders, so they agree to rounding, not
//! bit for bit: the tolerance is relative to the magnitude of the terms summed.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;

use super::account::{BucketKey, RiskKey};
use super::contract_risk::ContractRisk;
use super::shard_state::{ShardState, entry_value};
use crate::events::{AccountId, UnderlyingId};

/// Relative agreement required between incremental and recomputed aggregates.
pub const CHECK_RELATIVE_TOLERANCE: f64 = 1e-9;

/// Where incremental and from-scratch state disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Discrepancy {
    pub account: AccountId,
    pub what: String,
    pub incremental: f64,
    pub recomputed: f64,
}

/// Checks every account; the first discrepancy, if any.
pub fn check(state: &ShardState) -> Result<(), Discrepancy> {
    for (&id, account) in &state.accounts {
        let mut risk: BTreeMap<RiskKey, (ContractRisk, f64)> = BTreeMap::new();
        let mut buckets: BTreeMap<BucketKey, (ContractRisk, f64)> = BTreeMap::new();
        let mut entry: BTreeMap<UnderlyingId, (f64, f64)> = BTreeMap::new();
        for (instrument_id, position) in &account.positions {
            let Some(instrument) = state.instruments.get(instrument_id) else {
                continue;
            };
            let quantity = position.quantity.to_f64().unwrap_or(0.0);
            let term = instrument.risk * quantity;
            let scale = term.fields().iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let r = risk.entry(instrument.risk_key()).or_default();
            r.0 += term;
            r.1 += scale;
            let b = buckets.entry(instrument.bucket_key()).or_default();
            b.0 += term;
            b.1 += scale;
            let basis = entry_value(instrument, position.quantity, position.average_price);
            let e = entry.entry(instrument.currency()).or_default();
            e.0 += basis;
            e.1 += basis.abs();
        }
        // Closed positions leave rounding residue of their past size in the aggregates:
        // measure against the account's whole book, with an absolute floor of 1 unit.
        let account_scale = risk.values().map(|(_, scale)| scale).sum::<f64>().max(1.0);
        compare_maps(id, "risk", &account.risk, &risk, account_scale)?;
        compare_maps(
            id,
            "expiry bucket",
            &account.buckets,
            &buckets,
            account_scale,
        )?;
        for (currency, &(recomputed, scale)) in &entry {
            let incremental = account.entry_value.get(currency).copied().unwrap_or(0.0);
            compare(
                id,
                format!("entry value {currency:?}"),
                incremental,
                recomputed,
                scale.max(1.0),
            )?;
        }
    }
    Ok(())
}

fn compare_maps<K: Ord + std::fmt::Debug>(
    id: AccountId,
    label: &str,
    incremental: &BTreeMap<K, ContractRisk>,
    recomputed: &BTreeMap<K, (ContractRisk, f64)>,
    account_scale: f64,
) -> Result<(), Discrepancy> {
    const NAMES: [&str; 6] = [
        "value",
        "delta_coin",
        "delta_usd",
        "gamma_usd",
        "vega_usd",
        "theta_usd",
    ];
    // Every key either side has: a key held incrementally with no position left must
    // have returned to (about) zero.
    let keys: std::collections::BTreeSet<&K> =
        incremental.keys().chain(recomputed.keys()).collect();
    for key in keys {
        let held = incremental.get(key).copied().unwrap_or_default();
        let (expected, scale) = recomputed.get(key).copied().unwrap_or_default();
        for ((name, got), want) in NAMES.iter().zip(held.fields()).zip(expected.fields()) {
            compare(
                id,
                format!("{label} {key:?} {name}"),
                got,
                want,
                scale.max(account_scale),
            )?;
        }
    }
    Ok(())
}

fn compare(
    id: AccountId,
    what: String,
    incremental: f64,
    recomputed: f64,
    scale: f64,
) -> Result<(), Discrepancy> {
    let tolerance = CHECK_RELATIVE_TOLERANCE * scale;
    if incremental.is_finite() && (incremental - recomputed).abs() <= tolerance {
        return Ok(());
    }
    Err(Discrepancy {
        account: id,
        what,
        incremental,
        recomputed,
    })
}
