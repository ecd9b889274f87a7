//! The risk report `keel demo` and `keel replay` print: per account and underlying,
//! Greeks and PnL; rejections; throughput and latency; the state hash.

use std::collections::BTreeMap;
use std::io::Write;

use hdrhistogram::Histogram;
use keel_engine::attribution::{PnlComponents, usd_rate};
use keel_engine::events::{AccountId, Currency, QUOTE_CURRENCY_NAME, UnderlyingId};
use keel_engine::state::hash::combined_hash;
use keel_engine::state::{AccountState, Alert, Condition, LiquidationPoint, Scope, ShardState};
use keel_engine::stress::AccountStress;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::pnl_json::{components_json, components_line, components_of};
use super::stress::{WorstStress, worst_builtin};

/// What the report covers besides the states.
pub struct RunFacts<'a> {
    pub events: u64,
    pub last_seq: u64,
    pub elapsed_s: f64,
    pub latency_ns: Option<&'a Histogram<u64>>,
    pub only_account: Option<u32>,
}

/// Name of an underlying: the prefix of its instruments' names (`BTC-PERPETUAL` → BTC).
pub(crate) fn underlying_name(shard: &ShardState, underlying: UnderlyingId) -> String {
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

/// USD value of an amount in a ledger currency (coins at the last index price);
/// `None` without an index price (never a silent 0).
fn to_usd(shard: &ShardState, currency: Currency, amount: f64) -> Option<f64> {
    usd_rate(currency, |coin| index_of(shard, coin)).map(|rate| amount * rate)
}

fn index_of(shard: &ShardState, underlying: UnderlyingId) -> Option<f64> {
    shard.index_prices.get(&underlying).map(|&(_, price)| price)
}

struct AccountRow {
    id: AccountId,
    name: String,
    positions: Vec<Value>,
    underlyings: Vec<Value>,
    realized_usd: Option<f64>,
    unrealized_usd: Option<f64>,
    by_currency: Vec<Value>,
    state: &'static str,
    conditions: Vec<&'static str>,
    margin: Vec<Value>,
    pnl_today: Value,
    stress_historical: Value,
    stress_worst: Value,
}

/// The account's PnL attribution since the start of its day (08:00 UTC), in USD, with
/// the coin view per underlying; zeros when no step of the day has ended yet.
fn pnl_today(market: &ShardState, account: &AccountState) -> Value {
    let attribution = &account.attribution;
    let current = attribution.is_current_day(market.now_ns);
    let mut usd = PnlComponents::ZERO;
    let mut by_underlying = Vec::new();
    for ((underlying, currency), pnl) in &attribution.keys {
        let (day, day_usd) = if current {
            (pnl.day, pnl.day_usd)
        } else {
            (PnlComponents::ZERO, PnlComponents::ZERO)
        };
        usd += day_usd;
        by_underlying.push(json!({
            "underlying": underlying_name(market, *underlying),
            "currency": currency_name(market, *currency),
            "components": components_json(&day),
        }));
    }
    let actual_usd: f64 = if current {
        attribution
            .currencies
            .values()
            .map(|c| c.day_actual_usd)
            .sum()
    } else {
        0.0
    };
    json!({
        "day": attribution.day,
        "actual_pnl_usd": actual_usd,
        "components_usd": components_json(&usd),
        "by_underlying": by_underlying,
    })
}

fn stress_worst_json(market: &ShardState, worst: Option<&(String, AccountStress)>) -> Value {
    match worst {
        None => Value::Null,
        Some((scenario, row)) => json!({
            "scenario": scenario,
            "pnl_usd": row.pnl_usd,
            "equity_after_usd": row.equity_after_usd,
            "mm_after_usd": row.mm_after_usd,
            "liquidated": row.liquidated,
            "complete": row.complete,
            "worst_position": row.worst_positions.first().map(|(id, _)| {
                market.instruments.get(id).map(|i| i.definition.name.as_text())
            }),
        }),
    }
}

/// Name of a ledger currency.
pub(crate) fn currency_name(shard: &ShardState, currency: Currency) -> String {
    match currency {
        Currency::Quote => QUOTE_CURRENCY_NAME.to_string(),
        Currency::Coin(coin) => underlying_name(shard, coin),
    }
}

/// Name of what an alert is about: a ledger currency or an underlying.
fn scope_name(shard: &ShardState, scope: Scope) -> String {
    match scope {
        Scope::Currency(currency) => currency_name(shard, currency),
        Scope::Underlying(underlying) => underlying_name(shard, underlying),
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
            let in_liquidation = matches!(distance.map(|d| d.down), Some(LiquidationPoint::Now));
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
                "in_liquidation": in_liquidation,
            })
        })
        .collect()
}

