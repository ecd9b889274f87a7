//! The from-scratch checker: recomputes every account's aggregates from its positions
//! and the instruments' current contract risk and margin inputs, and compares them with
//! the incremental ones. The two sum the same terms in different orders, so they agree to
//! rounding, not bit for bit: the tolerance is relative to the magnitude of the terms
//! summed. Each instrument's margin inputs are recomputed from its mark too, and must
//! match exactly (same inputs, same code path); so must every account's margin, to
//! rounding, when evaluated from the recomputed sums.

use std::collections::BTreeMap;

use super::sorted_map::SortedVecMap;

use super::account::{BucketKey, RiskKey};
use super::account_margin::{evaluate_account_with, group_margin};
use super::contract_margin::{add_totals, contract_margin};
use super::contract_risk::{ContractRisk, contract_risk};
use super::shard_state::{ShardState, entry_value};
use crate::decimal_f64::decimal_to_f64;
use crate::events::{AccountId, Currency};
use crate::margin::{PmTotals, ScenarioBatch};

/// Relative agreement required between incremental and recomputed aggregates.
pub const CHECK_RELATIVE_TOLERANCE: f64 = 1e-9;
/// Smallest scale of the sums of an account with quote-currency (USD) figures. Linear
/// positions' values and scenario P&Ls are thousands of USD a contract, and closing them
/// leaves rounding residue of that size × 1e-16…1e-13 (the simulator found 1.2e-9 and
/// 1.9e-9 USD on flat books); a floor of one coin's worth of USD keeps the tolerance at
/// 1e-4 USD.
pub const QUOTE_SUMS_SCALE_FLOOR_USD: f64 = 1e5;

/// Where incremental and from-scratch state disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Discrepancy {
    /// The account, or `None` for an instrument's own inputs.
    pub account: Option<AccountId>,
    pub what: String,
    pub incremental: f64,
    pub recomputed: f64,
}

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(account) = self.account {
            write!(f, "account {}: ", account.0)?;
        }
        write!(
            f,
            "{}: incremental {} vs recomputed {}",
            self.what, self.incremental, self.recomputed
        )
    }
}

/// Checks every instrument's margin inputs and every account; the first discrepancy.
pub fn check(state: &ShardState) -> Result<(), Discrepancy> {
    check_contract_valuations(state)?;
    for (&id, account) in &state.accounts {
        if let Some((currency, held, converted)) = account.cash_f64_mismatch() {
            return Err(Discrepancy {
                account: Some(id),
                what: format!("f64 copy of the {currency:?} ledger"),
                incremental: held,
                recomputed: converted,
            });
        }
        let mut risk: BTreeMap<RiskKey, (ContractRisk, f64)> = BTreeMap::new();
        let mut buckets: BTreeMap<BucketKey, (ContractRisk, f64)> = BTreeMap::new();
        let mut entry: BTreeMap<Currency, (f64, f64)> = BTreeMap::new();
        let mut totals: SortedVecMap<RiskKey, PmTotals> = SortedVecMap::new();
        let mut totals_scale: BTreeMap<RiskKey, f64> = BTreeMap::new();
        for (instrument_id, position) in &account.positions {
            let Some(instrument) = state.instruments.get(instrument_id) else {
                continue;
            };
            let quantity = decimal_to_f64(&position.quantity);
            // The f64 copy revaluation uses must be the decimal's, exactly.
            let held = instrument.holders.get(&id).copied().unwrap_or(f64::NAN);
            if held.to_bits() != quantity.to_bits() {
                return Err(Discrepancy {
                    account: Some(id),
                    what: format!("holder quantity of instrument {}", instrument_id.0),
                    incremental: held,
                    recomputed: quantity,
                });
            }
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
            let contribution = instrument.margin.contribution(quantity);
            add_totals(
                totals.entry_or_default(instrument.risk_key()),
                &contribution,
            );
            *totals_scale.entry(instrument.risk_key()).or_default() +=
                largest_magnitude(&contribution);
        }
        // Closed positions leave rounding residue of their past size in the aggregates:
        // measure against the account's whole book, with an absolute floor of 1 unit.
        let holds_quote = account.risk.keys().any(|(_, c)| *c == Currency::Quote);
        let floor = if holds_quote {
            QUOTE_SUMS_SCALE_FLOOR_USD
        } else {
            1.0
        };
        let account_scale = risk
            .values()
            .map(|(_, scale)| scale)
            .sum::<f64>()
            .max(floor);
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
        check_margin(state, id, &totals, &totals_scale, account_scale)?;
    }
    Ok(())
}

