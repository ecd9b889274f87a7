//! Keel's own JSON-lines event format (docs/EVENTS.md): one event per line. Strict: an
//! unknown or misspelled field is an error (a silent default would change the state),
//! and a line longer than [`LINE_BYTES_MAX`] is refused. Lines come from
//! `lines::LineReader` (byte-order mark, bounded reads), as for every format.

use keel_engine::events::{Event, EventBody};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal};
use crate::lines::RawLine;

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

/// Decodes one line of bytes (`TooLong` and `NotUtf8` included).
fn decode_bytes(line: RawLine<'_>) -> Result<Event, LineError> {
    let RawLine::Line(bytes) = line else {
        return Err(LineError::TooLong);
    };
    let text = std::str::from_utf8(bytes).map_err(|_| LineError::NotUtf8)?;
    decode_line(text)
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

    #[test]
    fn a_byte_order_mark_does_not_lose_the_first_event() {
        let mut input = b"\xEF\xBB\xBF".to_vec();
        input.extend_from_slice(DEFINITION.as_bytes());
        input.push(b'\n');
        let mut reader = crate::lines::LineReader::new(input.as_slice(), LINE_BYTES_MAX);
        let Some(RawLine::Line(line)) = reader.next_line() else {
            panic!("a line");
        };
        let mut events = Vec::new();
        assert_eq!(KeelDecoder::default().decode(line, &mut events), Ok(()));
        assert_eq!(events.len(), 1);
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
}
