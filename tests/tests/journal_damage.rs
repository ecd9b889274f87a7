//! Pins the recovery policy against damage (docs/RELIABILITY.md):
//! - cutting the last segment at every byte of its last records (zeroed or physically
//!   truncated) recovers exactly the whole records before the cut, and appends continue;
//! - every single-bit flip in the open segment, and in the sealed segment's header, end
//!   marker and seal plus a sample of its records, is detected: in the last record it is a
//!   torn tail, truncated; anywhere else opening fails naming the file and the offset of
//!   the damaged record. No flip panics.

use std::path::{Path, PathBuf};

use keel_journal::format::{RECORD_HEADER_LEN, SEAL_LEN, SEGMENT_HEADER_LEN};
use keel_journal::{Durability, JournalConfig, JournalError, JournalReader, JournalWriter};
use keel_tests::{journal_kind, journal_payload};

const SEGMENT_BYTES: u64 = 64 * 1024;

fn config() -> JournalConfig {
    JournalConfig {
        segment_size_bytes: SEGMENT_BYTES,
        durability: Durability::None,
        ..JournalConfig::default()
    }
}

/// A record's place: segment position (0 or 1), offset, unpadded length.
#[derive(Clone, Copy, Debug)]
struct Placed {
    seq: u64,
    segment: usize,
    offset: usize,
    len: usize,
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    files: [PathBuf; 2],
    pristine: [Vec<u8>; 2],
    records: Vec<Placed>,
    /// End of the open segment's records.
    data_end: usize,
    sealed_data_end: usize,
}

impl Fixture {
    /// Two segments: the first full and sealed, the second open with 12 records.
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let (mut writer, _) = JournalWriter::open(&dir, config()).expect("open");
        let mut seq = 1;
        while writer.active_segment_index() == 0 {
            writer
                .append(journal_kind(seq), seq, &journal_payload(seq))
                .expect("append");
            seq += 1;
        }
        for _ in 0..11 {
            writer
                .append(journal_kind(seq), seq, &journal_payload(seq))
                .expect("append");
            seq += 1;
        }
        writer.close().expect("close");
        let reader = JournalReader::open(&dir).expect("reader");
        let second_first = reader.segments()[1].header.first_seq;
        let records: Vec<Placed> = reader
            .records_from(1)
            .expect("records")
            .map(|r| {
                let r = r.expect("whole");
                Placed {
                    seq: r.meta.seq,
                    segment: usize::from(r.meta.seq >= second_first),
                    offset: r.offset,
                    len: RECORD_HEADER_LEN + r.payload.len(),
                }
            })
            .collect();
        drop(reader);
        let end_of = |segment: usize| {
            records
                .iter()
                .filter(|r| r.segment == segment)
                .map(|r| r.offset + r.len.div_ceil(8) * 8)
                .max()
                .expect("records in segment")
        };
        let files = [dir.join("00000000.seg"), dir.join("00000001.seg")];
        let pristine = files
            .clone()
            .map(|f| std::fs::read(f).expect("read segment"));
        Fixture {
            data_end: end_of(1),
            sealed_data_end: end_of(0),
            _dir: tmp,
            dir,
            files,
            pristine,
            records,
        }
    }

    fn restore(&self) {
        for (file, bytes) in self.files.iter().zip(&self.pristine) {
            std::fs::write(file, bytes).expect("restore segment");
        }
        for index in ["00000000.idx", "00000001.idx", "00000002.seg"] {
            let _ = std::fs::remove_file(self.dir.join(index));
        }
    }

    fn in_segment(&self, segment: usize) -> impl Iterator<Item = &Placed> {
        self.records.iter().filter(move |r| r.segment == segment)
    }

    fn record_at(&self, segment: usize, byte: usize) -> Option<&Placed> {
        self.in_segment(segment)
            .find(|r| (r.offset..r.offset + r.len.div_ceil(8) * 8).contains(&byte))
    }
}

fn flip(path: &Path, byte: usize, bit: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[byte] ^= 1 << bit;
    std::fs::write(path, bytes).expect("write");
}

fn damaged_offset(
    result: Result<(JournalWriter, keel_journal::RecoveryReport), JournalError>,
) -> (PathBuf, u64) {
    match result {
        Err(JournalError::Damaged { path, offset, .. }) => (path, offset),
        Err(other) => panic!("expected damage, got {other}"),
        Ok((_, report)) => panic!("expected damage, opened: {report:?}"),
    }
}

