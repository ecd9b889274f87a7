//! Round trip of one what-if-sized request and answer between two processes, over
//! (a) iceoryx2 0.10 request/response and (b) Keel's own layout (a client file's mailbox,
//! `runtime/src/embed`). The server answers at once with a fixed response (transport only,
//! no risk computation) and busy-polls, as Keel's engine thread does. Paced at a fixed
//! rate (latency from each request's scheduled time) and flat out; both pinned: client on
//! the first core, server on the last.
//!
//! `cargo run --release --manifest-path benches/iceoryx2-rtt/Cargo.toml [REQUESTS] [RATE]`

use std::process::{Command, Stdio};
use std::time::Duration;

use hdrhistogram::Histogram;
use iceoryx2::prelude::*;
use keel_engine::state::ShardState;
use keel_runtime::embed::wire::{WhatIfRequest, WhatIfResponse, Wire};
use keel_runtime::embed::{Client, EmbedConfig, EmbedServer};

const REQUEST_WORDS: usize = <WhatIfRequest as Wire>::WORDS;
const RESPONSE_WORDS: usize = <WhatIfResponse as Wire>::WORDS;

#[derive(Debug, Clone, Copy, ZeroCopySend)]
#[repr(C)]
struct Request {
    words: [u64; REQUEST_WORDS],
}

#[derive(Debug, Clone, Copy, ZeroCopySend)]
#[repr(C)]
struct Response {
    words: [u64; RESPONSE_WORDS],
}

const SERVICE: &str = "keel/iceoryx2-rtt";

/// Pins this process to core `id` (ids are read before anything is pinned: a pinned
/// parent's children inherit its one-core mask).
fn pin(id: usize) {
    core_affinity::set_for_current(core_affinity::CoreId { id });
}

fn serve_iceoryx2(core: usize) -> Result<(), Box<dyn std::error::Error>> {
    pin(core);
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let service = node
        .service_builder(&SERVICE.try_into()?)
        .request_response::<Request, Response>()
        .open_or_create()?;
    let server = service.server_builder().create()?;
    let response = Response {
        words: [7; RESPONSE_WORDS],
    };
    loop {
        while let Some(request) = server.receive()? {
            if request.words[0] == u64::MAX {
                return Ok(());
            }
            request.send_copy(response)?;
        }
        std::hint::spin_loop();
    }
}

fn serve_keel(dir: &str, core: usize) -> Result<(), Box<dyn std::error::Error>> {
    pin(core);
    let server = EmbedServer::start(&EmbedConfig {
        name: "rtt".into(),
        dir: dir.into(),
        accounts_max: 1,
        clients_max: 1,
    })?;
    // An empty state: every answer is "unknown account", at once (transport only).
    let state = ShardState::new(0, 1);
    let mut poller = server.poller();
    let mut scratch = keel_runtime::embed::codec::AnswerScratch::default();
    println!("ready");
    let stop = std::path::Path::new(dir).join("stop");
    for polls in 0u64.. {
        match poller.poll() {
            Some(keel_runtime::embed::ClientInput::WhatIf { slot }) => {
                server.answer_what_if(slot, &state, &mut scratch)
            }
            Some(_) => {}
            None => std::hint::spin_loop(),
        }
        // A stat now and then only: the loop must stay a pure poll.
        if polls % (1 << 20) == 0 && stop.exists() {
            return Ok(());
        }
    }
    Ok(())
}

fn series(
    clock: &quanta::Clock,
    requests: u64,
    rate: Option<f64>,
    mut round_trip: impl FnMut(),
) -> Histogram<u64> {
    let mut latency = Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
    let start = clock.raw();
    for index in 0..requests {
        let due = match rate {
            Some(rate) => {
                let due = (index as f64 * 1e9 / rate) as u64;
                while clock.delta_as_nanos(start, clock.raw()) < due {
                    std::hint::spin_loop();
                }
                due
            }
            None => clock.delta_as_nanos(start, clock.raw()),
        };
        round_trip();
        let done = clock.delta_as_nanos(start, clock.raw());
        latency.saturating_record(done.saturating_sub(due).max(1));
    }
    latency
}

fn report(name: &str, paced: &Histogram<u64>, flat: &Histogram<u64>) {
    println!(
        "{name}: paced p50 {} ns, p99 {} ns, p99.9 {} ns; flat out p50 {} ns, p99 {} ns",
        paced.value_at_quantile(0.5),
        paced.value_at_quantile(0.99),
        paced.value_at_quantile(0.999),
        flat.value_at_quantile(0.5),
        flat.value_at_quantile(0.99)
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve-iceoryx2") => return serve_iceoryx2(args[2].parse()?),
        Some("serve-keel") => return serve_keel(&args[2], args[3].parse()?),
        _ => {}
    }
    let requests: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rate: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000.0);
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .iter()
        .map(|c| c.id)
        .collect();
    let (client_core, server_core) = (cores[0], cores[cores.len() - 1]);
    let server_core_arg = server_core.to_string();
    pin(client_core);
    let clock = quanta::Clock::new();
    let exe = std::env::current_exe()?;

    // iceoryx2
    let mut server = Command::new(&exe)
        .args(["serve-iceoryx2", &server_core_arg])
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let service = node
        .service_builder(&SERVICE.try_into()?)
        .request_response::<Request, Response>()
        .open_or_create()?;
    let client = service.client_builder().create()?;
    while service.dynamic_config().number_of_servers() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let request = Request {
        words: [1; REQUEST_WORDS],
    };
    // A request sent before the server has connected to this client is not delivered:
    // resend after 10 ms without an answer (counted; none happen after the warm-up).
    let resends = std::cell::Cell::new(0u64);
    let mut ask = || {
        'request: loop {
            let pending = client.send_copy(request).expect("sent");
            let sent = std::time::Instant::now();
            loop {
                if let Some(response) = pending.receive().expect("received") {
                    assert_eq!(response.words[0], 7);
                    break 'request;
                }
                if sent.elapsed() > Duration::from_millis(10) {
                    resends.set(resends.get() + 1);
                    continue 'request;
                }
                std::hint::spin_loop();
            }
        }
    };
    series(&clock, requests, None, &mut ask);
    let warm_up_resends = resends.get();
    let paced = series(&clock, requests, Some(rate), &mut ask);
    let flat = series(&clock, requests, None, &mut ask);
    report("iceoryx2 request/response", &paced, &flat);
    println!(
        "  resends: {warm_up_resends} in the warm-up, {} measured",
        resends.get() - warm_up_resends
    );
    let _ = client.send_copy(Request {
        words: [u64::MAX; REQUEST_WORDS],
    });
    server.wait()?;

    // Keel's own layout
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir())?;
    let dir_text = dir.path().to_str().expect("utf-8 path").to_string();
    let mut server = Command::new(&exe)
        .args(["serve-keel", &dir_text, &server_core_arg])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("piped")),
        &mut line,
    )?;
    let mut keel = Client::attach(dir.path(), "rtt")?;
    let mut ask = || {
        let answer = keel
            .what_if(1, &[], Duration::from_secs(5))
            .expect("answered");
        assert_eq!(
            answer.status,
            keel_runtime::embed::wire::STATUS_UNKNOWN_ACCOUNT
        );
    };
    series(&clock, requests, None, &mut ask);
    let paced = series(&clock, requests, Some(rate), &mut ask);
    let flat = series(&clock, requests, None, &mut ask);
    report("keel shared-memory mailbox", &paced, &flat);
    std::fs::write(dir.path().join("stop"), b"")?;
    server.wait()?;
    Ok(())
}
