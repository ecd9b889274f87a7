//! `keel demo`: the README's main job. A seeded synthetic Deribit-like market runs
//! through the full pipeline (ring → journal → shards) into a journal directory, then a
//! risk report. A directory holding a journal from an interrupted run with the same seed
//! is recovered and continued, so the end state equals an uninterrupted run's.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use keel_engine::events::ids::ACCOUNTS_MAX;
use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{JournalConfig, JournalWriter};
use keel_runtime::{
    PipelineConfig, StateSnapshotPolicy, WaitStrategyKind, recover_to_continue, run_pipeline,
};
use serde_json::json;

use super::report::{RunFacts, json_report, print_table};

#[derive(Args)]
pub struct DemoArgs {
    /// Journal directory (created if missing; an interrupted run there is continued).
    #[arg(long, default_value = "keel-data/demo")]
    data_dir: PathBuf,
    /// Seed of the synthetic market: same seed, same events, same final state.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Total events in the run (including any already journaled).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Trading accounts.
    #[arg(long, default_value_t = 8)]
    accounts: u32,
    /// Risk shards (threads); accounts are split by id.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// How idle stages wait: `backoff` (spin, yield, then sleep: shares cores),
    /// `yield`, or `busy-spin` (a core per stage).
    #[arg(long, default_value = "backoff")]
    wait: WaitStrategyKind,
    /// Events between state snapshots (recovery restores the latest and replays only
    /// the journal after it); 0 turns snapshots off.
    #[arg(long, default_value_t = keel_runtime::SNAPSHOT_INTERVAL_DEFAULT_EVENTS)]
    snapshot_interval: u64,
    /// The stress mix of earlier versions (both indexes move every 50 ms, 31 % of events)
    /// instead of the realistic one (each index once a second, ~1 % of events).
    #[arg(long)]
    index_heavy: bool,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!((1..=64).contains(&args.shards), "--shards must be 1 to 64");
    anyhow::ensure!(
        (1..=ACCOUNTS_MAX).contains(&args.accounts),
        "--accounts must be 1 to {ACCOUNTS_MAX}"
    );
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // A continuation must use the parameters the journal was written with.
    let mix = if args.index_heavy {
        "index-heavy"
    } else {
        "realistic"
    };
    let identity = json!({
        "writer": "demo",
        "seed": args.seed,
        "accounts": args.accounts,
        "mix": mix,
    });
    let hint = "use the same --seed/--accounts/--index-heavy or another --data-dir";
    super::journal_identity::claim(dir, &identity, hint)?;
    let (journal, recovery) = JournalWriter::open(dir, JournalConfig::default())?;
    if let Some(torn) = &recovery.torn_tail {
        tracing::warn!(offset = torn.offset, "journal had a torn tail; truncated");
    }
    let mut shards: Vec<ShardState> = (0..args.shards)
        .map(|i| ShardState::new(i, args.shards))
        .collect();
    let already = recovery.last_seq;
    let mut resumed = None;
    if already > 0 {
        let recovered = recover_to_continue(dir, args.shards)?;
        shards = recovered.shards;
        resumed = Some(json!({
            "from_seq": already,
            "snapshot_seqs": recovered.snapshot_seqs,
            "records_replayed": recovered.records_replayed,
        }));
        if !args.json {
            println!(
                "continuing the journal in {} from event {} (state from snapshot at {}, {} events replayed)",
                dir.display(),
                already + 1,
                recovered.snapshot_seqs.iter().min().copied().unwrap_or(0),
                recovered.records_replayed
            );
        }
    }
    let remaining = args.events.saturating_sub(already);
    let base = if args.index_heavy {
        SyntheticConfig::index_heavy()
    } else {
        SyntheticConfig::default()
    };
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: args.seed,
        accounts: args.accounts,
        ..base
    });
    let bar = ProgressBar::new(remaining);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} events ({per_sec}, {eta})")
    {
        bar.set_style(style);
    }
    let counted = bar.clone();
    let events = market
        .skip(already as usize)
        .take(remaining as usize)
        .inspect(move |_| counted.inc(1));
    let config = PipelineConfig {
        wait: args.wait,
        state_snapshots: StateSnapshotPolicy::every(args.snapshot_interval),
        ..PipelineConfig::default()
    };
    let output = run_pipeline(&config, journal, shards, events)?;
    bar.finish_and_clear();
    let facts = RunFacts {
        events: output.events,
        last_seq: output.last_seq.max(already),
        elapsed_s: output.elapsed_s,
        latency_ns: (output.events > 0).then_some(&output.latency_ns),
        only_account: None,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut report = json_report(&output.shards, &facts);
        if let Some(resumed) = resumed {
            report["resumed"] = resumed;
        }
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "keel demo: seed {}, {} accounts, {} market mix, {} shard(s), journal {}\n",
            args.seed,
            args.accounts,
            mix,
            args.shards,
            dir.display()
        )?;
        print_table(&mut out, &output.shards, &facts)?;
    }
    Ok(ExitCode::SUCCESS)
}
