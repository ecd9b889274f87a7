//! Codec tests: every variant round-trips; damaged or random bytes never panic.

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;

fn dec(text: &str) -> Dec {
    Dec::new(Decimal::from_str(text).expect("decimal"))
}

/// One event of every variant.
pub(crate) fn every_variant() -> Vec<Event> {
    let bodies = [
        EventBody::InstrumentDefined(InstrumentDefinition {
            id: InstrumentId(7),
            name: Name::new("BTC-27SEP24-40000-C").expect("name"),
            kind: InstrumentKind::Option,
            settlement: Settlement::Inverse,
            underlying: UnderlyingId(0),
            expiry_ns: 1_727_424_000_000_000_000,
            strike: dec("40000"),
            right: OptionRight::Call,
            contract_size: dec("1"),
        }),
        EventBody::AccountDefined(AccountDefinition {
            id: AccountId(3),
            name: Name::new("desk-a").expect("name"),
            margin_model: crate::events::MarginModel::Standard,
        }),
        EventBody::IndexPrice(IndexPrice {
            underlying: UnderlyingId(0),
            price: 39_100.25,
        }),
        EventBody::Ticker(Ticker {
            instrument: InstrumentId(7),
            mark_price: 0.2169,
            mark_iv: 0.6086,
            forward: 39_165.86,
            best_bid: 0.215,
            best_ask: 0.219,
        }),
        EventBody::Fill(Fill {
            account: AccountId(3),
            instrument: InstrumentId(7),
            side: Side::Sell,
            quantity: dec("2.5"),
            price: dec("0.2170"),
            fee: dec("0.0003"),
            trade_id: 66_460_463,
        }),
        EventBody::Collateral(Collateral {
            account: AccountId(3),
            currency: Currency::Coin(UnderlyingId(0)),
            amount: dec("-1.25"),
            transfer_id: 901,
        }),
        EventBody::Funding(Funding {
            instrument: InstrumentId(1),
            rate_per_contract: dec("0.00001"),
            funding_id: 77,
        }),
        EventBody::Settlement(SettlementPrice {
            instrument: InstrumentId(7),
            price: dec("41000.5"),
        }),
        EventBody::RiskParams(RiskParams {
            underlying: UnderlyingId(0),
            params: crate::margin::PmParams::BTC,
        }),
        EventBody::InputPosition(InputPosition { line: 4_096 }),
        EventBody::Limits(Limits {
            account: AccountId(3),
            max_abs_delta_coin: 10.0,
            max_abs_vega_usd: 5_000.0,
            max_abs_gamma_usd: 0.0,
            min_margin_ratio: 1.2,
            margin_call_ratio: 1.5,
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Event {
            timestamp_ns: 1_700_000_000_000_000_000 + i as u64,
            body,
        })
        .collect()
}

#[test]
fn every_variant_round_trips_with_its_kind() {
    let mut encoder = EventEncoder::default();
    let mut kinds = Vec::new();
    for event in every_variant() {
        let (kind, bytes) = encoder.encode(&event).expect("encodes");
        assert!(bytes.len() <= EVENT_ENCODED_MAX_BYTES);
        assert_eq!(decode(kind, bytes).expect("decodes"), event);
        assert_ne!(kind_name(kind), "unknown");
        kinds.push(kind);
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 11, "every variant has its own kind");
}

#[test]
fn every_variant_round_trips_through_json() {
    for event in every_variant() {
        let text = serde_json::to_string(&event).expect("serializes");
        let back: Event = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, event, "{text}");
    }
    let line = r#"{"timestamp_ns":5,"type":"fill","account":3,"instrument":7,"side":"buy","quantity":"2.5","price":0.217,"fee":"0","trade_id":9}"#;
    let event: Event = serde_json::from_str(line).expect("a hand-written fill parses");
    let EventBody::Fill(fill) = event.body else {
        panic!("a fill")
    };
    assert_eq!(fill.quantity.get(), Some(Decimal::new(25, 1)));
    assert_eq!(fill.price.get(), Some(Decimal::new(217, 3)));
    assert!(serde_json::from_str::<Event>(r#"{"timestamp_ns":5,"type":"nonsense"}"#).is_err());
}

#[test]
fn wrong_kind_and_oversized_payloads_are_refused() {
    let mut encoder = EventEncoder::default();
    let event = every_variant()[4];
    let (kind, bytes) = encoder.encode(&event).expect("encodes");
    let bytes = bytes.to_vec();
    assert!(matches!(
        decode(kind + 1, &bytes),
        Err(CodecError::KindMismatch { .. })
    ));
    assert!(matches!(
        decode(kind, &[0; 300]),
        Err(CodecError::TooLarge(300))
    ));
    assert!(decode(kind, &bytes[..bytes.len() - 1]).is_err());
    assert!(decode(kind, &[]).is_err());
}

#[test]
fn every_bit_flip_of_every_variant_decodes_or_errs_without_panicking() {
    let mut encoder = EventEncoder::default();
    for event in every_variant() {
        let (kind, bytes) = encoder.encode(&event).expect("encodes");
        let bytes = bytes.to_vec();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if let Ok(decoded) = decode(kind, &flipped) {
                // A flip the format cannot see (a value bit) still yields a whole event
                // of the same kind; the journal's CRC is what catches it on disk.
                assert_eq!(kind_of(&decoded.body), kind);
            }
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(kind in 0u16..12, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(kind, &bytes);
    }
}

/// Every JSON example line in docs/EVENTS.md parses as an event (the docs stay true).
#[test]
fn the_documented_json_examples_parse() {
    let docs = include_str!("../../../docs/EVENTS.md");
    let examples: Vec<&str> = docs
        .lines()
        .filter(|line| line.starts_with("{\"timestamp_ns\""))
        .collect();
    assert!(examples.len() >= 10, "{} examples", examples.len());
    for line in examples {
        serde_json::from_str::<Event>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}
