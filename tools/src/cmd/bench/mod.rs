//! `keel bench <apply|tick|pipeline|replay|pricing|journal|embed|feeds|stress> [--json]`: the headline
//! figures, each with a baseline measured in the same run and the ratio, as one flat JSON
//! object (units last in every name). Each finishes in under a minute by default.

mod apply;
mod embed;
mod feeds;
mod journal;
mod pipeline;
mod pricing;
mod replay;
mod size;
mod stress;
mod tick;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
    /// Print one JSON object instead of `name = value` lines.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The state machine per event (realistic and index-heavy mixes) vs full revaluation.
    Apply(apply::ApplyArgs),
    /// A 500-option underlying tick (batch end incl. margin) vs full revaluation.
    Tick(tick::TickArgs),
    /// Publish → applied latency at a fixed offered rate vs crossbeam channels.
    Pipeline(pipeline::PipelineArgs),
    /// Replay from disk (decode + apply) of a realistic-mix journal.
    Replay(replay::ReplayArgs),
    /// Black-76 batch (price only), scalar Greeks and implied vol vs the implied-vol crate.
    Pricing(pricing::PricingArgs),
    /// Journal append and scan vs a buffered file.
    Journal(journal::JournalArgs),
    /// What-if round trip from a client process over shared memory vs a Unix socket.
    Embed(embed::EmbedArgs),
    /// Every input decoder (Deribit, Keel JSON lines, Tardis, chain snapshots) vs plain
    /// serde_json::Value / csv-crate parsing of the same lines.
    Feeds(feeds::FeedsArgs),
    /// The 500-option book under 100 stress scenarios, margin included, vs the scalar
    /// pricer from scratch.
    Stress(stress::StressArgs),
    /// Position sizing on the 500-option book vs plain bisection on the what-if.
    Size(size::SizeArgs),
    /// The client process of `keel bench embed` (started by it).
    #[command(hide = true)]
    EmbedClient(embed::EmbedClientArgs),
}

/// Figures in the order measured; printed as JSON or as lines.
#[derive(Default)]
pub struct Figures(Map<String, Value>);

impl Figures {
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0.insert(name.to_string(), value.into());
    }

    /// A float rounded to 3 decimals (measurement noise is far above that).
    pub fn number(&mut self, name: &str, value: f64) {
        let rounded = (value * 1000.0).round() / 1000.0;
        self.0.insert(
            name.to_string(),
            serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number),
        );
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let figures = match &args.command {
        BenchCommand::Apply(a) => apply::run(a)?,
        BenchCommand::Tick(a) => tick::run(a)?,
        BenchCommand::Pipeline(a) => pipeline::run(a)?,
        BenchCommand::Replay(a) => replay::run(a)?,
        BenchCommand::Pricing(a) => pricing::run(a)?,
        BenchCommand::Journal(a) => journal::run(a)?,
        BenchCommand::Embed(a) => embed::run(a)?,
        BenchCommand::Feeds(a) => feeds::run(a)?,
        BenchCommand::Stress(a) => stress::run(a)?,
        BenchCommand::Size(a) => size::run(a)?,
        BenchCommand::EmbedClient(a) => {
            embed::run_client(a)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    if args.json {
        println!("{}", Value::Object(figures.0));
    } else {
        for (name, value) in &figures.0 {
            println!("{name} = {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Median of `rounds` timings of `work` (seconds each), with `setup` untimed before each.
pub fn median_s<S>(rounds: usize, mut setup: impl FnMut() -> S, mut work: impl FnMut(S)) -> f64 {
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let input = setup();
            let start = std::time::Instant::now();
            work(input);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
