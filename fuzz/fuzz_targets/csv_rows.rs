//! Any bytes as a row of each CSV format, after its header: never a panic, every event
//! within the engine's field checks.
#![no_main]

use keel_engine::state::validation::fields_ok;
use keel_feeds::feed::{Format, decoder_for};
use keel_feeds::venue_map::VenueMap;
use libfuzzer_sys::fuzz_target;

const HEADERS: [(Format, &str); 3] = [
    (
        Format::TardisOptionsChain,
        "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho",
    ),
    (
        Format::TardisDerivativeTicker,
        "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price",
    ),
    (
        Format::DeribitChain,
        "timestamp,instrument_name,underlying,underlying_name,option_type,strike,expiry_datetime,time_to_maturity,bid_price,ask_price,mark_price,mid_price,futures_price,futures_instrument_name,implied_volatility,delta,vega,open_interest,volume,bid_ask_spread,currency,index_price,volume_usd",
    ),
];

fuzz_target!(|data: &[u8]| {
    for (format, header) in HEADERS {
        let mut decoder = decoder_for(format, VenueMap::new(), "main");
        let mut out = Vec::new();
        let _ = decoder.decode(header.as_bytes(), &mut out);
        for line in data.split(|&b| b == b'\n') {
            out.clear();
            let _ = decoder.decode(line, &mut out);
            for event in &out {
                assert_eq!(fields_ok(event), Ok(()), "{format:?}: {event:?}");
            }
        }
    }
});
