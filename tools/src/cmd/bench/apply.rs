//! `keel bench apply`: the state machine's cost per event — `ShardState::step` (apply,
//! and the batch end every 64 events: revaluation, margin, alerts) — over the realistic
//! synthetic mix (accounts trade books of a few dozen instruments, tickers cover the
//! whole chain), the same rates with every account trading every instrument (all held),
//! and the index-heavy stress mix. Baseline, same run: the same plus a
//! from-scratch recomputation of every aggregate at each batch end (full revaluation, the
//! design incremental updates replace).

use std::hint::black_box;

use clap::Args;
use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_engine::state::checker::check;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

use super::{Figures, median_s};

#[derive(Args)]
pub struct ApplyArgs {
    /// Events applied before timing (instruments defined, positions open).
    #[arg(long, default_value_t = 300_000)]
    warm_events: usize,
    /// Events timed per round.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Rounds (median reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Events timed for the full-revaluation baseline (far slower per event).
    #[arg(long, default_value_t = 6_400)]
    baseline_events: usize,
}

/// A warm state after `warm` events, and the `count` events after them.
fn warm(config: SyntheticConfig, warm: usize, count: usize) -> (ShardState, Vec<Event>) {
    let mut market = SyntheticMarket::new(config);
    let mut state = ShardState::new(0, 1);
    for seq in 1..=warm as u64 {
        if let Some(event) = market.next() {
            state.step(seq, &event);
        }
    }
    (state, market.take(count).collect())
}

fn run_events(mut state: ShardState, events: &[Event], full_revaluation: bool) -> ShardState {
    let first = state.seq + 1;
    for (offset, event) in events.iter().enumerate() {
        let step = state.step(first + offset as u64, black_box(event));
        if step.batch_end && full_revaluation {
            black_box(check(&state).is_ok());
        }
    }
    state
}

fn ns_per_event(state: &ShardState, events: &[Event], rounds: usize, full: bool) -> f64 {
    let seconds = median_s(
        rounds,
        || state.clone(),
        |s| {
            black_box(run_events(s, events, full));
        },
    );
    seconds * 1e9 / events.len().max(1) as f64
}

/// Share of the tickers in `events` for an instrument with holders (at the warm state;
/// books change slowly, so this is the share over the run within a few percent).
fn held_ticker_share(state: &ShardState, events: &[Event]) -> f64 {
    let (mut held, mut tickers) = (0u64, 0u64);
    for event in events {
        if let keel_engine::events::EventBody::Ticker(ticker) = &event.body {
            tickers += 1;
            let holders = state
                .instruments
                .get(&ticker.instrument)
                .map(|i| i.holders.len());
            held += u64::from(holders.unwrap_or(0) > 0);
        }
    }
    held as f64 / tickers.max(1) as f64
}

pub fn run(args: &ApplyArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(args.events > 0, "--events must be positive");
    let (state, events) = warm(SyntheticConfig::default(), args.warm_events, args.events);
    let (held_state, held_events) =
        warm(SyntheticConfig::all_held(), args.warm_events, args.events);
    let (heavy_state, heavy_events) = warm(
        SyntheticConfig::index_heavy(),
        args.warm_events,
        args.events,
    );
    let ours = ns_per_event(&state, &events, args.rounds, false);
    let all_held = ns_per_event(&held_state, &held_events, args.rounds, false);
    let heavy = ns_per_event(&heavy_state, &heavy_events, args.rounds, false);
    let baseline_events = &events[..args.baseline_events.clamp(1, events.len())];
    let baseline = ns_per_event(&state, baseline_events, args.rounds.min(3), true);
    let mut figures = Figures::default();
    figures.set("bench", "apply");
    figures.set("events", events.len() as u64);
    figures.set("warm_events", args.warm_events as u64);
    figures.set(
        "positions",
        state
            .accounts
            .values()
            .map(|a| a.positions.len() as u64)
            .sum::<u64>(),
    );
    figures.number("ns_per_event", ours);
    figures.number("ns_per_event_all_held", all_held);
    figures.number("ns_per_event_index_heavy", heavy);
    // Share of the timed tickers whose instrument somebody held when it arrived.
    figures.number("held_ticker_share", held_ticker_share(&state, &events));
    figures.number("baseline_ns_per_event", baseline);
    figures.number("ratio", baseline / ours);
    figures.number("events_per_s", 1e9 / ours);
    Ok(figures)
}
