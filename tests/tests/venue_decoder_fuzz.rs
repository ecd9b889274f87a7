//! Fuzzes every venue decoder (issue 13): Deribit JSON-RPC, Tardis options_chain and
//! derivative_ticker, Deribit chain snapshots. Each gets valid lines mutated every way a
//! feed goes wrong — random bytes, truncation, edited characters, a value of the wrong
//! type, huge and non-finite numbers, unknown fields, a mark IV in the wrong unit — and
//! must never panic; whatever it still turns into events must pass the engine's field
//! checks and apply to a live state without a NaN (nothing malformed reaches the
//! journal). The Deribit ticker fast path must decode exactly as the serde path on
//! every mutation. `KEEL_FUZZ_LINES` (default 20,000 per decoder) runs more.

use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_engine::state::validation::fields_ok;
use keel_feeds::deribit::DeribitDecoder;
use keel_feeds::deribit::session::session;
use keel_feeds::feed::{FeedDecoder, Format, decoder_for};
use keel_feeds::rng::SplitMix64;
use keel_feeds::venue_map::VenueMap;
use keel_runtime::simulation::non_finite;

fn lines_per_decoder() -> usize {
    keel_tests::env_or("KEEL_FUZZ_LINES", 20_000)
}

/// Replacements a feed gets wrong: types, magnitudes, units, structure.
const SUBSTITUTES: &[&str] = &[
    "\"x\"",
    "null",
    "true",
    "{}",
    "[]",
    "[1,2]",
    "-1",
    "0",
    "-0",
    "1e308",
    "1e999",
    "-1e999",
    "99999999999999999999999",
    "1e-400",
    "NaN",
    "inf",
    "0.6321",
    "6321",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "1.5e3",
    "01",
    "1.",
    "\"BTC-99ZZZ99-1-C\"",
    "\"ETH-PERPETUAL\"",
    "\"2025-13-01T00:00:00Z\"",
    "\"closed\"",
];

/// One mutation of a valid line.
fn mutate(line: &str, rng: &mut SplitMix64) -> Vec<u8> {
    let bytes = line.as_bytes();
    let at = |rng: &mut SplitMix64| rng.below(bytes.len().max(1) as u64) as usize;
    match rng.below(8) {
        // Random bytes.
        0 => (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect(),
        // Truncated.
        1 => bytes[..at(rng)].to_vec(),
        // A few bytes edited.
        2 => {
            let mut out = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = at(rng);
                const EDITS: &[u8] = b"{}[]\",:0123456789.eE-+ anul\\";
                if i < out.len() {
                    out[i] = EDITS[rng.below(EDITS.len() as u64) as usize];
                }
            }
            out
        }
        // A value (after a colon, or a CSV field) replaced.
        3 | 4 => {
            let separators: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b':' || **b == b',')
                .map(|(i, _)| i)
                .collect();
            if separators.is_empty() {
                return bytes.to_vec();
            }
            let start = separators[rng.below(separators.len() as u64) as usize] + 1;
            let end = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .map_or(bytes.len(), |p| start + p);
            let substitute = SUBSTITUTES[rng.below(SUBSTITUTES.len() as u64) as usize];
            let mut out = bytes[..start].to_vec();
            out.extend_from_slice(substitute.as_bytes());
            out.extend_from_slice(&bytes[end..]);
            out
        }
        // An unknown field.
        5 => {
            let text = line.replacen("{", "{\"zz_unknown\":[1,{\"a\":null}],", 1);
            text.into_bytes()
        }
        // Nested deep.
        6 => {
            let depth = 1 + rng.below(200) as usize;
            let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            line.replacen("\"stats\":", &format!("\"stats\":{nested},\"s2\":"), 1)
                .into_bytes()
        }
        // A duplicated key.
        _ => line
            .replacen("\"mark_price\":", "\"mark_price\":1,\"mark_price\":", 1)
            .into_bytes(),
    }
}

/// A state with BTC and ETH markets and a position, for fuzzed events to apply to.
fn warm_state(lines: &[String]) -> ShardState {
    let mut decoder = DeribitDecoder::new(VenueMap::new(), "main");
    let mut state = ShardState::new(0, 1);
    let mut events = Vec::new();
    for line in lines {
        let _ = decoder.decode(line.as_bytes(), &mut events);
    }
    for (i, event) in events.iter().enumerate() {
        state.step(i as u64 + 1, event);
    }
    state.finish_batch();
    state
}

fn check_events(events: &[Event], state: &ShardState, format: Format) {
    for event in events {
        assert_eq!(fields_ok(event), Ok(()), "{format:?} produced {event:?}");
        let mut state = state.clone();
        state.apply(event);
        state.end_of_batch();
        assert_eq!(non_finite(&state), None, "{format:?}: {event:?}");
    }
}

