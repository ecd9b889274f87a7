//! `keel bench embed`: the what-if round trip from a client *process* over shared memory
//! (through the live engine: producer → ring → owning shard), at a fixed request rate
//! (latency from each request's scheduled time: no coordinated omission) and flat out,
//! and the snapshot read. Baseline, same run, same client process: the same request over
//! a Unix-domain socket to a server thread answering from an equal state.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hdrhistogram::Histogram;
use keel_engine::events::{Event, InstrumentKind};
use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{JournalConfig, JournalWriter};
use keel_runtime::embed::codec::{AnswerScratch, answer_in_place};
use keel_runtime::embed::wire::*;
use keel_runtime::embed::{Client, EmbedConfig, EmbedServer, Leg};
use keel_runtime::pipeline::Topology;
use keel_runtime::source::LiveSource;
use keel_runtime::{PipelineConfig, WaitStrategyKind, run_pipeline_from};
use serde_json::Value;

use super::Figures;

const ENGINE_NAME_PREFIX: &str = "keel-bench-embed";
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct EmbedArgs {
    /// Requests measured per series (after as many for warm-up).
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Fixed request rate of the paced series, requests per second.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Synthetic market events the engine holds before the clients ask.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// How the engine's consumer and idle producer wait: busy-spin, yield or backoff.
    #[arg(long, default_value = "yield")]
    wait: WaitStrategyKind,
    /// inline, fused or staged (default: what `keel run` picks when serving clients).
    #[arg(long)]
    topology: Option<Topology>,
    /// Pin the engine thread to the last core and the client process to the first.
    #[arg(long)]
    pin: bool,
}

/// The client process's arguments (hidden subcommand `keel bench embed-client`).
#[derive(Args)]
pub struct EmbedClientArgs {
    #[arg(long)]
    shm_dir: PathBuf,
    #[arg(long)]
    engine: String,
    #[arg(long)]
    socket: PathBuf,
    #[arg(long)]
    account: u32,
    #[arg(long)]
    instrument: u32,
    #[arg(long)]
    requests: u64,
    #[arg(long)]
    rate: f64,
    /// Pin this process to the first core.
    #[arg(long)]
    pin: bool,
}

/// Shared memory and journal on tmpfs when the machine has one (no disk in the loop).
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.context("creating a scratch directory")
}

/// Distinct options nobody holds that the first-answer figure cycles through: more than
/// a what-if keeps valued (4), so every answer values its option afresh.
const UNHELD_CYCLE: usize = 8;

/// The account asked about, an option it holds (the request measured) and marked
/// options nobody in the shard holds (whose margin vector an answer must price first).
fn target(state: &ShardState) -> anyhow::Result<(u32, u32, Vec<u32>)> {
    let (account_id, account) = state.accounts.iter().next().context("no account")?;
    let marked_option = |i: &&keel_engine::state::instrument_state::InstrumentState| {
        i.definition.kind == InstrumentKind::Option
            && i.mark.is_some_and(|m| m.mark_price > 1e-3)
            && !i.settled
    };
    let held = state
        .instruments
        .values()
        .filter(marked_option)
        .find(|i| account.positions.get(&i.definition.id).is_some())
        .context("the account holds no marked option")?;
    let unheld: Vec<u32> = state
        .instruments
        .values()
        .filter(marked_option)
        .filter(|i| !i.margin.valued)
        .map(|i| i.definition.id.0)
        .take(UNHELD_CYCLE)
        .collect();
    anyhow::ensure!(
        unheld.len() == UNHELD_CYCLE,
        "fewer than {UNHELD_CYCLE} marked options nobody holds"
    );
    Ok((account_id.0, held.definition.id.0, unheld))
}