#[test]
fn cut_at_every_byte_of_the_last_records_recovers_the_whole_ones() {
    let fixture = Fixture::new();
    let open_records: Vec<&Placed> = fixture.in_segment(1).collect();
    let first_cut = open_records[open_records.len() - 5].offset;
    let last_seq = open_records.last().expect("records").seq;
    let pristine = &fixture.pristine[1];
    for cut in first_cut..=fixture.data_end {
        for physically in [false, true] {
            fixture.restore();
            if physically {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fixture.files[1])
                    .expect("open");
                file.set_len(cut as u64).expect("truncate");
            } else {
                let mut bytes = pristine.clone();
                bytes[cut..fixture.data_end].fill(0);
                std::fs::write(&fixture.files[1], bytes).expect("write");
            }
            // A record survives if the cut removed none of its non-zero bytes.
            let survives = |r: &&&Placed| {
                pristine[cut.max(r.offset).min(r.offset + r.len)..r.offset + r.len]
                    .iter()
                    .all(|&b| b == 0)
            };
            let whole = open_records.iter().take_while(survives).count();
            let expected_last = open_records[0].seq - 1 + whole as u64;
            let (mut writer, report) = JournalWriter::open(&fixture.dir, config())
                .unwrap_or_else(|e| panic!("cut at {cut} (physical {physically}): {e}"));
            assert_eq!(
                report.last_seq, expected_last,
                "cut at {cut} (physical {physically})"
            );
            let next = writer
                .append(9, 0, b"after the cut")
                .expect("append continues");
            assert_eq!(next, expected_last + 1);
            writer.close().expect("close");
            let reader = JournalReader::open(&fixture.dir).expect("reader");
            let mut count = 0u64;
            for record in reader.records_from(1).expect("records") {
                record.expect("every record whole after recovery");
                count += 1;
            }
            assert_eq!(count, expected_last + 1);
        }
    }
    assert!(last_seq > 5);
}

#[test]
fn every_bit_flip_in_the_open_segment_is_detected() {
    let fixture = Fixture::new();
    let last = *fixture.in_segment(1).last().expect("records");
    for byte in 0..fixture.data_end + 4 {
        for bit in 0..8 {
            fixture.restore();
            flip(&fixture.files[1], byte, bit);
            let result = JournalWriter::open(&fixture.dir, config());
            let at = format!("byte {byte} bit {bit}");
            if byte < SEGMENT_HEADER_LEN {
                assert_eq!(
                    damaged_offset(result),
                    (fixture.files[1].clone(), 0),
                    "{at}"
                );
            } else if byte >= fixture.data_end {
                // The zero length word after the last record: a torn tail losing nothing.
                let (_, report) = result.unwrap_or_else(|e| panic!("{at}: {e}"));
                let torn = report.torn_tail.expect("torn tail reported");
                assert_eq!(
                    (torn.offset, report.last_seq),
                    (fixture.data_end as u64, last.seq),
                    "{at}"
                );
            } else if byte >= last.offset {
                let (_, report) = result.unwrap_or_else(|e| panic!("{at}: {e}"));
                let torn = report.torn_tail.expect("torn tail reported");
                assert_eq!(
                    (torn.offset, report.last_seq),
                    (last.offset as u64, last.seq - 1),
                    "{at}"
                );
            } else {
                let record = fixture.record_at(1, byte).expect("byte inside a record");
                let expected = (fixture.files[1].clone(), record.offset as u64);
                assert_eq!(damaged_offset(result), expected, "{at}");
            }
        }
    }
}

#[test]
fn bit_flips_in_the_sealed_segment_refuse_to_open() {
    let fixture = Fixture::new();
    let seal_start = SEGMENT_BYTES as usize - SEAL_LEN;
    let mut bytes: Vec<usize> = (0..SEGMENT_HEADER_LEN).collect();
    bytes.extend(fixture.sealed_data_end..fixture.sealed_data_end + 4);
    bytes.extend(seal_start..SEGMENT_BYTES as usize);
    bytes.extend((SEGMENT_HEADER_LEN..fixture.sealed_data_end).step_by(61));
    let mut checked = 0;
    for byte in bytes {
        for bit in [0, 3, 7] {
            fixture.restore();
            flip(&fixture.files[0], byte, bit);
            let (path, offset) = damaged_offset(JournalWriter::open(&fixture.dir, config()));
            assert_eq!(path, fixture.files[0], "byte {byte} bit {bit}");
            let expected = if byte < SEGMENT_HEADER_LEN {
                0
            } else if byte >= seal_start {
                seal_start as u64
            } else if byte >= fixture.sealed_data_end {
                fixture.sealed_data_end as u64
            } else {
                fixture.record_at(0, byte).expect("inside a record").offset as u64
            };
            assert_eq!(offset, expected, "byte {byte} bit {bit}");
            checked += 1;
        }
    }
    assert!(checked > 1_000);
}

