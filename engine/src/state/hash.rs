//! The canonical state hash: XXH3-128 over a canonical encoding of everything that
//! determines future behaviour, in id order. Same journal, same build → same hash, for
//! any shard count (per-account parts are hashed per account, then combined in id order).

use rust_decimal::Decimal;
use xxhash_rust::xxh3::Xxh3;

use super::account::AccountState;
use super::shard_state::ShardState;
use crate::events::AccountId;

fn decimal(hasher: &mut Xxh3, value: &Decimal) {
    // Normalized, so 1.50 and 1.5 (equal numbers) hash alike.
    hasher.update(&value.normalize().serialize());
}

fn float(hasher: &mut Xxh3, value: f64) {
    hasher.update(&value.to_bits().to_le_bytes());
}

/// Hash of one account's state.
pub fn account_hash(id: AccountId, account: &AccountState) -> u128 {
    let mut h = Xxh3::new();
    h.update(&id.0.to_le_bytes());
    h.update(&account.name.0);
    for (instrument, position) in &account.positions {
        h.update(&instrument.0.to_le_bytes());
        decimal(&mut h, &position.quantity);
        decimal(&mut h, &position.average_price);
    }
    for map in [&account.cash, &account.realized_pnl] {
        h.update(&(map.len() as u64).to_le_bytes());
        for (currency, amount) in map {
            h.update(&currency.code().to_le_bytes());
            decimal(&mut h, amount);
        }
    }
    for ((underlying, currency), risk) in &account.risk {
        h.update(&underlying.0.to_le_bytes());
        h.update(&currency.code().to_le_bytes());
        risk.fields().iter().for_each(|v| float(&mut h, *v));
    }
    for ((underlying, expiry), risk) in &account.buckets {
        h.update(&underlying.0.to_le_bytes());
        h.update(&expiry.to_le_bytes());
        risk.fields().iter().for_each(|v| float(&mut h, *v));
    }
    for (currency, value) in &account.entry_value {
        h.update(&currency.code().to_le_bytes());
        float(&mut h, *value);
    }
    h.update(&[account.margin_model as u8]);
    for bands in account.hedge_bands.values() {
        h.update(&bands.underlying.0.to_le_bytes());
        [
            bands.delta_min_coin,
            bands.delta_max_coin,
            bands.vega_max_abs_usd,
            bands.gamma_max_abs_usd,
        ]
        .iter()
        .for_each(|v| float(&mut h, *v));
    }
    h.update(&account.hedge_out_of_band.to_le_bytes());
    for ((underlying, currency), totals) in &account.pm_totals {
        h.update(&underlying.0.to_le_bytes());
        h.update(&currency.code().to_le_bytes());
        let vector = &totals.vector;
        vector
            .standard
            .iter()
            .chain(&vector.extended)
            .chain([&totals.roll_shock, &totals.delta])
            .for_each(|v| float(&mut h, *v));
    }
    for (currency, margin) in &account.margin {
        h.update(&currency.code().to_le_bytes());
        [
            margin.equity,
            margin.initial_margin,
            margin.maintenance_margin,
        ]
        .iter()
        .for_each(|v| float(&mut h, *v));
        h.update(&[u8::from(margin.complete)]);
    }
    h.update(&[account.trading_state as u8, account.conditions]);
    h.update(&account.cause_seq.to_le_bytes());
    match &account.limits {
        None => h.update(&[0]),
        Some(limits) => {
            h.update(&[1]);
            [
                limits.max_abs_delta_coin,
                limits.max_abs_vega_usd,
                limits.max_abs_gamma_usd,
                limits.min_margin_ratio,
                limits.margin_call_ratio,
            ]
            .iter()
            .for_each(|v| float(&mut h, *v));
        }
    }
    h.update(&(account.transfer_ids.len() as u64).to_le_bytes());
    for id in &account.transfer_ids {
        h.update(&id.to_le_bytes());
    }
    attribution(&mut h, &account.attribution);
    h.digest128()
}

/// PnL attribution: what later reports print, so replay must reproduce it too.
fn attribution(h: &mut Xxh3, attribution: &crate::attribution::AccountAttribution) {
    h.update(&attribution.day.to_le_bytes());
    h.update(&attribution.usd_unconverted_steps.to_le_bytes());
    for ((underlying, currency), pnl) in &attribution.keys {
        h.update(&underlying.0.to_le_bytes());
        h.update(&currency.code().to_le_bytes());
        [pnl.step, pnl.day, pnl.day_usd, pnl.total, pnl.total_usd]
            .iter()
            .flat_map(|parts| parts.fields())
            .for_each(|v| float(h, v));
    }
    for (currency, pnl) in &attribution.currencies {
        h.update(&currency.code().to_le_bytes());
        [
            pnl.last_equity,
            pnl.step_collateral,
            pnl.day_actual,
            pnl.day_actual_usd,
            pnl.total_actual,
            pnl.total_actual_usd,
        ]
        .iter()
        .for_each(|v| float(h, *v));
    }
    for trade in &attribution.step_trades {
        h.update(&trade.instrument.0.to_le_bytes());
        float(h, trade.quantity);
    }
}

