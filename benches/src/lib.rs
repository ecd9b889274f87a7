//! Shared helpers for the latency harness (filled by the pipeline issue).
