//! `keel bench replay`: rebuilding state from a journal on disk — read, CRC check, decode,
//! apply with batch ends — over a realistic-mix journal written first (as the pipeline
//! writes it). Baseline, same run: the same events applied from memory (no disk, no
//! decode), the state machine alone; the ratio shows what reading the journal costs.

use std::hint::black_box;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use keel_engine::events::{Event, EventEncoder};
use keel_engine::state::hash::combined_hash;
use keel_engine::state::{ShardState, ends_batch};
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::{FLAG_BATCH_END, replay};

use super::{Figures, median_s};

#[derive(Args)]
pub struct ReplayArgs {
    /// Events in the journal.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Rounds (median reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the benchmark journal goes (wiped first).
    #[arg(long, default_value = "keel-data/bench/replay")]
    data_dir: PathBuf,
}

fn write_journal(dir: &std::path::Path, events: &[Event]) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let config = JournalConfig {
        durability: Durability::None,
        ..JournalConfig::default()
    };
    let (mut journal, _) = JournalWriter::open(dir, config)?;
    let mut encoder = EventEncoder::default();
    for event in events {
        let seq = journal.next_seq();
        let (kind, payload) = encoder.encode(event)?;
        let flags = if ends_batch(seq) { FLAG_BATCH_END } else { 0 };
        journal.append_flagged(kind, flags, event.timestamp_ns, payload)?;
    }
    journal.close()?;
    Ok(())
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(args.events > 0, "--events must be positive");
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig::default())
        .take(args.events)
        .collect();
    write_journal(&args.data_dir, &events)?;
    let mut replayed = Ok(0);
    let replay_s = median_s(
        args.rounds,
        || (),
        |()| {
            replayed = replay(&args.data_dir, None, 1).map(|(shards, _)| combined_hash(&shards));
        },
    );
    let replayed_hash = replayed.context("replaying the benchmark journal")?;
    let mut memory_hash = 0;
    let memory_s = median_s(
        args.rounds,
        || (),
        |()| {
            let mut state = ShardState::new(0, 1);
            for (offset, event) in events.iter().enumerate() {
                state.step(offset as u64 + 1, black_box(event));
            }
            state.finish_batch();
            memory_hash = combined_hash([&state]);
        },
    );
    anyhow::ensure!(
        replayed_hash == memory_hash,
        "replay and the in-memory run must reach the same state"
    );
    let count = args.events as f64;
    let mut figures = Figures::default();
    figures.set("bench", "replay");
    figures.set("events", args.events as u64);
    figures.number("seconds", replay_s);
    figures.number("events_per_s", count / replay_s);
    figures.number("baseline_events_per_s", count / memory_s);
    figures.number("ratio", memory_s / replay_s);
    Ok(figures)
}
