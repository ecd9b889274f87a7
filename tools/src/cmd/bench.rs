//! `keel bench pipeline`: end-to-end latency (publish → applied by a shard) at a fixed
//! offered rate, measured from each event's scheduled time (no coordinated omission),
//! and maximum throughput; the same work over bounded crossbeam channels measured in the
//! same run as the baseline, with the ratios.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use keel_benches::channel_pipeline::run_channel_pipeline;
use keel_engine::events::Event;
use keel_engine::runtime::{PipelineConfig, WaitStrategyKind, run_pipeline};
use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{JournalConfig, JournalWriter};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Ring pipeline vs crossbeam channels: latency at a fixed rate, max throughput.
    Pipeline {
        /// Offered rate, events per second.
        #[arg(long, default_value_t = 1_000_000.0)]
        rate: f64,
        /// Seconds at that rate.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Where the benchmark journals go (wiped first).
        #[arg(long, default_value = "keel-data/bench")]
        data_dir: PathBuf,
        /// How idle stages wait: backoff, yield or busy-spin.
        #[arg(long, default_value = "backoff")]
        wait: WaitStrategyKind,
    },
}

fn line(label: &str, histogram: &Histogram<u64>) -> String {
    format!(
        "{label}: p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.value_at_quantile(0.9999),
        histogram.max()
    )
}

fn fresh_journal(dir: &std::path::Path) -> anyhow::Result<JournalWriter> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(JournalWriter::open(dir, JournalConfig::default())?.0)
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let BenchCommand::Pipeline {
        rate,
        seconds,
        data_dir,
        wait,
    } = &args.command;
    anyhow::ensure!(
        *rate > 0.0 && *seconds > 0.0,
        "--rate and --seconds must be positive"
    );
    let count = (rate * seconds) as usize;
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig::default())
        .take(count)
        .collect();
    println!(
        "pipeline bench: {count} synthetic events, 1 shard, wait {wait:?}, journal durability none"
    );

    let mut results = Vec::new();
    for offered in [Some(*rate), None] {
        let config = PipelineConfig {
            wait: *wait,
            offered_rate_eps: offered,
            // The channel baseline takes no snapshots either: like for like.
            state_snapshots: None,
            ..PipelineConfig::default()
        };
        let keel = run_pipeline(
            &config,
            fresh_journal(&data_dir.join("ring"))?,
            vec![ShardState::new(0, 1)],
            events.iter().copied(),
        )?;
        let baseline = run_channel_pipeline(
            fresh_journal(&data_dir.join("channel"))?,
            ShardState::new(0, 1),
            &events,
            offered,
            config.ring_size,
        );
        let label = offered.map_or("as fast as possible".to_string(), |r| {
            format!("offered {:.2} M ev/s", r / 1e6)
        });
        println!("{label}:");
        println!(
            "  {}; achieved {:.2} M ev/s",
            line("keel ring", &keel.latency_ns),
            count as f64 / keel.elapsed_s / 1e6
        );
        println!(
            "  {}; achieved {:.2} M ev/s",
            line("baseline crossbeam", &baseline.latency_ns),
            count as f64 / baseline.elapsed_s / 1e6
        );
        let ratio = |q: f64| {
            baseline.latency_ns.value_at_quantile(q) as f64
                / keel.latency_ns.value_at_quantile(q).max(1) as f64
        };
        println!(
            "  ratio baseline/keel: p50 {:.2}, p99 {:.2}, p99.9 {:.2}; throughput {:.2}",
            ratio(0.5),
            ratio(0.99),
            ratio(0.999),
            baseline.elapsed_s / keel.elapsed_s
        );
        anyhow::ensure!(
            keel_engine::state::hash::combined_hash(&keel.shards)
                == keel_engine::state::hash::combined_hash([&baseline.state]),
            "the ring and the channel pipelines must reach the same state"
        );
        results.push(keel.elapsed_s);
    }
    Ok(ExitCode::SUCCESS)
}
