//! Tardis CSV (tardis.dev's normalised datasets): `options_chain` and
//! `derivative_ticker`, Deribit rows, on the shared CSV machinery (`csv_feed.rs`); and
//! the row splitter every CSV format uses: `csv-core` (the `csv` crate's own parser),
//! line by line so that every format shares the feeder's bounded lines, resume positions
//! and refusal counts, with no allocation per row. Mappings and refusals: docs/FEEDS.md.

pub mod derivative_ticker;
pub mod options_chain;

pub use derivative_ticker::{DerivativeTickerDecoder, DerivativeTickerRows};
pub use options_chain::{OptionsChainDecoder, OptionsChainRows};

use crate::feed::Refusal;

/// Most columns of a row.
pub const COLUMNS_MAX: usize = 64;
/// Longest row, in bytes.
pub const ROW_BYTES_MAX: usize = 64 * 1024;

/// Splits one CSV line into fields, reusing its buffers.
pub struct CsvLine {
    reader: csv_core::Reader,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
}

impl Default for CsvLine {
    fn default() -> Self {
        CsvLine {
            reader: csv_core::Reader::new(),
            bytes: vec![0; ROW_BYTES_MAX],
            ends: vec![0; COLUMNS_MAX],
            fields: 0,
        }
    }
}

impl CsvLine {
    /// Splits `line` (one row, no terminator); then [`CsvLine::field`] reads its fields.
    pub fn split(&mut self, line: &[u8]) -> Result<(), Refusal> {
        use csv_core::ReadRecordResult as R;
        if line.len() > ROW_BYTES_MAX {
            return Err(Refusal::TooLong);
        }
        self.reader.reset();
        let (mut result, read, mut written, mut ends) =
            self.reader
                .read_record(line, &mut self.bytes, &mut self.ends);
        if matches!(result, R::InputEmpty) && read == line.len() {
            // The end of the line is the end of the row (an open quote ends there too).
            // Field ends count from the start of the record, across calls.
            let (last, _, more_written, more_ends) =
                self.reader
                    .read_record(&[], &mut self.bytes[written..], &mut self.ends[ends..]);
            result = last;
            written += more_written;
            ends += more_ends;
        }
        debug_assert!(written <= self.bytes.len());
        match result {
            R::Record => {
                self.fields = ends;
                Ok(())
            }
            R::OutputEndsFull => Err(Refusal::BadColumns),
            _ => Err(Refusal::Malformed),
        }
    }

    pub fn fields(&self) -> usize {
        self.fields
    }

    /// Field `index` of the last row split (text; a field that is not UTF-8 reads as "").
    pub fn field(&self, index: usize) -> &str {
        if index >= self.fields {
            return "";
        }
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        let end = self.ends[index];
        self.bytes
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// Column positions of the fields a decoder needs, found in the header by name.
pub fn columns(line: &mut CsvLine, header: &[u8], names: &[&str]) -> Result<Vec<usize>, Refusal> {
    line.split(header)?;
    names
        .iter()
        .map(|name| {
            (0..line.fields())
                .find(|&i| line.field(i).trim() == *name)
                .ok_or(Refusal::BadColumns)
        })
        .collect()
}

/// An optional number: empty is `None`; anything else must be a finite number.
pub fn number(text: &str) -> Result<Option<f64>, Refusal> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(Refusal::BadNumber),
    }
}

/// A required number, finite and ≥ 0.
pub fn non_negative(text: &str) -> Result<f64, Refusal> {
    match number(text)? {
        Some(value) if value >= 0.0 => Ok(value),
        Some(_) => Err(Refusal::BadNumber),
        None => Err(Refusal::WrongShape),
    }
}

/// Microseconds since the epoch (Tardis's unit) → nanoseconds.
pub fn ns_of_us(text: &str) -> Result<u64, Refusal> {
    text.parse::<u64>()
        .ok()
        .and_then(|us| us.checked_mul(1_000))
        .ok_or(Refusal::BadTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_empty_and_refuses_too_many_columns() {
        let mut line = CsvLine::default();
        line.split(br#"deribit,"BTC-1,2",,3.5"#).expect("splits");
        assert_eq!(line.fields(), 4);
        assert_eq!(
            (line.field(0), line.field(1), line.field(2), line.field(3)),
            ("deribit", "BTC-1,2", "", "3.5")
        );
        assert_eq!(line.field(9), "");
        line.split(b"\"open quote,x")
            .expect("an open quote ends at the line end");
        let wide = vec![b','; COLUMNS_MAX + 5];
        assert_eq!(line.split(&wide), Err(Refusal::BadColumns));
        line.split(b"a,b").expect("usable again");
        assert_eq!(line.fields(), 2);
        assert_eq!(number("nan"), Err(Refusal::BadNumber));
        assert_eq!(number("1e400"), Err(Refusal::BadNumber));
        assert_eq!(ns_of_us("99999999999999999999"), Err(Refusal::BadTimestamp));
    }
}
