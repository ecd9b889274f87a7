//! Latency summaries with HdrHistogram, printed the same way by every harness.

use hdrhistogram::Histogram;

/// Nanosecond histogram covering 1 ns to 60 s at 3 significant digits.
pub fn histogram_ns() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// `p50 … max` in one line.
pub fn percentiles(histogram: &Histogram<u64>) -> String {
    format!(
        "p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns",
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.value_at_quantile(0.9999),
        histogram.max()
    )
}
