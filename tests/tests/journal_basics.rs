//! Pins the journal's basic contract: appends come back in order with their contents
//! across segment rolls and reopenings, seals chain, readers seek, and sizes are limited.

use keel_journal::{
    Depth, Durability, JournalConfig, JournalError, JournalReader, JournalWriter, check_journal,
};
use keel_tests::{journal_kind, journal_payload};

const SMALL_SEGMENT_BYTES: u64 = 64 * 1024;

fn small(durability: Durability) -> JournalConfig {
    JournalConfig {
        segment_size_bytes: SMALL_SEGMENT_BYTES,
        durability,
        ..JournalConfig::default()
    }
}

fn append_range(writer: &mut JournalWriter, seqs: std::ops::RangeInclusive<u64>) {
    for seq in seqs {
        let got = writer
            .append(journal_kind(seq), seq * 1_000, &journal_payload(seq))
            .expect("append");
        assert_eq!(got, seq);
    }
}

fn assert_all_records(dir: &std::path::Path, last_seq: u64) {
    let reader = JournalReader::open(dir).expect("reader");
    let mut expected = 1;
    for record in reader.records_from(1).expect("records") {
        let record = record.expect("whole record");
        assert_eq!(record.meta.seq, expected);
        assert_eq!(record.meta.kind, journal_kind(expected));
        assert_eq!(record.meta.timestamp_ns, expected * 1_000);
        assert_eq!(record.payload, journal_payload(expected).as_slice());
        expected += 1;
    }
    assert_eq!(expected - 1, last_seq);
}

#[test]
fn appends_survive_rolls_and_reopen_for_every_durability() {
    for durability in [
        Durability::None,
        Durability::Interval { period_ms: 2 },
        Durability::Sync,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, report) =
            JournalWriter::open(dir.path(), small(durability)).expect("open");
        assert_eq!((report.first_seq, report.last_seq), (1, 0));
        append_range(&mut writer, 1..=3_000);
        writer.close().expect("close");
        let (mut writer, report) =
            JournalWriter::open(dir.path(), small(durability)).expect("reopen");
        assert_eq!(report.last_seq, 3_000);
        assert!(report.torn_tail.is_none());
        assert!(
            report.segments >= 6,
            "{} segments: rolls must happen",
            report.segments
        );
        append_range(&mut writer, 3_001..=4_000);
        if durability != Durability::None {
            // Interval: wait for the background sync to catch up.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while writer.acknowledged_seq() < 4_000 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        assert_eq!(writer.acknowledged_seq(), 4_000, "{durability}");
        writer.close().expect("close");
        assert_all_records(dir.path(), 4_000);
        let summary = check_journal(dir.path(), Depth::Verify, &mut |_| {}).expect("verify");
        assert_eq!(summary.records, 4_000);
        assert!(summary.head_seal.is_some());
        let inspected = check_journal(dir.path(), Depth::Inspect, &mut |_| {}).expect("inspect");
        assert_eq!(inspected.head_seal, summary.head_seal);
        assert_eq!(inspected.records, 4_000);
    }
}

#[test]
fn reader_seeks_to_any_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = JournalWriter::open(dir.path(), small(Durability::None)).expect("open");
    append_range(&mut writer, 1..=5_000);
    writer.close().expect("close");
    // Remove one index file: the reader must rebuild it by scanning.
    std::fs::remove_file(dir.path().join("00000002.idx")).expect("index exists");
    let reader = JournalReader::open(dir.path()).expect("reader");
    for from in [1, 2, 1_023, 1_024, 1_025, 2_500, 4_999, 5_000] {
        let first = reader
            .records_from(from)
            .expect("seek")
            .next()
            .expect("a record")
            .expect("whole");
        assert_eq!(first.meta.seq, from);
        assert_eq!(first.payload, journal_payload(from).as_slice());
    }
    assert!(
        reader
            .records_from(5_001)
            .expect("at the end")
            .next()
            .is_none()
    );
    assert!(matches!(
        reader.records_from(5_002),
        Err(JournalError::SeqOutOfRange { .. })
    ));
}

#[test]
fn oversized_payloads_and_second_writers_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = JournalWriter::open(dir.path(), small(Durability::None)).expect("open");
    let too_big = vec![0u8; SMALL_SEGMENT_BYTES as usize];
    assert!(matches!(
        writer.append(0, 0, &too_big),
        Err(JournalError::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        JournalWriter::open(dir.path(), small(Durability::None)),
        Err(JournalError::Locked(_))
    ));
    append_range(&mut writer, 1..=10);
    writer.close().expect("close");
}

/// Issue 10, finding 14: the lock was a file's existence, and deleting it let a second
/// writer in. Whatever files are deleted while a writer runs, a second one is refused.
#[test]
fn deleting_files_never_lets_a_second_writer_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = JournalWriter::open(dir.path(), small(Durability::None)).expect("open");
    append_range(&mut writer, 1..=10);
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "seg") && path.is_file() {
            std::fs::remove_file(&path).expect("delete");
        }
    }
    std::fs::write(dir.path().join("LOCK"), b"").expect("a stray lock file");
    assert!(matches!(
        JournalWriter::open(dir.path(), small(Durability::None)),
        Err(JournalError::Locked(_))
    ));
    append_range(&mut writer, 11..=20);
    writer.close().expect("close");
}

#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for size in [1_000, 4_096, 64 * 1024 + 1] {
        let config = JournalConfig {
            segment_size_bytes: size,
            ..JournalConfig::default()
        };
        assert!(matches!(
            JournalWriter::open(dir.path(), config),
            Err(JournalError::Config(_))
        ));
    }
}