/// A crash after the next segment was created (or a spare adopted) but before the
/// previous one got its end marker leaves an empty last segment after an unclosed one.
/// Recovery removes the empty one, so a torn tail in the previous is still a torn tail.
#[test]
fn an_empty_successor_of_an_unclosed_segment_is_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (mut writer, _) = JournalWriter::open(dir, config()).expect("open");
    for seq in 1..=20 {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
    }
    writer.close().expect("close");
    let _ = std::fs::remove_file(dir.join("00000001.seg")); // the spare, if any
    let reader = JournalReader::open(dir).expect("reader");
    let last = reader
        .records_from(20)
        .expect("seek")
        .next()
        .expect("record 20")
        .expect("whole");
    let last_offset = last.offset;
    drop(reader);
    flip(&dir.join("00000000.seg"), last_offset + 40, 2); // tear record 20
    let faults = keel_journal::faults::Faults::default();
    keel_journal::segment::Segment::create(dir, 1, 21, SEGMENT_BYTES, Durability::None, &faults)
        .expect("empty successor");
    let (mut writer, report) = JournalWriter::open(dir, config()).expect("recovers");
    assert_eq!(report.last_seq, 19);
    assert_eq!(
        report.torn_tail.expect("torn tail").offset,
        last_offset as u64
    );
    assert_eq!(writer.append(1, 1, b"continues").expect("append"), 20);
    writer.close().expect("close");
}

/// Writes records 1–50 into `dir` and closes once the spare segment exists; returns the
/// spare's path.
fn fifty_records_and_a_spare(dir: &Path) -> PathBuf {
    let (mut writer, _) = JournalWriter::open(dir, config()).expect("open");
    for seq in 1..=50 {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
    }
    let spare = dir.join("00000001.seg");
    wait_for_file(&spare);
    writer.close().expect("close");
    spare
}

/// Issue 10, finding 13: a zeroed length word, or a zeroed 4 KiB page starting on a
/// record, in the open segment looked like the end of the records: `verify` passed and
/// recovery dropped (then overwrote) every valid record after it. Both must refuse,
/// naming the file and the offset, at every sampled place.
#[test]
fn zeroed_words_and_pages_in_the_open_segment_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let big = JournalConfig {
        segment_size_bytes: 1 << 20,
        ..config()
    };
    let (mut writer, _) = JournalWriter::open(dir, big.clone()).expect("open");
    for seq in 1..=3_000 {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
    }
    writer.close().expect("close");
    let reader = JournalReader::open(dir).expect("reader");
    let offsets: Vec<usize> = reader
        .records_from(1)
        .expect("records")
        .map(|r| r.expect("whole").offset)
        .collect();
    drop(reader);
    let file = dir.join("00000000.seg");
    let pristine = std::fs::read(&file).expect("read");
    let last_offset = *offsets.last().expect("records");
    let mut tried = 0;
    for (i, &offset) in offsets.iter().enumerate().step_by(97) {
        for width in [4usize, 4096] {
            if offset + width >= last_offset {
                continue; // nothing valid after it: a torn tail, rightly truncated
            }
            let mut bytes = pristine.clone();
            bytes[offset..offset + width].fill(0);
            std::fs::write(&file, &bytes).expect("damage");
            let verified =
                keel_journal::check_journal(dir, keel_journal::Depth::Verify, &mut |_| {});
            match verified {
                Err(JournalError::Damaged {
                    path, offset: at, ..
                }) => {
                    assert_eq!(
                        (path, at),
                        (file.clone(), offset as u64),
                        "record {i}, {width} bytes"
                    )
                }
                other => panic!("verify passed a zeroed {width} bytes at record {i}: {other:?}"),
            }
            let (path, at) = damaged_offset(JournalWriter::open(dir, big.clone()));
            assert_eq!((path, at), (file.clone(), offset as u64));
            assert_eq!(
                std::fs::read(&file).expect("read"),
                bytes,
                "refusing changed nothing"
            );
            tried += 1;
        }
    }
    assert!(tried >= 40, "{tried} places");
}

