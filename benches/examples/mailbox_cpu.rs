//! The what-if mailbox's own work on one thread, no transfer between cores: publish a
//! request as the client does, poll it and answer it as the engine does (an empty state:
//! "unknown account", so no margin work), read the answer back. The client's read is
//! timed two ways in the same run: into the client's reused answer (what
//! `Client::what_if_in_place` does) and, as the baseline, by value (what
//! `Client::what_if` adds: a 728-byte answer built and moved).
//! `cargo run --release -p keel-benches --example mailbox_cpu [ROUND_TRIPS]`.

use std::sync::atomic::Ordering;
use std::time::Instant;

use keel_engine::state::ShardState;
use keel_runtime::embed::codec::AnswerScratch;
use keel_runtime::embed::region::Region;
use keel_runtime::embed::wire::{SIDE_BUY, WhatIfLeg, WhatIfRequest, WhatIfResponse, Wire};
use keel_runtime::embed::{
    Client, ClientInput, EmbedConfig, EmbedServer, client_path, layout, mailbox,
};

fn main() {
    let round_trips: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let state = ShardState::new(0, 1);
    let dir = tempfile::tempdir_in("/dev/shm").expect("tempdir");
    let server = EmbedServer::start(&EmbedConfig {
        name: "cpu".into(),
        dir: dir.path().into(),
        accounts_max: 4,
        clients_max: 1,
    })
    .expect("server");
    // Holds slot 0; this thread plays the client through a second mapping of its file.
    let _client = Client::attach(dir.path(), "cpu").expect("attach");
    let area = Region::open(&client_path(dir.path(), "cpu", 0), true).expect("client file");
    let words = area.words();
    let request_words = &words[layout::REQUEST..layout::REQUEST + WhatIfRequest::WORDS];
    let response_words = &words[layout::RESPONSE..layout::RESPONSE + WhatIfResponse::WORDS];
    let mut poller = server.poller();
    let mut scratch = AnswerScratch::default();
    let mut request = WhatIfRequest {
        account: 3,
        leg_count: 1,
        ..WhatIfRequest::default()
    };
    request.legs[0] = WhatIfLeg {
        instrument: 1,
        side: SIDE_BUY,
        quantity_mantissa: 1,
        ..WhatIfLeg::default()
    };
    let mut answer = WhatIfResponse::default();
    let mut round_trip = |in_place: bool| {
        request.request_seq = words[layout::REQUEST_SEQ].load(Ordering::Relaxed) + 1;
        mailbox::publish_request(request_words, &request);
        match poller.poll() {
            Some(ClientInput::WhatIf { slot }) => server.answer_what_if(slot, &state, &mut scratch),
            _ => panic!("the request was not seen"),
        }
        let seq = if in_place {
            mailbox::load_response_into(response_words, &mut answer);
            answer.response_seq
        } else {
            std::hint::black_box(mailbox::load_response(response_words)).response_seq
        };
        assert_eq!(seq, request.request_seq);
    };
    let mut time_ns = |in_place: bool| {
        let start = Instant::now();
        for _ in 0..round_trips {
            round_trip(in_place);
        }
        start.elapsed().as_nanos() as f64 / round_trips as f64
    };
    for round in 0..2 {
        let in_place_ns = time_ns(true);
        let by_value_ns = time_ns(false);
        if round == 1 {
            println!(
                "mailbox round trip on one thread: answer read in place {in_place_ns:.1} ns, by value (baseline) {by_value_ns:.1} ns, ratio {:.2}",
                by_value_ns / in_place_ns
            );
        }
    }
}
