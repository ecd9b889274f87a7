//! Fuzzes the two decoders every byte of input passes through (issue 10): the JSON-lines
//! decoder (`keel run`'s input) and the journal record decoder (replay's input). Whatever
//! they accept must then apply to a live state without a panic or a NaN in an aggregate:
//! that is what makes a poisoned journal impossible. `PROPTEST_CASES` runs more.

use keel_engine::events::{EventEncoder, decode};
use keel_engine::state::ShardState;
use keel_feeds::adversarial::AdversarialStream;
use keel_feeds::keel_json::decode_line;
use keel_runtime::simulation::non_finite;
use proptest::prelude::*;

/// A state with a universe, accounts and positions, to apply fuzzed events to.
fn warm_state() -> ShardState {
    let mut state = ShardState::new(0, 1);
    for (i, event) in AdversarialStream::new(99).take(3_000).enumerate() {
        state.step(i as u64 + 1, &event);
    }
    state.finish_batch();
    state
}

/// Valid event lines to mutate (JSON cannot carry NaN: those the round trip keeps).
fn valid_lines() -> Vec<String> {
    AdversarialStream::new(7)
        .take(400)
        .filter_map(|event| serde_json::to_string(&event).ok())
        .filter(|line| decode_line(line).is_ok())
        .collect()
}

fn apply_checked(state: &ShardState, event: &keel_engine::events::Event) {
    let mut state = state.clone();
    state.apply(event);
    state.end_of_batch();
    assert_eq!(non_finite(&state), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_lines_of_random_text_never_panic(text in ".{0,300}") {
        let _ = decode_line(&text);
    }

    #[test]
    fn mutated_event_lines_decode_or_err_and_apply_safely(
        pick in 0usize..10_000,
        edits in proptest::collection::vec((0usize..1_000, any::<char>()), 1..6),
    ) {
        thread_local! {
            static LINES: Vec<String> = valid_lines();
            static STATE: ShardState = warm_state();
        }
        let line = LINES.with(|lines| lines[pick % lines.len()].clone());
        let mut chars: Vec<char> = line.chars().collect();
        for (at, c) in edits {
            let at = at % chars.len();
            chars[at] = c;
        }
        let mutated: String = chars.into_iter().collect();
        if let Ok(event) = decode_line(&mutated) {
            STATE.with(|state| apply_checked(state, &event));
        }
    }

    #[test]
    fn mutated_records_decode_or_err_and_apply_safely(
        pick in 0usize..10_000,
        flips in proptest::collection::vec((0usize..256, 0u8..8), 1..4),
    ) {
        thread_local! {
            static EVENTS: Vec<keel_engine::events::Event> = AdversarialStream::new(11).take(400).collect();
            static STATE: ShardState = warm_state();
        }
        let event = EVENTS.with(|events| events[pick % events.len()]);
        let mut encoder = EventEncoder::default();
        let (kind, bytes) = encoder.encode(&event).expect("encodes");
        let mut bytes = bytes.to_vec();
        for (at, bit) in flips {
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
        }
        if let Ok(decoded) = decode(kind, &bytes) {
            STATE.with(|state| apply_checked(state, &decoded));
        }
    }
}
