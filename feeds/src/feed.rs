//! What every input format shares: the formats `keel run` reads, the decoder interface
//! (one input line in, events out), and the counts of what was skipped or refused and
//! why. Skipped means "understood and deliberately not used" (an expired instrument, an
//! order-book channel); refused means "malformed or unusable" (bad JSON, a mark IV in the
//! wrong unit). Neither ever reaches the journal, and both are counted by reason.

use std::str::FromStr;

use keel_engine::events::Event;

use crate::venue_map::VenueMap;
use crate::venue_view::VenueView;

/// Formats `keel run --format` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Keel's own JSON lines (docs/EVENTS.md).
    Keel,
    /// Deribit websocket JSON-RPC messages, one per line (a gateway's recording).
    Deribit,
    /// Tardis `options_chain` CSV.
    TardisOptionsChain,
    /// Tardis `derivative_ticker` CSV.
    TardisDerivativeTicker,
    /// Deribit option-chain snapshots as CSV (`keel import deribit-chain`).
    DeribitChain,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Keel,
        Format::Deribit,
        Format::TardisOptionsChain,
        Format::TardisDerivativeTicker,
        Format::DeribitChain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Keel => "keel",
            Format::Deribit => "deribit",
            Format::TardisOptionsChain => "tardis-options-chain",
            Format::TardisDerivativeTicker => "tardis-derivative-ticker",
            Format::DeribitChain => "deribit-chain",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format '{text}' (one of: {})", names.join(", "))
            })
    }
}

/// Declares a reason enum with a stable snake_case name per variant and a list of all.
macro_rules! reasons {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
    };
}

reasons! {
    /// Why an item was understood but not used.
    Skip {
        /// An expired instrument (Deribit state "closed", or a zero mark).
        ClosedInstrument => "closed_instrument",
        /// A combo (straddle, future spread, call spread…): Keel books legs, not combos.
        Combo => "combo",
        /// A channel Keel does not use (order books, public trades, heartbeats).
        UnusedChannel => "unused_channel",
        /// A channel Keel does not know.
        UnknownChannel => "unknown_channel",
        /// A JSON-RPC response other than instrument definitions (subscribe acks…).
        Response => "response",
        /// Spot instruments: Keel books derivatives (spot balances are collateral).
        SpotInstrument => "spot_instrument",
        /// A definition identical to the one already journaled.
        KnownDefinition => "known_definition",
    }
}

reasons! {
    /// Why an item was refused.
    Refusal {
        /// A line longer than the named limit.
        TooLong => "too_long",
        NotUtf8 => "not_utf8",
        /// Not parseable in the format at all (bad JSON, a truncated message).
        Malformed => "malformed",
        /// JSON of the wrong shape: a missing field, a wrong type, a number out of range.
        WrongShape => "wrong_shape",
        /// A field Keel's own format does not have (a typo must not become a default).
        UnknownField => "unknown_field",
        /// A JSON-RPC error response.
        ErrorResponse => "error_response",
        /// An instrument name none of the venue's shapes matches.
        BadInstrumentName => "bad_instrument_name",
        /// A name-only definition whose contract size Keel cannot know (linear contracts,
        /// coins other than BTC and ETH): needs `public/get_instruments`.
        ContractSizeUnknown => "contract_size_unknown",
        /// A mark IV outside 1 %–1000 % in the format's unit: most likely a fraction where
        /// percent is due (Deribit) or percent where a fraction is (Tardis).
        MarkIvWrongUnit => "mark_iv_wrong_unit",
        /// A row of an exchange whose names and contract sizes Keel does not map.
        UnsupportedExchange => "unsupported_exchange",
        /// A timestamp that is missing, negative or overflows nanoseconds.
        BadTimestamp => "bad_timestamp",
        /// A number that is not finite, negative where it cannot be, or not a decimal.
        BadNumber => "bad_number",
        /// A side other than buy or sell, an option type other than call or put.
        BadEnum => "bad_enum",
        /// A fee in a currency other than the instrument's settlement currency.
        FeeCurrencyMismatch => "fee_currency_mismatch",
        /// A traded amount that is not an exact number of contracts (amount ÷ contract
        /// size does not terminate within 28 digits).
        AmountNotContracts => "amount_not_contracts",
        /// More instruments, underlyings or accounts than the engine's named limits.
        TooManyIds => "too_many_ids",
        /// A definition that contradicts the one already journaled for the name.
        DefinitionConflict => "definition_conflict",
        /// A CSV line whose columns do not match the header, or a header without a column
        /// the format needs.
        BadColumns => "bad_columns",
        /// An event Keel's feeder writes itself (an input-position bookmark).
        ReservedEvent => "reserved_event",
        /// A value outside the engine's bounds (a forward of 1e23, a strike of 1e30): the
        /// engine would refuse the event, so it is not journaled.
        OutOfRange => "out_of_range",
    }
}

/// Why an input line gave no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    Skipped(Skip),
    Refused(Refusal),
}