fn csv_lines(format: Format) -> Vec<String> {
    match format {
        Format::TardisOptionsChain => {
            let mut lines = vec!["exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho".to_string()];
            for i in 0..50u64 {
                lines.push(format!("deribit,BTC-30JAN26-{}-C,{},{},call,90000,1769760000000000,10.5,0.07,0.069,5,0.49,0.071,5,0.51,0.0701,0.5,SYN.BTC-30JAN26,90500.5,0.52,0.00001,180.1,-40.2,60.1", 80_000 + 5_000 * (i % 6), 1_767_600_000_000_000 + i * 1_000_000, 1_767_600_000_000_000 + i * 1_000_000));
            }
            lines
        }
        Format::TardisDerivativeTicker => {
            let mut lines = vec!["exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price".to_string()];
            for i in 0..50u64 {
                let us = 1_767_600_000_000_000 + i * 1_000_000;
                lines.push(format!(
                    "deribit,BTC-PERPETUAL,{us},{us},,0.00001,,1000000,90400,90400.5,90410.5"
                ));
            }
            lines
        }
        _ => {
            let mut lines = vec!["timestamp,instrument_name,underlying,underlying_name,option_type,strike,expiry_datetime,time_to_maturity,bid_price,ask_price,mark_price,mid_price,futures_price,futures_instrument_name,implied_volatility,delta,vega,open_interest,volume,bid_ask_spread,currency,index_price,volume_usd".to_string()];
            for i in 0..50u64 {
                lines.push(format!("2026-01-05T08:00:{:02}.5+00:00,BTC-27MAR26-{}-P,90500.5,BTC-27MAR26,put,90000.0,2026-03-27T08:00:00+00:00,0.22,0.069,0.071,0.0701,0.07,90500.5,BTC-27MAR26,0.5,-0.48,180.1,10.5,0.0,0.002,BTC,90400.1,0.0", i % 60, 80_000 + 5_000 * (i % 6)));
            }
            lines
        }
    }
}

#[test]
fn every_venue_decoder_survives_hostile_lines() {
    let count = lines_per_decoder();
    let valid = session(8, 600);
    let state = warm_state(&valid);
    let mut rng = SplitMix64::new(2026);
    for format in [
        Format::Deribit,
        Format::TardisOptionsChain,
        Format::TardisDerivativeTicker,
        Format::DeribitChain,
    ] {
        let lines = if format == Format::Deribit {
            valid.clone()
        } else {
            csv_lines(format)
        };
        let mut decoder = decoder_for(format, VenueMap::new(), "main");
        let mut out = Vec::new();
        // The header (or definitions) first, as a real file has them.
        let _ = decoder.decode(lines[0].as_bytes(), &mut out);
        let mut produced = 0usize;
        for _ in 0..count {
            let line = &lines[1 + rng.below(lines.len() as u64 - 1) as usize];
            let mutated = mutate(line, &mut rng);
            out.clear();
            let _ = decoder.decode(&mutated, &mut out);
            produced += out.len();
            // Applying every event is slow: check a sample, and every event of a line
            // that the engine would see for the first time (definitions).
            if rng.below(16) == 0 {
                check_events(&out, &state, format);
            } else {
                for event in &out {
                    assert_eq!(fields_ok(event), Ok(()), "{format:?} produced {event:?}");
                }
            }
        }
        let counts = decoder.counts();
        assert!(
            counts.refused_total() > count as u64 / 4,
            "{format:?}: {counts:?}"
        );
        assert!(produced > 0, "{format:?}: some mutations stay valid");
        println!(
            "{}: {count} hostile lines, {produced} events, refused by reason: {:?}",
            format.name(),
            counts.refused_by_reason().collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_ticker_fast_path_decodes_exactly_as_serde() {
    let count = lines_per_decoder();
    let valid = session(9, 600);
    let tickers: Vec<&String> = valid
        .iter()
        .filter(|l| l.contains("\"channel\":\"ticker."))
        .collect();
    let mut fast = DeribitDecoder::new(VenueMap::new(), "main");
    let mut slow = DeribitDecoder::new(VenueMap::new(), "main");
    slow.set_fast_path(false);
    let (mut fast_out, mut slow_out) = (Vec::new(), Vec::new());
    for decoder in [&mut fast, &mut slow] {
        let _ = decoder.decode(valid[0].as_bytes(), &mut Vec::new());
    }
    let mut rng = SplitMix64::new(77);
    let mut accepted = 0;
    for i in 0..count {
        let line = tickers[rng.below(tickers.len() as u64) as usize];
        let bytes = if i % 4 == 0 {
            line.as_bytes().to_vec()
        } else {
            mutate(line, &mut rng)
        };
        fast_out.clear();
        slow_out.clear();
        let a = fast.decode(&bytes, &mut fast_out);
        let b = slow.decode(&bytes, &mut slow_out);
        assert_eq!(a, b, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(fast_out, slow_out, "{}", String::from_utf8_lossy(&bytes));
        accepted += usize::from(a.is_ok());
    }
    assert_eq!(fast.counts(), slow.counts());
    assert!(accepted > count / 4, "{accepted} of {count} accepted");
}
