//! `keel run`: the long-running engine for a colocated deployment. Events arrive as JSON
//! lines (docs/EVENTS.md) from a file or stdin, until end of input; the journal in the
//! configured directory is recovered and continued. Bad lines are counted and reported,
//! never fatal; a failing input (an I/O error) ends the run with an error after the
//! report, and so does an input with no valid event at all.
//!
//! With an `[embed]` section the engine also serves shared memory (docs/EMBEDDING.md) and
//! runs until SIGINT or SIGTERM, not until the end of its input: it then finishes the
//! current batch, closes the journal and prints the report.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, bail};
use clap::Args;
use keel_engine::state::ShardState;
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::embed::wire::CLIENTS_MAX;
use keel_runtime::embed::{ACCOUNTS_DEFAULT, EmbedConfig, EmbedServer, SHM_DIR_DEFAULT};
use keel_runtime::pipeline::Topology;
use keel_runtime::source::LiveSource;
use keel_runtime::{
    PipelineConfig, PipelineOutput, SNAPSHOT_INTERVAL_DEFAULT_EVENTS, StateSnapshotPolicy,
    WaitStrategyKind, recover_to_continue, run_pipeline, run_pipeline_from,
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
    /// "fused", "staged", "inline", or "auto" (by core count; inline when serving
    /// shared memory on fewer than 4 cores).
    topology: String,
    journal: JournalSection,
    /// Serve shared memory to embedding clients (absent: no).
    embed: Option<EmbedSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EmbedSection {
    /// The engine's name: clients attach to it (`keel what-if --engine NAME`).
    name: String,
    /// Directory of the shared-memory files.
    dir: PathBuf,
    /// Accounts with ids below this get a snapshot slot.
    accounts_max: u32,
    /// Clients served at once (1 to 8): one file and one ingress ring each.
    clients_max: usize,
}

impl Default for EmbedSection {
    fn default() -> Self {
        EmbedSection {
            name: "keel".into(),
            dir: PathBuf::from(SHM_DIR_DEFAULT),
            accounts_max: ACCOUNTS_DEFAULT,
            clients_max: CLIENTS_MAX,
        }
    }
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
            topology: "auto".into(),
            journal: JournalSection::default(),
            embed: None,
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
    let shards = config.shards as usize;
    let topology = match config.topology.as_str() {
        "auto" if config.embed.is_some() => Topology::for_embedding(shards),
        "auto" => Topology::for_machine(shards),
        other => other.parse().map_err(anyhow::Error::msg)?,
    };
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
    let feeder = Feeder::new(input, resume_after_lines)?;
    let pipeline_config = PipelineConfig {
        wait,
        topology: Some(topology),
        ring_size: config.ring_size,
        state_snapshots: StateSnapshotPolicy::every(config.snapshot_interval_events),
        ..PipelineConfig::default()
    };
    let (output, input_read, served) = match &config.embed {
        None => {
            let feeder = Rc::new(RefCell::new(feeder));
            let reader = feeder.clone();
            let events = std::iter::from_fn(move || reader.borrow_mut().next());
            let output = run_pipeline(&pipeline_config, journal, shards, events)?;
            let mut feeder = feeder.borrow_mut();
            let read = InputRead {
                lines_read: feeder.lines_read(),
                read_error: feeder.take_io_error().map(|e| e.to_string()),
                bad_lines: feeder.bad_lines,
            };
            (output, read, None)
        }
        Some(section) => serve(section, pipeline_config, journal, shards, feeder)?,
    };
    let InputRead {
        lines_read,
        read_error,
        bad_lines,
    } = input_read;
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
        report["what_ifs_answered"] = serde_json::json!(output.what_ifs);
        if let Some(served) = &served {
            report["embed"] = served.json();
        }
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
        if let Some(served) = &served {
            served.print(&mut out, output.what_ifs)?;
        }
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

/// What was read from the run's own input.
struct InputRead {
    lines_read: u64,
    read_error: Option<String>,
    bad_lines: u64,
}

/// The input thread's progress, read by the main thread when the run stops (atomics: no
/// lock per event).
#[derive(Default)]
struct InputProgress {
    lines_read: AtomicU64,
    bad_lines: AtomicU64,
    error: std::sync::Mutex<Option<String>>,
}

/// What the shared-memory clients did, for the report.
struct Served {
    name: String,
    epoch: u64,
    clients: Vec<keel_runtime::embed::wire::EngineCounters>,
}

impl Served {
    fn json(&self) -> serde_json::Value {
        let clients: Vec<serde_json::Value> = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != Default::default())
            .map(|(slot, c)| {
                serde_json::json!({
                    "slot": slot,
                    "records_accepted": c.records_accepted,
                    "records_rejected": c.records_rejected,
                    "events_journaled": c.events_journaled,
                    "ring_faults": c.ring_faults,
                    "what_ifs_answered": c.what_ifs_answered,
                })
            })
            .collect();
        serde_json::json!({ "name": self.name, "epoch": self.epoch, "clients": clients })
    }

    fn print(&self, out: &mut impl Write, what_ifs: u64) -> std::io::Result<()> {
        writeln!(
            out,
            "shared memory '{}': {what_ifs} what-ifs answered",
            self.name
        )?;
        for (slot, c) in self.clients.iter().enumerate() {
            if *c != Default::default() {
                writeln!(
                    out,
                    "  client slot {slot}: {} records accepted, {} refused, {} events journaled, {} ring faults, {} what-ifs",
                    c.records_accepted,
                    c.records_rejected,
                    c.events_journaled,
                    c.ring_faults,
                    c.what_ifs_answered
                )?;
            }
        }
        Ok(())
    }
}

/// Serves shared memory beside the input (read on its own thread) until SIGINT or
/// SIGTERM; the input ending does not stop the engine.
fn serve(
    section: &EmbedSection,
    mut pipeline_config: PipelineConfig,
    journal: JournalWriter,
    shards: Vec<ShardState>,
    mut feeder: Feeder<Box<dyn BufRead + Send>>,
) -> anyhow::Result<(PipelineOutput, InputRead, Option<Served>)> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let server = EmbedServer::start(&EmbedConfig {
        name: section.name.clone(),
        dir: section.dir.clone(),
        accounts_max: section.accounts_max,
        clients_max: section.clients_max,
    })?;
    let (sender, receiver) = crossbeam::channel::bounded(pipeline_config.ring_size);
    let progress = Arc::new(InputProgress::default());
    let reader_progress = progress.clone();
    // Not joined: a stop must not wait for a blocked read of stdin.
    std::thread::Builder::new()
        .name("keel-input".into())
        .spawn(move || {
            let note = |feeder: &Feeder<_>| {
                let progress = &reader_progress;
                progress
                    .lines_read
                    .store(feeder.lines_read(), Ordering::Release);
                progress
                    .bad_lines
                    .store(feeder.bad_lines, Ordering::Release);
            };
            while let Some(event) = feeder.next() {
                note(&feeder);
                if sender.send(event).is_err() {
                    return;
                }
            }
            note(&feeder);
            // Once, at the end of input: the only lock the input thread takes.
            *reader_progress
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = feeder.take_io_error().map(|e| e.to_string());
        })
        .context("starting the input thread")?;
    pipeline_config.embed = Some(server.clone());
    let source = LiveSource::new(Some(receiver), Some(server.poller()), stop);
    let output = run_pipeline_from(&pipeline_config, journal, shards, source)?;
    // Every shard has published its final snapshots: clients now see the engine stopped.
    server.stop();
    let served = Served {
        name: section.name.clone(),
        epoch: server.epoch(),
        clients: server.counters(),
    };
    let input_read = InputRead {
        lines_read: progress.lines_read.load(Ordering::Acquire),
        read_error: progress
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
        bad_lines: progress.bad_lines.load(Ordering::Acquire),
    };
    Ok((output, input_read, Some(served)))
}

/// The input: stdin, or a file (a directory is refused here, not read forever).
fn open_input(input: &str) -> anyhow::Result<Box<dyn BufRead + Send>> {
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
