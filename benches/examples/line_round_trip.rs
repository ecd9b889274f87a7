//! The floor under any shared-memory round trip between the first and the last core: a
//! request of R cache lines one way, an answer of A lines back, no work in between. The
//! writer fills every word of its lines, its sequence word last (released); the echo
//! thread polls the request's sequence and reads one word of its other lines at every
//! poll (as the engine polls a what-if); the asker reads the answer's other lines after
//! its sequence. The baseline, in the same run, is one line each way.
//! `cargo run --release -p keel-benches --example line_round_trip [ROUND_TRIPS]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Most lines one direction carries; the answer's lines start after the request's.
const LINES_MAX: usize = 16;
const WORDS_PER_LINE: usize = 8;
/// Spins before each side yields between polls (its partner descheduled).
const SPINS_BEFORE_YIELDING: u32 = 10_000;
/// Tells the echo thread to stop.
const STOP: u64 = u64::MAX;

#[repr(C, align(64))]
#[derive(Default)]
struct Line([AtomicU64; WORDS_PER_LINE]);

/// Request lines, then answer lines.
struct Mailbox {
    lines: Vec<Line>,
}

impl Mailbox {
    fn new() -> Self {
        Mailbox {
            lines: (0..2 * LINES_MAX).map(|_| Line::default()).collect(),
        }
    }

    /// Writes `value` into every word of `lines`, the first line's first word last.
    fn publish(&self, lines: std::ops::Range<usize>, value: u64) {
        for line in &self.lines[lines.start + 1..lines.end] {
            for word in &line.0 {
                word.store(value, Ordering::Relaxed);
            }
        }
        let first = &self.lines[lines.start].0;
        for word in &first[1..] {
            word.store(value, Ordering::Relaxed);
        }
        first[0].store(value, Ordering::Release);
    }

    /// Reads one word of each of `lines` but the first.
    fn touch(&self, lines: std::ops::Range<usize>) -> u64 {
        let Some(others) = self.lines.get(lines.start + 1..lines.end) else {
            return 0;
        };
        others.iter().fold(0, |sum, line| {
            sum.wrapping_add(line.0[WORDS_PER_LINE - 1].load(Ordering::Relaxed))
        })
    }

    fn sequence(&self, line: usize) -> u64 {
        self.lines[line].0[0].load(Ordering::Acquire)
    }
}

/// Polls `line`'s sequence until `accept` takes it, touching `others` at every poll.
fn wait(
    mailbox: &Mailbox,
    line: usize,
    others: std::ops::Range<usize>,
    accept: impl Fn(u64) -> bool,
) -> u64 {
    let mut spins = 0;
    loop {
        let seen = mailbox.sequence(line);
        std::hint::black_box(mailbox.touch(others.clone()));
        if accept(seen) {
            return seen;
        }
        if spins < SPINS_BEFORE_YIELDING {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// The median round trip in ns with `request_lines` lines one way and `answer_lines` back.
/// `cores`: the machine's, read before any thread is pinned (a pinned thread sees only
/// its own core).
fn median_round_trip_ns(
    cores: &[core_affinity::CoreId],
    request_lines: usize,
    answer_lines: usize,
    round_trips: u64,
) -> u64 {
    let mailbox = Arc::new(Mailbox::new());
    let request = 0..request_lines;
    let answer = LINES_MAX..LINES_MAX + answer_lines;
    let echo = {
        let (mailbox, request, answer) = (mailbox.clone(), request.clone(), answer.clone());
        let core = cores.last().copied();
        std::thread::spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            let mut last = 0;
            loop {
                last = wait(&mailbox, request.start, request.clone(), |seen| {
                    seen != last
                });
                if last == STOP {
                    return;
                }
                mailbox.publish(answer.clone(), last);
            }
        })
    };
    if let Some(core) = cores.first() {
        core_affinity::set_for_current(*core);
    }
    let clock = quanta::Clock::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
    for sequence in 1..=round_trips {
        let start = clock.raw();
        mailbox.publish(request.clone(), sequence);
        wait(&mailbox, answer.start, 0..0, |seen| seen == sequence);
        std::hint::black_box(mailbox.touch(answer.clone()));
        latency.saturating_record(clock.delta_as_nanos(start, clock.raw()).max(1));
    }
    mailbox.publish(request, STOP);
    let _ = echo.join();
    latency.value_at_quantile(0.5)
}

fn main() {
    let round_trips: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    // The baseline; the what-if's transport-only shape (a 64-byte request head and its
    // first leg, a three-line answer head); a held what-if's (two currencies, two
    // underlyings: eleven answer lines).
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let baseline_ns = median_round_trip_ns(&cores, 1, 1, round_trips);
    println!("1 line each way (baseline): p50 {baseline_ns} ns");
    for (request_lines, answer_lines) in [(3, 3), (3, 11)] {
        let p50_ns = median_round_trip_ns(&cores, request_lines, answer_lines, round_trips);
        println!(
            "{request_lines} request lines, {answer_lines} answer lines: p50 {p50_ns} ns, ratio to baseline {:.2}",
            p50_ns as f64 / baseline_ns as f64
        );
    }
}
