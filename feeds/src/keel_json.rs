//! Keel's own JSON-lines event format (docs/EVENTS.md): one event per line. Strict: an
//! unknown or misspelled field is an error (a silent default would change the state),
//! a byte-order mark before the first line is skipped, and a line longer than
//! [`LINE_BYTES_MAX`] is refused without being held in memory.

use std::io::BufRead;

use keel_engine::events::{Event, EventBody};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal};
use crate::lines::{LineReader, RawLine};

/// Longest input line accepted, in bytes (the longest real event is under 1 KiB).
pub const LINE_BYTES_MAX: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum LineError {
    #[error("line longer than {LINE_BYTES_MAX} bytes")]
    TooLong,
    #[error("not UTF-8")]
    NotUtf8,
    #[error("not a valid event: {0}")]
    Invalid(String),
    #[error("unknown field '{0}'")]
    UnknownField(String),
}

/// Decodes one line into an event.
pub fn decode_line(line: &str) -> Result<Event, LineError> {
    let value: Value = serde_json::from_str(line).map_err(|e| LineError::Invalid(e.to_string()))?;
    // From the parsed tree by reference: no copy of it.
    let event = Event::deserialize(&value).map_err(|e| LineError::Invalid(e.to_string()))?;
    // serde cannot refuse unknown fields through the flattened, tagged body: compare the
    // input's keys with those of an event of the same type written back. Every field is
    // written and no field is optional, so one written event of a type has every key an
    // event of that type can have: it is kept per thread, written once per type.
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let unknown = KEYS_OF_TYPE.with(|templates| {
        let mut templates = templates.borrow_mut();
        let at = match templates.iter().position(|(k, _)| k == kind) {
            Some(at) => at,
            None => {
                let written =
                    serde_json::to_value(event).map_err(|e| LineError::Invalid(e.to_string()))?;
                templates.push((kind.to_owned(), written));
                templates.len() - 1
            }
        };
        Ok(unknown_field(&value, &templates[at].1))
    })?;
    if let Some(field) = unknown {
        return Err(LineError::UnknownField(field));
    }
    Ok(event)
}

thread_local! {
    /// One written event per event type: the keys `decode_line` accepts.
    static KEYS_OF_TYPE: std::cell::RefCell<Vec<(String, Value)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The first key of `input` (depth first) that `known` lacks.
fn unknown_field(input: &Value, known: &Value) -> Option<String> {
    let (Value::Object(input), Value::Object(known)) = (input, known) else {
        return None;
    };
    for (key, value) in input {
        match known.get(key) {
            None => return Some(key.clone()),
            Some(inner) => {
                if let Some(field) = unknown_field(value, inner) {
                    return Some(format!("{key}.{field}"));
                }
            }
        }
    }
    None
}

/// What reading the next line gave.
#[derive(Debug)]
pub enum Line {
    Event(Event),
    /// A line that is not an event (1-based line number, why); reading goes on.
    Rejected(u64, LineError),
}

/// Events from a JSON-lines source. An I/O error ends the stream and is kept in
/// [`EventLines::io_error`].
pub struct EventLines<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> EventLines<R> {
    pub fn new(input: R) -> Self {
        EventLines {
            lines: LineReader::new(input, LINE_BYTES_MAX),
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.lines.lines_read()
    }

    /// The I/O error that ended the stream, if one did.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.lines.io_error()
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.lines.take_io_error()
    }

    /// Skips up to `lines` lines without decoding them (resuming a feed); returns how
    /// many were there.
    pub fn skip_lines(&mut self, lines: u64) -> std::io::Result<u64> {
        self.lines.skip_lines(lines)
    }
}

/// Decodes one line of bytes (`TooLong` and `NotUtf8` included).
fn decode_bytes(line: RawLine<'_>) -> Result<Event, LineError> {
    let RawLine::Line(bytes) = line else {
        return Err(LineError::TooLong);
    };
    let text = std::str::from_utf8(bytes).map_err(|_| LineError::NotUtf8)?;
    decode_line(text)
}

impl<R: BufRead> Iterator for EventLines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        let decoded = decode_bytes(self.lines.next_line()?);
        Some(match decoded {
            Ok(event) => Line::Event(event),
            Err(error) => Line::Rejected(self.lines.lines_read(), error),
        })
    }
}

