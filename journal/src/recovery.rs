//! Opening a journal for writing: the recovery policy (docs/JOURNAL.md).
//!
//! - A torn tail (an incomplete or CRC-failing last record, with no valid record after
//!   it) is truncated and reported; appending continues after the last whole record.
//! - Damage anywhere else (bad CRC or length with valid records after it, a sequence gap,
//!   a broken or unchained seal, a bad header) refuses to open, naming file and offset.
//! - A closed segment left unsealed by a crash is sealed now.

use std::path::{Path, PathBuf};

use crate::config::JournalConfig;
use crate::error::{JournalError, Result};
use crate::faults::Faults;
use crate::format::{
    Durability, END_MARKER, HeaderError, PAYLOAD_MAX_BYTES, RECORD_HEADER_LEN, SEAL_LEN,
    SEGMENT_HEADER_LEN, SEGMENT_TAIL_RESERVE, SegmentHeader, align_record,
};
use crate::index::write_index;
use crate::scan::{IndexEntry, ScanEnd, scan, valid_record_after, zeroed_gap, zeroed_gap_reason};
use crate::seal::seal_segment;
use crate::segment::{Segment, list_segments};

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: u64,
    /// First sequence number held (1 for a new journal).
    pub first_seq: u64,
    /// Last whole record's sequence number (`first_seq − 1` when empty).
    pub last_seq: u64,
    pub torn_tail: Option<TornTail>,
    /// Closed segments a crash had left unsealed, sealed during this open.
    pub sealed_on_open: Vec<u64>,
    /// A last segment that could hold no record (cut inside its header, or a damaged
    /// header over an empty body, e.g. a pre-created spare), removed: file and why.
    pub discarded_segment: Option<(PathBuf, String)>,
}

/// A truncated torn tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    pub offset: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

/// The writer's starting point.
pub(crate) struct Recovered {
    pub active: Segment,
    pub end_offset: usize,
    pub next_seq: u64,
    pub records_in_active: u64,
    pub active_index: Vec<IndexEntry>,
    pub last_seal: [u8; 32],
}

pub(crate) fn recover(
    dir: &Path,
    config: &JournalConfig,
    faults: &Faults,
) -> Result<(Recovered, RecoveryReport)> {
    crate::segment::remove_stale_temporaries(dir)?;
    let mut segments = list_segments(dir)?;
    // A spare with a damaged header, then (the spare removed) a data segment cut inside
    // its header: either may be last.
    let mut discarded_segment = discard_recordless_last(dir, &mut segments)?;
    if let Some((_, last_path)) = segments.last() {
        restore_short_file(last_path)?;
    }
    drop_empty_successors(dir, &mut segments)?;
    if discarded_segment.is_none() {
        discarded_segment = discard_recordless_last(dir, &mut segments)?;
        if let Some((_, last_path)) = segments.last() {
            restore_short_file(last_path)?;
        }
    }
    let mut report = RecoveryReport {
        segments: segments.len() as u64,
        first_seq: 1,
        last_seq: 0,
        torn_tail: None,
        sealed_on_open: Vec::new(),
        discarded_segment,
    };
    let Some(last_position) = segments.len().checked_sub(1) else {
        let active = create(dir, 0, 1, config, faults)?;
        report.segments = 1;
        return Ok((fresh(active, 1, [0; 32]), report));
    };
    let mut previous_seal: Option<[u8; 32]> = None;
    let mut expected_first_seq: Option<u64> = None;
    for (position, (index, path)) in segments.iter().enumerate() {
        let segment = Segment::open(path, true)?;
        check_header(&segment, *index, expected_first_seq, &mut report)?;
        if position < last_position {
            let (seal_hash, last_seq) =
                recover_closed(&segment, previous_seal, config, faults, &mut report)?;
            previous_seal = Some(seal_hash);
            expected_first_seq = Some(last_seq + 1);
            continue;
        }
        let last_seal = previous_seal.unwrap_or([0; 32]);
        return recover_last(dir, segment, last_seal, config, faults, report);
    }
    unreachable!("the loop returns at the last segment")
}

