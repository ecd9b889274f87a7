//! Lines of any line-oriented input (JSON lines, CSV): bounded (a line longer than the
//! limit is reported, never held in memory whole), numbered, with a byte-order mark
//! before the first line, a trailing `\r` and blank lines dropped. An I/O error ends the
//! stream and is kept (a directory, a failing disk: never retried forever).

use std::io::BufRead;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the next line is.
#[derive(Debug, PartialEq, Eq)]
pub enum RawLine<'a> {
    Line(&'a [u8]),
    /// Longer than the reader's limit (its first bytes are dropped with the rest).
    TooLong,
}

pub struct LineReader<R> {
    input: R,
    line_number: u64,
    buffer: Vec<u8>,
    bytes_max: usize,
    io_error: Option<std::io::Error>,
}

impl<R: BufRead> LineReader<R> {
    /// Lines of up to `bytes_max` bytes.
    pub fn new(input: R, bytes_max: usize) -> Self {
        LineReader {
            input,
            line_number: 0,
            buffer: Vec::with_capacity(1024),
            bytes_max,
            io_error: None,
        }
    }

    /// Lines read so far (blank ones included: the count is a position in the input).
    pub fn lines_read(&self) -> u64 {
        self.line_number
    }

    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.io_error.as_ref()
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io_error.take()
    }

    /// Skips up to `lines` lines without reading them (resuming a feed); returns how
    /// many were there.
    pub fn skip_lines(&mut self, lines: u64) -> std::io::Result<u64> {
        let mut skipped = 0;
        while skipped < lines && self.read_bounded_line()? {
            skipped += 1;
            self.line_number += 1;
        }
        Ok(skipped)
    }

    /// The next non-blank line; `None` at the end of input or after an I/O error.
    pub fn next_line(&mut self) -> Option<RawLine<'_>> {
        loop {
            if self.io_error.is_some() {
                return None;
            }
            match self.read_bounded_line() {
                Ok(false) => return None,
                Ok(true) => {}
                Err(error) => {
                    self.io_error = Some(error);
                    return None;
                }
            }
            self.line_number += 1;
            if self.buffer.len() > self.bytes_max {
                return Some(RawLine::TooLong);
            }
            let mut start = 0;
            if self.line_number == 1 && self.buffer.starts_with(BOM) {
                start = BOM.len();
            }
            let mut end = self.buffer.len();
            if end > start && self.buffer[end - 1] == b'\r' {
                end -= 1;
            }
            let line = &self.buffer[start..end];
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            // Reborrow: the loop above needs `self` mutable, the line borrows it.
            let line = &self.buffer[start..end];
            return Some(RawLine::Line(line));
        }
    }

    /// Reads one line into the buffer, keeping at most `bytes_max + 1` bytes of it.
    /// `Ok(false)` at end of input.
    fn read_bounded_line(&mut self) -> std::io::Result<bool> {
        self.buffer.clear();
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any);
            }
            any = true;
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], at + 1, true),
                None => (available, available.len(), false),
            };
            let room = (self.bytes_max + 1).saturating_sub(self.buffer.len());
            self.buffer
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.input.consume(used);
            if done {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_crlf_blank_and_overlong_lines() {
        let mut input = BOM.to_vec();
        input.extend_from_slice(b"one\r\n\n  \r\ntwo\n");
        input.extend_from_slice(&[b'x'; 40]);
        input.extend_from_slice(b"\nthree");
        let mut reader = LineReader::new(input.as_slice(), 16);
        assert_eq!(reader.next_line(), Some(RawLine::Line(b"one")));
        assert_eq!(reader.next_line(), Some(RawLine::Line(b"two")));
        assert_eq!(reader.lines_read(), 4);
        assert_eq!(reader.next_line(), Some(RawLine::TooLong));
        assert_eq!(reader.next_line(), Some(RawLine::Line(b"three")));
        assert_eq!(reader.next_line(), None);
        assert!(reader.io_error().is_none());
    }

    #[test]
    fn an_io_error_ends_the_stream_once() {
        let directory = std::fs::File::open(".").expect("open the current directory");
        let mut reader = LineReader::new(std::io::BufReader::new(directory), 64);
        assert!(reader.next_line().is_none());
        assert!(reader.io_error().is_some());
        assert!(reader.next_line().is_none());
    }
}
