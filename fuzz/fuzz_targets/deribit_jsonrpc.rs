//! Any bytes as a Deribit message, after the session's instrument definitions: never a
//! panic, every event within the engine's field checks, and the ticker fast path giving
//! exactly what the serde path gives.
#![no_main]

use keel_engine::state::validation::fields_ok;
use keel_feeds::deribit::DeribitDecoder;
use keel_feeds::deribit::session::instruments_response;
use keel_feeds::feed::FeedDecoder;
use keel_feeds::venue_map::VenueMap;
use libfuzzer_sys::fuzz_target;

fn decoder(fast: bool) -> DeribitDecoder {
    let mut decoder = DeribitDecoder::new(VenueMap::new(), "main");
    decoder.set_fast_path(fast);
    let definitions = instruments_response(keel_feeds::deribit::session::SESSION_START_MS);
    let _ = decoder.decode(definitions.as_bytes(), &mut Vec::new());
    decoder
}

fuzz_target!(|data: &[u8]| {
    let (mut fast, mut slow) = (decoder(true), decoder(false));
    let (mut fast_out, mut slow_out) = (Vec::new(), Vec::new());
    let a = fast.decode(data, &mut fast_out);
    let b = slow.decode(data, &mut slow_out);
    assert_eq!(a, b);
    assert_eq!(fast_out, slow_out);
    for event in &fast_out {
        assert_eq!(fields_ok(event), Ok(()), "{event:?}");
    }
});
