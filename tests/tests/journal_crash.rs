//! Pins what survives a crash. `kill -9` of a child appending in `sync` mode at random
//! moments, many times over the same journal: every acknowledged record is present and
//! intact after restart, no partial record is ever visible, and the sequence carries on.
//! Cycles: 200 (set `KEEL_KILL_CYCLES` for longer runs).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keel_journal::JournalReader;
use keel_tests::{journal_kind, journal_payload};
use rand::{Rng, SeedableRng};

const KILL_CYCLES_DEFAULT: usize = 200;
const SEGMENT_BYTES: &str = "65536";

/// Checks every record of the journal; returns the last sequence number.
fn check_whole_journal(dir: &std::path::Path) -> u64 {
    let reader = JournalReader::open(dir).expect("journal opens for reading");
    let mut expected = 1;
    for record in reader.records_from(1).expect("iterate") {
        let record = record.unwrap_or_else(|e| panic!("partial or damaged record visible: {e}"));
        assert_eq!(record.meta.seq, expected);
        assert_eq!(record.meta.kind, journal_kind(expected));
        assert_eq!(
            record.payload,
            journal_payload(expected).as_slice(),
            "record {expected}"
        );
        expected += 1;
    }
    expected - 1
}

#[test]
fn kill_minus_nine_loses_nothing_acknowledged() {
    let cycles = keel_tests::env_or("KEEL_KILL_CYCLES", KILL_CYCLES_DEFAULT);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65_656c);
    let mut acked_max = 0u64;
    let mut kills_while_writing = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(env!("CARGO_BIN_EXE_journal_child"))
            .args([
                dir.path().to_str().expect("utf-8 path"),
                "sync",
                SEGMENT_BYTES,
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader_thread = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for recovery to finish, then let it append for a random while.
        let recovered_line = lines_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("child recovered");
        let recovered: u64 = recovered_line
            .strip_prefix("recovered ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {recovered_line:?}"));
        assert!(
            recovered >= acked_max,
            "cycle {cycle}: recovered {recovered} < acknowledged {acked_max}"
        );
        let run_for = Duration::from_micros(rng.random_range(200..15_000));
        let started = Instant::now();
        while started.elapsed() < run_for {
            std::thread::yield_now();
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        reader_thread.join().expect("reader thread");
        let mut acked_this_cycle = false;
        for line in lines_rx.try_iter() {
            if let Some(seq) = line
                .strip_prefix("ack ")
                .and_then(|n| n.parse::<u64>().ok())
            {
                acked_max = acked_max.max(seq);
                acked_this_cycle = true;
            }
        }
        kills_while_writing += usize::from(acked_this_cycle);
        let last = check_whole_journal(dir.path());
        assert!(
            last >= acked_max,
            "cycle {cycle}: journal ends at {last}, {acked_max} was acknowledged"
        );
    }
    assert!(
        kills_while_writing * 2 > cycles,
        "most kills must land while appending"
    );
    println!("kill -9: {cycles} cycles, {acked_max} records acknowledged, all present and intact");
}
