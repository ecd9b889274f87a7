//! The what-if mailbox: which words of a request and of an answer cross between the
//! client's and the engine's cores.
//!
//! Each 64-byte line written by one side and read by the other is a cache-line transfer;
//! the whole request (480 bytes) and answer (728 bytes) are 20 lines, most of them unused
//! by a one-leg what-if (copying them all: 821–831 ns per transport-only round trip,
//! against 571–631 ns now; docs/BENCHMARKS.md). So only the words that carry meaning are
//! copied: the
//! request's head, its `leg_count` legs and, for a size query, the stress budget; the
//! answer's head and its `currency_count` / `underlying_count` entries. Entries past the
//! counts are still zero in the answer (those the previous answer used are cleared);
//! request words past what its head says are never read.

use std::mem::offset_of;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use super::wire::{
    ANSWER_CURRENCIES_MAX, CurrencyFigures, QUERY_SIZE, SNAPSHOT_UNDERLYINGS_MAX,
    SnapshotUnderlying, WHAT_IF_LEGS_MAX, WhatIfLeg, WhatIfRequest, WhatIfResponse, Wire, words_of,
    words_of_mut,
};

const fn words(byte_offset: usize) -> usize {
    byte_offset / 8
}

/// Request words up to the first leg: sequence, account, leg count, query, name.
const REQUEST_HEAD: Range<usize> = 0..words(offset_of!(WhatIfRequest, legs));
const REQUEST_LEGS: usize = words(offset_of!(WhatIfRequest, legs));
const REQUEST_STRESS: Range<usize> = words(offset_of!(WhatIfRequest, stress_spot_move))
    ..words(offset_of!(WhatIfRequest, stress_max_loss_share)) + 1;
const RESPONSE_HEAD: Range<usize> = 0..words(offset_of!(WhatIfResponse, before));
const RESPONSE_BEFORE: usize = words(offset_of!(WhatIfResponse, before));
const RESPONSE_AFTER: usize = words(offset_of!(WhatIfResponse, after));
const RESPONSE_GREEKS: usize = words(offset_of!(WhatIfResponse, greeks_after));
const CURRENCY_COUNT: usize = words(offset_of!(WhatIfResponse, currency_count));
const UNDERLYING_COUNT: usize = words(offset_of!(WhatIfResponse, underlying_count));

/// The word ranges of a request that carry meaning after its head, given the head's leg
/// count and query.
fn request_body(leg_count: u64, query: u64) -> [Range<usize>; 2] {
    let legs = count_of(leg_count, WHAT_IF_LEGS_MAX);
    let stress = if query == QUERY_SIZE {
        REQUEST_STRESS
    } else {
        0..0
    };
    [REQUEST_LEGS..REQUEST_LEGS + legs * WhatIfLeg::WORDS, stress]
}

/// The word ranges of entries `from..to` of the answer's three arrays.
fn response_entries(currencies: Range<usize>, underlyings: Range<usize>) -> [Range<usize>; 3] {
    let span = |start: usize, entries: &Range<usize>, words: usize| {
        start + entries.start * words..start + entries.end * words
    };
    [
        span(RESPONSE_BEFORE, &currencies, CurrencyFigures::WORDS),
        span(RESPONSE_AFTER, &currencies, CurrencyFigures::WORDS),
        span(RESPONSE_GREEKS, &underlyings, SnapshotUnderlying::WORDS),
    ]
}

fn count_of(word: u64, max: usize) -> usize {
    usize::try_from(word).map_or(max, |count| count.min(max))
}

/// Stores `values[range]` into `shared[range]` (relaxed).
fn store_range(shared: &[AtomicU64], values: &[u64], range: Range<usize>) {
    for (word, value) in shared[range.clone()].iter().zip(&values[range]) {
        word.store(*value, Ordering::Relaxed);
    }
}

/// Loads `shared[range]` into `values[range]` (relaxed).
fn load_range(shared: &[AtomicU64], values: &mut [u64], range: Range<usize>) {
    for (value, word) in values[range.clone()].iter_mut().zip(&shared[range]) {
        *value = word.load(Ordering::Relaxed);
    }
}

