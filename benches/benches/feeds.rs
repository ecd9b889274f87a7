//! Decoder micro-benchmarks (issue 13): every input format's decoder on lines of its
//! format, each against the plain baseline on the same lines in the same run
//! (`serde_json::Value` for JSON; the `csv` crate's `StringRecord` parsing the same
//! numbers for CSV). Run: `cargo bench -p keel-benches --bench feeds`. Target: ≥ 1 M
//! Deribit ticker messages/s on one core and ≥ 3× the `Value` baseline.

use criterion::{Criterion, Throughput};
use keel_benches::feeds::{decode_all, warmed_for, workloads};
use keel_benches::paired;

const LINES: usize = 2_000;

fn main() {
    let workloads = workloads(LINES);
    let mut criterion = Criterion::default().configure_from_args();
    let mut out = Vec::new();
    for workload in &workloads {
        let mut decoder = warmed_for(workload);
        let mut group = criterion.benchmark_group(workload.format.name());
        group.throughput(Throughput::Elements(workload.lines.len() as u64));
        group.bench_function("keel_decoder", |b| {
            b.iter(|| decode_all(decoder.as_mut(), &workload.lines, &mut out))
        });
        group.bench_function(workload.baseline.name(), |b| {
            b.iter(|| workload.baseline.run(workload))
        });
        group.finish();
    }
    criterion.final_summary();
    println!(
        "\nSummary (median of {} paired rounds):",
        paired::PAIRED_ROUNDS
    );
    for workload in &workloads {
        let mut decoder = warmed_for(workload);
        paired::compare(
            &format!("{} line", workload.format.name()),
            workload.lines.len(),
            || decode_all(decoder.as_mut(), &workload.lines, &mut out),
            || workload.baseline.run(workload),
            workload.baseline.name(),
        );
    }
}
