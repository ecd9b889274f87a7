//! How fast this machine pre-faults a fresh segment for writing (`MADV_POPULATE_WRITE`),
//! the ceiling on what the journal's pre-faulter can keep ahead of (docs/BENCHMARKS.md):
//! `cargo run --release -p keel-benches --example populate_speed`.

use std::time::Instant;

use keel_journal::Durability;
use keel_journal::faults::Faults;
use keel_journal::segment::Segment;

const SEGMENT_BYTES: u64 = 256 << 20;
const STEP_BYTES: usize = 4 << 20;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir"); // the system temp dir (on disk here)
    let segment = Segment::create(
        dir.path(),
        0,
        1,
        SEGMENT_BYTES,
        Durability::None,
        &Faults::default(),
    )
    .expect("segment");
    let started = Instant::now();
    let mut offset = 0;
    while offset < SEGMENT_BYTES as usize {
        segment
            .populate_for_write(offset, STEP_BYTES)
            .expect("MADV_POPULATE_WRITE");
        offset += STEP_BYTES;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "populated 256 MiB in {:.1} ms: {:.2} GB/s",
        seconds * 1e3,
        SEGMENT_BYTES as f64 / seconds / 1e9
    );
}