/// The client's side: writes what `request` carries, its sequence last (released).
/// `shared` is the request's words.
pub fn publish_request(shared: &[AtomicU64], request: &WhatIfRequest) {
    let values = words_of(request);
    store_range(shared, values, 1..REQUEST_HEAD.end);
    for range in request_body(request.leg_count, request.query) {
        store_range(shared, values, range);
    }
    shared[0].store(values[0], Ordering::Release);
}

/// The engine's side, at every poll of the request's sequence: reads one word of each
/// line a one-leg request's leg uses. Idle, these are cache hits; when a request
/// arrives, its leg's lines are fetched together with its sequence's line instead of
/// after it, which saves one transfer between the cores from every round trip. The
/// values are not used: [`load_request_into`] reads the request after its sequence.
pub fn touch_request_body(shared: &[AtomicU64]) {
    let leg = &shared[REQUEST_LEGS..REQUEST_LEGS + WhatIfLeg::WORDS];
    for word in leg.iter().step_by(8).chain(leg.last()) {
        std::hint::black_box(word.load(Ordering::Relaxed));
    }
}

/// The engine's side, once a request's sequence has changed: the request as the client
/// published it into `request`, reused from request to request (no 480-byte value built
/// and moved per request). The words the previous request carried are cleared first, so
/// words this one does not carry are zero (given they were in the first `request`).
pub fn load_request_into(shared: &[AtomicU64], request: &mut WhatIfRequest) {
    let (leg_count, query) = (request.leg_count, request.query);
    let values = words_of_mut(request);
    for range in request_body(leg_count, query) {
        values[range].fill(0);
    }
    // Acquired: the words read after it are at least as new as this sequence.
    values[0] = shared[0].load(Ordering::Acquire);
    load_range(shared, values, 1..REQUEST_HEAD.end);
    let (leg_count, query) = (request.leg_count, request.query);
    let values = words_of_mut(request);
    for range in request_body(leg_count, query) {
        load_range(shared, values, range);
    }
}

/// The engine's side: writes `response` (zero past its counts), clearing the entries the
/// previous answer used beyond them, and its sequence last (released). `shared` is the
/// response's words.
pub fn publish_response(shared: &[AtomicU64], response: &WhatIfResponse) {
    // Only the engine writes these words; a client scribbling here gets its counts clamped.
    let previous_currencies = count_of(
        shared[CURRENCY_COUNT].load(Ordering::Relaxed),
        ANSWER_CURRENCIES_MAX,
    );
    let previous_underlyings = count_of(
        shared[UNDERLYING_COUNT].load(Ordering::Relaxed),
        SNAPSHOT_UNDERLYINGS_MAX,
    );
    let currencies = count_of(response.currency_count, ANSWER_CURRENCIES_MAX);
    let underlyings = count_of(response.underlying_count, SNAPSHOT_UNDERLYINGS_MAX);
    let values = words_of(response);
    store_range(shared, values, 1..RESPONSE_HEAD.end);
    let written = response_entries(
        0..currencies.max(previous_currencies),
        0..underlyings.max(previous_underlyings),
    );
    for range in written {
        store_range(shared, values, range);
    }
    shared[0].store(values[0], Ordering::Release);
}

/// The client's side: the answer the engine published (call after acquiring its
/// sequence); entries past its counts are zero.
pub fn load_response(shared: &[AtomicU64]) -> WhatIfResponse {
    let mut response = WhatIfResponse::default();
    load_response_into(shared, &mut response);
    response
}

/// [`load_response`] into `response`, reused from answer to answer: its own counted
/// entries are cleared first, so entries past the new counts are zero as long as
/// `response` was zero past its counts (as every response loaded or answered here is).
pub fn load_response_into(shared: &[AtomicU64], response: &mut WhatIfResponse) {
    clear_response(response);
    let values = words_of_mut(response);
    load_range(shared, values, RESPONSE_HEAD);
    let currencies = count_of(response.currency_count, ANSWER_CURRENCIES_MAX);
    let underlyings = count_of(response.underlying_count, SNAPSHOT_UNDERLYINGS_MAX);
    let values = words_of_mut(response);
    for range in response_entries(0..currencies, 0..underlyings) {
        load_range(shared, values, range);
    }
}

