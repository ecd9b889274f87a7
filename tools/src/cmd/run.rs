//! `keel run`: the long-running engine for a colocated deployment. Events arrive as JSON
//! lines (docs/EVENTS.md) from a file or stdin, until end of input; the journal in the
//! configured directory is recovered and continued. Bad lines are counted and reported,
//! never fatal; a failing input (an I/O error) ends the run with an error after the
//! report, and so does an input with no valid event at all.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{Context, bail};
use clap::Args;
use keel_engine::state::ShardState;
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::{
    PipelineConfig, SNAPSHOT_INTERVAL_DEFAULT_EVENTS, StateSnapshotPolicy, WaitStrategyKind,
    recover_to_continue, run_pipeline,
};
use serde::Deserialize;

use super::feeder::{Feeder, journaled_input_position};
use super::report::{RunFacts, json_report, print_table};

/// Largest ring accepted (slots): 2^22 events, far above any useful queue.
const RING_SIZE_MAX: usize = 1 << 22;

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
    /// Skip the input lines the journal already holds (its last input-position
    /// bookmark): restart a feed from the same input without re-reading it.
    #[arg(long)]
    resume: bool,
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
    anyhow::ensure!(
        config.ring_size.is_power_of_two() && (64..=RING_SIZE_MAX).contains(&config.ring_size),
        "ring_size must be a power of two from 64 to {RING_SIZE_MAX}"
    );
    let wait: WaitStrategyKind = config.wait.parse().map_err(anyhow::Error::msg)?;
    let journal_config = JournalConfig {
        segment_size_bytes: config.journal.segment_size_mib << 20,
        durability: durability(&config.journal)?,
        ..JournalConfig::default()
    };
    let input = open_input(&args.input)?;
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hint = "set data_dir to a directory of keel run's";
    super::journal_identity::claim(dir, &serde_json::json!({ "writer": "run" }), hint)?;
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
    let resume_after_lines = if args.resume {
        journaled_input_position(dir)?
    } else {
        0
    };
    let feeder = Rc::new(RefCell::new(Feeder::new(input, resume_after_lines)?));
    let reader = feeder.clone();
    let events = std::iter::from_fn(move || reader.borrow_mut().next());
    let pipeline_config = PipelineConfig {
        wait,
        ring_size: config.ring_size,
        state_snapshots: StateSnapshotPolicy::every(config.snapshot_interval_events),
        ..PipelineConfig::default()
    };
    let output = run_pipeline(&pipeline_config, journal, shards, events)?;
    let (lines_read, read_error, bad_lines) = {
        let mut feeder = feeder.borrow_mut();
        (
            feeder.lines_read(),
            feeder.take_io_error(),
            feeder.bad_lines,
        )
    };
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
        report["input_lines_rejected"] = serde_json::json!(bad_lines);
        report["ring_full_waits"] = serde_json::json!(output.ring_full_waits);
        report["input_position"] = serde_json::json!({
            "resumed_after_line": resume_after_lines,
            "lines_read": lines_read,
        });
        writeln!(out, "{report}")?;
    } else {
        print_table(&mut out, &output.shards, &facts)?;
        writeln!(
            out,
            "input lines rejected (not valid events): {}",
            bad_lines
        )?;
        writeln!(
            out,
            "back-pressure: {} events waited for a free ring slot",
            output.ring_full_waits
        )?;
        writeln!(
            out,
            "input: {lines_read} lines journaled (resumed after line {resume_after_lines})"
        )?;
    }
    out.flush()?;
    if let Some(error) = read_error {
        // What was read is journaled and reported above; the input itself failed.
        bail!(
            "reading {} failed after line {lines_read}: {error}",
            args.input
        );
    }
    if output.events == 0 && bad_lines > 0 {
        bail!(
            "none of the {} input lines was a valid event (docs/EVENTS.md)",
            bad_lines
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The input: stdin, or a file (a directory is refused here, not read forever).
fn open_input(input: &str) -> anyhow::Result<Box<dyn BufRead>> {
    if input == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(input).with_context(|| format!("opening {input}"))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("reading the metadata of {input}"))?;
    anyhow::ensure!(
        !metadata.is_dir(),
        "{input} is a directory, not an input file"
    );
    Ok(Box::new(BufReader::new(file)))
}