/// Open positions with their instruments' venue names; quantities in contracts, exact.
fn positions_json(market: &ShardState, account: &AccountState) -> Vec<Value> {
    account
        .positions
        .iter()
        .filter(|(_, p)| !p.quantity.is_zero())
        .map(|(id, p)| {
            json!({
                "instrument": id.0,
                "instrument_name": market.instruments.get(id).map(|i| i.definition.name.as_text()),
                "quantity": p.quantity.to_string(),
            })
        })
        .collect()
}

fn account_rows(shards: &[ShardState], only: Option<u32>) -> Vec<AccountRow> {
    let market = &shards[0];
    let mut rows = Vec::new();
    let stress: BTreeMap<AccountId, WorstStress> = shards.iter().flat_map(worst_builtin).collect();
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
                // Dollar figures need the index; without one they are null, not 0.
                let index = index_of(market, underlying);
                json!({
                    "underlying": underlying_name(market, underlying),
                    "delta_coin": g.delta_coin,
                    "dollar_delta_usd": index.map(|f| g.delta_coin * f),
                    "black_delta_coin": g.delta_usd,
                    "gamma_coin_per_usd": g.gamma_usd,
                    "dollar_gamma_usd_per_1pct": index.map(|f| g.gamma_usd * f * f / 100.0),
                    "vega_usd_per_vol_point": g.vega_usd,
                    "theta_usd_per_day": g.theta_usd,
                })
            })
            .collect();
        let currencies: std::collections::BTreeSet<Currency> = account
            .realized_pnl
            .keys()
            .chain(account.entry_value.keys())
            .copied()
            .collect();
        let (mut realized_usd, mut unrealized_usd) = (Some(0.0), Some(0.0));
        let mut by_currency = Vec::new();
        for currency in currencies {
            let realized = account
                .realized_pnl
                .get(&currency)
                .and_then(|d| d.to_f64())
                .unwrap_or(0.0);
            let unrealized = account.unrealized_pnl(currency);
            let add = |total: Option<f64>, amount| Some(total? + to_usd(market, currency, amount)?);
            realized_usd = add(realized_usd, realized);
            unrealized_usd = add(unrealized_usd, unrealized);
            let name = currency_name(market, currency);
            by_currency.push(
                json!({ "currency": name, "realized_pnl": realized, "unrealized_pnl": unrealized }),
            );
        }
        rows.push(AccountRow {
            id,
            name: account.name.as_text(),
            positions: positions_json(market, account),
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
            pnl_today: pnl_today(market, account),
            stress_historical: stress_worst_json(
                market,
                stress.get(&id).and_then(|w| w.historical.as_ref()),
            ),
            stress_worst: stress_worst_json(market, stress.get(&id).and_then(|w| w.any.as_ref())),
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
                "scope": scope_name(&shards[0], a.scope),
                "value": a.value,
                "threshold": a.threshold,
            })
        })
        .collect();
    json!({ "counts": counts, "recent": recent })
}

/// Fills waiting for their definitions (every shard holds the same list): account,
/// instrument, trade id, and how long they have waited in model time.
fn parked_json(market: &ShardState) -> Vec<Value> {
    market
        .parked
        .fills()
        .iter()
        .map(|p| {
            json!({
                "seq": p.seq,
                "account": p.fill.account.0,
                "instrument": p.fill.instrument.0,
                "instrument_name": market
                    .instruments
                    .get(&p.fill.instrument)
                    .map(|i| i.definition.name.as_text()),
                "trade_id": p.fill.trade_id,
                "parked_for_s": market.now_ns.saturating_sub(p.parked_at_ns) as f64 / 1e9,
            })
        })
        .collect()
}

