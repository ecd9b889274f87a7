//! Events to journal payloads and back: rkyv 0.8, validated on the way in (never
//! `access_unchecked` on bytes from disk), with the journal record `kind` naming the
//! variant so tools can filter without decoding.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

use super::event::{Event, EventBody};

/// Largest encoded event; anything longer is refused unread.
pub const EVENT_ENCODED_MAX_BYTES: usize = 256;

/// Journal record kind of each event variant (stable: part of the on-disk format).
pub fn kind_of(body: &EventBody) -> u16 {
    match body {
        EventBody::InstrumentDefined(_) => 1,
        EventBody::AccountDefined(_) => 2,
        EventBody::IndexPrice(_) => 3,
        EventBody::Ticker(_) => 4,
        EventBody::Fill(_) => 5,
        EventBody::Collateral(_) => 6,
        EventBody::Funding(_) => 7,
        EventBody::Settlement(_) => 8,
        EventBody::RiskParams(_) => 9,
        EventBody::Limits(_) => 10,
        EventBody::InputPosition(_) => 11,
        EventBody::HedgeBands(_) => 12,
    }
}

/// Name of a record kind, for dumps.
pub fn kind_name(kind: u16) -> &'static str {
    match kind {
        1 => "instrument_defined",
        2 => "account_defined",
        3 => "index_price",
        4 => "ticker",
        5 => "fill",
        6 => "collateral",
        7 => "funding",
        8 => "settlement",
        9 => "risk_params",
        10 => "limits",
        11 => "input_position",
        12 => "hedge_bands",
        _ => "unknown",
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("event encoding failed: {0}")]
    Encode(String),
    #[error("payload of {0} bytes exceeds the event limit of {EVENT_ENCODED_MAX_BYTES}")]
    TooLarge(usize),
    #[error("payload is not a valid event: {0}")]
    Invalid(String),
    #[error("record kind {record} does not match the payload's event kind {event}")]
    KindMismatch { record: u16, event: u16 },
}

/// Encodes events into a reused buffer: no allocation after the first event.
#[derive(Default)]
pub struct EventEncoder {
    buffer: AlignedVec,
}

impl EventEncoder {
    /// The record kind and payload bytes of `event` (valid until the next call).
    pub fn encode(&mut self, event: &Event) -> Result<(u16, &[u8]), CodecError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let buffer = rkyv::api::high::to_bytes_in::<_, rancor::Error>(event, buffer)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        self.buffer = buffer;
        if self.buffer.len() > EVENT_ENCODED_MAX_BYTES {
            return Err(CodecError::TooLarge(self.buffer.len()));
        }
        Ok((kind_of(&event.body), &self.buffer))
    }
}

/// Aligned scratch space, so decoding never depends on where the payload sits.
#[repr(C, align(16))]
struct Aligned([u8; EVENT_ENCODED_MAX_BYTES]);

/// Decodes and validates a payload read from a record of kind `kind` (its structure;
/// field values are `apply`'s to judge). Never panics, whatever the bytes.
pub fn decode(kind: u16, payload: &[u8]) -> Result<Event, CodecError> {
    if payload.len() > EVENT_ENCODED_MAX_BYTES {
        return Err(CodecError::TooLarge(payload.len()));
    }
    let mut scratch = Aligned([0; EVENT_ENCODED_MAX_BYTES]);
    let bytes = &mut scratch.0[..payload.len()];
    bytes.copy_from_slice(payload);
    let event = rkyv::from_bytes::<Event, rancor::Error>(bytes)
        .map_err(|e| CodecError::Invalid(e.to_string()))?;
    let event_kind = kind_of(&event.body);
    if event_kind != kind {
        return Err(CodecError::KindMismatch {
            record: kind,
            event: event_kind,
        });
    }
    // A decimal field whose bytes are not a valid number decodes as it was journaled:
    // `apply` rejects the event (not_finite) on replay exactly as it did live, so such a
    // record can never make a journal unreadable.
    Ok(event)
}
