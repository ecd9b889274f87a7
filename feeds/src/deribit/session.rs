//! A seeded Deribit websocket session in the venue's own message format: the
//! `public/get_instruments` response, then index updates, perpetual and option tickers
//! (marks from Black-76, so the engine's plausibility checks pass; Deribit-style Greeks)
//! and the account's own trades. What the websocket test serves, the decoder benchmark
//! decodes, and the fuzzer mutates; real recordings are validated separately.

use keel_engine::pricing::{OptionInputs, OptionKind, black76};

use crate::rng::SplitMix64;

/// First message time: 2026-01-05T08:00:00Z, in ms.
pub const SESSION_START_MS: i64 = 1_767_600_000_000;
/// Expiries listed: 2026-01-30 and 2026-03-27, 08:00 UTC (ms).
const EXPIRIES_MS: [(i64, &str); 2] = [
    (1_769_760_000_000, "30JAN26"),
    (1_774_598_400_000, "27MAR26"),
];
const STRIKES: [u32; 6] = [80_000, 85_000, 90_000, 95_000, 100_000, 110_000];

/// The options of the session, by name, with terms.
fn options() -> Vec<(String, i64, f64, OptionKind)> {
    let mut listed = Vec::new();
    for (expiry_ms, date) in EXPIRIES_MS {
        for strike in STRIKES {
            for (kind, letter) in [(OptionKind::Call, 'C'), (OptionKind::Put, 'P')] {
                let name = format!("BTC-{date}-{strike}-{letter}");
                listed.push((name, expiry_ms, f64::from(strike), kind));
            }
        }
    }
    listed
}

/// The `public/get_instruments` response of the session (request id 11).
pub fn instruments_response(start_ms: i64) -> String {
    let mut items = vec![
        r#"{"tick_size":0.5,"settlement_period":"perpetual","settlement_currency":"BTC","kind":"future","is_active":true,"instrument_name":"BTC-PERPETUAL","instrument_type":"reversed","expiration_timestamp":32503708800000,"contract_size":10.0,"base_currency":"BTC","counter_currency":"USD","quote_currency":"USD"}"#.to_string(),
    ];
    for (name, expiry_ms, strike, kind) in options() {
        let option_type = if kind.is_call() { "call" } else { "put" };
        items.push(format!(
            r#"{{"tick_size":0.0001,"strike":{strike:.1},"settlement_period":"month","settlement_currency":"BTC","option_type":"{option_type}","kind":"option","is_active":true,"instrument_name":"{name}","instrument_type":"reversed","expiration_timestamp":{expiry_ms},"contract_size":1.0,"base_currency":"BTC","counter_currency":"USD","quote_currency":"BTC"}}"#
        ));
    }
    format!(
        r#"{{"jsonrpc":"2.0","id":11,"result":[{}],"usIn":{},"usOut":{},"usDiff":9,"testnet":false}}"#,
        items.join(","),
        start_ms * 1000 - 9,
        start_ms * 1000
    )
}

/// `messages` notifications after the instruments response: about 1 index update in 20
/// messages, a perpetual ticker in 10, a trade of the account in 50, option tickers the
/// rest; 100 ms apart from [`SESSION_START_MS`].
pub fn session(seed: u64, messages: usize) -> Vec<String> {
    session_from(seed, SESSION_START_MS, messages)
}