/// Parked fills a text report lists one by one.
const PARKED_SHOWN: usize = 10;

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
                "name": row.name,
                "positions": row.positions,
                "underlyings": row.underlyings,
                "realized_pnl_usd": row.realized_usd,
                "unrealized_pnl_usd": row.unrealized_usd,
                "pnl_by_currency": row.by_currency,
                "state": row.state,
                "conditions": row.conditions,
                "margin": row.margin,
                "pnl_today": row.pnl_today,
                "stress_worst_historical": row.stress_historical,
                "stress_worst_builtin": row.stress_worst,
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
        "parked_fills": parked_json(&shards[0]),
        "revaluation_failures": shards[0].revaluation_failures,
        "ledger_overflows": shards.iter().map(|s| s.ledger_overflows).sum::<u64>(),
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
        "{:<8} {:<6} {:>12} {:>16} {:>16} {:>14} {:>14}",
        "account",
        "under",
        "delta (coin)",
        "$delta (USD)",
        "$gamma (USD/1%)",
        "vega (USD/vp)",
        "theta (USD/d)"
    )?;
    let rows = account_rows(shards, facts.only_account);
    for row in &rows {
        for u in &row.underlyings {
            let cell = |key: &str, digits: usize| {
                u[key]
                    .as_f64()
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
            };
            writeln!(
                out,
                "{:<8} {:<6} {:>12} {:>16} {:>16} {:>14} {:>14}",
                row.id.0,
                u["underlying"].as_str().unwrap_or_default(),
                cell("delta_coin", 4),
                cell("dollar_delta_usd", 2),
                cell("dollar_gamma_usd_per_1pct", 2),
                cell("vega_usd_per_vol_point", 2),
                cell("theta_usd_per_day", 2)
            )?;
        }
        let usd =
            |v: Option<f64>| v.map_or_else(|| "- (no index)".to_string(), |v| format!("{v:.2}"));
        writeln!(
            out,
            "{:<8} PnL (USD at index): realized {}, unrealized {}",
            row.id.0,
            usd(row.realized_usd),
            usd(row.unrealized_usd)
        )?;
        let today = &row.pnl_today;
        writeln!(
            out,
            "{:<8} PnL today {:.2} USD: {}",
            row.id.0,
            today["actual_pnl_usd"].as_f64().unwrap_or(0.0),
            components_line(&components_of(&today["components_usd"]), "USD")
        )?;
        for (label, worst) in [
            ("worst historical stress", &row.stress_historical),
            ("worst built-in stress", &row.stress_worst),
        ] {
            let Some(worst) = worst.as_object() else {
                continue;
            };
            writeln!(
                out,
                "{:<8} {label}: {} {:.2} USD{}",
                row.id.0,
                worst["scenario"].as_str().unwrap_or_default(),
                worst["pnl_usd"].as_f64().unwrap_or(0.0),
                if worst["liquidated"].as_bool() == Some(true) {
                    ", would be LIQUIDATED"
                } else {
                    ", not liquidated"
                }
            )?;
        }
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
            let now = m["in_liquidation"].as_bool() == Some(true);
            let liquidation = |key: &str| {
                if now {
                    "NOW".to_string()
                } else {
                    cell(number(key), 2)
                }
            };
            writeln!(
                out,
                "{:<8} {:<4} {:>12} {:>12} {:>12} {:>8} {:>9} {:>9}  {}{}",
                row.id.0,
                m["currency"].as_str().unwrap_or_default(),
                cell(number("equity"), 4),
                cell(number("im"), 4),
                cell(number("mm"), 4),
                cell(number("margin_ratio"), 2),
                liquidation("liq_distance_down_pct"),
                liquidation("liq_distance_up_pct"),
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
    let market = &shards[0];
    writeln!(
        out,
        "parked fills (waiting for definitions): {}",
        market.parked.len()
    )?;
    for parked in parked_json(market).iter().take(PARKED_SHOWN) {
        writeln!(out, "  {parked}")?;
    }
    writeln!(
        out,
        "revaluation failures: {}, ledger overflows: {}",
        market.revaluation_failures,
        shards.iter().map(|s| s.ledger_overflows).sum::<u64>()
    )?;
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
