//! Any bytes as a client's shared-memory traffic: 128-byte ingress records and what-if /
//! size requests, taken in turn (the first byte of each chunk says which), decoded and
//! answered by a shard holding a synthetic book. Never a panic, never a NaN in an
//! answered what-if; `tests/tests/embed_hostile_words.rs` states the same contract.
#![no_main]

use std::sync::OnceLock;

use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_runtime::embed::codec::{AnswerScratch, answer, decode_record};
use keel_runtime::embed::wire::{Record, WhatIfRequest, Wire, words_of_mut};
use libfuzzer_sys::fuzz_target;

fn warm_state() -> &'static ShardState {
    static STATE: OnceLock<ShardState> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut state = ShardState::new(0, 1);
        let market = SyntheticMarket::new(SyntheticConfig {
            seed: 23,
            accounts: 8,
            ..SyntheticConfig::default()
        });
        for (index, event) in market.take(5_000).enumerate() {
            state.step(index as u64 + 1, &event);
        }
        state
    })
}

/// Fills a wire value's words from `bytes` (zero past their end).
fn from_bytes<T: Wire>(bytes: &[u8]) -> T {
    let mut value = T::default();
    for (word, chunk) in words_of_mut(&mut value).iter_mut().zip(bytes.chunks(8)) {
        let mut buffer = [0u8; 8];
        buffer[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(buffer);
    }
    value
}

fuzz_target!(|data: &[u8]| {
    let mut state = warm_state().clone();
    let mut scratch = AnswerScratch::default();
    let mut seq = state.seq;
    let mut rest = data;
    while let Some((&selector, tail)) = rest.split_first() {
        if selector % 2 == 0 {
            let size = Record::WORDS * 8;
            let record: Record = from_bytes(&tail[..size.min(tail.len())]);
            if let Ok(event) = decode_record(&record) {
                seq += 1;
                state.step(seq, &event);
            }
            rest = &tail[size.min(tail.len())..];
        } else {
            let size = WhatIfRequest::WORDS * 8;
            let request: WhatIfRequest = from_bytes(&tail[..size.min(tail.len())]);
            let response = answer(&state, &request, &mut scratch);
            if response.status == 0 {
                for figures in &response.after[..response.currency_count as usize] {
                    assert!(figures.equity.is_finite() && figures.initial_margin.is_finite());
                    assert!(!figures.maintenance_ratio.is_nan());
                }
            }
            rest = &tail[size.min(tail.len())..];
        }
    }
});