/// Removes a last segment whose header cannot be read but which provably holds no
/// record: cut inside its 64-byte header, or a damaged header over an all-zero body (a
/// pre-created spare with a flipped bit). The segments before it are then recovered as
/// usual. A damaged header over a body with data stays a refusal.
fn discard_recordless_last(
    dir: &Path,
    segments: &mut Vec<(u64, PathBuf)>,
) -> Result<Option<(PathBuf, String)>> {
    let Some((_, path)) = segments.last() else {
        return Ok(None);
    };
    let length = std::fs::metadata(path)
        .map_err(|e| JournalError::io(path, e))?
        .len();
    let reason = if length < SEGMENT_HEADER_LEN as u64 {
        format!("cut inside its header ({length} bytes): no whole record remains in it")
    } else {
        let bytes = std::fs::read(path).map_err(|e| JournalError::io(path, e))?;
        match SegmentHeader::decode(&bytes[..SEGMENT_HEADER_LEN]) {
            // A readable header: the usual checks decide (a short file is restored).
            Ok(_) => return Ok(None),
            Err(HeaderError::Damaged(why))
                if bytes[SEGMENT_HEADER_LEN..].iter().all(|&b| b == 0) =>
            {
                format!("unreadable header ({why}) over an empty body: it held no record")
            }
            // Data behind a damaged header, or another format version: refused by the
            // usual path, naming the file (another version is not damage to clean up).
            Err(_) => return Ok(None),
        }
    };
    let path = path.clone();
    tracing::warn!(path = %path.display(), %reason, "journal: removing a segment that held no record");
    std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
    crate::segment::sync_dir(dir)?;
    segments.pop();
    Ok(Some((path, reason)))
}

/// Removes trailing segments that hold nothing: a spare never adopted, or an empty
/// segment whose predecessor was never closed (a crash between creating or adopting the
/// next segment and writing the previous one's end marker). The predecessor is then the
/// last segment again, with the torn-tail policy that belongs to the last segment.
fn drop_empty_successors(dir: &Path, segments: &mut Vec<(u64, PathBuf)>) -> Result<()> {
    let Some((_, last_path)) = segments.last() else {
        return Ok(());
    };
    let last = Segment::open(last_path, false)?;
    let remove = if last.header.is_spare() {
        true
    } else if segments.len() >= 2 {
        let last_scan = scan(&last);
        let empty = last_scan.record_count == 0 && last_scan.end == ScanEnd::Open;
        empty && {
            let previous = Segment::open(&segments[segments.len() - 2].1, false)?;
            previous.seal()?.is_none() && scan(&previous).end != ScanEnd::Closed
        }
    } else {
        false
    };
    if remove {
        drop(last);
        if let Some((_, path)) = segments.pop() {
            tracing::info!(path = %path.display(), "journal: removing an empty trailing segment");
            std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
            crate::segment::sync_dir(dir)?;
        }
    }
    Ok(())
}

fn create(
    dir: &Path,
    index: u64,
    first_seq: u64,
    config: &JournalConfig,
    faults: &Faults,
) -> Result<Segment> {
    Segment::create(
        dir,
        index,
        first_seq,
        config.segment_size_bytes,
        config.durability,
        faults,
    )
}

fn fresh(active: Segment, next_seq: u64, last_seal: [u8; 32]) -> Recovered {
    Recovered {
        active,
        end_offset: SEGMENT_HEADER_LEN,
        next_seq,
        records_in_active: 0,
        active_index: Vec::new(),
        last_seal,
    }
}

fn check_header(
    segment: &Segment,
    index: u64,
    expected_first_seq: Option<u64>,
    report: &mut RecoveryReport,
) -> Result<()> {
    let header = &segment.header;
    if header.segment_index != index {
        return Err(JournalError::damaged(
            &segment.path,
            16,
            format!(
                "header says segment {}, file name says {index}",
                header.segment_index
            ),
        ));
    }
    match expected_first_seq {
        Some(expected) if header.first_seq != expected => Err(JournalError::damaged(
            &segment.path,
            24,
            format!(
                "first sequence {} where {expected} was expected",
                header.first_seq
            ),
        )),
        Some(_) => Ok(()),
        None => {
            report.first_seq = header.first_seq;
            Ok(())
        }
    }
}

