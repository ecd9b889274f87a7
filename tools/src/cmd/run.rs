//! `keel run`: the long-running engine for a colocated deployment. Input lines in any
//! format of docs/FEEDS.md arrive from a file or stdin until end of input, or from
//! Deribit's websocket until a signal; the journal in the configured directory is
//! recovered and continued. Skipped and refused lines are counted and reported, never
//! fatal; a failing input (an I/O error) ends the run with an error after the report,
//! and so does an input with no valid event at all.
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

use keel_feeds::feed::{FeedCounts, FeedDecoder, Format, decoder_for};
use keel_feeds::venue_map::VenueMap;
use keel_feeds::venue_view::VenueView;

use super::deribit_ws::{self, WsConfig, WsProgress};
use super::feeder::{Feeder, journaled_input_position};
use super::reconcile;
use super::report::{RunFacts, json_report, print_table};

/// Largest ring accepted (slots): 2^22 events, far above any useful queue.
const RING_SIZE_MAX: usize = 1 << 22;

#[derive(Args)]
pub struct RunArgs {
    /// Configuration file (see the committed keel.toml).
    #[arg(long)]
    config: PathBuf,
    /// The input: a file (gzip or plain), or `-` for stdin.
    #[arg(long, default_value = "-")]
    input: String,
    /// The input's format (docs/FEEDS.md): keel (JSON lines, docs/EVENTS.md; the default),
    /// deribit (websocket JSON-RPC messages, one a line), tardis-options-chain,
    /// tardis-derivative-ticker, deribit-chain (option-chain snapshots).
    #[arg(long)]
    format: Option<Format>,
    /// The account venue fills (Deribit `user.trades`) are booked to; defined on first use.
    #[arg(long, default_value = "main")]
    account: String,
    /// Live mode: read Deribit's websocket API at this URL (e.g.
    /// wss://www.deribit.com/ws/api/v2) instead of `--input`, with the channels of the
    /// configuration's `[deribit_ws]` section, until SIGINT or SIGTERM.
    #[arg(long, value_name = "URL")]
    deribit_ws: Option<String>,
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
    /// The live Deribit feed of `--deribit-ws`.
    deribit_ws: WsConfig,
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
            deribit_ws: WsConfig::default(),
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
    anyhow::ensure!(
        args.deribit_ws.is_none()
            || (args.input == "-" && matches!(args.format, None | Some(Format::Deribit))),
        "--deribit-ws reads the websocket: give neither --input nor a --format other than deribit"
    );
    let format = match (&args.deribit_ws, args.format) {
        (Some(_), _) => Format::Deribit,
        (None, format) => format.unwrap_or(Format::Keel),
    };
    anyhow::ensure!(
        args.deribit_ws.is_none() || !args.resume,
        "--resume skips lines of a file; a websocket has none to skip"
    );
    if let Some(url) = &args.deribit_ws {
        deribit_ws::check_url(url)?;
    }
    let input = match args.deribit_ws {
        Some(_) => None,
        None => Some(open_input(&args.input)?),
    };
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
    let map = venue_map_of(&shards);
    let decoder = decoder_for(format, map, &args.account);
    let input = match (input, &args.deribit_ws) {
        (Some(input), _) => {
            let header = decoder.has_header();
            Input::Lines(Feeder::new(input, decoder, header, resume_after_lines)?)
        }
        (None, Some(url)) => Input::Websocket {
            url: url.clone(),
            config: config.deribit_ws.clone(),
            decoder,
        },
        (None, None) => bail!("no input"),
    };
    let pipeline_config = PipelineConfig {
        wait,
        topology: Some(topology),
        ring_size: config.ring_size,
        state_snapshots: StateSnapshotPolicy::every(config.snapshot_interval_events),
        ..PipelineConfig::default()
    };
    let (output, input_read, served) = match (&config.embed, input) {
        (None, Input::Lines(feeder)) => {
            let feeder = Rc::new(RefCell::new(feeder));
            let reader = feeder.clone();
            let events = std::iter::from_fn(move || reader.borrow_mut().next());
            let output = run_pipeline(&pipeline_config, journal, shards, events)?;
            let mut feeder = feeder.borrow_mut();
            let read = InputRead {
                lines_read: feeder.lines_read(),
                read_error: feeder.take_io_error().map(|e| e.to_string()),
                bad_lines: feeder.lines_refused,
                feed: Some(FeedSummary::of(feeder.decoder())),
                websocket: None,
            };
            (output, read, None)
        }
        (embed, input) => live(embed.as_ref(), pipeline_config, journal, shards, input)?,
    };
    let InputRead {
        lines_read,
        read_error,
        bad_lines,
        ref feed,
        ..
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
        report["feed"] = feed_json(format, feed.as_ref());
        if let Some(venue) = feed.as_ref().and_then(|f| f.view.as_ref()) {
            report["venue"] = reconcile::venue_json(&output.shards, venue, &args.account);
        }
        if let Some(served) = &served {
            report["embed"] = served.json();
        }
        if let Some(ws) = &input_read.websocket {
            report["websocket"] = ws.json();
        }
        writeln!(out, "{report}")?;
    } else {
        print_table(&mut out, &output.shards, &facts)?;
        writeln!(
            out,
            "input lines rejected (not valid events): {}",
            bad_lines
        )?;
        print_feed(&mut out, format, feed.as_ref())?;
        if let Some(venue) = feed.as_ref().and_then(|f| f.view.as_ref()) {
            reconcile::print_venue(&mut out, &output.shards, venue, &args.account)?;
        }
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
        if let Some(ws) = &input_read.websocket {
            writeln!(out, "{}", ws.text())?;
        }
    }
    out.flush()?;
    if let Some(error) = read_error {
        // What was read is journaled and reported above; the input itself failed.
        match &args.deribit_ws {
            Some(url) => {
                bail!("the websocket client of {url} failed after {lines_read} messages: {error}")
            }
            None => bail!(
                "reading {} failed after line {lines_read}: {error}",
                args.input
            ),
        }
    }
    if output.events == 0 && bad_lines > 0 {
        let doc = if format == Format::Keel {
            "docs/EVENTS.md"
        } else {
            "docs/FEEDS.md"
        };
        bail!(
            "none of the {bad_lines} input lines gave an event in format {} ({doc})",
            format.name()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What was read from the run's own input.
struct InputRead {
    lines_read: u64,
    read_error: Option<String>,
    bad_lines: u64,
    /// The decoder's counts (`None`: the input was still open when the engine stopped).
    feed: Option<FeedSummary>,
    websocket: Option<WsFacts>,
}

/// The run's input: lines of a file or stdin, or a live websocket.
enum Input {
    Lines(Feeder<Box<dyn BufRead + Send>>),
    Websocket {
        url: String,
        config: WsConfig,
        decoder: Box<dyn FeedDecoder>,
    },
}

/// What the websocket client did.
struct WsFacts {
    connections: u64,
    messages: u64,
    refused: u64,
    heartbeats_answered: u64,
}

impl WsFacts {
    fn of(progress: &WsProgress) -> WsFacts {
        WsFacts {
            connections: progress.connections.load(Ordering::Acquire),
            messages: progress.messages.load(Ordering::Acquire),
            refused: progress.refused.load(Ordering::Acquire),
            heartbeats_answered: progress.heartbeats_answered.load(Ordering::Acquire),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "connections": self.connections,
            "reconnects": self.connections.saturating_sub(1),
            "messages": self.messages,
            "refused": self.refused,
            "heartbeats_answered": self.heartbeats_answered,
        })
    }

    fn text(&self) -> String {
        format!(
            "websocket: {} connections ({} reconnects), {} messages, {} refused, {} heartbeats answered",
            self.connections,
            self.connections.saturating_sub(1),
            self.messages,
            self.refused,
            self.heartbeats_answered
        )
    }
}

/// What the decoder saw, taken from it once the input has ended.
pub struct FeedSummary {
    pub counts: FeedCounts,
    pub view: Option<VenueView>,
}

impl FeedSummary {
    pub fn of(decoder: &dyn FeedDecoder) -> FeedSummary {
        FeedSummary {
            counts: decoder.counts().clone(),
            view: decoder.venue_view().cloned(),
        }
    }
}

/// The map of venue names already journaled (a continued run's), from the state.
pub fn venue_map_of(shards: &[ShardState]) -> VenueMap {
    let definitions = shards[0].instruments.iter().map(|(_, i)| &i.definition);
    let accounts = shards
        .iter()
        .flat_map(|s| s.accounts.iter().map(|(id, a)| (*id, a.name.as_text())));
    VenueMap::from_definitions(definitions, accounts)
}

/// The feed's counts as JSON: lines, events, skipped and refused by reason.
pub fn feed_json(format: Format, feed: Option<&FeedSummary>) -> serde_json::Value {
    let Some(feed) = feed else {
        return serde_json::json!({ "format": format.name(), "input_open": true });
    };
    let skipped: serde_json::Map<String, serde_json::Value> = feed
        .counts
        .skipped_by_reason()
        .map(|(reason, n)| (reason.to_string(), n.into()))
        .collect();
    let refused: serde_json::Map<String, serde_json::Value> = feed
        .counts
        .refused_by_reason()
        .map(|(reason, n)| (reason.to_string(), n.into()))
        .collect();
    serde_json::json!({
        "format": format.name(),
        "lines": feed.counts.lines,
        "events": feed.counts.events,
        "skipped": skipped,
        "refused": refused,
    })
}

fn print_feed(
    out: &mut impl Write,
    format: Format,
    feed: Option<&FeedSummary>,
) -> std::io::Result<()> {
    let Some(feed) = feed else {
        return writeln!(out, "feed ({}): input still open, no counts", format.name());
    };
    let c = &feed.counts;
    writeln!(
        out,
        "feed ({}): {} lines decoded into {} events; {} items skipped, {} refused",
        format.name(),
        c.lines,
        c.events,
        c.skipped_total(),
        c.refused_total()
    )?;
    for (reason, n) in c.skipped_by_reason() {
        writeln!(out, "  skipped {reason}: {n}")?;
    }
    for (reason, n) in c.refused_by_reason() {
        writeln!(out, "  refused {reason}: {n}")?;
    }
    Ok(())
}

/// The input thread's progress, read by the main thread when the run stops (atomics: no
/// lock per event).
#[derive(Default)]
struct InputProgress {
    lines_read: AtomicU64,
    bad_lines: AtomicU64,
    /// Set once, when the input ends: its error and the decoder's counts.
    end: std::sync::Mutex<Option<(Option<String>, Option<FeedSummary>)>>,
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

/// A live engine: the input read on its own thread (lines, or the websocket), shared
/// memory served when configured, until SIGINT or SIGTERM (or, without shared memory, the
/// end of a line input).
fn live(
    embed: Option<&EmbedSection>,
    mut pipeline_config: PipelineConfig,
    journal: JournalWriter,
    shards: Vec<ShardState>,
    input: Input,
) -> anyhow::Result<(PipelineOutput, InputRead, Option<Served>)> {
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, signalled.clone())
            .context("installing signal handlers")?;
    }
    let server = match embed {
        Some(section) => Some(EmbedServer::start(&EmbedConfig {
            name: section.name.clone(),
            dir: section.dir.clone(),
            accounts_max: section.accounts_max,
            clients_max: section.clients_max,
        })?),
        None => None,
    };
    let (sender, receiver) = crossbeam::channel::bounded(pipeline_config.ring_size);
    let progress = Arc::new(InputProgress::default());
    let ws_progress = Arc::new(WsProgress::default());
    let is_websocket = matches!(input, Input::Websocket { .. });
    // The engine stops on a signal; with a websocket, once the client has handed over its
    // last message (it stops on the signal itself), so nothing received is left behind.
    let (engine_stop, input_thread) = match input {
        Input::Lines(feeder) => {
            let thread = spawn_line_reader(feeder, sender, progress.clone())?;
            (signalled.clone(), thread)
        }
        Input::Websocket {
            url,
            config,
            decoder,
        } => {
            let done = Arc::new(AtomicBool::new(false));
            let (done_set, end, ws) = (done.clone(), progress.clone(), ws_progress.clone());
            let thread = std::thread::Builder::new()
                .name("keel-websocket".into())
                .spawn(move || {
                    let result =
                        deribit_ws::run_client(&url, &config, decoder, sender, signalled, ws);
                    let ended = match result {
                        Ok(decoder) => (None, Some(FeedSummary::of(decoder.as_ref()))),
                        Err(error) => (Some(format!("{error:#}")), None),
                    };
                    *end.end.lock().unwrap_or_else(|p| p.into_inner()) = Some(ended);
                    done_set.store(true, Ordering::Release);
                })
                .context("starting the websocket thread")?;
            (done, thread)
        }
    };
    pipeline_config.embed = server.clone();
    let clients = server.as_ref().map(|s| s.poller());
    let source = LiveSource::new(Some(receiver), clients, engine_stop);
    let output = run_pipeline_from(&pipeline_config, journal, shards, source)?;
    let served = server.map(|server| {
        // Every shard has published its final snapshots: clients now see it stopped.
        server.stop();
        Served {
            name: embed.map(|e| e.name.clone()).unwrap_or_default(),
            epoch: server.epoch(),
            clients: server.counters(),
        }
    });
    if is_websocket {
        // It has finished (the engine stopped after it): its summary is in.
        let _ = input_thread.join();
    }
    // A line reader may still be blocked on stdin: not joined.
    let end = progress
        .end
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let (read_error, feed) = end.unwrap_or_default();
    let websocket = is_websocket.then(|| WsFacts::of(&ws_progress));
    let lines_read = match &websocket {
        Some(ws) => ws.messages,
        None => progress.lines_read.load(Ordering::Acquire),
    };
    let input_read = InputRead {
        lines_read,
        read_error,
        bad_lines: progress.bad_lines.load(Ordering::Acquire),
        feed,
        websocket,
    };
    Ok((output, input_read, served))
}

/// Reads lines on their own thread, handing events over the channel; records its
/// progress in atomics and, once at the end of input, its error and counts.
fn spawn_line_reader(
    mut feeder: Feeder<Box<dyn BufRead + Send>>,
    sender: crossbeam::channel::Sender<keel_engine::events::Event>,
    progress: Arc<InputProgress>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("keel-input".into())
        .spawn(move || {
            let note = |feeder: &Feeder<_>| {
                progress
                    .lines_read
                    .store(feeder.lines_read(), Ordering::Release);
                progress
                    .bad_lines
                    .store(feeder.lines_refused, Ordering::Release);
            };
            while let Some(event) = feeder.next() {
                note(&feeder);
                if sender.send(event).is_err() {
                    return;
                }
            }
            note(&feeder);
            // Once, at the end of input: the only lock the input thread takes.
            let error = feeder.take_io_error().map(|e| e.to_string());
            let summary = FeedSummary::of(feeder.decoder());
            *progress.end.lock().unwrap_or_else(|p| p.into_inner()) = Some((error, Some(summary)));
        })
        .context("starting the input thread")
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
    let mut reader = BufReader::new(file);
    // gzip by its magic bytes, whatever the file's name.
    let gzip = reader
        .fill_buf()
        .with_context(|| format!("reading {input}"))?
        .starts_with(&[0x1F, 0x8B]);
    if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        return Ok(Box::new(BufReader::new(decoder)));
    }
    Ok(Box::new(reader))
}
