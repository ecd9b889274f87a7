//! The hot path allocates nothing after warm-up (DESIGN 8): encode an event, append it to
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
