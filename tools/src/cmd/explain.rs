//! `keel explain`: where an account's PnL came from between two points of a journal,
//! recomputed from the journal and compared with the engine's own incremental accrual.
//!
//! The journal is replayed through one shard. Over the window, each step (batch end to
//! batch end) is recomputed here from what the state shows before and after each event
//! — positions held at the step's start, the marks at its end, each fill's price and fee,
//! each funding, settlement and collateral movement — with the engine's decomposition
//! rule (`decompose_move`). The engine's accrual over the same window is the difference
//! of its running sums at the window's ends. Both are printed; they must agree.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use keel_engine::attribution::{PnlComponents, Valuation, decompose_move, usd_rate};
use keel_engine::events::{
    AccountId, Currency, Event, EventBody, InstrumentId, UnderlyingId, decode,
};
use keel_engine::state::contract_risk::{ContractRisk, value_at};
use keel_engine::state::surface_state::MarkSource;
use keel_engine::state::{Outcome, ShardState, ends_batch};
use keel_journal::JournalReader;
use keel_runtime::FLAG_BATCH_END;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::pnl_json::{components_json, components_line, components_of};
use super::report::{currency_name, underlying_name};

/// Largest gap between the recomputation and the engine's accrual, relative to the
/// account's gross attributed PnL, still called agreement (float rounding only).
pub const AGREEMENT_TOLERANCE: f64 = 1e-9;

#[derive(Args)]
pub struct ExplainArgs {
    /// Journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// The account's name (or its numeric id); all accounts when omitted.
    #[arg(long)]
    account: Option<String>,
    /// Start: a journal sequence, or a UTC time like 2026-01-01T00:05:00Z. The window
    /// starts at the last batch end at or before it (default: the journal's start).
    #[arg(long)]
    from: Option<String>,
    /// End: a sequence or a UTC time; the window ends at the last batch end at or before
    /// it (default: the journal's end).
    #[arg(long)]
    to: Option<String>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug)]
enum Point {
    Seq(u64),
    Time(u64),
}

impl Point {
    fn parse(text: &str, flag: &str) -> anyhow::Result<Point> {
        if let Ok(seq) = text.parse::<u64>() {
            return Ok(Point::Seq(seq));
        }
        keel_feeds::deribit::chain_snapshot::parse_utc_ns(text)
            .map(Point::Time)
            .with_context(|| {
                format!("{flag} {text:?} is neither a sequence number nor a UTC time like 2026-01-01T00:05:00Z")
            })
    }

    /// Whether a batch end at (`seq`, event time `time_ns`) lies after this point.
    fn is_passed_by(self, seq: u64, time_ns: u64) -> bool {
        match self {
            Point::Seq(s) => seq > s,
            Point::Time(t) => time_ns > t,
        }
    }
}

type Key = (UnderlyingId, Currency);

/// Attribution over the window, per (underlying, currency) in the ledger currency and
/// in USD, and actual PnL per currency.
#[derive(Clone, Debug, Default)]
struct Window {
    keys: BTreeMap<Key, (PnlComponents, PnlComponents)>,
    actual: BTreeMap<Currency, (f64, f64)>,
}

impl Window {
    fn components_usd(&self) -> PnlComponents {
        let mut sum = PnlComponents::ZERO;
        self.keys.values().for_each(|(_, usd)| sum += *usd);
        sum
    }

    fn actual_usd(&self) -> f64 {
        self.actual.values().map(|(_, usd)| usd).sum()
    }

    /// Σ |parts| + Σ |actual|: the scale agreement is judged against.
    fn gross(&self) -> f64 {
        let parts: f64 = self.keys.values().map(|(c, u)| c.gross() + u.gross()).sum();
        let actual: f64 = self.actual.values().map(|(c, u)| c.abs() + u.abs()).sum();
        parts + actual
    }
}

/// The engine's running sums of one account at a batch end.
fn engine_sums(state: &ShardState, id: AccountId) -> Window {
    let mut window = Window::default();
    if let Some(account) = state.accounts.get(&id) {
        for (key, pnl) in &account.attribution.keys {
            window.keys.insert(*key, (pnl.total, pnl.total_usd));
        }
        for (currency, pnl) in &account.attribution.currencies {
            window
                .actual
                .insert(*currency, (pnl.total_actual, pnl.total_actual_usd));
        }
    }
    window
}