/// A segment with a successor: check its seal, or (crash before sealing) seal it now.
/// Returns its seal hash and last sequence number.
fn recover_closed(
    segment: &Segment,
    previous_seal: Option<[u8; 32]>,
    config: &JournalConfig,
    faults: &Faults,
    report: &mut RecoveryReport,
) -> Result<([u8; 32], u64)> {
    let durability = config.durability;
    let seal_offset = (segment.len() - SEAL_LEN) as u64;
    if let Some(seal) = segment.seal()? {
        let data_end = seal.data_end as usize;
        let marker_ok = data_end >= SEGMENT_HEADER_LEN
            && data_end + SEGMENT_TAIL_RESERVE <= segment.len()
            && data_end % 4 == 0
            && segment.length_word(data_end) == END_MARKER;
        if !marker_ok {
            return Err(JournalError::damaged(
                &segment.path,
                seal.data_end,
                "no end marker where the seal says the records end",
            ));
        }
        let chained = match previous_seal {
            Some(previous) => seal.previous_seal == previous,
            None => segment.index() != 0 || seal.previous_seal == [0; 32],
        };
        let count_ok = seal.last_seq + 1 >= segment.header.first_seq
            && seal.record_count == seal.last_seq + 1 - segment.header.first_seq;
        if !chained || !count_ok {
            return Err(JournalError::damaged(
                &segment.path,
                seal_offset,
                "seal does not chain to the previous segment or disagrees with the header",
            ));
        }
        if config.verify_closed_segments_on_open {
            check_content(segment, &seal)?;
        }
        return Ok((seal.seal_hash, seal.last_seq));
    }
    // Unsealed: the crash came after the successor was created, before sealing finished.
    let outcome = scan(segment);
    match &outcome.end {
        ScanEnd::Damaged { offset, reason } => {
            return Err(JournalError::damaged(
                &segment.path,
                *offset,
                reason.clone(),
            ));
        }
        ScanEnd::Open => write_end_marker(segment, outcome.end_offset, durability, faults)?,
        ScanEnd::Closed => {}
    }
    let seal = seal_segment(
        segment,
        outcome.end_offset,
        outcome.record_count,
        outcome.last_seq,
        previous_seal.unwrap_or([0; 32]),
        durability,
        faults,
    )?;
    write_index(&segment.path, &outcome.index)?;
    report.sealed_on_open.push(segment.index());
    Ok((seal.seal_hash, outcome.last_seq))
}

/// Recomputes a sealed segment's content hash; on a mismatch, names the first damaged
/// record (or the seal, if every record is whole).
fn check_content(segment: &Segment, seal: &crate::format::Seal) -> Result<()> {
    // SAFETY: a sealed segment is closed; the journal is locked against writers.
    let data = unsafe { segment.bytes_unchecked(seal.data_end as usize) };
    if *blake3::hash(data).as_bytes() == seal.content_hash {
        return Ok(());
    }
    let outcome = scan(segment);
    let (offset, reason) = match outcome.end {
        ScanEnd::Damaged { offset, reason } => (offset, reason),
        _ if outcome.last_seq != seal.last_seq || outcome.end_offset as u64 != seal.data_end => (
            outcome.end_offset as u64,
            "records end elsewhere than the seal says".to_string(),
        ),
        _ => (
            (segment.len() - SEAL_LEN) as u64,
            "segment contents do not match the seal".to_string(),
        ),
    };
    Err(JournalError::damaged(&segment.path, offset, reason))
}

/// A last segment shorter than its header says (cut by a copy or restore): give it back
/// its size with zeros, so the cut is handled as a torn tail.
fn restore_short_file(path: &Path) -> Result<()> {
    let (file, len) = crate::segment::open_file(path, true)?;
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    if len < SEGMENT_HEADER_LEN as u64
        || std::os::unix::fs::FileExt::read_exact_at(&file, &mut header, 0).is_err()
    {
        return Ok(()); // opening reports the missing header
    }
    let Ok(decoded) = crate::format::SegmentHeader::decode(&header) else {
        return Ok(());
    };
    if len < decoded.segment_size {
        tracing::warn!(path = %path.display(), len, size = decoded.segment_size, "journal: last segment was cut short; restoring its size");
        file.set_len(decoded.segment_size)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io(path, e))?;
    }
    Ok(())
}

