//! Keel against the venue: the venue's equity and margin per currency (Deribit
//! `user.portfolio`), its position sizes (`user.changes`) and its own option Greeks
//! (tickers) beside Keel's figures for the account fills were booked to. The venue's
//! figures are its last ones in the input; Keel's are at the end of the run.

use std::collections::BTreeMap;
use std::io::Write;

use keel_engine::events::{AccountId, Currency, InstrumentKind, UnderlyingId};
use keel_engine::state::{AccountState, ShardState};
use keel_feeds::venue_map::coin_of;
use keel_feeds::venue_view::VenueView;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

/// The account named `name`, on whichever shard owns it.
fn account<'a>(shards: &'a [ShardState], name: &str) -> Option<(AccountId, &'a AccountState)> {
    shards.iter().find_map(|s| {
        s.accounts
            .iter()
            .find(|(_, a)| a.name.as_text() == name)
            .map(|(id, a)| (*id, a))
    })
}

/// Keel's ledger currency of a venue currency name ("BTC", "USDC").
fn currency_of(shards: &[ShardState], name: &str) -> Option<Currency> {
    if matches!(name, "USD" | "USDC" | "USDT") {
        return Some(Currency::Quote);
    }
    shards[0].instruments.iter().find_map(|(_, i)| {
        let text = i.definition.name.as_text();
        coin_of(&text)
            .eq_ignore_ascii_case(name)
            .then_some(Currency::Coin(i.definition.underlying))
    })
}

/// Per underlying: Σ position × the venue's option delta and vega, beside Keel's Black
/// delta and vega of the same option positions (same conventions: Deribit's delta is the
/// plain Black delta per contract, vega USD per vol point).
fn greeks_rows(market: &ShardState, account: &AccountState, venue: &VenueView) -> Vec<Value> {
    #[derive(Default)]
    struct Sums {
        keel_delta: f64,
        venue_delta: f64,
        keel_vega_usd: f64,
        venue_vega_usd: f64,
        positions: u64,
        without_venue_quote: u64,
    }
    let mut by_underlying: BTreeMap<UnderlyingId, Sums> = BTreeMap::new();
    for (id, position) in account.positions.iter() {
        let Some(instrument) = market.instruments.get(id) else {
            continue;
        };
        if instrument.definition.kind != InstrumentKind::Option {
            continue;
        }
        let quantity = position.quantity.to_f64().unwrap_or(0.0);
        let sums = by_underlying
            .entry(instrument.definition.underlying)
            .or_default();
        sums.positions += 1;
        sums.keel_delta += quantity * instrument.risk.delta_usd;
        sums.keel_vega_usd += quantity * instrument.risk.vega_usd;
        match venue.quote(*id) {
            Some(quote) => {
                sums.venue_delta += quantity * quote.delta;
                sums.venue_vega_usd += quantity * quote.vega_usd;
            }
            None => sums.without_venue_quote += 1,
        }
    }
    by_underlying
        .into_iter()
        .map(|(underlying, s)| {
            json!({
                "underlying": underlying.0,
                "option_positions": s.positions,
                "without_venue_quote": s.without_venue_quote,
                "keel_black_delta_coin": s.keel_delta,
                "venue_delta_coin": s.venue_delta,
                "keel_vega_usd_per_vol_point": s.keel_vega_usd,
                "venue_vega_usd_per_vol_point": s.venue_vega_usd,
            })
        })
        .collect()
}

/// The comparison as JSON (`venue` in `keel run --json`).
pub fn venue_json(shards: &[ShardState], venue: &VenueView, account_name: &str) -> Value {
    let Some((id, state)) = account(shards, account_name) else {
        return json!({ "account": account_name, "defined": false });
    };
    let equity: Vec<Value> = venue
        .portfolios
        .iter()
        .map(|p| {
            let keel = currency_of(shards, &p.currency)
                .and_then(|c| state.margin.get(&c))
                .map(|m| m.equity);
            json!({
                "currency": p.currency,
                "venue_equity": p.equity,
                "venue_balance": p.balance,
                "keel_equity": keel,
                "difference": keel.map(|k| k - p.equity),
                "venue_initial_margin": p.initial_margin,
                "venue_maintenance_margin": p.maintenance_margin,
                "venue_as_of_ns": p.timestamp_ns,
            })
        })
        .collect();
    let positions: Vec<Value> = venue
        .positions
        .iter()
        .map(|(instrument, p)| {
            let keel = state
                .positions
                .get(instrument)
                .map_or(rust_decimal::Decimal::ZERO, |k| k.quantity);
            let name = shards[0]
                .instruments
                .get(instrument)
                .map(|i| i.definition.name.as_text());
            json!({
                "instrument": instrument.0,
                "instrument_name": name,
                "venue_contracts": p.contracts.to_string(),
                "keel_contracts": keel.to_string(),
                "matches": keel == p.contracts,
            })
        })
        .collect();
    json!({
        "account": id.0,
        "account_name": account_name,
        "equity": equity,
        "positions": positions,
        "option_greeks": greeks_rows(&shards[0], state, venue),
    })
}

/// The comparison as text lines.
pub fn print_venue(
    out: &mut impl Write,
    shards: &[ShardState],
    venue: &VenueView,
    account_name: &str,
) -> std::io::Result<()> {
    let report = venue_json(shards, venue, account_name);
    for row in report["equity"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "venue equity {}: venue {} coin, Keel {}, difference {}",
            row["currency"], row["venue_equity"], row["keel_equity"], row["difference"]
        )?;
    }
    let positions = report["positions"].as_array().map_or(&[][..], |v| v);
    let mismatched = positions.iter().filter(|p| p["matches"] == false).count();
    if !positions.is_empty() {
        writeln!(
            out,
            "venue positions: {} compared, {mismatched} differ from Keel's",
            positions.len()
        )?;
    }
    for row in report["option_greeks"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "option Greeks, underlying {}: delta Keel {:.4} / venue {:.4} coin; vega Keel {:.2} / venue {:.2} USD per vol point ({} positions, {} without a venue quote)",
            row["underlying"],
            row["keel_black_delta_coin"].as_f64().unwrap_or(f64::NAN),
            row["venue_delta_coin"].as_f64().unwrap_or(f64::NAN),
            row["keel_vega_usd_per_vol_point"]
                .as_f64()
                .unwrap_or(f64::NAN),
            row["venue_vega_usd_per_vol_point"]
                .as_f64()
                .unwrap_or(f64::NAN),
            row["option_positions"],
            row["without_venue_quote"],
        )?;
    }
    Ok(())
}