fn difference(end: &Window, start: &Window) -> Window {
    let mut window = end.clone();
    for (key, (coin, usd)) in &start.keys {
        let entry = window.keys.entry(*key).or_default();
        entry.0 = entry.0 - *coin;
        entry.1 = entry.1 - *usd;
    }
    for (currency, (coin, usd)) in &start.actual {
        let entry = window.actual.entry(*currency).or_default();
        entry.0 -= coin;
        entry.1 -= usd;
    }
    window
}

/// A trade of the step being recomputed.
struct Trade {
    instrument: InstrumentId,
    key: Key,
    quantity: f64,
    trade_value: f64,
    /// The position's value per contract when it was made, and the valuation then.
    valued_at_trade: Valuation,
}

/// What one account's step collects until its batch end.
#[derive(Default)]
struct Step {
    /// Positions held at the step's start, with their valuation then.
    held: Vec<(InstrumentId, Key, f64, Valuation)>,
    equity: BTreeMap<Currency, f64>,
    trades: Vec<Trade>,
    flows: BTreeMap<Key, PnlComponents>,
    collateral: BTreeMap<Currency, f64>,
}

fn key_of(state: &ShardState, instrument: InstrumentId) -> Option<Key> {
    state.instruments.get(&instrument).map(|i| i.risk_key())
}

fn equities(state: &ShardState, id: AccountId) -> BTreeMap<Currency, f64> {
    state.accounts.get(&id).map_or_else(BTreeMap::new, |a| {
        a.cash.keys().map(|&c| (c, a.equity(c))).collect()
    })
}

fn step_start(state: &ShardState, id: AccountId) -> Step {
    let mut step = Step {
        equity: equities(state, id),
        ..Step::default()
    };
    if let Some(account) = state.accounts.get(&id) {
        for (instrument_id, position) in &account.positions {
            let Some(instrument) = state.instruments.get(instrument_id) else {
                continue;
            };
            let quantity = position.quantity.to_f64().unwrap_or(0.0);
            step.held.push((
                *instrument_id,
                instrument.risk_key(),
                quantity,
                instrument.valuation(),
            ));
        }
    }
    step
}

/// The valuation at the step's end of an instrument with a new mark this step.
fn valued_at_end(
    state: &ShardState,
    instrument: InstrumentId,
    marked: &[InstrumentId],
) -> Option<Valuation> {
    if !marked.contains(&instrument) {
        return None;
    }
    let i = state.instruments.get(&instrument)?;
    let mark = i.mark?;
    let value = value_at(&i.definition, i.contract_size, mark.mark_price)?;
    Some(Valuation {
        risk: ContractRisk {
            value,
            ..ContractRisk::ZERO
        },
        mark: Some(mark),
        at_ns: state.now_ns,
    })
}

/// Closes a recomputed step at a batch end (`marked`: instruments with a new mark in it,
/// read before the batch end revalued them) into `window`.
fn close_step(
    state: &ShardState,
    id: AccountId,
    step: Step,
    marked: &[InstrumentId],
    window: &mut Window,
) {
    let mut parts: BTreeMap<Key, PnlComponents> = step.flows;
    for (instrument, key, quantity, before) in &step.held {
        if let Some(after) = valued_at_end(state, *instrument, marked) {
            let payoff = state.instruments[instrument].payoff();
            *parts.entry(*key).or_default() += decompose_move(*quantity, payoff, before, &after);
        }
    }
    for trade in &step.trades {
        let end_value = valued_at_end(state, trade.instrument, marked)
            .map_or(trade.valued_at_trade.risk.value, |v| v.risk.value);
        parts.entry(trade.key).or_default().new_trades +=
            trade.quantity * (end_value - trade.trade_value);
    }
    let index = |u: UnderlyingId| state.index_prices.get(&u).map(|&(_, p)| p);
    for (key, step_parts) in parts {
        let rate = usd_rate(key.1, index).unwrap_or(0.0);
        let entry = window.keys.entry(key).or_default();
        entry.0 += step_parts;
        entry.1 += step_parts * rate;
    }
    for (currency, equity) in equities(state, id) {
        let before = step.equity.get(&currency).copied().unwrap_or(0.0);
        let moved = step.collateral.get(&currency).copied().unwrap_or(0.0);
        let actual = equity - before - moved;
        let rate = usd_rate(currency, index).unwrap_or(0.0);
        let entry = window.actual.entry(currency).or_default();
        entry.0 += actual;
        entry.1 += actual * rate;
    }
}