/// Waits for the writer's background thread to prepare the next segment (a spare).
fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Issue 10, finding 13: a flipped bit in the header of an empty pre-created spare made
/// the journal unopenable; a cut inside the last segment's header refused to open
/// instead of recovering the segments before it; interrupted writes' temporaries were
/// never removed. A segment that provably held no record is removed and reported.
#[test]
fn a_last_segment_that_held_no_record_is_removed_not_fatal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let spare = fifty_records_and_a_spare(dir);
    assert!(spare.exists(), "the spare outlives close");
    flip(&spare, 5, 3); // in its header
    std::fs::write(dir.join("00000000.idx.tmp"), b"half").expect("temporary");
    let (writer, report) = JournalWriter::open(dir, config()).expect("opens");
    assert_eq!(report.last_seq, 50);
    let (path, reason) = report.discarded_segment.expect("reported");
    assert_eq!(path, spare);
    assert!(reason.contains("held no record"), "{reason}");
    assert!(
        !dir.join("00000000.idx.tmp").exists(),
        "temporaries removed"
    );
    writer.close().expect("close");

    // A copy cut inside the last segment's header: the segments before it recover.
    let (mut writer, _) = JournalWriter::open(dir, config()).expect("open");
    let mut seq = 51;
    while writer.active_segment_index() == 0 {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
        seq += 1;
    }
    writer.close().expect("close");
    let second = dir.join("00000001.seg");
    let bytes = std::fs::read(&second).expect("read");
    std::fs::write(&second, &bytes[..40]).expect("cut inside the header");
    let (writer, report) = JournalWriter::open(dir, config()).expect("recovers the first");
    assert!(report.discarded_segment.is_some());
    assert!(report.last_seq >= 50, "{report:?}");
    writer.close().expect("close");
    // A damaged header over data is still refused.
    let (mut writer, _) = JournalWriter::open(dir, config()).expect("open");
    let mut seq = writer.acknowledged_seq() + 1;
    let start_index = writer.active_segment_index();
    while writer.active_segment_index() == start_index {
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .expect("append");
        seq += 1;
    }
    writer.close().expect("close");
    let with_data = dir.join(format!("{start_index:08}.seg"));
    flip(&with_data, 5, 3);
    assert!(matches!(
        JournalWriter::open(dir, config()),
        Err(JournalError::Damaged { .. })
    ));
}

/// Rewrites a segment's header as another format version would have written it (intact,
/// its CRC right).
fn set_format_version(path: &Path, version: u32) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[0..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, &bytes).expect("write");
}

/// An empty last segment of another format version is not damage to clean up: opening
/// refuses it by name and leaves the file alone.
#[test]
fn an_empty_segment_of_another_format_version_is_refused_not_removed() {
    use keel_journal::format::FORMAT_VERSION;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let spare = fifty_records_and_a_spare(dir);
    set_format_version(&spare, FORMAT_VERSION + 1);
    match JournalWriter::open(dir, config()) {
        Err(JournalError::OtherVersion { path, found }) => {
            assert_eq!((path, found), (spare.clone(), FORMAT_VERSION + 1));
        }
        Err(other) => panic!("expected OtherVersion, got {other}"),
        Ok(_) => panic!("a segment of another version was taken as this one's"),
    }
    assert!(spare.exists(), "another version's file is left alone");
}

/// A segment of another format version (intact, its header CRC right) is refused as
/// such, naming the file and the version this build reads — not reported as damage.
#[test]
fn a_segment_of_another_format_version_is_refused_by_name() {
    use keel_journal::format::FORMAT_VERSION;
    let fixture = Fixture::new();
    set_format_version(&fixture.files[0], FORMAT_VERSION - 1);
    match JournalReader::open(&fixture.dir) {
        Err(error @ JournalError::OtherVersion { found, .. }) => {
            assert_eq!(found, FORMAT_VERSION - 1);
            let text = error.to_string();
            assert!(text.contains("00000000.seg"), "{text}");
            assert!(
                text.contains(&format!("format version {FORMAT_VERSION} only")),
                "{text}"
            );
        }
        Err(other) => panic!("expected OtherVersion, got {other}"),
        Ok(_) => panic!("a segment of another version was opened"),
    }
}
