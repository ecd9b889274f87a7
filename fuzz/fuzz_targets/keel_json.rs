//! Any bytes as a line of Keel's JSON-lines format: never a panic.
#![no_main]

use keel_feeds::feed::FeedDecoder;
use keel_feeds::keel_json::KeelDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = KeelDecoder::default();
    let _ = decoder.decode(data, &mut Vec::new());
});