/// Applies one event, recording for each tracked account what its step needs.
fn apply_recording(
    state: &mut ShardState,
    seq: u64,
    event: &Event,
    steps: &mut BTreeMap<AccountId, Step>,
) -> Outcome {
    let parked_before: Vec<_> = match event.body {
        EventBody::InstrumentDefined(_) | EventBody::AccountDefined(_) => {
            state.parked.fills().iter().map(|p| p.fill).collect()
        }
        _ => Vec::new(),
    };
    let equity_before: BTreeMap<AccountId, BTreeMap<Currency, f64>> = match event.body {
        EventBody::Funding(_) | EventBody::Settlement(_) => {
            steps.keys().map(|&id| (id, equities(state, id))).collect()
        }
        _ => BTreeMap::new(),
    };
    if let EventBody::AccountDefined(definition) = &event.body {
        // Defined mid-step: its step starts now, from nothing.
        steps.entry(definition.id).or_default();
    }
    let outcome = state.apply_at(seq, event);
    let trade = |state: &ShardState,
                 fill: &keel_engine::events::Fill,
                 steps: &mut BTreeMap<AccountId, Step>| {
        let Some(step) = steps.get_mut(&fill.account) else {
            return;
        };
        let Some(instrument) = state.instruments.get(&fill.instrument) else {
            return;
        };
        let sign = match fill.side {
            keel_engine::events::Side::Buy => 1.0,
            keel_engine::events::Side::Sell => -1.0,
        };
        let quantity = sign * fill.quantity.get().and_then(|q| q.to_f64()).unwrap_or(0.0);
        let price = fill.price.get().and_then(|p| p.to_f64()).unwrap_or(0.0);
        let fee = fill.fee.get().and_then(|f| f.to_f64()).unwrap_or(0.0);
        let trade_value =
            value_at(&instrument.definition, instrument.contract_size, price).unwrap_or(0.0);
        let key = instrument.risk_key();
        step.flows.entry(key).or_default().fees -= fee;
        step.trades.push(Trade {
            instrument: fill.instrument,
            key,
            quantity,
            trade_value,
            valued_at_trade: instrument.valuation(),
        });
    };
    match (&event.body, outcome) {
        (EventBody::Fill(fill), Outcome::Applied) => trade(state, fill, steps),
        (EventBody::Collateral(c), Outcome::Applied) => {
            if let Some(step) = steps.get_mut(&c.account) {
                *step.collateral.entry(c.currency).or_default() +=
                    c.amount.get().and_then(|a| a.to_f64()).unwrap_or(0.0);
            }
        }
        (EventBody::Funding(f), Outcome::Applied) => {
            flow_change(state, f.instrument, &equity_before, steps, |p, v| {
                p.funding += v
            });
        }
        (EventBody::Settlement(s), Outcome::Applied) => {
            flow_change(state, s.instrument, &equity_before, steps, |p, v| {
                p.settlement += v
            });
        }
        (EventBody::InstrumentDefined(_) | EventBody::AccountDefined(_), _) => {
            // Parked fills this definition released were applied (or refused: then the
            // position did not move; the comparison with the engine would show it).
            let still: Vec<_> = state
                .parked
                .fills()
                .iter()
                .map(|p| p.fill.trade_id)
                .collect();
            for fill in parked_before
                .iter()
                .filter(|f| !still.contains(&f.trade_id))
            {
                trade(state, fill, steps);
            }
        }
        _ => {}
    }
    outcome
}

/// A funding or settlement: each tracked account's equity change in the instrument's
/// currency is that flow.
fn flow_change(
    state: &ShardState,
    instrument: InstrumentId,
    before: &BTreeMap<AccountId, BTreeMap<Currency, f64>>,
    steps: &mut BTreeMap<AccountId, Step>,
    add: impl Fn(&mut PnlComponents, f64),
) {
    let Some(key) = key_of(state, instrument) else {
        return;
    };
    for (id, step) in steps.iter_mut() {
        let was = before
            .get(id)
            .and_then(|e| e.get(&key.1))
            .copied()
            .unwrap_or(0.0);
        let now = equities(state, *id).get(&key.1).copied().unwrap_or(0.0);
        if now != was {
            add(step.flows.entry(key).or_default(), now - was);
        }
    }
}

