//! The risk report `keel demo` and `keel replay` print: per account and underlying,
//! Greeks and PnL; rejections; throughput and latency; the state hash.

use std::collections::BTreeMap;
use std::io::Write;

use hdrhistogram::Histogram;
use keel_engine::events::{AccountId, UnderlyingId};
use keel_engine::state::hash::combined_hash;
use keel_engine::state::{
    AccountState, Alert, Condition, LiquidationPoint, QUOTE_CURRENCY, ShardState,
};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

/// What the report covers besides the states.
pub struct RunFacts<'a> {
    pub events: u64,
    pub last_seq: u64,
    pub elapsed_s: f64,
    pub latency_ns: Option<&'a Histogram<u64>>,
    pub only_account: Option<u32>,
}

/// Name of an underlying: the prefix of its instruments' names (`BTC-PERPETUAL` → BTC).
fn underlying_name(shard: &ShardState, underlying: UnderlyingId) -> String {
    shard
        .instruments
        .values()
        .find(|i| i.definition.underlying == underlying)
        .map(|i| {
            let name = i.definition.name.as_text();
            name.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("U{}", underlying.0))
}

/// USD value of an amount in a ledger currency (coins at the last index price).
fn to_usd(shard: &ShardState, currency: UnderlyingId, amount: f64) -> f64 {
    if currency == QUOTE_CURRENCY {
        return amount;
    }
    shard
        .index_prices
        .get(&currency)
        .map_or(0.0, |&(_, price)| amount * price)
}

struct AccountRow {
    id: AccountId,
    underlyings: Vec<Value>,
    realized_usd: f64,
    unrealized_usd: f64,
    by_currency: Vec<Value>,
    state: &'static str,
    conditions: Vec<&'static str>,
    margin: Vec<Value>,
}

/// Name of a ledger currency.
fn currency_name(shard: &ShardState, currency: UnderlyingId) -> String {
    if currency == QUOTE_CURRENCY {
        "USD".to_string()
    } else {
        underlying_name(shard, currency)
    }
}

/// A side of the liquidation distance as a positive percentage of the index (0: in
/// liquidation now; `None`: beyond the searched range or not computable) and the price.
fn liquidation_side(point: Option<LiquidationPoint>) -> (Option<f64>, Option<f64>) {
    match point {
        Some(LiquidationPoint::At {
            move_fraction,
            index_price,
        }) => (
            Some(100.0 * move_fraction.abs()),
            index_price.is_finite().then_some(index_price),
        ),
        Some(LiquidationPoint::Now) => (Some(0.0), None),
        Some(LiquidationPoint::Beyond) | None => (None, None),
    }
}

/// Margin per currency of one account, with its distance to liquidation.
fn margin_rows(shard: &ShardState, id: AccountId, account: &AccountState) -> Vec<Value> {
    account
        .margin
        .iter()
        .map(|(&currency, margin)| {
            let distance = if margin.maintenance_margin > 0.0 || margin.equity < 0.0 {
                shard.liquidation_distance(id, currency).ok()
            } else {
                None
            };
            let (down_pct, down_price) = liquidation_side(distance.map(|d| d.down));
            let (up_pct, up_price) = liquidation_side(distance.map(|d| d.up));
            json!({
                "currency": currency_name(shard, currency),
                "equity": margin.equity,
                "im": margin.initial_margin,
                "mm": margin.maintenance_margin,
                "margin_ratio": margin.margin_ratio(),
                "available_balance": margin.available_balance(),
                "complete": margin.complete,
                "liq_distance_down_pct": down_pct,
                "liq_distance_up_pct": up_pct,
                "liq_price_down": down_price,
                "liq_price_up": up_price,
            })
        })
        .collect()
}

fn account_rows(shards: &[ShardState], only: Option<u32>) -> Vec<AccountRow> {
    let market = &shards[0];
    let mut rows = Vec::new();
    let accounts: BTreeMap<AccountId, (&ShardState, &AccountState)> = shards
        .iter()
        .flat_map(|s| s.accounts.iter().map(move |(id, a)| (*id, (s, a))))
        .collect();
    for (id, (shard, account)) in accounts {
        if only.is_some_and(|only| only != id.0) {
            continue;
        }
        let underlyings = account
            .greeks_by_underlying()
            .into_iter()
            .map(|(underlying, g)| {
                json!({
                    "underlying": underlying_name(market, underlying),
                    "delta_coin": g.delta_coin,
                    "delta_usd": g.delta_usd,
                    "gamma_usd": g.gamma_usd,
                    "vega_usd": g.vega_usd,
                    "theta_usd": g.theta_usd,
                })
            })
            .collect();
        let currencies: std::collections::BTreeSet<UnderlyingId> = account
            .realized_pnl
            .keys()
            .chain(account.entry_value.keys())
            .copied()
            .collect();
        let (mut realized_usd, mut unrealized_usd) = (0.0, 0.0);
        let mut by_currency = Vec::new();
        for currency in currencies {
            let realized = account
                .realized_pnl
                .get(&currency)
                .and_then(|d| d.to_f64())
                .unwrap_or(0.0);
            let unrealized = account.unrealized_pnl(currency);
            realized_usd += to_usd(market, currency, realized);
            unrealized_usd += to_usd(market, currency, unrealized);
            let name = currency_name(market, currency);
            by_currency.push(
                json!({ "currency": name, "realized_pnl": realized, "unrealized_pnl": unrealized }),
            );
        }
        rows.push(AccountRow {
            id,
            underlyings,
            realized_usd,
            unrealized_usd,
            by_currency,
            state: account.trading_state.name(),
            conditions: Condition::ALL
                .iter()
                .filter(|c| account.conditions & c.bit() != 0)
                .map(|c| c.name())
                .collect(),
            margin: margin_rows(shard, id, account),
        });
    }
    rows
}

fn rejections(shards: &[ShardState]) -> BTreeMap<&'static str, u64> {
    // Market events are rejected alike by every shard: count them once. Account events
    // are rejected only by the owning shard: add them up.
    let mut total = shards[0].market_rejections.clone();
    for shard in shards {
        total.add(&shard.account_rejections);
    }
    total
        .nonzero()
        .map(|(reason, count)| (reason.name(), count))
        .collect()
}

