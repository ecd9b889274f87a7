//! The state machine's cost per event (`cargo bench -p keel-benches --bench apply`):
//! incremental `apply` + batch revaluation over the synthetic market, against the same
//! with a from-scratch recomputation of every aggregate at each batch end (the
//! full-revaluation design the incremental one replaces), measured in the same run.
//! First target: ≥ 5 M events/s per shard, i.e. ≤ 200 ns per event. The current
//! targets and every measured figure: docs/BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use keel_benches::paired;
use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_engine::state::checker::check;
use keel_feeds::{SyntheticConfig, SyntheticMarket};

/// Events applied before measuring (definitions, first positions), then measured.
const WARM_EVENTS: usize = 50_000;
const MEASURED_EVENTS: usize = 20_000;

fn apply_all(mut state: ShardState, events: &[Event], full_revaluation: bool) -> ShardState {
    for (index, event) in events.iter().enumerate() {
        let batch_end = state.step(index as u64 + 1, black_box(event)).batch_end;
        if batch_end && full_revaluation {
            black_box(check(&state).is_ok());
        }
    }
    state
}

fn main() {
    let mut market = SyntheticMarket::new(SyntheticConfig::default());
    let warm_events: Vec<Event> = market.by_ref().take(WARM_EVENTS).collect();
    let events: Vec<Event> = market.take(MEASURED_EVENTS).collect();
    let warm = apply_all(ShardState::new(0, 1), &warm_events, false);

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("state");
        group.throughput(Throughput::Elements(MEASURED_EVENTS as u64));
        group.bench_function("incremental_apply", |b| {
            b.iter_batched(
                || warm.clone(),
                |state| apply_all(state, &events, false),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("apply_with_full_revaluation", |b| {
            b.iter_batched(
                || warm.clone(),
                |state| apply_all(state, &events, true),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
    criterion.final_summary();
    println!("\nSummary ({MEASURED_EVENTS} synthetic events after {WARM_EVENTS} of warm-up):");
    paired::compare(
        "state machine per event",
        MEASURED_EVENTS,
        || black_box(apply_all(warm.clone(), &events, false)).events_applied as f64,
        || black_box(apply_all(warm.clone(), &events, true)).events_applied as f64,
        "same + full revaluation per batch",
    );
}
