//! The shared-memory what-if answer alone (no transport) over a warm realistic-mix state,
//! answered as the engine answers (into its reused request and answer), for profiling:
//! `cargo run --release -p keel-benches --example what_if_loop [ROUNDS]`.

use std::hint::black_box;

use keel_benches::synthetic_state::warm_synthetic_state;
use keel_engine::events::InstrumentKind;
use keel_runtime::embed::codec::{AnswerScratch, answer_in_place};
use keel_runtime::embed::wire::{SIDE_BUY, WhatIfLeg, WhatIfRequest};

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let state = warm_synthetic_state(20_000);
    let account = *state.accounts.keys().next().expect("an account");
    let instrument = state
        .instruments
        .iter()
        .find(|(_, i)| {
            i.definition.kind == InstrumentKind::Option
                && i.mark.is_some_and(|m| m.mark_price > 1e-3)
                && (std::env::var_os("HELD").is_none()
                    || state.accounts[&account]
                        .positions
                        .get(&i.definition.id)
                        .is_some())
        })
        .map(|(id, _)| *id)
        .expect("a marked option");
    let mut request = WhatIfRequest {
        account: u64::from(account.0),
        leg_count: 1,
        ..WhatIfRequest::default()
    };
    request.legs[0] = WhatIfLeg {
        instrument: u64::from(instrument.0),
        side: SIDE_BUY,
        quantity_mantissa: 1,
        ..WhatIfLeg::default()
    };
    let mut scratch = AnswerScratch::default();
    scratch.request = request;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        answer_in_place(&state, black_box(&mut scratch));
        black_box(&scratch.response);
    }
    let account_state = &state.accounts[&account];
    println!(
        "{:.0} ns per answer ({:?} margin, {} positions)",
        start.elapsed().as_nanos() as f64 / f64::from(rounds),
        account_state.margin_model,
        account_state.positions.len()
    );
}
