//! Whole-journal checks for `keel journal verify` and `inspect`: every header, every
//! record CRC, sequence continuity across segments, and every seal (content hash
//! recomputed, chain to the previous seal). Read-only.

use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{Durability, SEAL_LEN, Seal, read_u64};
use crate::scan::{ScanEnd, scan, valid_record_after, zeroed_gap, zeroed_gap_reason};
use crate::segment::{Segment, open_data_segments};

/// One segment as verified or inspected.
#[derive(Clone, Debug)]
pub struct SegmentSummary {
    pub path: PathBuf,
    pub index: u64,
    pub first_seq: u64,
    /// `first_seq − 1` when the segment holds no record.
    pub last_seq: u64,
    pub records: u64,
    pub bytes_used: u64,
    pub size_bytes: u64,
    pub durability: Durability,
    /// First and last record timestamps (ns since the epoch), when it has records.
    pub timestamps_ns: Option<(u64, u64)>,
    pub seal: Option<[u8; 32]>,
}

/// The whole journal.
#[derive(Clone, Debug)]
pub struct JournalSummary {
    pub segments: Vec<SegmentSummary>,
    pub records: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The newest seal: a fingerprint of all closed history.
    pub head_seal: Option<[u8; 32]>,
}

/// How deep to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Headers and seals; records of the open segment only. Fast.
    Inspect,
    /// Everything, including every record and every seal's content hash.
    Verify,
}

/// Checks the journal in `dir`; `progress` is told the bytes checked so far.
pub fn check_journal(
    dir: &Path,
    depth: Depth,
    progress: &mut dyn FnMut(u64),
) -> Result<JournalSummary> {
    let listed = open_data_segments(dir)?;
    if listed.is_empty() {
        return Err(JournalError::Empty(dir.to_path_buf()));
    }
    let mut summary = JournalSummary {
        segments: Vec::new(),
        records: 0,
        first_seq: 0,
        last_seq: 0,
        head_seal: None,
    };
    let mut previous_seal: Option<[u8; 32]> = None;
    let mut checked_bytes = 0u64;
    let last_position = listed.len() - 1;
    for (position, segment) in listed.iter().enumerate() {
        let path = &segment.path;
        let expected_first = summary
            .segments
            .last()
            .map(|s: &SegmentSummary| s.last_seq + 1);
        if let Some(expected) = expected_first {
            if segment.header.first_seq != expected {
                let reason = format!(
                    "first sequence {} where {expected} was expected",
                    segment.header.first_seq
                );
                return Err(JournalError::damaged(path, 24, reason));
            }
        } else {
            summary.first_seq = segment.header.first_seq;
        }
        let seal = segment.seal()?;
        let closed = position < last_position;
        let segment_summary = match (depth, seal) {
            (Depth::Inspect, Some(seal)) => summarize_sealed(segment, &seal, previous_seal)?,
            _ => scan_segment(segment, seal, previous_seal, closed)?,
        };
        checked_bytes += segment_summary.bytes_used;
        progress(checked_bytes);
        if let Some(hash) = segment_summary.seal {
            previous_seal = Some(hash);
            summary.head_seal = Some(hash);
        }
        summary.records += segment_summary.records;
        summary.last_seq = segment_summary.last_seq;
        summary.segments.push(segment_summary);
    }
    Ok(summary)
}

fn base_summary(segment: &Segment) -> SegmentSummary {
    SegmentSummary {
        path: segment.path.clone(),
        index: segment.index(),
        first_seq: segment.header.first_seq,
        last_seq: segment.header.first_seq - 1,
        records: 0,
        bytes_used: 0,
        size_bytes: segment.len() as u64,
        durability: segment.header.durability,
        timestamps_ns: None,
        seal: None,
    }
}

