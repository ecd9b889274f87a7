//! The baseline for the pipeline benchmark: the same work (encode, journal append,
//! apply, latency) over bounded `crossbeam` channels instead of the disruptor ring,
//! producer → journal thread → shard thread, paced the same way.

use std::time::Instant;

use crossbeam::channel;
use hdrhistogram::Histogram;
use keel_engine::events::{Event, EventEncoder};
use keel_engine::state::{ShardState, ends_batch};
use keel_journal::JournalWriter;
use keel_runtime::{FLAG_BATCH_END, Pacer};

use crate::latency::histogram_ns;

/// Result of one baseline run.
pub struct ChannelRun {
    pub state: ShardState,
    pub latency_ns: Histogram<u64>,
    pub elapsed_s: f64,
}

/// Runs `events` through producer → journal thread → shard thread over bounded channels
/// of `capacity`, at `offered_rate_eps` (or as fast as possible); the first
/// `warm_up_events` are not timed (as the ring pipeline's warm-up).
pub fn run_channel_pipeline(
    mut journal: JournalWriter,
    mut state: ShardState,
    events: &[Event],
    offered_rate_eps: Option<f64>,
    capacity: usize,
    warm_up_events: u64,
) -> ChannelRun {
    let clock = quanta::Clock::new();
    let start_raw = clock.raw();
    let (to_journal, journal_rx) = channel::bounded::<(Event, u64, u64)>(capacity);
    let (to_shard, shard_rx) = channel::bounded::<(Event, u64, u64)>(capacity);
    let first_seq = journal.next_seq();
    let journal_thread = std::thread::spawn(move || {
        let mut encoder = EventEncoder::default();
        for (event, seq, due_ns) in journal_rx {
            if let Ok((kind, payload)) = encoder.encode(&event) {
                let flags = if ends_batch(seq) { FLAG_BATCH_END } else { 0 };
                if journal
                    .append_flagged(kind, flags, event.timestamp_ns, payload)
                    .is_err()
                {
                    break;
                }
            }
            if to_shard.send((event, seq, due_ns)).is_err() {
                break;
            }
        }
        let _ = journal.close();
    });
    let shard_clock = clock.clone();
    let shard_thread = std::thread::spawn(move || {
        let mut latency = histogram_ns();
        for (event, seq, due_ns) in shard_rx {
            state.step(seq, &event);
            let now_ns = shard_clock.delta_as_nanos(start_raw, shard_clock.raw());
            if seq >= first_seq + warm_up_events {
                latency.saturating_record(now_ns.saturating_sub(due_ns).max(1));
            }
        }
        state.finish_batch();
        (state, latency)
    });
    let started = Instant::now();
    let mut pacer = Pacer::new(clock.clone(), start_raw, offered_rate_eps);
    for (index, event) in events.iter().enumerate() {
        let seq = first_seq + index as u64;
        let due_ns = pacer.next_due_ns();
        if to_journal.send((*event, seq, due_ns)).is_err() {
            break;
        }
    }
    drop(to_journal);
    let _ = journal_thread.join();
    let (state, latency_ns) = shard_thread.join().expect("shard thread");
    ChannelRun {
        state,
        latency_ns,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}
