//! The hot path allocates nothing after warm-up (docs/PIPELINE.md): encode an event, append it to
//! the journal, decode it back, apply it to a shard, end the batch every 64 events — the
//! work of the journal stage and a shard stage — under a counting global allocator.
//!
//! Warm-up is the synthetic market until every account has held its working set of
//! positions; the measured window then runs another stretch of the same stream (new
//! fills, marks, opening and closing positions, bad events) and must allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use keel_engine::events::{Event, EventEncoder, decode};
use keel_engine::state::checker::check;
use keel_engine::state::{ShardState, ends_batch};
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::FLAG_BATCH_END;

/// Counts allocations made by threads that armed it (the test harness's own threads
/// allocate freely).
struct CountingAllocator;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: forwards every call unchanged to the system allocator; the counting touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract for `alloc` is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const WARM_UP_EVENTS: usize = 300_000;
const MEASURED_EVENTS: usize = 200_000;

/// Runs `events` through the hot path; returns how many allocations it made.
fn hot_path(
    events: &[Event],
    first_seq: u64,
    encoder: &mut EventEncoder,
    journal: &mut JournalWriter,
    shard: &mut ShardState,
) -> u64 {
    ALLOCATIONS.with(|count| count.set(0));
    ARMED.with(|armed| armed.set(true));
    for (offset, event) in events.iter().enumerate() {
        let seq = first_seq + offset as u64;
        let flags = if ends_batch(seq) { FLAG_BATCH_END } else { 0 };
        let (kind, payload) = encoder.encode(event).expect("encodes");
        journal
            .append_flagged(kind, flags, event.timestamp_ns, payload)
            .expect("appends");
        let decoded = decode(kind, payload).expect("decodes");
        shard.step(seq, &decoded);
    }
    ARMED.with(|armed| armed.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn journal_and_shard_stages_allocate_nothing_after_warm_up() {
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig {
        seed: 11,
        accounts: 4,
        ..SyntheticConfig::default()
    })
    .take(WARM_UP_EVENTS + MEASURED_EVENTS)
    .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig {
        // One segment holds the whole run: segment rolls happen off the hot path's
        // steady state (a spare is prepared in the background) but are not what this
        // test measures.
        segment_size_bytes: 256 << 20,
        durability: Durability::None,
        ..JournalConfig::default()
    };
    let (mut journal, _) = JournalWriter::open(dir.path(), config).expect("journal");
    let mut encoder = EventEncoder::default();
    let mut shard = ShardState::new(0, 1);

    let warm_up = hot_path(
        &events[..WARM_UP_EVENTS],
        1,
        &mut encoder,
        &mut journal,
        &mut shard,
    );
    assert!(warm_up > 0, "the counter counts: warm-up builds the state");
    let positions_after_warm_up: usize = shard.accounts.values().map(|a| a.positions.len()).sum();
    let fills_before = shard.events_applied;

    let measured = hot_path(
        &events[WARM_UP_EVENTS..],
        WARM_UP_EVENTS as u64 + 1,
        &mut encoder,
        &mut journal,
        &mut shard,
    );
    assert_eq!(
        measured, 0,
        "{measured} allocations in {MEASURED_EVENTS} steady-state events"
    );
    // The window did real work.
    assert!(shard.events_applied - fills_before > MEASURED_EVENTS as u64 / 2);
    assert!(positions_after_warm_up > 0);
    assert!(shard.rejections().total() > 0, "bad events were exercised");
    check(&shard).expect("incremental = from scratch");
}

/// What-if answers over the shared-memory codec (the engine answers between events, on
/// its hot path) allocate nothing once the answer's working memory is warm: an option the
/// account holds, one nobody holds (valued on the spot), and two legs at once, for
/// portfolio- and standard-margin accounts alike.
#[test]
fn what_if_answers_allocate_nothing_after_warm_up() {
    use keel_engine::events::{InstrumentKind, MarginModel};
    use keel_runtime::embed::codec::{AnswerScratch, answer};
    use keel_runtime::embed::wire::{SIDE_BUY, SIDE_SELL, WhatIfLeg, WhatIfRequest};

    let mut shard = ShardState::new(0, 1);
    for (offset, event) in SyntheticMarket::new(SyntheticConfig::default())
        .take(60_000)
        .enumerate()
    {
        shard.step(offset as u64 + 1, &event);
    }
    shard.finish_batch();
    let marked_options: Vec<_> = shard
        .instruments
        .values()
        .filter(|i| {
            i.definition.kind == InstrumentKind::Option
                && !i.settled
                && i.mark.is_some_and(|m| m.mark_price > 1e-4)
        })
        .map(|i| i.definition.id)
        .collect();
    let leg = |instrument: keel_engine::events::InstrumentId, side| WhatIfLeg {
        instrument: u64::from(instrument.0),
        side,
        quantity_mantissa: 1,
        ..WhatIfLeg::default()
    };
    let mut requests = Vec::new();
    let mut models = Vec::new();
    for (id, account) in &shard.accounts {
        let held = marked_options
            .iter()
            .copied()
            .find(|i| account.positions.contains_key(i));
        let unheld = marked_options
            .iter()
            .copied()
            .find(|i| shard.instruments[i].holders.is_empty());
        let (Some(held), Some(unheld)) = (held, unheld) else {
            continue;
        };
        models.push(account.margin_model);
        let base = WhatIfRequest {
            account: u64::from(id.0),
            leg_count: 1,
            ..WhatIfRequest::default()
        };
        let mut one = base;
        one.legs[0] = leg(held, SIDE_BUY);
        let mut alone = base;
        alone.legs[0] = leg(unheld, SIDE_SELL);
        let mut two = base;
        two.leg_count = 2;
        two.legs[0] = leg(held, SIDE_SELL);
        two.legs[1] = leg(unheld, SIDE_BUY);
        requests.extend([one, alone, two]);
    }
    assert!(requests.len() >= 6, "queries for at least two accounts");
    assert!(models.contains(&MarginModel::Portfolio) && models.contains(&MarginModel::Standard));
    let mut scratch = AnswerScratch::default();
    // Warm-up: each query once (the working memory grows to its size).
    for request in &requests {
        let response = answer(&shard, request, &mut scratch);
        assert_eq!(response.status, 0, "{request:?}");
    }
    ALLOCATIONS.with(|count| count.set(0));
    ARMED.with(|armed| armed.set(true));
    for _ in 0..50 {
        for request in &requests {
            std::hint::black_box(answer(&shard, request, &mut scratch));
        }
    }
    ARMED.with(|armed| armed.set(false));
    let allocations = ALLOCATIONS.with(Cell::get);
    assert_eq!(
        allocations,
        0,
        "{allocations} allocations in {} answers",
        50 * requests.len()
    );
}
