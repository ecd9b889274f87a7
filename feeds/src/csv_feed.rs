//! What every CSV format shares: the header read by name (so reordered or extended files
//! read), rows split with csv-core, the venue-name map, the venue's own figures, counts.
//! A format says which columns it needs and what one row means ([`CsvRows`]).

use keel_engine::events::Event;

use crate::feed::{Dropped, FeedCounts, FeedDecoder, Refusal, finish_line};
use crate::tardis::{CsvLine, columns};
use crate::venue_map::VenueMap;
use crate::venue_view::VenueView;

/// Most columns a format reads from a row.
pub const COLUMNS_READ_MAX: usize = 16;

/// One CSV format.
pub trait CsvRows: Default + Send {
    /// The columns a row needs, by header name, in the order [`CsvRows::row`] gets them.
    const COLUMNS: &'static [&'static str];

    /// Whether a line is a header even after the first (files concatenated).
    fn is_header(_line: &[u8]) -> bool {
        false
    }

    /// The events of one row; `fields` are the [`CsvRows::COLUMNS`], in order.
    fn row(
        &mut self,
        fields: &[&str],
        map: &mut VenueMap,
        view: &mut VenueView,
        out: &mut Vec<Event>,
    ) -> Result<(), Dropped>;
}

/// A CSV format's decoder.
pub struct CsvDecoder<R> {
    rows: R,
    map: VenueMap,
    line: CsvLine,
    /// Column positions from the header (`None`: no header read yet).
    columns: Option<Result<Vec<usize>, Refusal>>,
    counts: FeedCounts,
    view: VenueView,
}

impl<R: CsvRows> CsvDecoder<R> {
    pub fn new(map: VenueMap) -> Self {
        const { assert!(R::COLUMNS.len() <= COLUMNS_READ_MAX) };
        CsvDecoder {
            rows: R::default(),
            map,
            line: CsvLine::default(),
            columns: None,
            counts: FeedCounts::default(),
            view: VenueView::default(),
        }
    }
}

impl<R: CsvRows> FeedDecoder for CsvDecoder<R> {
    fn decode(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped> {
        if R::is_header(line) {
            self.columns = None;
        }
        let Some(found) = &self.columns else {
            // A header that lacks a column refuses every row after it, never guesses.
            self.columns = Some(columns(&mut self.line, line, R::COLUMNS));
            return Ok(());
        };
        self.counts.lines += 1;
        let before = out.len();
        let result = match found {
            Err(refusal) => Err((*refusal).into()),
            Ok(positions) => match self.line.split(line) {
                Err(refusal) => Err(refusal.into()),
                Ok(()) => {
                    let mut fields = [""; COLUMNS_READ_MAX];
                    for (field, &position) in fields.iter_mut().zip(positions) {
                        *field = self.line.field(position);
                    }
                    let fields = &fields[..positions.len()];
                    self.rows.row(fields, &mut self.map, &mut self.view, out)
                }
            },
        };
        finish_line(&mut self.counts, out, before, result)
    }

    fn counts(&self) -> &FeedCounts {
        &self.counts
    }

    fn counts_mut(&mut self) -> &mut FeedCounts {
        &mut self.counts
    }

    fn has_header(&self) -> bool {
        true
    }

    fn venue_view(&self) -> Option<&VenueView> {
        Some(&self.view)
    }
}
