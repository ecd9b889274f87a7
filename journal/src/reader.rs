//! Reading a journal, in this process or another, while a writer may be appending:
//! iterate from any sequence number (seeking by segment and sparse index).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{JournalError, Result};
use crate::format::{RecordView, SEGMENT_HEADER_LEN, Slot};
use crate::index::load_or_rebuild;
use crate::recovery::TornTail;
use crate::scan::valid_record_after;
use crate::segment::{Segment, open_data_segments};

/// A read-only view of a journal's segments as they were when opened (new records
/// appended later to the last segment are seen too; new segments are not).
pub struct JournalReader {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// A torn last record that iteration stopped before (found once, kept).
    torn_tail: OnceLock<TornTail>,
}

impl JournalReader {
    pub fn open(dir: &Path) -> Result<JournalReader> {
        let segments = open_data_segments(dir)?;
        if segments.is_empty() {
            return Err(JournalError::Empty(dir.to_path_buf()));
        }
        for pair in segments.windows(2) {
            if pair[1].header.first_seq <= pair[0].header.first_seq {
                let reason = "first sequence does not increase";
                return Err(JournalError::damaged(&pair[1].path, 24, reason));
            }
        }
        Ok(JournalReader {
            dir: dir.to_path_buf(),
            segments,
            torn_tail: OnceLock::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The torn last record iteration stopped before, if it met one: what a crash left
    /// and the writer's recovery would truncate. Reading never modifies the files.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.get()
    }

    /// First sequence number held.
    pub fn first_seq(&self) -> u64 {
        self.segments[0].header.first_seq
    }

    /// Records from `from_seq` on (from the first held, if `from_seq` is older).
    pub fn records_from(&self, from_seq: u64) -> Result<Records<'_>> {
        let from_seq = from_seq.max(self.first_seq());
        let position = self
            .segments
            .partition_point(|segment| segment.header.first_seq <= from_seq)
            .saturating_sub(1);
        let segment = &self.segments[position];
        let (offset, seq) = seek_in_segment(segment, from_seq);
        let mut records = Records {
            reader: self,
            position,
            offset,
            next_seq: seq,
        };
        while records.next_seq < from_seq {
            match records.next() {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => {
                    let last = records.next_seq - 1;
                    return Err(JournalError::SeqOutOfRange {
                        requested: from_seq,
                        first: self.first_seq(),
                        last,
                    });
                }
            }
        }
        Ok(records)
    }
}

/// Where to start scanning in `segment` for `seq`: the closest index entry at or before
/// it (checked against the record actually there), else the segment's first record.
pub fn seek_in_segment(segment: &Segment, seq: u64) -> (usize, u64) {
    let start = (SEGMENT_HEADER_LEN, segment.header.first_seq);
    let index = load_or_rebuild(segment);
    let position = index.partition_point(|entry| entry.seq <= seq);
    let Some(entry) = position.checked_sub(1).map(|i| index[i]) else {
        return start;
    };
    let offset = entry.offset as usize;
    if offset % 8 != 0 || offset + 4 > segment.len() {
        return start;
    }
    match segment.slot(offset) {
        Slot::Record(record) if record.meta.seq == entry.seq => (offset, entry.seq),
        _ => start, // a stale or damaged index: fall back to scanning
    }
}

/// Iterator over whole, CRC-checked records in sequence order.
pub struct Records<'a> {
    reader: &'a JournalReader,
    position: usize,
    offset: usize,
    next_seq: u64,
}

impl<'a> Records<'a> {
    /// Sequence number of the next record this iterator would yield.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let segment = &self.reader.segments[self.position];
            let is_last = self.position + 1 == self.reader.segments.len();
            let slot = if self.offset + 4 <= segment.len() {
                segment.slot(self.offset)
            } else {
                Slot::Damaged("record position past the segment end")
            };
            match slot {
                Slot::Record(record) if record.meta.seq == self.next_seq => {
                    self.offset = record.next_offset;
                    self.next_seq += 1;
                    return Some(Ok(record));
                }
                Slot::Record(record) => {
                    let reason = format!(
                        "sequence {} where {} was expected",
                        record.meta.seq, self.next_seq
                    );
                    return Some(Err(JournalError::damaged(
                        &segment.path,
                        self.offset as u64,
                        reason,
                    )));
                }
                Slot::Damaged(reason) => {
                    // In the last segment, damage with no valid record after it is a torn
                    // tail: the records end before it, as recovery would decide. (Only a
                    // crashed, not yet reopened journal has one: a writer truncates it on
                    // open, so no writer is appending to these bytes.)
                    let torn = is_last
                        && valid_record_after(segment, self.offset, self.next_seq - 1).is_none();
                    if torn {
                        let _ = self.reader.torn_tail.set(TornTail {
                            segment: segment.path.clone(),
                            offset: self.offset as u64,
                            bytes_dropped: 0,
                            reason: reason.to_string(),
                        });
                        return None;
                    }
                    return Some(Err(JournalError::damaged(
                        &segment.path,
                        self.offset as u64,
                        reason,
                    )));
                }
                Slot::Empty if is_last => return None,
                Slot::Empty | Slot::End if !is_last => {
                    // A closed segment (or one a crash left without its end marker, before
                    // recovery): continue in the next, which must carry on the sequence.
                    let next = &self.reader.segments[self.position + 1];
                    if next.header.first_seq != self.next_seq {
                        let reason = format!(
                            "next segment starts at sequence {}, expected {}",
                            next.header.first_seq, self.next_seq
                        );
                        return Some(Err(JournalError::damaged(&next.path, 24, reason)));
                    }
                    self.position += 1;
                    self.offset = SEGMENT_HEADER_LEN;
                }
                Slot::Empty | Slot::End => return None,
            }
        }
    }
}