impl From<Refusal> for Dropped {
    fn from(reason: Refusal) -> Dropped {
        Dropped::Refused(reason)
    }
}

impl From<Skip> for Dropped {
    fn from(reason: Skip) -> Dropped {
        Dropped::Skipped(reason)
    }
}

/// What a decoder has seen, by reason. Items, not lines: one message may carry several
/// trades or instrument definitions, each counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedCounts {
    /// Lines (messages or CSV rows) decoded, the header excluded.
    pub lines: u64,
    /// Events handed to the engine.
    pub events: u64,
    skipped: [u64; 16],
    refused: [u64; 32],
}

impl FeedCounts {
    pub fn note(&mut self, dropped: Dropped) {
        match dropped {
            Dropped::Skipped(reason) => self.skipped[reason as usize] += 1,
            Dropped::Refused(reason) => self.refused[reason as usize] += 1,
        }
    }

    pub fn skipped(&self, reason: Skip) -> u64 {
        self.skipped[reason as usize]
    }

    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize]
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Nonzero skip counts by name.
    pub fn skipped_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Skip::ALL
            .iter()
            .map(|r| (r.name(), self.skipped(*r)))
            .filter(|(_, n)| *n > 0)
    }

    /// Nonzero refusal counts by name.
    pub fn refused_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL
            .iter()
            .map(|r| (r.name(), self.refused(*r)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Turns input lines into engine events. A decoder is stateful (it maps venue names to
/// ids and defines instruments on first sight), so the events it writes must reach the
/// journal in the order written.
pub trait FeedDecoder: Send {
    /// Decodes one line (no line terminator), appending its events to `out`. An error
    /// says why the line gave nothing; items refused inside a message that still gave
    /// events are counted in [`FeedDecoder::counts`] without an error. Never panics.
    fn decode(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Dropped>;

    /// What was decoded, skipped and refused so far.
    fn counts(&self) -> &FeedCounts;

    /// The counts, for a refusal made before decoding (a line over the length limit).
    fn counts_mut(&mut self) -> &mut FeedCounts;

    /// Whether the first line is a header (CSV formats), read even when resuming.
    fn has_header(&self) -> bool {
        false
    }

    /// What the venue itself said about the book (its Greeks, equity, positions).
    fn venue_view(&self) -> Option<&VenueView> {
        None
    }
}

/// Ends the decoding of one line: the events it gave must each pass the engine's field
/// checks, or the line is refused as a whole. A refused line keeps only the definitions
/// the name map made on the way (the map now knows those ids, so the journal must; the
/// map checks each definition before making it). Counts the line's outcome.
pub(crate) fn finish_line(
    counts: &mut FeedCounts,
    out: &mut Vec<Event>,
    before: usize,
    result: Result<(), Dropped>,
) -> Result<(), Dropped> {
    let result = result.and_then(|()| {
        let valid = out[before..]
            .iter()
            .all(|event| keel_engine::state::validation::fields_ok(event).is_ok());
        if valid {
            Ok(())
        } else {
            Err(Refusal::OutOfRange.into())
        }
    });
    if let Err(dropped) = result {
        keep_definitions(out, before);
        counts.note(dropped);
    }
    counts.events += (out.len() - before) as u64;
    result
}

/// Drops the events after `from` except instrument and account definitions and margin
/// parameters (what the name map records as journaled).
fn keep_definitions(out: &mut Vec<Event>, from: usize) {
    use keel_engine::events::EventBody;
    let mut at = from;
    for i in from..out.len() {
        if matches!(
            out[i].body,
            EventBody::InstrumentDefined(_)
                | EventBody::AccountDefined(_)
                | EventBody::RiskParams(_)
        ) {
            out.swap(at, i);
            at += 1;
        }
    }
    out.truncate(at);
}

/// The decoder of a format. Fills (Deribit `user.trades`) go to `account`, defined on
/// first use; `map` holds the names already journaled (a continued run's).
pub fn decoder_for(format: Format, map: VenueMap, account: &str) -> Box<dyn FeedDecoder> {
    match format {
        Format::Keel => Box::new(crate::keel_json::KeelDecoder::default()),
        Format::Deribit => Box::new(crate::deribit::DeribitDecoder::new(map, account)),
        Format::TardisOptionsChain => Box::new(crate::tardis::OptionsChainDecoder::new(map)),
        Format::TardisDerivativeTicker => {
            Box::new(crate::tardis::DerivativeTickerDecoder::new(map))
        }
        Format::DeribitChain => Box::new(
            crate::deribit::chain_snapshot::ChainSnapshotDecoder::new(map),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_fits_its_counter_and_names_are_unique() {
        assert!(Skip::ALL.len() <= 16 && Refusal::ALL.len() <= 32);
        let mut names: Vec<&str> = Skip::ALL.iter().map(|r| r.name()).collect();
        names.extend(Refusal::ALL.iter().map(|r| r.name()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
        assert!("csv".parse::<Format>().is_err());
    }
}
