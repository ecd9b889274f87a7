//! Shared-memory what-if round trip in one process: an engine thread polling (spinning)
//! on the last core answers, the client asks from the first. `transport` (the default):
//! an empty state answers "unknown account" at once, so the figure is the transport
//! alone; `held`: a warm realistic-mix state answers a what-if on an option the account
//! holds, as `keel bench embed` asks (minus the process boundary and pacing).
//! `cargo run --release -p keel-benches --example embed_transport [transport|held] [REQUESTS]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use keel_benches::synthetic_state::warm_synthetic_state;
use keel_engine::events::InstrumentKind;
use keel_engine::state::ShardState;
use keel_runtime::embed::codec::AnswerScratch;
use keel_runtime::embed::wire::{SIDE_BUY, WhatIfLeg};
use keel_runtime::embed::{Client, ClientInput, EmbedConfig, EmbedServer};

/// A warm realistic-mix state, an account in it and an option that account holds.
fn held_state() -> (ShardState, u64, u64) {
    let state = warm_synthetic_state(20_000);
    let (account, holder) = state.accounts.iter().next().expect("an account");
    let instrument = state
        .instruments
        .iter()
        .find(|(id, i)| {
            i.definition.kind == InstrumentKind::Option && holder.positions.get(id).is_some()
        })
        .map(|(id, _)| u64::from(id.0))
        .expect("a held option");
    let account = u64::from(account.0);
    (state, account, instrument)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let held = args.next().is_some_and(|mode| mode == "held");
    let requests: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let (state, account, instrument) = if held {
        held_state()
    } else {
        (ShardState::new(0, 1), 3, 1)
    };
    let dir = tempfile::tempdir_in("/dev/shm").expect("tempdir");
    let server = EmbedServer::start(&EmbedConfig {
        name: "transport".into(),
        dir: dir.path().into(),
        accounts_max: 4,
        clients_max: 1,
    })
    .expect("server");
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let (server, stop) = (server.clone(), stop.clone());
        let core = cores.last().copied();
        std::thread::spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            let mut poller = server.poller();
            let mut scratch = AnswerScratch::default();
            while !stop.load(Ordering::Relaxed) {
                match poller.poll() {
                    Some(ClientInput::WhatIf { slot }) => {
                        server.answer_what_if(slot, &state, &mut scratch)
                    }
                    Some(_) => {}
                    None => std::hint::spin_loop(),
                }
            }
        })
    };
    if let Some(core) = cores.first() {
        core_affinity::set_for_current(*core);
    }
    let mut client = Client::attach(dir.path(), "transport").expect("attach");
    let leg = WhatIfLeg {
        instrument,
        side: SIDE_BUY,
        quantity_mantissa: 1,
        ..WhatIfLeg::default()
    };
    let clock = quanta::Clock::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
    for round in 0..2 {
        latency.reset();
        for _ in 0..requests {
            let start = clock.raw();
            let answer = client.what_if_in_place(account, &[leg], Duration::from_secs(1));
            let end = clock.raw();
            assert!(answer.is_ok_and(|a| !held || a.status == 0));
            latency.saturating_record(clock.delta_as_nanos(start, end).max(1));
        }
        if round == 1 {
            println!(
                "round trip, {}: p50 {} ns, p90 {} ns, p99 {} ns",
                if held {
                    "held option"
                } else {
                    "transport only"
                },
                latency.value_at_quantile(0.5),
                latency.value_at_quantile(0.9),
                latency.value_at_quantile(0.99)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = serving.join();
}