struct Explained {
    id: AccountId,
    recomputed: Window,
    incremental: Window,
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.journal.is_dir(),
        "{} is not a directory",
        args.journal.display()
    );
    let from = args
        .from
        .as_deref()
        .map(|t| Point::parse(t, "--from"))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| Point::parse(t, "--to"))
        .transpose()?;
    let reader = JournalReader::open(&args.journal)?;
    let mut state = ShardState::new(0, 1);
    // Per account: the engine's sums at the window's start, the recomputation so far.
    let mut starts: BTreeMap<AccountId, Window> = BTreeMap::new();
    let mut recomputed: BTreeMap<AccountId, Window> = BTreeMap::new();
    let mut steps: BTreeMap<AccountId, Step> = BTreeMap::new();
    let mut in_window = false;
    let (mut from_seq, mut to_seq, mut from_ns, mut to_ns) = (0, 0, 0, 0);
    let mut pending = false;
    for record in reader.records_from(1)? {
        let record = record?;
        let event = decode(record.meta.kind, record.payload)
            .with_context(|| format!("record {}", record.meta.seq))?;
        let seq = record.meta.seq;
        let batch_end = record.meta.flags & FLAG_BATCH_END != 0 || ends_batch(seq);
        apply_recording(&mut state, seq, &event, &mut steps);
        pending = !batch_end;
        if !batch_end {
            continue;
        }
        if to.is_some_and(|p| p.is_passed_by(seq, event.timestamp_ns)) {
            // Past the window: the engine's sums are still those of its last batch end.
            pending = false;
            break;
        }
        // The step ending here began at the last batch end at or before `from`.
        if !in_window && from.is_none_or(|p| p.is_passed_by(seq, event.timestamp_ns)) {
            in_window = true;
        }
        end_step(&mut state, &mut steps, &mut recomputed, in_window);
        if !in_window {
            (from_seq, from_ns) = (seq, state.now_ns);
        }
        (to_seq, to_ns) = (seq, state.now_ns);
        begin_steps(&state, &mut steps, &mut starts, in_window);
    }
    if pending {
        // A trailing partial batch: revalued as a report does at the end.
        end_step(&mut state, &mut steps, &mut recomputed, in_window);
        (to_seq, to_ns) = (state.seq, state.now_ns);
    }
    if to_seq == 0 && state.seq == 0 {
        bail!("{} holds no events", args.journal.display());
    }
    let mut explained = Vec::new();
    for (id, window) in recomputed {
        let start = starts.get(&id).cloned().unwrap_or_default();
        let incremental = difference(&engine_sums(&state, id), &start);
        explained.push(Explained {
            id,
            recomputed: window,
            incremental,
        });
    }
    if let Some(name) = &args.account {
        let id = resolve_account(&state, name)?;
        explained.retain(|e| e.id == id);
    }
    print(
        args.json,
        &state,
        &explained,
        (from_seq, from_ns),
        (to_seq, to_ns),
    )
}

pub fn resolve_account(state: &ShardState, name: &str) -> anyhow::Result<AccountId> {
    if let Some(id) =
        keel_engine::events::Name::new(name).and_then(|n| state.account_id_by_name(&n))
    {
        return Ok(id);
    }
    match name.parse::<u32>() {
        Ok(id) if state.accounts.contains_key(&AccountId(id)) => Ok(AccountId(id)),
        _ => bail!("no account {name:?} in the journal"),
    }
}

/// At a batch end inside the window: closes every tracked account's step.
fn end_step(
    state: &mut ShardState,
    steps: &mut BTreeMap<AccountId, Step>,
    recomputed: &mut BTreeMap<AccountId, Window>,
    in_window: bool,
) {
    let mut marked: Vec<InstrumentId> = state.dirty_instruments().to_vec();
    state.finish_batch();
    // The batch end itself marks options from the volatility surface (model marks,
    // docs/ANALYTICS.md): those are new marks of this step too.
    let seq = state.seq;
    for (id, instrument) in state.instruments.iter() {
        let model_marked =
            instrument.mark_source == MarkSource::Model && instrument.mark_seq == seq;
        if model_marked && !marked.contains(id) {
            marked.push(*id);
        }
    }
    for (id, step) in std::mem::take(steps) {
        if in_window {
            close_step(state, id, step, &marked, recomputed.entry(id).or_default());
        }
    }
}

/// After a batch end: opens the next step of every account and, before the window,
/// remembers the engine's sums the window will start from.
fn begin_steps(
    state: &ShardState,
    steps: &mut BTreeMap<AccountId, Step>,
    starts: &mut BTreeMap<AccountId, Window>,
    in_window: bool,
) {
    for &id in state.accounts.keys() {
        if !in_window {
            starts.insert(id, engine_sums(state, id));
        }
        steps.insert(id, step_start(state, id));
    }
}

