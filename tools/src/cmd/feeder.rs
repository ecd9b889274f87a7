//! `keel run`'s side of the feeder protocol (docs/RELIABILITY.md): events decoded from
//! input lines in any format (docs/FEEDS.md), with an `InputPosition` bookmark journaled
//! every [`INPUT_POSITION_INTERVAL_LINES`] lines and at the end of input, so a restarted
//! run (`--resume`) skips what the journal already holds. Bookmarks fall between lines:
//! every event of a line is journaled before the bookmark that counts the line.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use keel_engine::events::{Event, EventBody, InputPosition, decode, kind_of};
use keel_feeds::feed::{Dropped, FeedDecoder, Refusal};
use keel_feeds::lines::{LineReader, RawLine};
use keel_journal::JournalReader;

/// Input lines between two journaled bookmarks. A crash re-reads at most this many
/// lines on `--resume`; their ids make the re-read events duplicates, not double counts.
pub const INPUT_POSITION_INTERVAL_LINES: u64 = 4_096;

/// Longest input line, in bytes: a whole `get_instruments` response fits.
pub const INPUT_LINE_BYTES_MAX: usize = keel_feeds::deribit::jsonrpc::MESSAGE_BYTES_MAX;

pub struct Feeder<R> {
    lines: LineReader<R>,
    decoder: Box<dyn FeedDecoder>,
    /// Lines refused (malformed or unusable); the decoder counts them by reason.
    pub lines_refused: u64,
    /// Timestamp of the last event read: the bookmark's (it must pass the clock checks).
    last_timestamp_ns: Option<u64>,
    /// Line of the last bookmark emitted.
    marked_line: u64,
    /// The current line's events (and bookmark), handed out from `next_pending` on.
    pending: Vec<Event>,
    next_pending: usize,
}

impl<R: BufRead> Feeder<R> {
    /// A feeder that starts after `resume_after_lines` lines (0: from the start). A CSV
    /// format's header is read even when resuming past it.
    pub fn new(
        input: R,
        decoder: Box<dyn FeedDecoder>,
        header_line: bool,
        resume_after_lines: u64,
    ) -> anyhow::Result<Feeder<R>> {
        let mut feeder = Feeder {
            lines: LineReader::new(input, INPUT_LINE_BYTES_MAX),
            decoder,
            lines_refused: 0,
            last_timestamp_ns: None,
            marked_line: resume_after_lines,
            pending: Vec::new(),
            next_pending: 0,
        };
        let mut skip = resume_after_lines;
        if header_line && skip > 0 {
            if let Some(RawLine::Line(header)) = feeder.lines.next_line() {
                let _ = feeder.decoder.decode(header, &mut Vec::new());
            }
            skip = skip.saturating_sub(feeder.lines.lines_read());
        }
        let skipped = feeder
            .lines
            .skip_lines(skip)
            .context("skipping journaled lines")?;
        anyhow::ensure!(
            skipped == skip,
            "--resume: the journal holds {resume_after_lines} input lines but the input has only {}",
            feeder.lines.lines_read()
        );
        Ok(feeder)
    }

    pub fn lines_read(&self) -> u64 {
        self.lines.lines_read()
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.lines.take_io_error()
    }

    pub fn decoder(&self) -> &dyn FeedDecoder {
        self.decoder.as_ref()
    }

    fn bookmark(&mut self) -> Option<Event> {
        let timestamp_ns = self.last_timestamp_ns?;
        let line = self.lines.lines_read();
        if line == self.marked_line {
            return None;
        }
        self.marked_line = line;
        Some(Event {
            timestamp_ns,
            body: EventBody::InputPosition(InputPosition { line }),
        })
    }
}

impl<R: BufRead> Iterator for Feeder<R> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.get(self.next_pending) {
                self.next_pending += 1;
                return Some(*event);
            }
            self.pending.clear();
            self.next_pending = 0;
            let result = match self.lines.next_line() {
                None => {
                    // End of input (or a read error): bookmark what was read, once.
                    return if self.lines.io_error().is_none() {
                        self.bookmark()
                    } else {
                        None
                    };
                }
                Some(RawLine::TooLong) => {
                    let dropped = Dropped::Refused(Refusal::TooLong);
                    let counts = self.decoder.counts_mut();
                    counts.lines += 1;
                    counts.note(dropped);
                    Err(dropped)
                }
                Some(RawLine::Line(line)) => self.decoder.decode(line, &mut self.pending),
            };
            let line = self.lines.lines_read();
            if let Err(Dropped::Refused(reason)) = result {
                self.lines_refused += 1;
                tracing::warn!(line, reason = reason.name(), "input line refused");
            }
            if let Some(last) = self.pending.last() {
                self.last_timestamp_ns = Some(last.timestamp_ns);
            }
            if line - self.marked_line >= INPUT_POSITION_INTERVAL_LINES {
                if let Some(mark) = self.bookmark() {
                    self.pending.push(mark);
                }
            }
        }
    }
}

/// The input position of the last bookmark journaled in `dir` (0 when none).
pub fn journaled_input_position(dir: &Path) -> anyhow::Result<u64> {
    let reader = match JournalReader::open(dir) {
        Ok(reader) => reader,
        Err(keel_journal::JournalError::Empty(_)) => return Ok(0),
        Err(error) => return Err(error).context("reading the journal for --resume"),
    };
    let kind = kind_of(&EventBody::InputPosition(InputPosition { line: 0 }));
    // The last segment first: bookmarks are frequent, so the latest is almost always there.
    let starts = [
        reader.segments().last().map_or(1, |s| s.header.first_seq),
        reader.first_seq(),
    ];
    for from in starts {
        let mut line = None;
        for record in reader.records_from(from)? {
            let record = record?;
            if record.meta.kind != kind {
                continue;
            }
            if let Ok(Event {
                body: EventBody::InputPosition(position),
                ..
            }) = decode(record.meta.kind, record.payload)
            {
                line = Some(position.line);
            }
        }
        if let Some(line) = line {
            return Ok(line);
        }
    }
    Ok(0)
}
