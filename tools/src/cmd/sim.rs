//! `keel sim`: the deterministic simulator. Seeded adversarial streams (valid trading
//! mixed with every class of bad input) through the state machine, the pipeline with 1
//! and N shards, a full replay and crash-and-recover points; the first failure stops the
//! campaign with its seed, so `keel sim --seed S --seeds 1` reproduces it exactly.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use keel_engine::state::RejectionCounts;
use keel_feeds::adversarial::AdversarialStream;
use keel_feeds::rng::SplitMix64;
use keel_runtime::simulation::{SimConfig, simulate};
use serde_json::json;

/// Most events one seed may generate (memory: the stream is held to replay it).
const EVENTS_PER_SEED_MAX: usize = 10_000_000;

#[derive(Args)]
pub struct SimArgs {
    /// First seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seeds to run (seed, seed + 1, …).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Events per seed.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Shards of the N-shard runs and crash runs.
    #[arg(long, default_value_t = 3)]
    shards: u32,
    /// Crash-and-recover points per seed (at seeded random events).
    #[arg(long, default_value_t = 2)]
    crash_points: usize,
    /// Stop starting new seeds after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_seconds: u64,
    /// Scratch directory for the journals.
    #[arg(long, default_value = "keel-data/sim")]
    dir: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=EVENTS_PER_SEED_MAX).contains(&args.events),
        "--events must be 1 to {EVENTS_PER_SEED_MAX}"
    );
    anyhow::ensure!((1..=64).contains(&args.shards), "--shards must be 1 to 64");
    anyhow::ensure!(args.crash_points <= 64, "--crash-points must be at most 64");
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut totals = RejectionCounts::default();
    let (mut seeds_run, mut events_run, mut checks) = (0u64, 0u64, 0u64);
    let mut out = std::io::stdout().lock();
    for seed in args.seed..args.seed.saturating_add(args.seeds) {
        if args.max_seconds > 0 && started.elapsed().as_secs() >= args.max_seconds {
            break;
        }
        let events: Vec<_> = AdversarialStream::new(seed).take(args.events).collect();
        let mut rng = SplitMix64::new(seed);
        let crash_after = (0..args.crash_points)
            .map(|_| 1 + rng.below(args.events as u64) as usize)
            .collect();
        let config = SimConfig {
            shards: args.shards,
            crash_after,
            check_every_batches: 16,
            dir: args.dir.join(format!("seed-{seed}")),
        };
        let report = simulate(&events, &config);
        let _ = std::fs::remove_dir_all(&config.dir);
        let report = report.with_context(|| {
            format!(
                "seed {seed} failed (reproduce: keel sim --seed {seed} --events {})",
                args.events
            )
        })?;
        seeds_run += 1;
        events_run += report.events;
        checks += report.checks;
        totals.add(&report.rejections);
        if !args.json {
            writeln!(
                out,
                "seed {seed}: {} events: {} applied, {} rejected, {} parked; {} checks; hash {:032x}",
                report.events,
                report.applied,
                report.rejected,
                report.parked,
                report.checks,
                report.state_hash
            )?;
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_started;
    let rejections: serde_json::Map<String, serde_json::Value> = totals
        .nonzero()
        .map(|(reason, count)| (reason.name().to_string(), json!(count)))
        .collect();
    if args.json {
        let summary = json!({
            "seeds": seeds_run,
            "first_seed": args.seed,
            "events_per_seed": args.events,
            "events": events_run,
            "checks": checks,
            "failures": 0,
            "elapsed_s": elapsed_s,
            "cpu_s": cpu_s,
            "rejections": rejections,
        });
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "{seeds_run} seeds, {events_run} events, {checks} checks, 0 failures in {elapsed_s:.1} s wall, {cpu_s:.1} s CPU"
        )?;
        writeln!(out, "rejections by reason: {}", json!(rejections))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// CPU time of this process so far (user + system), in seconds; 0 where unknown.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the name), in
    // USER_HZ ticks, which Linux fixes at 100 for /proc.
    (ticks(11) + ticks(12)) / 100.0
}
