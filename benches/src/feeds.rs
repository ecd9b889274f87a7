//! Decoder workloads (issue 13): the same input lines through Keel's decoders and through
//! the plain baselines a gateway would otherwise write: `serde_json::Value` for JSON,
//! the `csv` crate's `StringRecord` reader for CSV. Every function returns a number that
//! depends on every message, so nothing is optimised away.

use keel_engine::events::{Event, EventBody};
use keel_feeds::deribit::session::session;
use keel_feeds::feed::{FeedDecoder, Format, decoder_for};
use keel_feeds::venue_map::VenueMap;
use serde_json::Value;

/// Option ticker messages of the synthetic Deribit session, and the session's first
/// line (the instrument definitions) that warms a decoder.
pub fn deribit_tickers(count: usize) -> (String, Vec<String>) {
    let lines = session(21, count * 2);
    let definitions = lines[0].clone();
    let tickers: Vec<String> = lines
        .into_iter()
        .filter(|l| l.contains("\"channel\":\"ticker.BTC-") && l.contains("\"greeks\""))
        .take(count)
        .collect();
    (definitions, tickers)
}

/// A decoder of `format` that has seen `warm` (definitions, a CSV header).
pub fn warmed(format: Format, warm: &[&str]) -> Box<dyn FeedDecoder> {
    let mut decoder = decoder_for(format, VenueMap::new(), "main");
    let mut out = Vec::new();
    for line in warm {
        let _ = decoder.decode(line.as_bytes(), &mut out);
    }
    decoder
}

/// Decodes every line; returns the sum of the events' timestamps (as f64).
pub fn decode_all(decoder: &mut dyn FeedDecoder, lines: &[String], out: &mut Vec<Event>) -> f64 {
    let mut sum = 0.0;
    for line in lines {
        out.clear();
        let _ = decoder.decode(line.as_bytes(), out);
        for event in out.iter() {
            if let EventBody::Ticker(ticker) = &event.body {
                sum += ticker.mark_price;
            }
        }
    }
    sum
}

/// One decoder's workload: the lines that warm it (definitions, a CSV header), the lines
/// measured, and the baseline that parses the same lines.
pub struct Workload {
    pub format: Format,
    pub warm: Vec<String>,
    pub lines: Vec<String>,
    pub baseline: Baseline,
}

/// The plain way to read the same lines.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// `serde_json::Value`, reading the field named.
    JsonValue,
    /// The `csv` crate's `StringRecord` reader, parsing these columns as f64 (the numbers
    /// Keel's decoder reads from each row).
    CsvStringRecord(&'static [usize]),
}

impl Baseline {
    pub fn name(self) -> &'static str {
        match self {
            Baseline::JsonValue => "serde_json::Value",
            Baseline::CsvStringRecord(_) => "csv crate StringRecord",
        }
    }

    /// Runs the baseline over the workload; returns a sum of what it read.
    pub fn run(self, workload: &Workload) -> f64 {
        match self {
            Baseline::JsonValue => value_decode_all(&workload.lines),
            Baseline::CsvStringRecord(columns) => {
                csv_crate_decode_all(&workload.warm[0], &workload.lines, columns)
            }
        }
    }
}

/// Baseline: each line parsed into a `serde_json::Value`, reading a mark or price.
pub fn value_decode_all(lines: &[String]) -> f64 {
    let mut sum = 0.0;
    for line in lines {
        if let Ok(value) = serde_json::from_str::<Value>(line) {
            let data = &value["params"]["data"];
            sum += 1.0;
            sum += data["mark_price"]
                .as_f64()
                .or_else(|| value["mark_price"].as_f64())
                .unwrap_or_default();
        }
    }
    sum
}

/// Baseline: the rows through the `csv` crate into a reused `StringRecord`, each of
/// `columns` parsed as f64.
pub fn csv_crate_decode_all(header: &str, rows: &[String], columns: &[usize]) -> f64 {
    let mut text = String::with_capacity(rows.len() * 200);
    text.push_str(header);
    text.push('\n');
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut sum = 0.0;
    while reader.read_record(&mut record).unwrap_or(false) {
        for &column in columns {
            sum += record
                .get(column)
                .and_then(|m| m.parse::<f64>().ok())
                .unwrap_or_default();
        }
    }
    sum
}

/// The Deribit workload: option ticker messages.
pub fn deribit(count: usize) -> Workload {
    let (definitions, lines) = deribit_tickers(count);
    Workload {
        format: Format::Deribit,
        warm: vec![definitions],
        lines,
        baseline: Baseline::JsonValue,
    }
}

/// Keel's own JSON lines: the synthetic market's events.
pub fn keel_json(count: usize) -> Workload {
    let lines = keel_feeds::SyntheticMarket::new(keel_feeds::SyntheticConfig::default())
        .take(count * 2)
        .filter_map(|event| serde_json::to_string(&event).ok())
        .filter(|line| keel_feeds::keel_json::decode_line(line).is_ok())
        .take(count)
        .collect();
    Workload {
        format: Format::Keel,
        warm: Vec::new(),
        lines,
        baseline: Baseline::JsonValue,
    }
}

