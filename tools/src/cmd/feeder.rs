//! `keel run`'s side of the feeder protocol (docs/RELIABILITY.md): events from JSON
//! lines, with an `InputPosition` bookmark journaled every
//! [`INPUT_POSITION_INTERVAL_LINES`] lines and at the end of input, so a restarted run
//! (`--resume`) skips what the journal already holds. Bookmarks are keel run's own: an
//! input line claiming to be one is refused.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use keel_engine::events::{Event, EventBody, InputPosition, decode, kind_of};
use keel_feeds::keel_json::{EventLines, Line};
use keel_journal::JournalReader;

/// Input lines between two journaled bookmarks. A crash re-reads at most this many
/// lines on `--resume`; their ids make the re-read events duplicates, not double counts.
pub const INPUT_POSITION_INTERVAL_LINES: u64 = 4_096;

pub struct Feeder<R> {
    lines: EventLines<R>,
    pub bad_lines: u64,
    /// Timestamp of the last event read: the bookmark's (it must pass the clock checks).
    last_timestamp_ns: Option<u64>,
    /// Line of the last bookmark emitted.
    marked_line: u64,
    pending: Option<Event>,
}

impl<R: BufRead> Feeder<R> {
    /// A feeder that starts after `resume_after_lines` lines (0: from the start).
    pub fn new(input: R, resume_after_lines: u64) -> anyhow::Result<Feeder<R>> {
        let mut lines = EventLines::new(input);
        let skipped = lines
            .skip_lines(resume_after_lines)
            .context("skipping journaled lines")?;
        anyhow::ensure!(
            skipped == resume_after_lines,
            "--resume: the journal holds {resume_after_lines} input lines but the input has only {skipped}"
        );
        Ok(Feeder {
            lines,
            bad_lines: 0,
            last_timestamp_ns: None,
            marked_line: resume_after_lines,
            pending: None,
        })
    }

    pub fn lines_read(&self) -> u64 {
        self.lines.lines_read()
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.lines.take_io_error()
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
        if let Some(event) = self.pending.take() {
            return Some(event);
        }
        loop {
            let Some(line) = self.lines.next() else {
                // End of input (or a read error): bookmark what was read, once.
                return if self.lines.io_error().is_none() {
                    self.bookmark()
                } else {
                    None
                };
            };
            match line {
                Line::Event(event) if matches!(event.body, EventBody::InputPosition(_)) => {
                    self.bad_lines += 1;
                    let line = self.lines.lines_read();
                    tracing::warn!(
                        line,
                        "input line rejected: input_position is written by keel run itself"
                    );
                }
                Line::Event(event) => {
                    self.last_timestamp_ns = Some(event.timestamp_ns);
                    if self.lines.lines_read() - self.marked_line >= INPUT_POSITION_INTERVAL_LINES {
                        self.pending = self.bookmark();
                    }
                    return Some(event);
                }
                Line::Rejected(line, error) => {
                    self.bad_lines += 1;
                    tracing::warn!(line, %error, "input line rejected");
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