fn largest_magnitude(totals: &PmTotals) -> f64 {
    let v = &totals.vector;
    v.standard
        .iter()
        .chain(&v.extended)
        .chain([&totals.roll_shock, &totals.delta])
        .fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Each current instrument's Greeks, and each valued one's margin inputs, equal a fresh
/// valuation of the mark they stand for, bit for bit: so a valuation deferred while nobody
/// held the instrument gives what eager valuation would have.
fn check_contract_valuations(state: &ShardState) -> Result<(), Discrepancy> {
    let mut batch = ScenarioBatch::with_capacity(1);
    let market = state.margin_market();
    for (id, instrument) in &state.instruments {
        let margin = &instrument.margin;
        if let (true, false, Some(mark)) =
            (instrument.risk_current, instrument.settled, margin.as_of)
        {
            let fresh = contract_risk(
                &instrument.definition,
                instrument.contract_size,
                instrument.strike,
                &mark,
                margin.as_of_ns,
            );
            if fresh != Some(instrument.risk) {
                return Err(Discrepancy {
                    account: None,
                    what: format!("instrument {} Greeks ({fresh:?})", id.0),
                    incremental: instrument.risk.delta_coin,
                    recomputed: fresh.map_or(f64::NAN, |f| f.delta_coin),
                });
            }
        }
        let Some(mark) = margin.as_of.filter(|_| margin.valued) else {
            continue;
        };
        let fresh = contract_margin(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            &instrument.risk,
            &market.params(instrument.definition.underlying),
            margin.as_of_ns,
            &mut batch,
        );
        if fresh.as_ref() != Ok(margin) {
            return Err(Discrepancy {
                account: None,
                what: format!("instrument {} margin inputs ({fresh:?})", id.0),
                incremental: margin.vector.standard[0],
                recomputed: fresh.map_or(f64::NAN, |f| f.vector.standard[0]),
            });
        }
    }
    Ok(())
}

/// The account's margin sums, and its margin evaluated from the recomputed sums.
fn check_margin(
    state: &ShardState,
    id: AccountId,
    totals: &SortedVecMap<RiskKey, PmTotals>,
    totals_scale: &BTreeMap<RiskKey, f64>,
    account_scale: f64,
) -> Result<(), Discrepancy> {
    let account = &state.accounts[&id];
    let keys: std::collections::BTreeSet<&RiskKey> =
        account.pm_totals.keys().chain(totals.keys()).collect();
    let mut margin_scale = account_scale;
    for key in keys {
        let held = account.pm_totals.get(key).copied().unwrap_or_default();
        let expected = totals.get(key).copied().unwrap_or_default();
        let scale = totals_scale
            .get(key)
            .copied()
            .unwrap_or(0.0)
            .max(largest_magnitude(&held))
            .max(account_scale)
            .max(if key.1 == Currency::Quote {
                QUOTE_SUMS_SCALE_FLOOR_USD
            } else {
                0.0
            });
        margin_scale = margin_scale.max(scale);
        let pairs = held
            .vector
            .standard
            .iter()
            .chain(&held.vector.extended)
            .chain([&held.roll_shock, &held.delta])
            .zip(
                expected
                    .vector
                    .standard
                    .iter()
                    .chain(&expected.vector.extended)
                    .chain([&expected.roll_shock, &expected.delta]),
            );
        for (position, (got, want)) in pairs.enumerate() {
            compare(
                id,
                format!("margin sums {key:?} entry {position}"),
                *got,
                *want,
                scale,
            )?;
        }
    }
    if !state.margin_is_current(account) {
        return Ok(()); // margin is evaluated at the next batch end
    }
    check_recorded_groups(state, id)?;
    let evaluation = evaluate_account_with(account, totals, &state.margin_market());
    for (currency, fresh) in evaluation.iter() {
        let held = account.margin.get(&currency).copied().unwrap_or_default();
        let pairs = [
            ("equity", held.equity, fresh.equity),
            ("initial margin", held.initial_margin, fresh.initial_margin),
            (
                "maintenance margin",
                held.maintenance_margin,
                fresh.maintenance_margin,
            ),
        ];
        for (name, got, want) in pairs {
            compare(id, format!("{name} {currency:?}"), got, want, margin_scale)?;
        }
    }
    Ok(())
}

/// Each portfolio-margin group's recorded margin (what a what-if reuses) is, bit for
/// bit, what the group's sums give now.
fn check_recorded_groups(state: &ShardState, id: AccountId) -> Result<(), Discrepancy> {
    let account = &state.accounts[&id];
    let market = state.margin_market();
    let parts = |margin: Option<(f64, f64)>| margin.unwrap_or((f64::NAN, f64::NAN));
    for (key, &recorded) in &account.pm_group_margins.groups {
        let fresh = account
            .pm_totals
            .get(key)
            .and_then(|totals| group_margin(*key, totals, &market));
        let (held, want) = (parts(recorded), parts(fresh));
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        if !(same(held.0, want.0) && same(held.1, want.1)) {
            return Err(Discrepancy {
                account: Some(id),
                what: format!("recorded group margin {key:?} (initial)"),
                incremental: held.0,
                recomputed: want.0,
            });
        }
    }
    Ok(())
}

fn compare_maps<K: Ord + Copy + std::fmt::Debug>(
    id: AccountId,
    label: &str,
    incremental: &SortedVecMap<K, ContractRisk>,
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
        account: Some(id),
        what,
        incremental,
        recomputed,
    })
}