/// Keel's own format behind the common decoder interface (`keel run --format keel`).
#[derive(Default)]
pub struct KeelDecoder {
    counts: FeedCounts,
}

impl FeedDecoder for KeelDecoder {
    fn decode(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped> {
        self.counts.lines += 1;
        // Keel's own limit, far below the feeder's (which admits venue responses).
        let line = if line.len() > LINE_BYTES_MAX {
            RawLine::TooLong
        } else {
            RawLine::Line(line)
        };
        let refusal = match decode_bytes(line) {
            Ok(Event {
                body: EventBody::InputPosition(_),
                ..
            }) => Refusal::ReservedEvent,
            Ok(event) => {
                out.push(event);
                self.counts.events += 1;
                return Ok(());
            }
            Err(LineError::TooLong) => Refusal::TooLong,
            Err(LineError::NotUtf8) => Refusal::NotUtf8,
            Err(LineError::UnknownField(_)) => Refusal::UnknownField,
            Err(LineError::Invalid(_)) => Refusal::WrongShape,
        };
        self.counts.note(refusal.into());
        Err(refusal.into())
    }

    fn counts(&self) -> &FeedCounts {
        &self.counts
    }

    fn counts_mut(&mut self) -> &mut FeedCounts {
        &mut self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFINITION: &str = r#"{"timestamp_ns":1767225600000000000,"type":"account_defined","id":3,"name":"desk-a","margin_model":"standard"}"#;

    fn lines(input: &[u8]) -> Vec<Line> {
        EventLines::new(input).collect()
    }

    #[test]
    fn a_byte_order_mark_does_not_lose_the_first_event() {
        let mut input = b"\xEF\xBB\xBF".to_vec();
        input.extend_from_slice(DEFINITION.as_bytes());
        input.push(b'\n');
        let read = lines(&input);
        assert!(matches!(read.as_slice(), [Line::Event(_)]), "{read:?}");
    }

    #[test]
    fn misspelled_fields_are_refused_not_defaulted() {
        let misspelled = DEFINITION.replace("margin_model", "margn_model");
        let error = decode_line(&misspelled).expect_err("refused");
        assert!(matches!(error, LineError::UnknownField(f) if f == "margn_model"));
        let nested = r#"{"timestamp_ns":1767225600000000000,"type":"risk_params","underlying":0,"params":{"price_range":0.16,"volatility_range_up":0.5,"volatility_range_down":0.25,"short_term_vega_power":0.3,"long_term_vega_power":0.13,"min_volatility_for_shock_up":0.5,"extended_table_factor":1.0,"max_delta_shock":0.1,"delta_total_liq_shock_threshold_usd":20000000.0,"m_inc":0.00005,"pnl_offset":0.0,"max_offsetable_pnl_usd":0.0,"extended_dampener_usd":100000.0,"min_annualised_move":0.01,"annualised_move_risk":0.075,"mm_factor":0.8,"extra":1}}"#;
        let error = decode_line(nested).expect_err("refused");
        assert!(matches!(error, LineError::UnknownField(f) if f == "params.extra"));
        assert!(decode_line(DEFINITION).is_ok());
    }

    #[test]
    fn an_overlong_line_is_refused_and_reading_goes_on() {
        let mut input = vec![b'x'; LINE_BYTES_MAX * 3];
        input.push(b'\n');
        input.extend_from_slice(DEFINITION.as_bytes());
        let read = lines(&input);
        assert!(
            matches!(
                read.as_slice(),
                [Line::Rejected(1, LineError::TooLong), Line::Event(_)]
            ),
            "{read:?}"
        );
    }

    #[test]
    fn the_decoder_keeps_keels_own_line_limit() {
        let mut decoder = KeelDecoder::default();
        let long = format!("{}{}", DEFINITION, " ".repeat(LINE_BYTES_MAX));
        assert_eq!(
            decoder.decode(long.as_bytes(), &mut Vec::new()),
            Err(Refusal::TooLong.into())
        );
        assert_eq!(
            decoder.decode(DEFINITION.as_bytes(), &mut Vec::new()),
            Ok(())
        );
    }

    #[test]
    fn an_io_error_ends_the_stream_once() {
        let directory = std::fs::File::open(".").expect("open the current directory");
        let mut events = EventLines::new(std::io::BufReader::new(directory));
        assert!(events.next().is_none());
        assert!(events.io_error().is_some());
        assert!(events.next().is_none());
    }
}