fn write_end_marker(
    segment: &Segment,
    offset: usize,
    durability: Durability,
    faults: &Faults,
) -> Result<()> {
    // SAFETY: in bounds (the scan stopped at a record position, which always leaves room
    // for the end marker); the journal is locked, so no writer or sealer touches it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            END_MARKER.to_le_bytes().as_ptr(),
            segment.base_ptr().add(offset),
            4,
        );
    }
    if durability != Durability::None {
        segment.sync_range(offset, 4, faults)?;
    }
    Ok(())
}

/// The last segment: find the end of its records, truncating a torn tail.
fn recover_last(
    dir: &Path,
    segment: Segment,
    last_seal: [u8; 32],
    config: &JournalConfig,
    faults: &Faults,
    mut report: RecoveryReport,
) -> Result<(Recovered, RecoveryReport)> {
    let outcome = scan(&segment);
    report.last_seq = outcome.last_seq;
    match outcome.end {
        ScanEnd::Open => {
            // A zeroed length word or page with records after it is damage, not the end:
            // appending here would overwrite the records that follow.
            if let Some((offset, seq)) = zeroed_gap(&segment, &outcome) {
                return Err(JournalError::damaged(
                    &segment.path,
                    offset,
                    zeroed_gap_reason(seq),
                ));
            }
        }
        ScanEnd::Closed => {
            // Closed but never succeeded: seal it (if needed) and start the next segment.
            let seal_hash = match segment.seal()? {
                Some(seal) => seal.seal_hash,
                None => {
                    let seal = seal_segment(
                        &segment,
                        outcome.end_offset,
                        outcome.record_count,
                        outcome.last_seq,
                        last_seal,
                        config.durability,
                        faults,
                    )?;
                    write_index(&segment.path, &outcome.index)?;
                    report.sealed_on_open.push(segment.index());
                    seal.seal_hash
                }
            };
            let next = create(
                dir,
                segment.index() + 1,
                outcome.last_seq + 1,
                config,
                faults,
            )?;
            report.segments += 1;
            return Ok((fresh(next, outcome.last_seq + 1, seal_hash), report));
        }
        ScanEnd::Damaged { offset, reason } => {
            if let Some(seq) = valid_record_after(&segment, offset as usize, outcome.last_seq) {
                return Err(JournalError::damaged(
                    &segment.path,
                    offset,
                    format!("{reason}; record {seq} follows it, so this is not a torn tail"),
                ));
            }
            report.torn_tail = Some(truncate_tail(
                &segment,
                offset as usize,
                reason,
                config.durability,
                faults,
            )?);
        }
    }
    let recovered = Recovered {
        end_offset: outcome.end_offset,
        next_seq: outcome.last_seq + 1,
        records_in_active: outcome.record_count,
        active_index: outcome.index,
        last_seal,
        active: segment,
    };
    Ok((recovered, report))
}

/// Zeroes the torn record at `offset` (its claimed extent, or just its length word when
/// the length itself is implausible) so the next append starts on clean ground.
fn truncate_tail(
    segment: &Segment,
    offset: usize,
    reason: String,
    durability: Durability,
    faults: &Faults,
) -> Result<TornTail> {
    let word = segment.length_word(offset) as usize;
    let room = segment.len() - SEAL_LEN - offset;
    let plausible = (RECORD_HEADER_LEN..=RECORD_HEADER_LEN + PAYLOAD_MAX_BYTES).contains(&word);
    let dropped = if plausible {
        align_record(word).min(room)
    } else {
        4
    };
    // SAFETY: `[offset, offset + dropped)` lies before the seal area (bounded by `room`);
    // the journal is locked, so no other writer exists.
    unsafe { std::ptr::write_bytes(segment.base_ptr().add(offset), 0, dropped) };
    if durability != Durability::None {
        segment.sync_range(offset, dropped, faults)?;
    }
    tracing::warn!(
        segment = %segment.path.display(),
        offset,
        bytes_dropped = dropped,
        %reason,
        "journal: torn tail truncated"
    );
    Ok(TornTail {
        segment: segment.path.clone(),
        offset: offset as u64,
        bytes_dropped: dropped as u64,
        reason,
    })
}