fn check_chain(segment: &Segment, seal: &Seal, previous_seal: Option<[u8; 32]>) -> Result<()> {
    let chained = match previous_seal {
        Some(previous) => seal.previous_seal == previous,
        None => segment.index() != 0 || seal.previous_seal == [0; 32],
    };
    if chained {
        return Ok(());
    }
    let offset = (segment.len() - SEAL_LEN + 64) as u64;
    Err(JournalError::damaged(
        &segment.path,
        offset,
        "seal does not chain to the previous segment's seal",
    ))
}

fn summarize_sealed(
    segment: &Segment,
    seal: &Seal,
    previous_seal: Option<[u8; 32]>,
) -> Result<SegmentSummary> {
    check_chain(segment, seal, previous_seal)?;
    Ok(SegmentSummary {
        last_seq: seal.last_seq,
        records: seal.record_count,
        bytes_used: seal.data_end,
        seal: Some(seal.seal_hash),
        ..base_summary(segment)
    })
}

fn scan_segment(
    segment: &Segment,
    seal: Option<Seal>,
    previous_seal: Option<[u8; 32]>,
    closed: bool,
) -> Result<SegmentSummary> {
    let outcome = scan(segment);
    if let ScanEnd::Damaged { offset, reason } = &outcome.end {
        let reason = if closed {
            reason.clone()
        } else if let Some(seq) = valid_record_after(segment, *offset as usize, outcome.last_seq) {
            format!(
                "{reason}; record {seq} follows it: interior damage, which the writer refuses to open"
            )
        } else {
            format!(
                "{reason} (a torn tail: opening for writing truncates it; replay stops before it)"
            )
        };
        return Err(JournalError::damaged(&segment.path, *offset, reason));
    }
    if !closed {
        if let Some((offset, seq)) = zeroed_gap(segment, &outcome) {
            return Err(JournalError::damaged(
                &segment.path,
                offset,
                zeroed_gap_reason(seq),
            ));
        }
    }
    if closed && outcome.end != ScanEnd::Closed {
        let reason = "closed segment has no end marker";
        return Err(JournalError::damaged(
            &segment.path,
            outcome.end_offset as u64,
            reason,
        ));
    }
    let mut summary = SegmentSummary {
        last_seq: outcome.last_seq,
        records: outcome.record_count,
        bytes_used: outcome.end_offset as u64,
        timestamps_ns: timestamps(segment, outcome.record_count, outcome.end_offset),
        ..base_summary(segment)
    };
    match seal {
        Some(seal) => {
            check_chain(segment, &seal, previous_seal)?;
            // SAFETY: a sealed segment is closed; nothing writes its data any more.
            let data = unsafe { segment.bytes_unchecked(outcome.end_offset) };
            let recomputed = Seal::compute(
                data,
                outcome.record_count,
                outcome.last_seq,
                seal.previous_seal,
            );
            if recomputed != seal {
                let offset = (segment.len() - SEAL_LEN) as u64;
                let reason = "seal does not match the segment's contents (altered after sealing)";
                return Err(JournalError::damaged(&segment.path, offset, reason));
            }
            summary.seal = Some(seal.seal_hash);
        }
        None if closed => {
            let offset = (segment.len() - SEAL_LEN) as u64;
            let reason = "closed segment is not sealed (opening for writing seals it)";
            return Err(JournalError::damaged(&segment.path, offset, reason));
        }
        None => {}
    }
    Ok(summary)
}

/// First and last record timestamps, read from the first record and by a second short
/// walk to the last one (the scan already validated every record).
fn timestamps(segment: &Segment, records: u64, end_offset: usize) -> Option<(u64, u64)> {
    if records == 0 {
        return None;
    }
    // SAFETY: `[0, end_offset)` holds published, validated records only.
    let bytes = unsafe { segment.bytes_unchecked(end_offset) };
    let first = read_u64(bytes, crate::format::SEGMENT_HEADER_LEN + 16);
    let mut offset = crate::format::SEGMENT_HEADER_LEN;
    let mut last = first;
    while offset < end_offset {
        last = read_u64(bytes, offset + 16);
        offset += crate::format::align_record(crate::format::read_u32(bytes, offset) as usize);
    }
    Some((first, last))
}
