//! `keel bench pipeline`: publish → applied latency at a fixed offered rate, measured from
//! each event's scheduled time (no coordinated omission), then the unpaced throughput.
//! Baseline, same run: the same work over bounded crossbeam channels (producer → journal
//! thread → shard thread). Both must reach the same state hash.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use keel_benches::channel_pipeline::{ChannelRun, run_channel_pipeline};
use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_engine::state::hash::combined_hash;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{JournalConfig, JournalWriter};
use keel_runtime::pipeline::Topology;
use keel_runtime::{PipelineConfig, PipelineOutput, WaitStrategyKind, run_pipeline};

use super::Figures;

#[derive(Args)]
pub struct PipelineArgs {
    /// Offered rate, events per second.
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Seconds at that rate, measured.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Seconds at that rate before the measured window (state built, caches and the
    /// journal's spare segment ready); journaled and applied, latency not recorded.
    #[arg(long, default_value_t = 2.0)]
    warm_up_seconds: f64,
    /// Where the benchmark journals go (wiped first).
    #[arg(long, default_value = "keel-data/bench")]
    data_dir: PathBuf,
    /// How the consumer waits: busy-spin (one spinning consumer), yield or backoff.
    #[arg(long, default_value = "busy-spin")]
    wait: WaitStrategyKind,
    /// fused or staged (default: what the machine's core count suits).
    #[arg(long)]
    topology: Option<Topology>,
}

fn fresh_journal(dir: &Path) -> anyhow::Result<JournalWriter> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(JournalWriter::open(dir, JournalConfig::default())?.0)
}

fn both(
    args: &PipelineArgs,
    events: &[Event],
    offered: Option<f64>,
    warm_up_events: u64,
) -> anyhow::Result<(PipelineOutput, ChannelRun)> {
    let config = PipelineConfig {
        wait: args.wait,
        offered_rate_eps: offered,
        latency_warm_up_events: warm_up_events,
        // The channel baseline takes no snapshots either: like for like.
        state_snapshots: None,
        topology: args.topology,
        ..PipelineConfig::default()
    };
    let keel = run_pipeline(
        &config,
        fresh_journal(&args.data_dir.join("ring"))?,
        vec![ShardState::new(0, 1)],
        events.iter().copied(),
    )?;
    let baseline = run_channel_pipeline(
        fresh_journal(&args.data_dir.join("channel"))?,
        ShardState::new(0, 1),
        events,
        offered,
        config.ring_size,
        warm_up_events,
    );
    anyhow::ensure!(
        combined_hash(&keel.shards) == combined_hash([&baseline.state]),
        "the ring and the channel pipelines must reach the same state"
    );
    Ok((keel, baseline))
}

pub fn run(args: &PipelineArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(
        args.rate > 0.0
            && args.seconds > 0.0
            && args.warm_up_seconds >= 0.0
            && (args.rate * args.seconds) >= 1.0,
        "--rate and --seconds must be positive, --warm-up-seconds not negative"
    );
    let count = (args.rate * args.seconds) as usize;
    let warm_up = (args.rate * args.warm_up_seconds) as usize;
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig::default())
        .take(warm_up + count)
        .collect();
    let (keel, baseline) = both(args, &events, Some(args.rate), warm_up as u64)?;
    let (fast, fast_baseline) = both(args, &events, None, 0)?;
    let total = events.len() as f64;
    let topology = args.topology.unwrap_or_else(|| Topology::for_machine(1));
    let q = |run: &PipelineOutput, quantile: f64| run.latency_ns.value_at_quantile(quantile);
    let b = |run: &ChannelRun, quantile: f64| run.latency_ns.value_at_quantile(quantile);
    let mut figures = Figures::default();
    figures.set("bench", "pipeline");
    figures.set("topology", format!("{topology:?}").to_lowercase());
    figures.set("wait", format!("{:?}", args.wait).to_lowercase());
    figures.set("events", count as u64);
    figures.number("offered_eps", args.rate);
    figures.set("warm_up_events", warm_up as u64);
    figures.number("achieved_eps", total / keel.elapsed_s);
    figures.set("p50_ns", q(&keel, 0.5));
    figures.set("p99_ns", q(&keel, 0.99));
    figures.set("p999_ns", q(&keel, 0.999));
    figures.set("p9999_ns", q(&keel, 0.9999));
    figures.set("max_ns", keel.latency_ns.max());
    figures.set("baseline_p50_ns", b(&baseline, 0.5));
    figures.set("baseline_p99_ns", b(&baseline, 0.99));
    figures.set("baseline_p999_ns", b(&baseline, 0.999));
    figures.set("baseline_max_ns", baseline.latency_ns.max());
    figures.number(
        "ratio_p50",
        b(&baseline, 0.5) as f64 / q(&keel, 0.5).max(1) as f64,
    );
    figures.number(
        "ratio_p99",
        b(&baseline, 0.99) as f64 / q(&keel, 0.99).max(1) as f64,
    );
    figures.set("ring_full_waits", keel.ring_full_waits);
    figures.number("max_throughput_eps", total / fast.elapsed_s);
    figures.number(
        "baseline_max_throughput_eps",
        total / fast_baseline.elapsed_s,
    );
    Ok(figures)
}
