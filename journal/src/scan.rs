//! Walking a segment's records in order, validating each (CRC, length, sequence), and
//! telling a torn tail from damage with valid records after it.

use crate::format::{
    RECORD_ALIGN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_TAIL_RESERVE, Slot, read_u64,
};
use crate::segment::Segment;

/// Records between two entries of a segment's sparse index.
pub const INDEX_INTERVAL_RECORDS: u64 = 1024;

/// One sparse-index entry: where record `seq` starts in its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub seq: u64,
    pub offset: u64,
}

/// How a segment's record sequence ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// A zero length word: nothing written after this point.
    Open,
    /// The end marker of a closed segment.
    Closed,
    /// Bytes at `offset` are not the record that should be there.
    Damaged { offset: u64, reason: String },
}

/// What a scan found.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    pub record_count: u64,
    /// Sequence of the last whole record (`first_seq − 1` when there is none).
    pub last_seq: u64,
    /// Offset just after the last whole record: where the next one (or the end marker) goes.
    pub end_offset: usize,
    pub end: ScanEnd,
    pub index: Vec<IndexEntry>,
}

/// Scans `segment` from its first record, expecting sequence numbers from its header's
/// `first_seq`, contiguous. Stops at the first slot that is not a valid next record.
pub fn scan(segment: &Segment) -> ScanOutcome {
    let first_seq = segment.header.first_seq;
    let mut outcome = ScanOutcome {
        record_count: 0,
        last_seq: first_seq - 1,
        end_offset: SEGMENT_HEADER_LEN,
        end: ScanEnd::Open,
        index: Vec::new(),
    };
    let limit = segment.len() - SEGMENT_TAIL_RESERVE;
    let mut offset = SEGMENT_HEADER_LEN;
    while offset <= limit {
        match segment.slot(offset) {
            Slot::Empty => return outcome,
            Slot::End => {
                outcome.end = ScanEnd::Closed;
                return outcome;
            }
            Slot::Damaged(reason) => {
                outcome.end = damaged(offset, reason);
                return outcome;
            }
            Slot::Record(record) => {
                let expected = outcome.last_seq + 1;
                if record.meta.seq != expected {
                    let reason =
                        format!("sequence {} where {expected} was expected", record.meta.seq);
                    outcome.end = ScanEnd::Damaged {
                        offset: offset as u64,
                        reason,
                    };
                    return outcome;
                }
                if (record.meta.seq - first_seq) % INDEX_INTERVAL_RECORDS == 0 {
                    outcome.index.push(IndexEntry {
                        seq: record.meta.seq,
                        offset: offset as u64,
                    });
                }
                outcome.record_count += 1;
                outcome.last_seq = record.meta.seq;
                offset = record.next_offset;
                outcome.end_offset = offset;
            }
        }
    }
    // Only a damaged length can carry the scan past the space records may use.
    outcome.end = damaged(offset, "record position past the segment's record area");
    outcome
}

fn damaged(offset: usize, reason: &str) -> ScanEnd {
    ScanEnd::Damaged {
        offset: offset as u64,
        reason: reason.to_string(),
    }
}

/// Whether any valid record with a sequence number above `after_seq` starts after
/// `offset`: if so, damage at `offset` is interior (records follow it), else it is a torn
/// tail. Checks every aligned position; cheap fields first, CRC last.
pub fn valid_record_after(segment: &Segment, offset: usize, after_seq: u64) -> Option<u64> {
    let limit = segment.len() - SEGMENT_TAIL_RESERVE;
    // SAFETY: called by recovery and verification, which hold the journal lock or
    // read a journal no writer appends to, and by readers only on damage in the last
    // segment, which exists only before a writer's recovery (a writer truncates it on
    // open): no writer is changing these bytes.
    let bytes = unsafe { segment.bytes_unchecked(segment.len()) };
    let mut position = offset + RECORD_ALIGN;
    while position <= limit {
        let seq = read_u64(bytes, position + 8);
        let plausible_seq = seq > after_seq && seq - after_seq <= 1 << 40;
        if plausible_seq && crate::format::read_u32(bytes, position) as usize >= RECORD_HEADER_LEN {
            if let Slot::Record(record) = segment.slot(position) {
                return Some(record.meta.seq);
            }
        }
        position += RECORD_ALIGN;
    }
    None
}

/// Where an open segment's records seem to end but do not: a zero length word (a zeroed
/// word or page, the classic power-loss pattern) with a valid later record after it.
/// `Some((offset, seq))`: the gap's offset and the first record found after it.
pub fn zeroed_gap(segment: &Segment, outcome: &ScanOutcome) -> Option<(u64, u64)> {
    if outcome.end != ScanEnd::Open {
        return None;
    }
    valid_record_after(segment, outcome.end_offset, outcome.last_seq)
        .map(|seq| (outcome.end_offset as u64, seq))
}

/// The message for a gap [`zeroed_gap`] found.
pub fn zeroed_gap_reason(seq: u64) -> String {
    format!(
        "zero length word where a record should be, and record {seq} follows it (a zeroed word or page): not a torn tail"
    )
}
