//! Shared-memory what-if round trip, transport only: a server thread polling (spinning)
//! with an empty state answers "unknown account" at once; the client on another core.
//! `cargo run --release -p keel-benches --example embed_transport [REQUESTS]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use keel_engine::state::ShardState;
use keel_runtime::embed::codec::AnswerScratch;
use keel_runtime::embed::wire::{SIDE_BUY, WhatIfLeg};
use keel_runtime::embed::{Client, ClientInput, EmbedConfig, EmbedServer};

fn main() {
    let requests: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
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
            let state = ShardState::new(0, 1);
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
        instrument: 1,
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
            let answer = client.what_if(3, &[leg], Duration::from_secs(1));
            let end = clock.raw();
            assert!(answer.is_ok());
            latency.saturating_record(clock.delta_as_nanos(start, end).max(1));
        }
        if round == 1 {
            println!(
                "round trip, transport only: p50 {} ns, p90 {} ns, p99 {} ns",
                latency.value_at_quantile(0.5),
                latency.value_at_quantile(0.9),
                latency.value_at_quantile(0.99)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = serving.join();
}