/// Alerts of all shards: counts per condition, and the most recent (by causing sequence).
fn alerts_json(shards: &[ShardState]) -> Value {
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for shard in shards {
        for condition in Condition::ALL {
            let count = shard.alerts.counts[condition as usize];
            if count > 0 {
                *counts.entry(condition.name()).or_default() += count;
            }
        }
    }
    let mut recent: Vec<&Alert> = shards.iter().flat_map(|s| s.alerts.recent()).collect();
    recent.sort_by_key(|a| (a.cause_seq, a.account));
    let recent: Vec<Value> = recent
        .iter()
        .rev()
        .take(RECENT_ALERTS_SHOWN)
        .rev()
        .map(|a| {
            json!({
                "cause_seq": a.cause_seq,
                "account": a.account.0,
                "alert": a.name(),
                "scope": currency_name(&shards[0], a.scope),
                "value": a.value,
                "threshold": a.threshold,
            })
        })
        .collect();
    json!({ "counts": counts, "recent": recent })
}

/// Most recent alerts a report lists.
const RECENT_ALERTS_SHOWN: usize = 10;

pub fn state_hash_hex(shards: &[ShardState]) -> String {
    format!("{:032x}", combined_hash(shards))
}

pub fn json_report(shards: &[ShardState], facts: &RunFacts<'_>) -> Value {
    let accounts: Vec<Value> = account_rows(shards, facts.only_account)
        .into_iter()
        .map(|row| {
            json!({
                "account": row.id.0,
                "underlyings": row.underlyings,
                "realized_pnl": row.realized_usd,
                "unrealized_pnl": row.unrealized_usd,
                "pnl_by_currency": row.by_currency,
                "state": row.state,
                "conditions": row.conditions,
                "margin": row.margin,
            })
        })
        .collect();
    let latency = facts.latency_ns.map(|h| {
        json!({
            "p50": h.value_at_quantile(0.5),
            "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999),
            "max": h.max(),
        })
    });
    json!({
        "events": facts.events,
        "last_seq": facts.last_seq,
        "state_hash": state_hash_hex(shards),
        "accounts": accounts,
        "rejected": rejections(shards),
        "alerts": alerts_json(shards),
        "latency_ns": latency,
        "throughput_eps": if facts.elapsed_s > 0.0 { facts.events as f64 / facts.elapsed_s } else { 0.0 },
    })
}