/// The largest per-component gap between the two, relative to the account's gross.
fn gap(a: &Window, b: &Window) -> f64 {
    let scale = a.gross().max(b.gross()).max(1.0);
    let mut worst: f64 = 0.0;
    for (key, (coin, usd)) in &a.keys {
        let (other_coin, other_usd) = b.keys.get(key).copied().unwrap_or_default();
        for (x, y) in coin.fields().iter().zip(other_coin.fields()) {
            worst = worst.max((x - y).abs());
        }
        for (x, y) in usd.fields().iter().zip(other_usd.fields()) {
            worst = worst.max((x - y).abs());
        }
    }
    for (currency, (coin, usd)) in &a.actual {
        let (other_coin, other_usd) = b.actual.get(currency).copied().unwrap_or_default();
        worst = worst
            .max((coin - other_coin).abs())
            .max((usd - other_usd).abs());
    }
    worst / scale
}

fn print(
    as_json: bool,
    state: &ShardState,
    explained: &[Explained],
    (from_seq, from_ns): (u64, u64),
    (to_seq, to_ns): (u64, u64),
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut all_agree = true;
    let mut accounts = Vec::new();
    for e in explained {
        let name = state
            .account_names
            .get(&e.id)
            .map_or_else(|| format!("{}", e.id.0), |n| n.as_text());
        let gap_relative =
            gap(&e.recomputed, &e.incremental).max(gap(&e.incremental, &e.recomputed));
        let agrees = gap_relative <= AGREEMENT_TOLERANCE;
        all_agree &= agrees;
        let parts_usd = e.recomputed.components_usd();
        let actual_usd = e.recomputed.actual_usd();
        let by_underlying: Vec<Value> = e
            .recomputed
            .keys
            .iter()
            .map(|((u, c), (coin, usd))| {
                json!({
                    "underlying": underlying_name(state, *u),
                    "currency": currency_name(state, *c),
                    "components": components_json(coin),
                    "components_usd": components_json(usd),
                    "pnl": coin.sum(),
                })
            })
            .collect();
        let actual: Vec<Value> = e
            .recomputed
            .actual
            .iter()
            .map(|(c, (coin, usd))| {
                json!({"currency": currency_name(state, *c), "actual_pnl": coin, "actual_pnl_usd": usd})
            })
            .collect();
        let incremental_by_underlying: Vec<Value> = e
            .incremental
            .keys
            .iter()
            .map(|((u, c), (coin, _))| {
                json!({
                    "underlying": underlying_name(state, *u),
                    "currency": currency_name(state, *c),
                    "components": components_json(coin),
                })
            })
            .collect();
        accounts.push(json!({
            "account": e.id.0,
            "name": name,
            "actual_pnl_usd": actual_usd,
            "components_usd": components_json(&parts_usd),
            "unexplained_usd": actual_usd - parts_usd.sum(),
            "by_underlying": by_underlying,
            "actual_by_currency": actual,
            "incremental_components_usd": components_json(&e.incremental.components_usd()),
            "incremental_actual_pnl_usd": e.incremental.actual_usd(),
            "incremental_by_underlying": incremental_by_underlying,
            "agreement_gap_relative": gap_relative,
            "agrees": agrees,
        }));
    }
    let report = json!({
        "from_seq": from_seq,
        "from_ns": from_ns,
        "to_seq": to_seq,
        "to_ns": to_ns,
        "accounts": accounts,
        "agrees": all_agree,
    });
    if as_json {
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "PnL attribution from sequence {from_seq} to {to_seq} (each step: batch end to batch end)"
        )?;
        for a in &accounts {
            writeln!(
                out,
                "account {} ({}): actual {:.2} USD; unexplained by the parts {:.2e} USD",
                a["name"].as_str().unwrap_or_default(),
                a["account"],
                a["actual_pnl_usd"].as_f64().unwrap_or(0.0),
                a["unexplained_usd"].as_f64().unwrap_or(0.0),
            )?;
            let usd: PnlComponents = components_of(&a["components_usd"]);
            writeln!(out, "  {}", components_line(&usd, "USD"))?;
            for u in a["by_underlying"].as_array().into_iter().flatten() {
                let coin = components_of(&u["components"]);
                let unit = u["currency"].as_str().unwrap_or_default();
                writeln!(
                    out,
                    "  {} in {unit}: {}",
                    u["underlying"].as_str().unwrap_or_default(),
                    components_line(&coin, unit)
                )?;
            }
            writeln!(
                out,
                "  engine's incremental accrual {} (relative gap {:.1e})",
                if a["agrees"].as_bool() == Some(true) {
                    "agrees"
                } else {
                    "DISAGREES"
                },
                a["agreement_gap_relative"].as_f64().unwrap_or(0.0)
            )?;
        }
    }
    if !all_agree {
        bail!("the recomputation and the engine's incremental accrual disagree");
    }
    Ok(ExitCode::SUCCESS)
}
