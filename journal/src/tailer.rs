//! Following a live writer, from this process or another one mapping the files
//! read-only: every record exactly once, in order. Non-blocking: `poll` returns `None`
//! when nothing new is published yet, and the caller chooses how to wait.

use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{RecordView, SEGMENT_HEADER_LEN, Slot};
use crate::reader::seek_in_segment;
use crate::segment::{Segment, open_data_segments, segment_path};

pub struct Tailer {
    dir: PathBuf,
    segment: Segment,
    offset: usize,
    next_seq: u64,
}

impl Tailer {
    /// A tailer whose first record will be `from_seq` (or the first held, if older).
    pub fn open(dir: &Path, from_seq: u64) -> Result<Tailer> {
        let mut chosen = None;
        for segment in open_data_segments(dir)? {
            if segment.header.first_seq > from_seq && chosen.is_some() {
                break;
            }
            chosen = Some(segment);
        }
        let segment = chosen.ok_or_else(|| JournalError::Empty(dir.to_path_buf()))?;
        let from_seq = from_seq.max(segment.header.first_seq);
        let (offset, next_seq) = seek_in_segment(&segment, from_seq);
        let mut tailer = Tailer {
            dir: dir.to_path_buf(),
            segment,
            offset,
            next_seq,
        };
        while tailer.next_seq < from_seq {
            if tailer.poll()?.is_none() {
                break; // not written yet: `poll` will deliver it once it is
            }
        }
        Ok(tailer)
    }

    /// Sequence number of the next record `poll` will return.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next record if it has been published, else `None`.
    pub fn poll(&mut self) -> Result<Option<RecordView<'_>>> {
        let record_offset = loop {
            let step = match self.segment.slot(self.offset) {
                Slot::Empty => return Ok(None),
                Slot::Damaged(reason) => {
                    return Err(JournalError::damaged(
                        &self.segment.path,
                        self.offset as u64,
                        reason,
                    ));
                }
                Slot::End => None,
                Slot::Record(record) => Some((record.meta.seq, record.next_offset)),
            };
            let Some((seq, next_offset)) = step else {
                self.open_next_segment()?;
                continue;
            };
            if seq != self.next_seq {
                let reason = format!("sequence {seq} where {} was expected", self.next_seq);
                return Err(JournalError::damaged(
                    &self.segment.path,
                    self.offset as u64,
                    reason,
                ));
            }
            let record_offset = self.offset;
            self.offset = next_offset;
            self.next_seq += 1;
            break record_offset;
        };
        match self.segment.slot(record_offset) {
            Slot::Record(record) => Ok(Some(record)),
            _ => Err(JournalError::damaged(
                &self.segment.path,
                record_offset as u64,
                "a published record changed while being read",
            )),
        }
    }

    fn open_next_segment(&mut self) -> Result<()> {
        let next_path = segment_path(&self.dir, self.segment.index() + 1);
        // The writer creates the next segment before it writes the end marker.
        let next = Segment::open(&next_path, false)?;
        if next.header.first_seq != self.next_seq {
            let reason = format!(
                "starts at {}, expected {}",
                next.header.first_seq, self.next_seq
            );
            return Err(JournalError::damaged(&next_path, 24, reason));
        }
        self.segment = next;
        self.offset = SEGMENT_HEADER_LEN;
        Ok(())
    }
}
