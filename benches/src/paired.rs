//! The summary every Keel benchmark prints: ours and a baseline measured in the same run,
//! interleaved round by round so that drift of the machine hits both alike, and the ratio.

use std::hint::black_box;
use std::time::Instant;

/// Rounds of the paired measurement; the median round is reported.
pub const PAIRED_ROUNDS: usize = 15;

/// Shortest span one timed sample covers: long enough that clock reads and frequency
/// transitions (e.g. after AVX-512 code) do not colour it.
const SAMPLE_MIN_NS: u128 = 2_000_000;

/// Nanoseconds per operation of `work` (which performs `calls` operations per run), over
/// as many back-to-back runs as fill [`SAMPLE_MIN_NS`].
fn time_per_call_ns<Work: FnMut() -> f64>(calls: usize, work: &mut Work) -> f64 {
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed().as_nanos() < SAMPLE_MIN_NS {
        black_box(work());
        runs += 1;
    }
    start.elapsed().as_nanos() as f64 / (f64::from(runs) * calls as f64)
}

/// Measures `ours` and `baseline` alternately and prints one line with both medians and
/// the ratio (baseline / ours: above 1 means we are faster). Returns (ours, baseline) ns.
pub fn compare(
    label: &str,
    calls_per_run: usize,
    ours: impl FnMut() -> f64,
    baseline: impl FnMut() -> f64,
    baseline_name: &str,
) -> (f64, f64) {
    let (ours_median, baseline_median) = medians(calls_per_run, ours, baseline);
    println!(
        "paired {label}: keel {ours_median:.1} ns/op, baseline ({baseline_name}) \
         {baseline_median:.1} ns/op, ratio baseline/keel {:.2}",
        baseline_median / ours_median
    );
    (ours_median, baseline_median)
}

/// Measures `ours` and `baseline` alternately, [`PAIRED_ROUNDS`] rounds; returns the median
/// ns per operation of each (ours, baseline), printing nothing.
pub fn medians(
    calls_per_run: usize,
    mut ours: impl FnMut() -> f64,
    mut baseline: impl FnMut() -> f64,
) -> (f64, f64) {
    // Warm caches and branch predictors before timing.
    for _ in 0..3 {
        black_box(ours());
        black_box(baseline());
    }
    let mut ours_ns = Vec::with_capacity(PAIRED_ROUNDS);
    let mut baseline_ns = Vec::with_capacity(PAIRED_ROUNDS);
    for _ in 0..PAIRED_ROUNDS {
        ours_ns.push(time_per_call_ns(calls_per_run, &mut ours));
        baseline_ns.push(time_per_call_ns(calls_per_run, &mut baseline));
    }
    ours_ns.sort_by(f64::total_cmp);
    baseline_ns.sort_by(f64::total_cmp);
    (ours_ns[PAIRED_ROUNDS / 2], baseline_ns[PAIRED_ROUNDS / 2])
}