/// Hash of the market state every shard holds (instruments, marks, index prices).
pub fn market_hash(state: &ShardState) -> u128 {
    let mut h = Xxh3::new();
    for (id, instrument) in &state.instruments {
        h.update(&id.0.to_le_bytes());
        h.update(&instrument.definition.name.0);
        h.update(&[
            u8::from(instrument.settled),
            u8::from(instrument.dirty),
            instrument.mark_source as u8,
            u8::from(instrument.mark_suspect),
        ]);
        if let Some(mark) = instrument.mark {
            h.update(&mark.timestamp_ns.to_le_bytes());
            [mark.mark_price, mark.mark_iv, mark.forward]
                .iter()
                .for_each(|v| float(&mut h, *v));
        }
        // Its Greeks and margin inputs are functions of the last batch end's mark and
        // time (deferred while nobody holds it, which differs between shards): hash those
        // inputs. Holders' sums, which include the values, are in the account hashes.
        let margin = &instrument.margin;
        h.update(&margin.as_of_ns.to_le_bytes());
        if let Some(mark) = margin.as_of {
            h.update(&mark.timestamp_ns.to_le_bytes());
            [mark.mark_price, mark.mark_iv, mark.forward]
                .iter()
                .for_each(|v| float(&mut h, *v));
        }
    }
    for (underlying, (timestamp, price)) in &state.index_prices {
        h.update(&underlying.0.to_le_bytes());
        h.update(&timestamp.to_le_bytes());
        float(&mut h, *price);
    }
    h.update(&state.now_ns.to_le_bytes());
    // Parameters in force and staged (they decide every later margin).
    for params in state.risk_params.values().chain(state.staged_params()) {
        h.update(&params.underlying.0.to_le_bytes());
        params
            .params
            .fields()
            .iter()
            .for_each(|v| float(&mut h, *v));
    }
    h.update(&(state.staged_params().len() as u64).to_le_bytes());
    // Duplicate windows, in insertion order (what is forgotten next matters too).
    for window in [&state.trade_ids, &state.funding_ids] {
        h.update(&(window.len() as u64).to_le_bytes());
        window.iter().for_each(|id| h.update(&id.to_le_bytes()));
    }
    // Fills waiting for definitions, and the accounts defined (every shard holds both).
    h.update(&(state.parked.len() as u64).to_le_bytes());
    for parked in state.parked.fills() {
        h.update(&parked.seq.to_le_bytes());
        h.update(&parked.timestamp_ns.to_le_bytes());
        h.update(&parked.parked_at_ns.to_le_bytes());
        h.update(&parked.fill.trade_id.to_le_bytes());
        h.update(&parked.fill.account.0.to_le_bytes());
        h.update(&parked.fill.instrument.0.to_le_bytes());
        h.update(&[parked.fill.side as u8]);
        h.update(&parked.fill.quantity.0);
        h.update(&parked.fill.price.0);
        h.update(&parked.fill.fee.0);
    }
    for (id, name) in &state.account_names {
        h.update(&id.0.to_le_bytes());
        h.update(&name.0);
    }
    h.update(&state.revaluation_failures.to_le_bytes());
    surface(&mut h, &state.surface);
    h.digest128()
}

/// The surface decides refits, flags and model marks: every smile with the figures the
/// flag threshold reads, the expiries due, and the counters.
fn surface(h: &mut Xxh3, surface: &super::surface_state::SurfaceState) {
    for (&(underlying, expiry_ns), smile) in &surface.surface.smiles {
        h.update(&underlying.0.to_le_bytes());
        h.update(&expiry_ns.to_le_bytes());
        h.update(&smile.fitted_ns.to_le_bytes());
        let p = smile.fit.params;
        let f = &smile.fit;
        [
            p.a,
            p.b,
            p.rho,
            p.m,
            p.sigma,
            f.years,
            f.rmse_vol_points,
            f.max_error_vol_points,
            f.worst_log_moneyness,
            f.k_min,
            f.k_max,
            smile.forward,
        ]
        .iter()
        .for_each(|v| float(h, *v));
        h.update(&(f.points as u64).to_le_bytes());
    }
    for (&(underlying, expiry_ns), entry) in &surface.expiries {
        h.update(&underlying.0.to_le_bytes());
        h.update(&expiry_ns.to_le_bytes());
        h.update(&[u8::from(entry.due)]);
        h.update(&entry.attempted_ns.to_le_bytes());
        h.update(&entry.venue_marked.to_le_bytes());
        h.update(&entry.venue_marked_at_attempt.to_le_bytes());
    }
    for count in [
        surface.surface.accepted_fits,
        surface.surface.refused_fits,
        surface.bad_marks,
        surface.model_marks,
    ] {
        h.update(&count.to_le_bytes());
    }
}

/// The state hash of a set of shards that together hold every account: the market
/// (from any shard: all see the same market events) and every account in id order.
pub fn combined_hash<'a>(shards: impl IntoIterator<Item = &'a ShardState>) -> u128 {
    let shards: Vec<&ShardState> = shards.into_iter().collect();
    let mut accounts: Vec<(AccountId, u128)> = shards
        .iter()
        .flat_map(|shard| {
            shard
                .accounts
                .iter()
                .map(|(id, a)| (*id, account_hash(*id, a)))
        })
        .collect();
    accounts.sort();
    let mut h = Xxh3::new();
    if let Some(first) = shards.first() {
        h.update(&market_hash(first).to_le_bytes());
    }
    for (id, account_hash) in accounts {
        h.update(&id.0.to_le_bytes());
        h.update(&account_hash.to_le_bytes());
    }
    h.digest128()
}
