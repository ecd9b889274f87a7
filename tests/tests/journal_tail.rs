//! Pins live tailing across processes: a child writes while this process follows the
//! journal through its memory-mapped files, and sees every record exactly once, in
//! order, across segment rolls.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel_journal::{JournalError, Tailer};
use keel_tests::journal_payload;

const RECORDS: u64 = 20_000;

#[test]
fn a_reader_in_another_process_sees_every_record_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_journal_child"))
        .args([
            dir.path().to_str().expect("utf-8"),
            "none",
            "65536",
            &RECORDS.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("writer starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tailer = loop {
        match Tailer::open(dir.path(), 1) {
            Ok(tailer) => break tailer,
            Err(JournalError::Empty(_) | JournalError::Io { .. }) => {
                assert!(Instant::now() < deadline, "journal never appeared");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(other) => panic!("{other}"),
        }
    };
    let mut expected = 1;
    let mut empty_polls = 0u64;
    while expected <= RECORDS {
        match tailer.poll().expect("no damage while tailing") {
            Some(record) => {
                assert_eq!(record.meta.seq, expected);
                assert_eq!(record.payload, journal_payload(expected).as_slice());
                expected += 1;
            }
            None => {
                empty_polls += 1;
                assert!(Instant::now() < deadline, "stuck at {expected}");
                std::thread::yield_now();
            }
        }
    }
    assert!(child.wait().expect("writer exits").success());
    assert!(
        tailer.poll().expect("clean end").is_none(),
        "nothing beyond what was written"
    );
    println!("tailed {RECORDS} records from another process ({empty_polls} empty polls)");
}