pub fn print_table(
    out: &mut impl Write,
    shards: &[ShardState],
    facts: &RunFacts<'_>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<6} {:>12} {:>14} {:>12} {:>12} {:>12}",
        "account", "under", "delta_coin", "delta_usd", "gamma_usd", "vega_usd", "theta_usd"
    )?;
    let rows = account_rows(shards, facts.only_account);
    for row in &rows {
        for u in &row.underlyings {
            let number = |key: &str| u[key].as_f64().unwrap_or(0.0);
            writeln!(
                out,
                "{:<8} {:<6} {:>12.4} {:>14.4} {:>12.6} {:>12.2} {:>12.2}",
                row.id.0,
                u["underlying"].as_str().unwrap_or_default(),
                number("delta_coin"),
                number("delta_usd"),
                number("gamma_usd"),
                number("vega_usd"),
                number("theta_usd")
            )?;
        }
        writeln!(
            out,
            "{:<8} PnL (USD at index): realized {:.2}, unrealized {:.2}",
            row.id.0, row.realized_usd, row.unrealized_usd
        )?;
    }
    writeln!(
        out,
        "{:<8} {:<4} {:>12} {:>12} {:>12} {:>8} {:>9} {:>9}  state",
        "account", "ccy", "equity", "im", "mm", "ratio", "liq_down%", "liq_up%"
    )?;
    for row in &rows {
        for m in &row.margin {
            let number = |key: &str| m[key].as_f64();
            let cell = |value: Option<f64>, digits: usize| {
                value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
            };
            writeln!(
                out,
                "{:<8} {:<4} {:>12.4} {:>12.4} {:>12.4} {:>8} {:>9} {:>9}  {}{}",
                row.id.0,
                m["currency"].as_str().unwrap_or_default(),
                number("equity").unwrap_or(0.0),
                number("im").unwrap_or(0.0),
                number("mm").unwrap_or(0.0),
                cell(number("margin_ratio"), 2),
                cell(number("liq_distance_down_pct"), 2),
                cell(number("liq_distance_up_pct"), 2),
                row.state,
                if row.conditions.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", row.conditions.join(", "))
                }
            )?;
        }
    }
    let alerts = alerts_json(shards);
    let counts = alerts["counts"].as_object().map_or_else(String::new, |c| {
        c.iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    writeln!(
        out,
        "alerts: {}",
        if counts.is_empty() { "none" } else { &counts }
    )?;
    let rejected = rejections(shards);
    if rejected.is_empty() {
        writeln!(out, "rejected: none")?;
    } else {
        let list: Vec<String> = rejected
            .iter()
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        writeln!(out, "rejected: {}", list.join(", "))?;
    }
    if facts.elapsed_s > 0.0 {
        writeln!(
            out,
            "{} events in {:.2} s: {:.0} events/s",
            facts.events,
            facts.elapsed_s,
            facts.events as f64 / facts.elapsed_s
        )?;
    }
    if let Some(h) = facts.latency_ns {
        writeln!(
            out,
            "latency publish→applied (at full throughput, queueing included): p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        )?;
    }
    writeln!(
        out,
        "last_seq {}, state_hash {}",
        facts.last_seq,
        state_hash_hex(shards)
    )
}
