//! `keel`: the command-line front of the Keel risk engine.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "Keel: a low-latency, event-sourced risk engine for crypto-derivatives portfolios",
    long_about = "Keel: a low-latency, event-sourced risk engine for crypto-derivatives \
                  portfolios.\n\nLogging goes to stderr and honours RUST_LOG \
                  (e.g. RUST_LOG=keel=debug)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a seeded synthetic market through the full pipeline and print the risk report.
    Demo(cmd::demo::DemoArgs),
    /// The engine on a feed: Keel JSON lines, Deribit JSON-RPC, Tardis CSV or chain
    /// snapshots from a file or stdin, or Deribit's websocket (a colocated deployment).
    Run(cmd::run::RunArgs),
    /// Turn venue data files (Deribit option-chain snapshots) into a replayable journal.
    Import(cmd::import::ImportArgs),
    /// Rebuild the state from a journal and print the same report and state hash.
    Replay(cmd::replay::ReplayArgs),
    /// Where an account's PnL came from between two points of a journal (attribution).
    Explain(cmd::explain::ExplainArgs),
    /// Accounts fully revalued under stress scenarios, margin re-run on the moved market.
    Stress(cmd::stress::StressArgs),
    /// The volatility surface at a point of a journal: SVI parameters, fit errors,
    /// arbitrage checks, and SVG plots of the smiles.
    Surface(cmd::surface::SurfaceArgs),
    /// The largest quantity an account may trade in an instrument, and what binds.
    Size(cmd::size::SizeArgs),
    /// The trades that would bring an account back inside its target bands.
    Hedge(cmd::hedge::HedgeArgs),
    /// Portfolio margin of a portfolio file (Deribit's pme/simulate shape), offline.
    Margin(cmd::margin::MarginArgs),
    /// Black-76 price and Greeks of one option, or of JSON lines on stdin.
    Price(cmd::price::PriceArgs),
    /// Implied volatility of one option price, or of JSON lines on stdin.
    Iv(cmd::iv::IvArgs),
    /// Benchmarks: `keel bench pipeline`.
    Bench(cmd::bench::BenchArgs),
    /// Inspect, verify or dump a journal directory.
    Journal(cmd::journal::JournalArgs),
    /// The deterministic simulator: adversarial streams through every path, checked.
    Sim(cmd::sim::SimArgs),
    /// Ask a running engine (over shared memory) what a trade would do to an account.
    WhatIf(cmd::what_if::WhatIfArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Replay(args) => cmd::replay::run(&args),
        Command::Explain(args) => cmd::explain::run(&args),
        Command::Stress(args) => cmd::stress::run(&args),
        Command::Surface(args) => cmd::surface::run(&args),
        Command::Size(args) => cmd::size::run(&args),
        Command::Hedge(args) => cmd::hedge::run(&args),
        Command::Run(args) => cmd::run::run(&args),
        Command::Import(args) => cmd::import::run(&args),
        Command::Margin(args) => cmd::margin::run(&args),
        Command::Price(args) => cmd::price::run(&args),
        Command::Iv(args) => cmd::iv::run(&args),
        Command::Journal(args) => cmd::journal::run(&args),
        Command::Bench(args) => cmd::bench::run(&args),
        Command::Sim(args) => cmd::sim::run(&args),
        Command::WhatIf(args) => cmd::what_if::run(&args),
    };
    match result {
        Ok(code) => code,
        // A closed pipe (`keel demo | head`) is the reader's choice, not our failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the error's own text looks like (parsers draw snippets).
            let message = format!("{error:#}");
            let one_line: Vec<&str> = message.split_whitespace().collect();
            eprintln!("error: {}", one_line.join(" "));
            ExitCode::FAILURE
        }
    }
}

/// A bad flag is one line (clap's error and its details) and exit status 2; help and
/// version requests print as clap prints them.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
        _ => {
            // The error and its details, without the usage block that follows them.
            let text = error.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|line| !line.starts_with("Usage:"))
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect();
            eprintln!("{} (keel --help for usage)", message.join(" "));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