pub fn run(args: &EmbedArgs) -> anyhow::Result<Figures> {
    let scratch = scratch_dir()?;
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig {
        bad_event_rate: 0.0,
        ..SyntheticConfig::default()
    })
    .take(args.events)
    .collect();
    // The baseline's state: the same events through the same driver.
    let mut state = ShardState::new(0, 1);
    for (offset, event) in events.iter().enumerate() {
        state.step(offset as u64 + 1, event);
    }
    state.finish_batch();
    let (account, instrument, unheld) = target(&state)?;
    let answer_compute_ns = compute_cost_ns(&state, account, &[instrument]);
    // The same unheld option again and again (its valuation kept after the first), and
    // distinct ones in turn (each valued afresh).
    let unheld_answer_compute_ns = compute_cost_ns(&state, account, &unheld[..1]);
    let unheld_first_answer_compute_ns = compute_cost_ns(&state, account, &unheld);

    let name = format!("{ENGINE_NAME_PREFIX}-{}", std::process::id());
    let server = EmbedServer::start(&EmbedConfig {
        name: name.clone(),
        dir: scratch.path().to_path_buf(),
        accounts_max: 64,
        clients_max: CLIENTS_MAX,
    })?;
    let (journal, _) =
        JournalWriter::open(&scratch.path().join("journal"), JournalConfig::default())?;
    let (sender, receiver) = crossbeam::channel::unbounded();
    for event in &events {
        sender.send(*event).context("queueing the input")?;
    }
    drop(sender);
    let stop = Arc::new(AtomicBool::new(false));
    let topology = args.topology.unwrap_or_else(|| Topology::for_embedding(1));
    let config = PipelineConfig {
        wait: args.wait,
        topology: Some(topology),
        pin: args.pin,
        state_snapshots: None,
        embed: Some(server.clone()),
        ..PipelineConfig::default()
    };
    let source = LiveSource::new(Some(receiver), Some(server.poller()), stop.clone());
    let engine = std::thread::spawn(move || {
        run_pipeline_from(&config, journal, vec![ShardState::new(0, 1)], source)
    });
    {
        let probe = Client::attach(scratch.path(), &name)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while probe.published_seq() < events.len() as u64 {
            anyhow::ensure!(Instant::now() < deadline, "the engine never took its input");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    // The baseline server: one connection, requests answered from an equal state.
    let socket = scratch.path().join("baseline.sock");
    let listener = UnixListener::bind(&socket).context("binding the baseline socket")?;
    let baseline = std::thread::spawn(move || -> anyhow::Result<()> {
        let (mut stream, _) = listener.accept()?;
        // Answered as the engine answers: into a reused request and answer.
        let mut scratch = AnswerScratch::default();
        let mut bytes = Vec::new();
        loop {
            match receive_words(&mut stream, words_of_mut(&mut scratch.request), &mut bytes) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            answer_in_place(&state, &mut scratch);
            scratch.response.response_seq = scratch.request.request_seq;
            send_words(&mut stream, words_of(&scratch.response), &mut bytes)?;
        }
    });

    let exe = std::env::current_exe().context("locating keel")?;
    let output = Command::new(exe)
        .args(["bench", "embed-client", "--engine", &name, "--shm-dir"])
        .arg(scratch.path())
        .arg("--socket")
        .arg(&socket)
        .args([
            "--account",
            &account.to_string(),
            "--instrument",
            &instrument.to_string(),
        ])
        .args([
            "--requests",
            &args.requests.to_string(),
            "--rate",
            &args.rate.to_string(),
        ])
        .args(args.pin.then_some("--pin"))
        .stderr(Stdio::inherit())
        .output()
        .context("starting the client process")?;
    stop.store(true, Ordering::Release);
    let pipeline = engine
        .join()
        .map_err(|_| anyhow::anyhow!("the engine thread panicked"))??;
    baseline
        .join()
        .map_err(|_| anyhow::anyhow!("the baseline thread panicked"))??;
    if !output.status.success() {
        bail!("the client process failed");
    }
    let measured: Value = serde_json::from_slice(&output.stdout).context("client output")?;
    let mut figures = Figures::default();
    figures.set("book_events", args.events as u64);
    figures.set("wait", format!("{:?}", args.wait));
    figures.set("topology", format!("{topology:?}"));
    figures.set("pinned", args.pin);
    figures.set("requests", args.requests);
    figures.number("rate_requests_per_s", args.rate);
    for (name, value) in measured.as_object().context("client output")? {
        figures.set(name, value.clone());
    }
    let ratio = |shm: &str, socket: &str| -> Option<f64> {
        Some(measured[socket].as_f64()? / measured[shm].as_f64()?)
    };
    if let Some(ratio) = ratio("p50_ns", "baseline_p50_ns") {
        figures.number("baseline_over_shm_p50", ratio);
    }
    if let Some(ratio) = ratio("p99_ns", "baseline_p99_ns") {
        figures.number("baseline_over_shm_p99", ratio);
    }
    figures.number("answer_compute_ns", answer_compute_ns);
    figures.number(
        "unheld_instrument_answer_compute_ns",
        unheld_answer_compute_ns,
    );
    figures.number(
        "unheld_instrument_first_answer_compute_ns",
        unheld_first_answer_compute_ns,
    );
    figures.set("what_ifs_answered_by_engine", pipeline.what_ifs);
    if let Some(round_trip_ns) = core_to_core_round_trip_ns() {
        figures.number("core_to_core_round_trip_ns", round_trip_ns);
    }
    Ok(figures)
}

/// The machine's own floor, measured in the same run: the median round trip of one
/// cache line between two threads on the first and the last core (each spins on the
/// other's write). On a VM it moves with where the host places the two vCPUs (90–160 ns
/// in one state, 470–750 ns in the other on the benchmark VM), and every transfer the
/// shared-memory round trip makes costs in proportion. `None` with fewer than two cores
/// (two spinning threads on one core would take a scheduler tick per round trip).
/// Each side spins, then yields once a round trip has taken far longer than a
/// transfer (its partner descheduled on a busy machine, e.g. under `cargo test`), so
/// the probe never holds a core another thread needs.
fn core_to_core_round_trip_ns() -> Option<f64> {
    const ROUND_TRIPS: u64 = 100_000;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (&first, &last) = (cores.first()?, cores.last()?);
    if first.id == last.id {
        return None;
    }
    let ball = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let echo = {
        let ball = ball.clone();
        std::thread::spawn(move || {
            core_affinity::set_for_current(last);
            // Odd values are serves, even values returns; the last return ends it.
            for serve in (1..2 * ROUND_TRIPS).step_by(2) {
                wait_for(&ball, serve);
                ball.store(serve + 1, Ordering::Release);
            }
        })
    };
    core_affinity::set_for_current(first);
    let mut round_trips_ns = Vec::with_capacity(ROUND_TRIPS as usize);
    for serve in (1..2 * ROUND_TRIPS).step_by(2) {
        let started = Instant::now();
        ball.store(serve, Ordering::Release);
        wait_for(&ball, serve + 1);
        round_trips_ns.push(started.elapsed().as_nanos() as f64);
    }
    let _ = echo.join();
    round_trips_ns.sort_by(f64::total_cmp);
    Some(round_trips_ns[round_trips_ns.len() / 2])
}

/// Waits until `ball` holds `value`: spins for about as long as a few hundred transfers
/// take, then yields between polls.
fn wait_for(ball: &std::sync::atomic::AtomicU64, value: u64) {
    const SPINS_BEFORE_YIELDING: u32 = 10_000;
    let mut spins = 0;
    while ball.load(Ordering::Acquire) != value {
        if spins < SPINS_BEFORE_YIELDING {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// The request the clients send: buy one contract of `instrument` at its mark.
fn request_leg(instrument: u32) -> Leg {
    Leg {
        instrument: u64::from(instrument),
        side: SIDE_BUY,
        quantity_mantissa: 1,
        quantity_scale: 0,
        ..Leg::default()
    }
}

/// Mean cost of answering in process (no transport), ns: one-leg what-ifs on
/// `instruments` in turn, one reused answer.
fn compute_cost_ns(state: &ShardState, account: u32, instruments: &[u32]) -> f64 {
    const CALLS: u32 = 20_000;
    let requests: Vec<WhatIfRequest> = instruments
        .iter()
        .map(|&instrument| {
            let mut request = WhatIfRequest {
                account: u64::from(account),
                leg_count: 1,
                ..WhatIfRequest::default()
            };
            request.legs[0] = request_leg(instrument);
            request
        })
        .collect();
    let mut scratch = AnswerScratch::default();
    let started = Instant::now();
    // As the engine answers: the request copied into its reused buffer, answered in place.
    for request in requests.iter().cycle().take(CALLS as usize) {
        scratch.request = *std::hint::black_box(request);
        answer_in_place(state, &mut scratch);
        std::hint::black_box(&scratch.response);
    }
    started.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

/// Writes `words` to the socket through `bytes` (reused: no allocation once warm).
fn send_words(stream: &mut UnixStream, words: &[u64], bytes: &mut Vec<u8>) -> std::io::Result<()> {
    bytes.clear();
    bytes.extend(words.iter().flat_map(|w| w.to_ne_bytes()));
    stream.write_all(bytes)
}

/// Reads exactly `words` from the socket through `bytes`.
fn receive_words(
    stream: &mut UnixStream,
    words: &mut [u64],
    bytes: &mut Vec<u8>,
) -> std::io::Result<()> {
    bytes.resize(words.len() * 8, 0);
    stream.read_exact(bytes)?;
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut array = [0u8; 8];
        array.copy_from_slice(chunk);
        *word = u64::from_ne_bytes(array);
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

/// One series: `requests` round trips, paced at `rate` or flat out; latency from each
/// request's scheduled time (paced) or its send (flat out).
fn series(
    clock: &quanta::Clock,
    requests: u64,
    rate: Option<f64>,
    mut round_trip: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Histogram<u64>> {
    let mut latency = histogram();
    let interval_ns = rate.map(|r| 1e9 / r);
    let start = clock.raw();
    for index in 0..requests {
        let due = match interval_ns {
            Some(interval) => {
                let due = (index as f64 * interval) as u64;
                while clock.delta_as_nanos(start, clock.raw()) < due {
                    std::hint::spin_loop();
                }
                due
            }
            None => clock.delta_as_nanos(start, clock.raw()),
        };
        round_trip()?;
        let done = clock.delta_as_nanos(start, clock.raw());
        latency.saturating_record(done.saturating_sub(due).max(1));
    }
    Ok(latency)
}

/// The client process: measures shared memory and the socket baseline, prints JSON.
pub fn run_client(args: &EmbedClientArgs) -> anyhow::Result<()> {
    if args.pin {
        if let Some(first) = core_affinity::get_core_ids().and_then(|c| c.first().copied()) {
            core_affinity::set_for_current(first);
        }
    }
    let clock = quanta::Clock::new();
    let mut client = Client::attach(&args.shm_dir, &args.engine)?;
    let leg = request_leg(args.instrument);
    let account = u64::from(args.account);
    let mut ask_shm = || -> anyhow::Result<()> {
        let answer = client.what_if_in_place(account, &[leg], ANSWER_TIMEOUT)?;
        anyhow::ensure!(
            answer.status == STATUS_OK,
            "what-if refused: {}",
            answer.status
        );
        Ok(())
    };
    series(&clock, args.requests, None, &mut ask_shm)?; // warm-up
    // The machine's own floor: the same paced loop with no request at all. Its tail is
    // what the client process loses to preemption, whatever the transport.
    let floor = series(&clock, args.requests, Some(args.rate), || Ok(()))?;
    let shm_paced = series(&clock, args.requests, Some(args.rate), &mut ask_shm)?;
    let shm_flat = series(&clock, args.requests, None, &mut ask_shm)?;

    let mut stream = UnixStream::connect(&args.socket).context("connecting to the baseline")?;
    let mut request = WhatIfRequest {
        account,
        leg_count: 1,
        ..WhatIfRequest::default()
    };
    request.legs[0] = leg;
    let mut response = WhatIfResponse::default();
    let mut bytes = Vec::new();
    let mut ask_socket = || -> anyhow::Result<()> {
        request.request_seq += 1;
        send_words(&mut stream, words_of(&request), &mut bytes)?;
        receive_words(&mut stream, words_of_mut(&mut response), &mut bytes)?;
        anyhow::ensure!(
            response.status == STATUS_OK && response.response_seq == request.request_seq
        );
        Ok(())
    };
    series(&clock, args.requests, None, &mut ask_socket)?; // warm-up
    let socket_paced = series(&clock, args.requests, Some(args.rate), &mut ask_socket)?;
    let socket_flat = series(&clock, args.requests, None, &mut ask_socket)?;
    drop(stream);

    const READS: u64 = 1_000_000;
    let started = clock.raw();
    let mut seen = 0u64;
    for _ in 0..READS {
        seen = seen.wrapping_add(client.snapshot(args.account).map_or(0, |s| s.seq));
    }
    let snapshot_read_ns = clock.delta_as_nanos(started, clock.raw()) as f64 / READS as f64;
    anyhow::ensure!(seen > 0, "no snapshot of the account");

    let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    let figures = serde_json::json!({
        "p50_ns": q(&shm_paced, 0.5),
        "p99_ns": q(&shm_paced, 0.99),
        "p999_ns": q(&shm_paced, 0.999),
        "max_ns": shm_paced.max(),
        "flat_out_p50_ns": q(&shm_flat, 0.5),
        "flat_out_p99_ns": q(&shm_flat, 0.99),
        "flat_out_p999_ns": q(&shm_flat, 0.999),
        "flat_out_requests_per_s": 1e9 / shm_flat.mean(),
        "baseline_p50_ns": q(&socket_paced, 0.5),
        "baseline_p99_ns": q(&socket_paced, 0.99),
        "baseline_p999_ns": q(&socket_paced, 0.999),
        "baseline_flat_out_p50_ns": q(&socket_flat, 0.5),
        "baseline_flat_out_p99_ns": q(&socket_flat, 0.99),
        "snapshot_read_ns": (snapshot_read_ns * 1000.0).round() / 1000.0,
        "no_request_floor_p99_ns": q(&floor, 0.99),
        "no_request_floor_p999_ns": q(&floor, 0.999),
        "no_request_floor_max_ns": floor.max(),
    });
    println!("{figures}");
    Ok(())
}
