//! Journal benchmarks (`cargo bench -p keel-benches --bench journal`): append throughput
//! and per-append latency for 64 B and 128 B payloads with durability `none`, the
//! sustained rate with `interval`, and replay scan speed; each against the baseline of
//! the same encoded records through `std::io::BufWriter<File>` (and read back through
//! `BufReader`), measured in the same run, with the ratio. First targets (the current ones
//! and every measured figure: docs/BENCHMARKS.md):
//! ≥ 20 M records/s append and p99.99 ≤ 200 ns without sync; replay ≥ 1 GB/s.
//! `KEEL_BENCH_RECORDS` sets the records per run (default 5 M).

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use keel_benches::latency::{histogram_ns, percentiles};
use keel_journal::format::{RecordMeta, align_record, encode_record_header, record_crc};
use keel_journal::{Durability, JournalConfig, JournalReader, JournalWriter};

const RECORDS_DEFAULT: u64 = 5_000_000;
const PAYLOAD_SIZES: [usize; 2] = [64, 128];

struct Run {
    records_per_s: f64,
    bytes_per_s: f64,
    latency: String,
}

fn records_per_run() -> u64 {
    std::env::var("KEEL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS_DEFAULT)
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| i as u8).collect()
}

/// Throughput from an untimed run, then per-append latency from a second, timed run into
/// a fresh journal (the clock reads would otherwise be counted as append time).
fn journal_append(dir: &Path, size: usize, records: u64, durability: Durability) -> Run {
    let config = JournalConfig {
        durability,
        ..JournalConfig::default()
    };
    let payload = payload(size);
    let throughput_dir = dir.join("throughput");
    let (mut writer, _) =
        JournalWriter::open(&throughput_dir, config.clone()).expect("open journal");
    let started = Instant::now();
    for seq in 1..=records {
        black_box(writer.append(1, seq, black_box(&payload)).expect("append"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    writer.close().expect("close");

    let (mut writer, _) = JournalWriter::open(&dir.join("latency"), config).expect("open journal");
    let clock = quanta::Clock::new();
    let mut histogram = histogram_ns();
    for seq in 1..=records {
        let before = clock.raw();
        black_box(writer.append(1, seq, black_box(&payload)).expect("append"));
        let after = clock.raw();
        histogram.saturating_record(clock.delta_as_nanos(before, after).max(1));
    }
    writer.close().expect("close");
    std::fs::remove_dir_all(dir.join("latency")).expect("clean up");
    let on_disk = align_record(32 + size) as f64;
    Run {
        records_per_s: records as f64 / elapsed,
        bytes_per_s: records as f64 * on_disk / elapsed,
        latency: percentiles(&histogram),
    }
}

/// Append latency at a fixed offered rate, measured from each record's *scheduled* time
/// (no coordinated omission): what a journal stage sees in the engine. One thread spins
/// between records (the only spinning thread).
fn journal_fixed_rate(dir: &Path, size: usize, rate_per_s: u64, records: u64) -> String {
    let (mut writer, _) = JournalWriter::open(dir, JournalConfig::default()).expect("open journal");
    let payload = payload(size);
    let clock = quanta::Clock::new();
    let mut histogram = histogram_ns();
    let interval_ns = 1e9 / rate_per_s as f64;
    let start = clock.raw();
    for seq in 1..=records {
        let scheduled_ns = (seq as f64 * interval_ns) as u64;
        while clock.delta_as_nanos(start, clock.raw()) < scheduled_ns {
            std::hint::spin_loop();
        }
        black_box(writer.append(1, seq, black_box(&payload)).expect("append"));
        let done_ns = clock.delta_as_nanos(start, clock.raw());
        histogram.saturating_record(done_ns.saturating_sub(scheduled_ns).max(1));
    }
    writer.close().expect("close");
    percentiles(&histogram)
}

/// The platform's floor: the same timed loop with nothing in it. Interrupts (the 1 kHz
/// timer tick on this VM) and preemption show up here as they do in any timed operation.
fn clock_floor(records: u64) -> String {
    let clock = quanta::Clock::new();
    let mut histogram = histogram_ns();
    for _ in 0..records {
        let before = clock.raw();
        let after = clock.raw();
        histogram.saturating_record(clock.delta_as_nanos(before, after).max(1));
    }
    percentiles(&histogram)
}

/// The same records (header with CRC, payload, padding) written through a BufWriter.
fn bufwriter_append(path: &Path, size: usize, records: u64) -> Run {
    let mut out = BufWriter::new(File::create(path).expect("create"));
    let payload = payload(size);
    let padding = [0u8; 8];
    let pad = align_record(32 + size) - (32 + size);
    let clock = quanta::Clock::new();
    let mut histogram = histogram_ns();
    let started = Instant::now();
    for seq in 1..=records {
        let before = clock.raw();
        let meta = RecordMeta {
            seq,
            timestamp_ns: seq,
            kind: 1,
            flags: 0,
        };
        let header = encode_record_header(&meta, black_box(&payload));
        out.write_all(&header).expect("write");
        out.write_all(&payload).expect("write");
        out.write_all(&padding[..pad]).expect("write");
        let after = clock.raw();
        histogram.saturating_record(clock.delta_as_nanos(before, after).max(1));
    }
    out.flush().expect("flush");
    let elapsed = started.elapsed().as_secs_f64();
    let on_disk = align_record(32 + size) as f64;
    Run {
        records_per_s: records as f64 / elapsed,
        bytes_per_s: records as f64 * on_disk / elapsed,
        latency: percentiles(&histogram),
    }
}

fn journal_replay(dir: &Path) -> (u64, f64, f64) {
    let started = Instant::now();
    let reader = JournalReader::open(dir).expect("reader");
    let (mut count, mut bytes) = (0u64, 0u64);
    for record in reader.records_from(1).expect("records") {
        let record = record.expect("whole record");
        bytes += align_record(32 + record.payload.len()) as u64;
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (count, count as f64 / elapsed, bytes as f64 / elapsed)
}

/// Reads the BufWriter file back record by record, checking each CRC like the journal.
fn bufreader_replay(path: &Path, size: usize) -> (u64, f64, f64) {
    let started = Instant::now();
    let mut input = BufReader::new(File::open(path).expect("open"));
    let record_len = align_record(32 + size);
    let mut record = vec![0u8; record_len];
    let (mut count, mut bytes) = (0u64, 0u64);
    while input.read_exact(&mut record).is_ok() {
        let stored = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
        assert_eq!(record_crc(&record[..32], &record[32..32 + size]), stored);
        count += 1;
        bytes += record_len as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (count, count as f64 / elapsed, bytes as f64 / elapsed)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return; // `cargo bench -- --list` and test discovery
    }
    let records = records_per_run();
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench dir");
    println!(
        "journal bench: {records} records per run, segments 256 MiB, dir {}",
        root.path().display()
    );
    println!(
        "clock floor (empty timed loop, {records} samples): {}",
        clock_floor(records)
    );
    for size in PAYLOAD_SIZES {
        let journal_dir = root.path().join(format!("journal-{size}"));
        let baseline_file = root.path().join(format!("bufwriter-{size}.bin"));
        let ours = journal_append(&journal_dir, size, records, Durability::None);
        let baseline = bufwriter_append(&baseline_file, size, records);
        println!(
            "append {size} B payload, durability none: keel {:.2} M rec/s ({:.2} GB/s), latency {}",
            ours.records_per_s / 1e6,
            ours.bytes_per_s / 1e9,
            ours.latency
        );
        println!(
            "  baseline BufWriter<File>: {:.2} M rec/s ({:.2} GB/s), latency {}; ratio keel/baseline {:.2}",
            baseline.records_per_s / 1e6,
            baseline.bytes_per_s / 1e9,
            baseline.latency,
            ours.records_per_s / baseline.records_per_s
        );
        let (count, journal_rate, journal_bytes) = journal_replay(&journal_dir.join("throughput"));
        let (baseline_count, baseline_rate, baseline_bytes) =
            bufreader_replay(&baseline_file, size);
        assert_eq!((count, baseline_count), (records, records));
        println!(
            "replay {size} B payload: keel {:.2} M rec/s ({:.2} GB/s); baseline BufReader {:.2} M rec/s ({:.2} GB/s); ratio {:.2}",
            journal_rate / 1e6,
            journal_bytes / 1e9,
            baseline_rate / 1e6,
            baseline_bytes / 1e9,
            journal_rate / baseline_rate
        );
        std::fs::remove_dir_all(&journal_dir).expect("clean up");
        std::fs::remove_file(&baseline_file).expect("clean up");
    }
    let fixed_rate_per_s = 2_000_000;
    println!(
        "append 64 B payload at a fixed {} M rec/s offered (latency from scheduled time): {}",
        fixed_rate_per_s / 1_000_000,
        journal_fixed_rate(
            &root.path().join("journal-fixed-rate"),
            64,
            fixed_rate_per_s,
            records
        )
    );
    let interval_dir = root.path().join("journal-interval");
    let interval = journal_append(
        &interval_dir,
        64,
        records,
        Durability::Interval { period_ms: 10 },
    );
    let baseline_file = root.path().join("bufwriter-interval.bin");
    let baseline = bufwriter_append(&baseline_file, 64, records);
    println!(
        "append 64 B payload, durability interval(10 ms): keel sustained {:.2} M rec/s ({:.2} GB/s), latency {}; ratio to BufWriter (no sync) {:.2}",
        interval.records_per_s / 1e6,
        interval.bytes_per_s / 1e9,
        interval.latency,
        interval.records_per_s / baseline.records_per_s
    );
}
