//! `keel import deribit-chain FILE... --journal DIR`: Deribit option-chain snapshots
//! (CSV, docs/FEEDS.md) into a journal, in time order, so a real market replays with
//! `keel replay DIR` and continues with `keel run` (data_dir = DIR). Instruments are
//! defined by name, BTC and ETH get Deribit's margin parameters, every row becomes an
//! index (when it moved) and a ticker. Nothing is written when a file cannot be read or
//! the snapshots are further apart than the engine's clock admits in one step.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use keel_engine::state::ShardState;
use keel_engine::state::validation::CLOCK_LEAD_MAX_NS;
use keel_feeds::deribit::chain_snapshot::parse_utc_ns;
use keel_feeds::feed::{Format, decoder_for};
use keel_feeds::venue_map::VenueMap;
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::{PipelineConfig, run_pipeline};

use super::feeder::Feeder;
use super::report::{RunFacts, json_report, print_table};
use super::run::{FeedSummary, feed_json};

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// Deribit option-chain snapshots (CSV with Deribit's Greeks).
    DeribitChain,
}

#[derive(Args)]
pub struct ImportArgs {
    /// What the files are.
    kind: ImportKind,
    /// The snapshot files, in any order (they are sorted by time).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The journal directory to create (it must not hold a journal yet).
    #[arg(long)]
    journal: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// First and last row time of a snapshot file (its first column), ns.
fn time_span(path: &Path) -> anyhow::Result<(u64, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut span: Option<(u64, u64)> = None;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let first = line.split(',').next().unwrap_or_default();
        if let Some(ns) = parse_utc_ns(first) {
            let (low, high) = span.unwrap_or((ns, ns));
            span = Some((low.min(ns), high.max(ns)));
        }
    }
    span.with_context(|| format!("{} has no row with a UTC timestamp", path.display()))
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportKind::DeribitChain = args.kind;
    let mut files = Vec::new();
    for path in &args.files {
        anyhow::ensure!(
            !path.is_dir(),
            "{} is a directory, not a snapshot file",
            path.display()
        );
        files.push((time_span(path)?, path.clone()));
    }
    files.sort_by_key(|(span, _)| *span);
    for pair in files.windows(2) {
        let ((_, end), (start, _)) = (pair[0].0, pair[1].0);
        if start.saturating_sub(end) > CLOCK_LEAD_MAX_NS {
            bail!(
                "{} starts {:.1} days after {} ends; the engine's clock admits at most {} days in one step: import them into separate journals",
                pair[1].1.display(),
                (start - end) as f64 / 86_400e9,
                pair[0].1.display(),
                CLOCK_LEAD_MAX_NS / 86_400_000_000_000
            );
        }
    }
    let dir = &args.journal;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hint = "give an empty directory to --journal";
    super::journal_identity::claim(dir, &serde_json::json!({ "writer": "run" }), hint)?;
    let (journal, recovery) = JournalWriter::open(
        dir,
        JournalConfig {
            durability: Durability::None,
            ..JournalConfig::default()
        },
    )?;
    anyhow::ensure!(
        recovery.last_seq == 0,
        "{} already holds a journal: {hint}",
        dir.display()
    );
    let mut input: Box<dyn Read + Send> = Box::new(std::io::empty());
    for (_, path) in &files {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        // Each file's header starts its rows; a missing final newline must not join two.
        input = Box::new(input.chain(file).chain(&b"\n"[..]));
    }
    let input: Box<dyn BufRead + Send> = Box::new(BufReader::new(input));
    let decoder = decoder_for(Format::DeribitChain, VenueMap::new(), "main");
    let mut feeder = Feeder::new(input, decoder, true, 0)?;
    let shards = vec![ShardState::new(0, 1)];
    let output = run_pipeline(
        &PipelineConfig::default(),
        journal,
        shards,
        std::iter::from_fn(|| feeder.next()),
    )?;
    if let Some(error) = feeder.take_io_error() {
        bail!("reading the snapshots failed: {error}");
    }
    let feed = FeedSummary::of(feeder.decoder());
    let facts = RunFacts {
        events: output.events,
        last_seq: output.last_seq,
        elapsed_s: output.elapsed_s,
        latency_ns: None,
        only_account: None,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut report = json_report(&output.shards, &facts);
        report["feed"] = feed_json(Format::DeribitChain, Some(&feed));
        report["journal"] = serde_json::json!(dir);
        writeln!(out, "{report}")?;
    } else {
        print_table(&mut out, &output.shards, &facts)?;
        let c = &feed.counts;
        writeln!(
            out,
            "imported {} snapshot files: {} rows into {} events ({} refused); replay with: keel replay {}",
            files.len(),
            c.lines,
            c.events,
            c.refused_total(),
            dir.display()
        )?;
        for (reason, n) in c.refused_by_reason() {
            writeln!(out, "  refused {reason}: {n}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
