//! Where a flat-out journal writer stalls: times every append of 5 M 64-byte records and
//! prints those over 20 µs with their position in the segment (docs/BENCHMARKS.md):
//! `cargo run --release -p keel-benches --example append_stalls`.

use keel_journal::{JournalConfig, JournalWriter};

const RECORDS: u64 = 5_000_000;
const STALL_NS: u64 = 20_000;
const SHOWN_MAX: usize = 20;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir"); // the system temp dir (on disk here)
    let (mut writer, _) =
        JournalWriter::open(dir.path(), JournalConfig::default()).expect("journal");
    let payload = [7u8; 64];
    let clock = quanta::Clock::new();
    let mut stalls = Vec::new();
    for seq in 1..=RECORDS {
        let before = clock.raw();
        writer.append(1, seq, &payload).expect("append");
        let nanos = clock.delta_as_nanos(before, clock.raw());
        if nanos > STALL_NS {
            stalls.push((seq, nanos));
        }
    }
    writer.close().expect("close");
    // 96 bytes per record on disk (32-byte header + 64-byte payload).
    println!(
        "{} appends over {} µs (of {RECORDS})",
        stalls.len(),
        STALL_NS / 1_000
    );
    for (seq, nanos) in stalls.iter().take(SHOWN_MAX) {
        println!(
            "  seq {seq}: {nanos} ns, at byte {} of the journal",
            seq * 96
        );
    }
}