/// Makes a response that is zero past its counts all zero, writing only its head and
/// counted entries (a whole default response is 728 bytes to write).
pub fn clear_response(response: &mut WhatIfResponse) {
    let currencies = count_of(response.currency_count, ANSWER_CURRENCIES_MAX);
    let underlyings = count_of(response.underlying_count, SNAPSHOT_UNDERLYINGS_MAX);
    let values = words_of_mut(response);
    values[RESPONSE_HEAD].fill(0);
    for range in response_entries(0..currencies, 0..underlyings) {
        values[range].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::wire::{QUERY_WHAT_IF, load, publish_sequence_last};

    fn shared<T: Wire>() -> Vec<AtomicU64> {
        (0..T::WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    /// A request with every word set to something nonzero.
    fn full_request(leg_count: u64, query: u64) -> WhatIfRequest {
        let mut request = WhatIfRequest::default();
        for (index, word) in words_of_mut(&mut request).iter_mut().enumerate() {
            *word = 1000 + index as u64;
        }
        request.leg_count = leg_count;
        request.query = query;
        request
    }

    #[test]
    fn a_request_carries_its_head_its_legs_and_a_size_querys_budget() {
        // Reused from request to request, as the engine reuses it: what one request
        // carried must not survive into the next.
        let mut reused = WhatIfRequest::default();
        for query in [QUERY_WHAT_IF, QUERY_SIZE] {
            for leg_count in 0..=WHAT_IF_LEGS_MAX as u64 + 1 {
                let words = shared::<WhatIfRequest>();
                // Stale words from an earlier, larger request stay in shared memory.
                publish_sequence_last(&words, &full_request(4, QUERY_SIZE));
                let request = full_request(leg_count, query);
                publish_request(&words, &request);
                let mut loaded = WhatIfRequest::default();
                load_request_into(&words, &mut loaded);
                let mut expected = WhatIfRequest::default();
                let legs = (leg_count as usize).min(WHAT_IF_LEGS_MAX);
                expected.request_seq = request.request_seq;
                expected.account = request.account;
                expected.leg_count = leg_count;
                expected.query = query;
                expected.account_name = request.account_name;
                expected.legs[..legs].copy_from_slice(&request.legs[..legs]);
                if query == QUERY_SIZE {
                    expected.stress_spot_move = request.stress_spot_move;
                    expected.stress_vol_points = request.stress_vol_points;
                    expected.stress_max_loss_share = request.stress_max_loss_share;
                }
                assert_eq!(loaded, expected, "legs {leg_count}, query {query}");
                load_request_into(&words, &mut reused);
                assert_eq!(reused, expected, "reused: legs {leg_count}, query {query}");
            }
        }
    }

    fn response_with(currencies: u64, underlyings: u64, tag: f64) -> WhatIfResponse {
        let mut response = WhatIfResponse {
            response_seq: tag as u64,
            status: 7,
            as_of_seq: 99,
            currency_count: currencies,
            underlying_count: underlyings,
            ..WhatIfResponse::default()
        };
        for index in 0..(currencies as usize).min(ANSWER_CURRENCIES_MAX) {
            response.before[index].equity = tag + index as f64;
            response.after[index].initial_margin = tag - index as f64;
        }
        for index in 0..(underlyings as usize).min(SNAPSHOT_UNDERLYINGS_MAX) {
            response.greeks_after[index].delta_coin = tag * 2.0 + index as f64;
        }
        response
    }

    #[test]
    fn an_answer_reads_back_whole_with_zeros_past_its_counts_whatever_came_before() {
        let words = shared::<WhatIfResponse>();
        // Reused from answer to answer, as the client reuses it.
        let mut reused = WhatIfResponse::default();
        let mut tag = 1.0;
        for (currencies, underlyings) in [(4, 4), (1, 2), (0, 0), (3, 1), (2, 4), (9, 9)] {
            let response = response_with(currencies, underlyings, tag);
            publish_response(&words, &response);
            // Every word in shared memory, not only those a client loads, is the answer.
            let whole: WhatIfResponse = load(&words);
            let expected = response;
            assert_eq!(
                whole, expected,
                "{currencies} currencies, {underlyings} underlyings"
            );
            assert_eq!(load_response(&words), expected);
            load_response_into(&words, &mut reused);
            assert_eq!(reused, expected, "reused");
            tag += 10.0;
        }
    }
}