/// Tardis `options_chain` rows.
pub fn tardis_options_chain(count: usize) -> Workload {
    let header = "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho".to_string();
    let lines = (0..count)
        .map(|i| {
            let strike = 80_000 + 5_000 * (i % 6);
            let (right, kind) = if i % 2 == 0 { ("C", "call") } else { ("P", "put") };
            let us = 1_767_600_000_000_000u64 + i as u64 * 1_000;
            format!(
                "deribit,BTC-27MAR26-{strike}-{right},{us},{},{kind},{strike},1774598400000000,10.5,0.07,0.069,5,0.49,0.071,5,0.51,0.0701,0.5,SYN.BTC-27MAR26,90500.5,0.52,0.00001,180.1,-40.2,60.1",
                us + 1_000
            )
        })
        .collect();
    Workload {
        format: Format::TardisOptionsChain,
        warm: vec![header],
        lines,
        // timestamp, open_interest, bid, ask, mark, mark_iv, underlying, four Greeks.
        baseline: Baseline::CsvStringRecord(&[2, 7, 9, 12, 15, 16, 18, 19, 20, 21, 22]),
    }
}

/// Tardis `derivative_ticker` rows (the perpetual).
pub fn tardis_derivative_ticker(count: usize) -> Workload {
    let header = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price".to_string();
    let lines = (0..count)
        .map(|i| {
            let us = 1_767_600_000_000_000u64 + i as u64 * 1_000;
            format!(
                "deribit,BTC-PERPETUAL,{us},{us},,0.00001,,1000000,90400,{:.2},{:.2}",
                90_400.0 + (i % 50) as f64,
                90_410.0 + (i % 50) as f64
            )
        })
        .collect();
    Workload {
        format: Format::TardisDerivativeTicker,
        warm: vec![header],
        lines,
        // timestamp, index, mark.
        baseline: Baseline::CsvStringRecord(&[2, 9, 10]),
    }
}

/// Deribit option-chain snapshot rows (`keel import deribit-chain`).
pub fn deribit_chain(count: usize) -> Workload {
    let header = "timestamp,instrument_name,underlying,underlying_name,option_type,strike,expiry_datetime,time_to_maturity,bid_price,ask_price,mark_price,mid_price,futures_price,futures_instrument_name,implied_volatility,delta,vega,open_interest,volume,bid_ask_spread,currency,index_price,volume_usd".to_string();
    let lines = (0..count)
        .map(|i| {
            let strike = 80_000 + 5_000 * (i % 6);
            let (right, kind) = if i % 2 == 0 { ("C", "call") } else { ("P", "put") };
            format!(
                "2026-01-05T08:00:00.{:06}+00:00,BTC-27MAR26-{strike}-{right},90500.5,SYN.BTC-27MAR26,{kind},{strike}.0,2026-03-27T08:00:00+00:00,0.22,0.069,0.071,0.0701,0.07,90500.5,SYN.BTC-27MAR26,0.5,0.52,180.1,10.5,0.0,0.002,BTC,90400.1,0.0",
                i % 1_000_000
            )
        })
        .collect();
    Workload {
        format: Format::DeribitChain,
        warm: vec![header],
        lines,
        // underlying, bid, ask, mark, futures price, IV, delta, vega, index.
        baseline: Baseline::CsvStringRecord(&[2, 8, 9, 10, 12, 14, 15, 16, 21]),
    }
}

/// Every decoder's workload, `count` lines each.
pub fn workloads(count: usize) -> Vec<Workload> {
    vec![
        deribit(count),
        keel_json(count),
        tardis_options_chain(count),
        tardis_derivative_ticker(count),
        deribit_chain(count),
    ]
}

/// A Deribit decoder warmed for `workload` with its ticker fast path off: serde_json's
/// typed, borrowed parse for every message (what the fast path is measured against).
pub fn deribit_serde_path(workload: &Workload) -> Box<dyn FeedDecoder> {
    let mut decoder = keel_feeds::deribit::DeribitDecoder::new(VenueMap::new(), "main");
    decoder.set_fast_path(false);
    let mut out = Vec::new();
    for line in &workload.warm {
        let _ = decoder.decode(line.as_bytes(), &mut out);
    }
    Box::new(decoder)
}

/// A decoder warmed for `workload`.
pub fn warmed_for(workload: &Workload) -> Box<dyn FeedDecoder> {
    let warm: Vec<&str> = workload.warm.iter().map(String::as_str).collect();
    warmed(workload.format, &warm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_decodes_fully_and_its_baseline_reads_it() {
        let mut out = Vec::new();
        for workload in workloads(300) {
            let mut decoder = warmed_for(&workload);
            let ours = decode_all(decoder.as_mut(), &workload.lines, &mut out);
            let counts = decoder.counts();
            assert_eq!(
                counts.refused_total(),
                0,
                "{:?}: {counts:?}",
                workload.format
            );
            assert!(counts.lines as usize >= workload.lines.len(), "{counts:?}");
            assert!(counts.events as usize >= workload.lines.len(), "{counts:?}");
            assert!(
                workload.baseline.run(&workload) != 0.0,
                "{:?}",
                workload.format
            );
            if workload.format == Format::Deribit {
                let value_sum = value_decode_all(&workload.lines) - workload.lines.len() as f64;
                assert!((ours - value_sum).abs() < 1e-9 * ours);
            }
        }
    }
}
