//! `keel bench feeds`: every input decoder on lines of its format (Deribit option ticker
//! messages, Keel JSON lines, Tardis options_chain and derivative_ticker rows, Deribit
//! chain-snapshot rows), one core, events produced and counted. Baseline, same run,
//! interleaved: the same lines through `serde_json::Value` (JSON) or the `csv` crate's
//! `StringRecord` parsing the same numbers (CSV). And the Deribit ticker fast path
//! against the same decoder's serde path.

use clap::Args;
use keel_benches::feeds::{decode_all, deribit, deribit_serde_path, warmed_for, workloads};
use keel_benches::paired;

use super::Figures;

#[derive(Args)]
pub struct FeedsArgs {
    /// Lines per format per timed run.
    #[arg(long, default_value_t = 2_000)]
    lines: usize,
}

pub fn run(args: &FeedsArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(args.lines > 0, "--lines must be positive");
    let mut figures = Figures::default();
    figures.set("bench", "feeds");
    figures.set("lines_per_run", args.lines as u64);
    let mut out = Vec::new();
    for workload in workloads(args.lines) {
        let mut decoder = warmed_for(&workload);
        let (keel_ns, baseline_ns) = paired::medians(
            workload.lines.len(),
            || decode_all(decoder.as_mut(), &workload.lines, &mut out),
            || workload.baseline.run(&workload),
        );
        anyhow::ensure!(
            decoder.counts().refused_total() == 0,
            "the {} workload was refused: {:?}",
            workload.format.name(),
            decoder.counts()
        );
        let name = workload.format.name().replace('-', "_");
        figures.number(&format!("{name}_ns_per_line"), keel_ns);
        figures.number(&format!("{name}_lines_per_s"), 1e9 / keel_ns);
        figures.number(&format!("{name}_baseline_ns_per_line"), baseline_ns);
        figures.set(&format!("{name}_baseline"), workload.baseline.name());
        figures.number(&format!("{name}_ratio"), baseline_ns / keel_ns);
    }
    // The Deribit ticker fast path against the decoder's own serde path (typed,
    // borrowed serde_json), the best general parser measured here.
    let workload = deribit(args.lines);
    let mut fast = warmed_for(&workload);
    let mut serde = deribit_serde_path(&workload);
    let mut serde_out = Vec::new();
    let (fast_ns, serde_ns) = paired::medians(
        workload.lines.len(),
        || decode_all(fast.as_mut(), &workload.lines, &mut out),
        || decode_all(serde.as_mut(), &workload.lines, &mut serde_out),
    );
    figures.number("deribit_fast_path_ns_per_line", fast_ns);
    figures.number("deribit_serde_path_ns_per_line", serde_ns);
    figures.number("deribit_fast_path_ratio", serde_ns / fast_ns);
    Ok(figures)
}
