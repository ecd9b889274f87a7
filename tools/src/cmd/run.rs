//! `keel run`: the long-running engine for a colocated deployment. Events arrive as JSON
//! lines (docs/EVENTS.md) from a file or stdin, until end of input; the journal in the
//! configured directory is recovered and continued. Bad lines are counted and reported,
//! never fatal.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{Context, bail};
use clap::Args;
use keel_engine::events::Event;
use keel_engine::runtime::{
    PipelineConfig, SNAPSHOT_INTERVAL_DEFAULT_EVENTS, StateSnapshotPolicy, WaitStrategyKind,
    recover_to_continue, run_pipeline,
};
use keel_engine::state::ShardState;
use keel_journal::{Durability, JournalConfig, JournalWriter};
use serde::Deserialize;

use super::report::{RunFacts, json_report, print_table};

#[derive(Args)]
pub struct RunArgs {
    /// Configuration file (see the committed keel.toml).
    #[arg(long)]
    config: PathBuf,
    /// JSON-lines events: a file, or `-` for stdin.
    #[arg(long, default_value = "-")]
    input: String,
    /// Print the final report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RunConfig {
    data_dir: PathBuf,
    shards: u32,
    wait: String,
    ring_size: usize,
    /// Events between state snapshots; 0: none.
    snapshot_interval_events: u64,
    journal: JournalSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct JournalSection {
    durability: String,
    interval_ms: u32,
    segment_size_mib: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            data_dir: PathBuf::from("keel-data/run"),
            shards: 1,
            wait: "backoff".into(),
            ring_size: 1 << 14,
            snapshot_interval_events: SNAPSHOT_INTERVAL_DEFAULT_EVENTS,
            journal: JournalSection::default(),
        }
    }
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            durability: "interval".into(),
            interval_ms: 10,
            segment_size_mib: 256,
        }
    }
}

fn load_config(path: &Path) -> anyhow::Result<RunConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", path.display()))
}

fn durability(section: &JournalSection) -> anyhow::Result<Durability> {
    Ok(match section.durability.as_str() {
        "none" => Durability::None,
        "interval" => Durability::Interval {
            period_ms: section.interval_ms,
        },
        "sync" => Durability::Sync,
        other => bail!("journal.durability must be none, interval or sync, got '{other}'"),
    })
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config)?;
    anyhow::ensure!((1..=64).contains(&config.shards), "shards must be 1 to 64");
    let wait: WaitStrategyKind = config.wait.parse().map_err(anyhow::Error::msg)?;
    let journal_config = JournalConfig {
        segment_size_bytes: config.journal.segment_size_mib << 20,
        durability: durability(&config.journal)?,
        ..JournalConfig::default()
    };
    let input: Box<dyn BufRead> = if args.input == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input))?;
        Box::new(BufReader::new(file))
    };
    let dir = &config.data_dir;
    let (journal, recovery) = JournalWriter::open(dir, journal_config)?;
    let mut shards: Vec<ShardState> = (0..config.shards)
        .map(|i| ShardState::new(i, config.shards))
        .collect();
    if recovery.last_seq > 0 {
        let recovered = recover_to_continue(dir, config.shards)?;
        shards = recovered.shards;
        tracing::info!(
            last_seq = recovery.last_seq,
            snapshot_seqs = ?recovered.snapshot_seqs,
            records_replayed = recovered.records_replayed,
            "recovered the journal; continuing"
        );
    }
    let bad_lines = Rc::new(Cell::new(0u64));
    let counter = bad_lines.clone();
    let events = input.lines().enumerate().filter_map(move |(index, line)| {
        let parsed = line
            .map_err(|e| e.to_string())
            .and_then(|line| serde_json::from_str::<Event>(&line).map_err(|e| e.to_string()));
        match parsed {
            Ok(event) => Some(event),
            Err(error) => {
                counter.set(counter.get() + 1);
                tracing::warn!(line = index + 1, %error, "input line rejected");
                None
            }
        }
    });
    let pipeline_config = PipelineConfig {
        wait,
        ring_size: config.ring_size,
        state_snapshots: StateSnapshotPolicy::every(config.snapshot_interval_events),
        ..PipelineConfig::default()
    };
    let output = run_pipeline(&pipeline_config, journal, shards, events)?;
    let facts = RunFacts {
        events: output.events,
        last_seq: output.last_seq.max(recovery.last_seq),
        elapsed_s: output.elapsed_s,
        latency_ns: (output.events > 0).then_some(&output.latency_ns),
        only_account: None,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut report = json_report(&output.shards, &facts);
        report["input_lines_rejected"] = serde_json::json!(bad_lines.get());
        writeln!(out, "{report}")?;
    } else {
        print_table(&mut out, &output.shards, &facts)?;
        writeln!(
            out,
            "input lines rejected (not valid events): {}",
            bad_lines.get()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
