//! Pins I/O failure handling (docs/RELIABILITY.md): a full disk at segment roll or a failing sync
//! stops the writer cleanly: the failing append errs, nothing after it is acknowledged,
//! every later append is refused, and reopening recovers the prefix and carries on.

use keel_journal::{
    Depth, Durability, FaultPlan, JournalConfig, JournalError, JournalReader, JournalWriter,
    check_journal,
};
use keel_tests::{journal_kind, journal_payload};

const SEGMENT_BYTES: u64 = 64 * 1024;

fn config(durability: Durability, faults: FaultPlan) -> JournalConfig {
    JournalConfig {
        segment_size_bytes: SEGMENT_BYTES,
        durability,
        faults,
        ..JournalConfig::default()
    }
}

/// Appends until one fails; returns the number appended and the error.
fn append_until_failure(writer: &mut JournalWriter, limit: u64) -> (u64, JournalError) {
    for seq in 1..=limit {
        if let Err(error) = writer.append(journal_kind(seq), seq, &journal_payload(seq)) {
            return (seq - 1, error);
        }
    }
    panic!("no failure within {limit} appends");
}

fn assert_refuses_further_appends(writer: &mut JournalWriter) {
    let again = writer.append(0, 0, b"after the failure");
    assert!(
        matches!(again, Err(JournalError::WriterFailed(_))),
        "{again:?}"
    );
}

fn assert_prefix_recovers(dir: &std::path::Path, at_least: u64) -> u64 {
    let (mut writer, report) =
        JournalWriter::open(dir, config(Durability::Sync, FaultPlan::default())).expect("reopen");
    assert!(
        report.last_seq >= at_least,
        "recovered {} < {at_least}",
        report.last_seq
    );
    let next = writer
        .append(1, 1, b"carries on")
        .expect("append after reopen");
    assert_eq!(next, report.last_seq + 1);
    writer.close().expect("close");
    let reader = JournalReader::open(dir).expect("reader");
    for record in reader.records_from(1).expect("records") {
        let record = record.expect("whole record");
        if record.meta.seq <= report.last_seq {
            assert_eq!(record.payload, journal_payload(record.meta.seq).as_slice());
        }
    }
    check_journal(dir, Depth::Verify, &mut |_| {}).expect("verifies");
    report.last_seq
}

#[test]
fn full_disk_at_segment_roll_stops_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultPlan {
        fail_segment_create_index: Some(2),
        ..FaultPlan::default()
    };
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(Durability::Sync, faults)).expect("open");
    let (appended, error) = append_until_failure(&mut writer, 100_000);
    let JournalError::Io { source, .. } = &error else {
        panic!("expected an I/O error, got {error}");
    };
    assert_eq!(source.raw_os_error(), Some(28), "ENOSPC");
    assert_eq!(writer.acknowledged_seq(), appended);
    assert_refuses_further_appends(&mut writer);
    assert_eq!(
        writer.acknowledged_seq(),
        appended,
        "nothing more acknowledged"
    );
    assert!(writer.close().is_err(), "close reports the failure");
    assert!(
        !dir.path().join("00000002.seg").exists(),
        "no half-made segment"
    );
    assert_eq!(assert_prefix_recovers(dir.path(), appended), appended);
}

#[test]
fn failed_sync_at_segment_roll_stops_the_writer() {
    // Learn how many records fill the first segment: in `sync` mode, call 1 is the sync at
    // open, then one per record, so the roll's end-marker sync is call (records + 2).
    let probe = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) =
        JournalWriter::open(probe.path(), config(Durability::None, FaultPlan::default()))
            .expect("open");
    let mut seq = 1;
    while writer.active_segment_index() == 0 {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
        seq += 1;
    }
    writer.close().expect("close");
    let first_segment_records = check_journal(probe.path(), Depth::Inspect, &mut |_| {})
        .expect("inspect")
        .segments[0]
        .records;

    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultPlan {
        fail_sync_from_call: Some(first_segment_records + 2),
        ..FaultPlan::default()
    };
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(Durability::Sync, faults)).expect("open");
    let (appended, error) = append_until_failure(&mut writer, 100_000);
    assert_eq!(
        appended, first_segment_records,
        "the roll's sync failed: {error}"
    );
    assert_eq!(writer.acknowledged_seq(), appended);
    assert_refuses_further_appends(&mut writer);
    assert!(writer.close().is_err());
    assert_eq!(assert_prefix_recovers(dir.path(), appended), appended);
}

#[test]
fn failed_background_sync_stops_acknowledging_in_interval_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Call 1 is the sync at open; the background thread's first sync is call 2.
    let faults = FaultPlan {
        fail_sync_from_call: Some(2),
        ..FaultPlan::default()
    };
    let durability = Durability::Interval { period_ms: 1 };
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(durability, faults)).expect("open");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seq = 1;
    let error = loop {
        match writer.append(journal_kind(seq), seq, &journal_payload(seq)) {
            Ok(_) => seq += 1,
            Err(error) => break error,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failure must surface"
        );
    };
    assert!(matches!(error, JournalError::WriterFailed(_)), "{error}");
    assert_eq!(writer.acknowledged_seq(), 0, "nothing was ever synced");
    assert!(writer.close().is_err());
    // The process did not crash: the page cache holds what was published.
    assert_prefix_recovers(dir.path(), seq - 1);
}

/// Issue 10, finding 7: in `sync` mode a record was acknowledged before its sync
/// returned. With the sync of record 4 failing, records 1–3 are acknowledged, never 4.
#[test]
fn sync_mode_acknowledges_only_after_the_sync_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Call 1 is the sync at open; record n's sync is call n + 1.
    let faults = FaultPlan {
        fail_sync_from_call: Some(5),
        ..FaultPlan::default()
    };
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(Durability::Sync, faults)).expect("open");
    let status = writer.status();
    let (appended, _) = append_until_failure(&mut writer, 100);
    assert_eq!(appended, 3);
    assert_eq!(writer.acknowledged_seq(), 3, "record 4's sync failed");
    assert_eq!(status.acknowledged_seq(), 3);
    assert_refuses_further_appends(&mut writer);
    assert!(writer.close().is_err());
}
