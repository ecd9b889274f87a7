//! Pins read-only replay after a crash (issue 10, finding 8): a journal whose last record
//! is torn replays to the record before it and says what it ignored, without modifying
//! a byte; damage with valid records after it is still refused.

use keel_journal::JournalReader;
use serde_json::Value;

mod common;
use common::keel;

/// A demo journal of 3,000 events; returns (dir, segment file, offsets of the records
/// in the last segment).
fn journal(tmp: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf, Vec<usize>) {
    let dir = tmp.path().join("journal");
    let dir_text = dir.to_str().expect("utf-8");
    let demo = keel(&["demo", "--data-dir", dir_text, "--events", "3000", "--json"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let reader = JournalReader::open(&dir).expect("reader");
    let segment = reader.segments().last().expect("segment").path.clone();
    let first = reader.segments().last().expect("segment").header.first_seq;
    let offsets = reader
        .records_from(first)
        .expect("records")
        .map(|r| r.expect("whole").offset)
        .collect();
    (dir, segment, offsets)
}

#[test]
fn a_torn_last_record_replays_to_the_one_before_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, segment, offsets) = journal(&tmp);
    let last = *offsets.last().expect("records");
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[last + 40] ^= 0x10; // inside the last record: its CRC fails
    std::fs::write(&segment, &bytes).expect("tear");
    let output = keel(&[
        "replay",
        dir.to_str().expect("utf-8"),
        "--json",
        "--no-snapshots",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["last_seq"], 2_999, "one record early");
    assert_eq!(report["torn_tail"]["offset"], last as u64);
    assert_eq!(std::fs::read(&segment).expect("read"), bytes, "read-only");
    let text = keel(&["replay", dir.to_str().expect("utf-8")]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("torn tail ignored"));
    // `verify` names it a torn tail, which opening for writing truncates.
    let verify = keel(&["journal", "verify", dir.to_str().expect("utf-8")]);
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stderr).contains("torn tail"));
}

#[test]
fn interior_damage_is_still_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, segment, offsets) = journal(&tmp);
    let middle = offsets[offsets.len() / 2];
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[middle + 40] ^= 0x10;
    std::fs::write(&segment, &bytes).expect("damage");
    let output = keel(&["replay", dir.to_str().expect("utf-8"), "--no-snapshots"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&middle.to_string()),
        "names the offset: {stderr}"
    ); // `verify` must not promise that opening for writing would truncate it.
    let verify = keel(&["journal", "verify", dir.to_str().expect("utf-8")]);
    assert!(!verify.status.success());
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        said.contains("interior damage") && !said.contains("truncates"),
        "{said}"
    );
}