/// [`session`] starting at `start_ms` (a later session continuing a journal).
pub fn session_from(seed: u64, start_ms: i64, messages: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(seed);
    let listed = options();
    let mut index = 90_000.0_f64;
    let mut out = Vec::with_capacity(messages + 1);
    out.push(instruments_response(start_ms));
    for i in 0..messages {
        let now_ms = start_ms + 100 * (i as i64 + 1);
        index *= 1.0 + 0.0004 * (rng.uniform() - 0.5);
        let roll = rng.below(100);
        let message = if roll < 5 {
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"deribit_price_index.btc_usd","data":{{"timestamp":{now_ms},"price":{index:.2},"index_name":"btc_usd"}}}}}}"#
            )
        } else if roll < 15 {
            let mark = index * (1.0 + 0.0002 * (rng.uniform() - 0.5));
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"ticker.BTC-PERPETUAL.100ms","data":{{"timestamp":{now_ms},"stats":{{"volume_usd":1.2e9,"volume":13800.5,"price_change":0.61,"low":89100.0,"high":90950.5}},"state":"open","settlement_price":89950.31,"open_interest":1006521060,"min_price":88660.5,"max_price":91362.5,"mark_price":{mark:.2},"last_price":{last:.1},"interest_value":0.0017,"instrument_name":"BTC-PERPETUAL","index_price":{index:.2},"funding_8h":0.00002,"estimated_delivery_price":{index:.2},"current_funding":0.0,"best_bid_price":{bid:.1},"best_bid_amount":120340.0,"best_ask_price":{ask:.1},"best_ask_amount":23000.0}}}}}}"#,
                last = mark.round(),
                bid = (mark - 0.5).round(),
                ask = (mark + 0.5).round(),
            )
        } else if roll < 17 {
            let (name, ..) = &listed[rng.below(listed.len() as u64) as usize];
            let side = if rng.below(2) == 0 { "buy" } else { "sell" };
            let amount = 0.1 * (1 + rng.below(20)) as f64;
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"user.trades.option.BTC.raw","data":[{{"trade_seq":{i},"trade_id":"{trade_id}","timestamp":{now_ms},"tick_direction":1,"state":"filled","reduce_only":false,"price":0.0125,"post_only":false,"order_type":"limit","order_id":"{order_id}","mmp":false,"matching_id":null,"mark_price":0.0124,"liquidity":"M","instrument_name":"{name}","index_price":{index:.2},"fee_currency":"BTC","fee":0.00003,"direction":"{side}","amount":{amount:.1}}}]}}}}"#,
                trade_id = 300_000_000 + i,
                order_id = 50_000_000_000u64 + i as u64,
            )
        } else {
            let (name, expiry_ms, strike, kind) = &listed[rng.below(listed.len() as u64) as usize];
            let years = (expiry_ms - now_ms) as f64 / (365.0 * 86_400_000.0);
            let forward = index * (1.0 + 0.05 * years);
            let vol = 0.45 + 0.1 * ((strike / forward).ln()).powi(2) * 10.0 + 0.01 * rng.uniform();
            let inputs = OptionInputs {
                kind: *kind,
                forward,
                strike: *strike,
                years,
                vol,
                rate: 0.0,
            };
            let Ok(greeks) = black76(&inputs) else {
                continue;
            };
            let mark = (greeks.price_usd / forward).max(0.0001);
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"ticker.{name}.100ms","data":{{"timestamp":{now_ms},"underlying_price":{forward:.2},"underlying_index":"SYN.BTC-{name_date}","stats":{{"volume":12.3,"price_change":-2.1,"low":0.011,"high":0.014}},"state":"open","settlement_price":0.0121,"open_interest":532.1,"min_price":0.0001,"max_price":0.2,"mark_price":{mark:.8},"mark_iv":{iv:.2},"last_price":0.0125,"interest_rate":0.0,"instrument_name":"{name}","index_price":{index:.2},"greeks":{{"rho":1.2,"theta":{theta:.5},"vega":{vega:.5},"gamma":{gamma:.5},"delta":{delta:.5}}},"estimated_delivery_price":{index:.2},"bid_iv":{bid_iv:.2},"best_bid_price":{bid:.4},"best_bid_amount":10.0,"best_ask_price":{ask:.4},"best_ask_amount":12.5,"ask_iv":{ask_iv:.2}}}}}}}"#,
                name_date = name.split('-').nth(1).unwrap_or_default(),
                iv = vol * 100.0,
                theta = greeks.theta_usd_per_day,
                vega = greeks.vega_usd,
                gamma = greeks.gamma_per_usd,
                delta = greeks.delta,
                bid_iv = vol * 100.0 - 1.0,
                ask_iv = vol * 100.0 + 1.0,
                bid = (mark * 0.98).max(0.0001),
                ask = mark * 1.02,
            )
        };
        out.push(message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deribit::DeribitDecoder;
    use crate::feed::FeedDecoder;
    use crate::venue_map::VenueMap;

    #[test]
    fn the_session_decodes_without_a_refusal() {
        let mut decoder = DeribitDecoder::new(VenueMap::new(), "main");
        let mut events = Vec::new();
        for line in session(5, 5_000) {
            let _ = decoder.decode(line.as_bytes(), &mut events);
        }
        let counts = decoder.counts();
        assert_eq!(counts.refused_total(), 0, "{counts:?}");
        assert_eq!(counts.lines, 5_001);
        assert!(counts.events > 5_000, "{counts:?}");
        assert_eq!(session(5, 100), session(5, 100));
    }
}
