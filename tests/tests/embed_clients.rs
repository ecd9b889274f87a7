//! Embedding over shared memory (docs/EMBEDDING.md), end to end in one process: an engine
//! serving its files from a temporary directory, Rust clients attached to it. A what-if
//! answer equals what applying the fill then gives; client events are journaled with their
//! origin and replay to the same state; hostile clients harm neither the engine nor
//! each other.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_engine::state::hash::combined_hash;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{JournalConfig, JournalReader, JournalWriter};
use keel_runtime::embed::client::EngineStatus;
use keel_runtime::embed::codec::as_record;
use keel_runtime::embed::region::Region;
use keel_runtime::embed::wire::*;
use keel_runtime::embed::{
    Client, EmbedConfig, EmbedError, EmbedServer, client_path, engine_path, layout,
};
use keel_runtime::replay::ORIGIN_SHIFT;
use keel_runtime::source::LiveSource;
use keel_runtime::{PipelineConfig, PipelineOutput, WaitStrategyKind, replay, run_pipeline_from};

const SHARDS: u32 = 2;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

struct Engine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<PipelineOutput>>,
    server: Arc<EmbedServer>,
}

impl Engine {
    /// Serves `name` from `shm`, journaling into `journal`, after feeding `input`.
    fn start(shm: &Path, journal: &Path, name: &str, input: Vec<Event>) -> Engine {
        let server = EmbedServer::start(&EmbedConfig {
            name: name.into(),
            dir: shm.to_path_buf(),
            accounts_max: 64,
            clients_max: CLIENTS_MAX,
        })
        .expect("serves");
        Engine::start_with(server, journal, input)
    }

    fn start_with(server: Arc<EmbedServer>, journal: &Path, input: Vec<Event>) -> Engine {
        let stop = Arc::new(AtomicBool::new(false));
        let (writer, _) = JournalWriter::open(journal, JournalConfig::default()).expect("journal");
        let (sender, receiver) = crossbeam::channel::unbounded();
        for event in input {
            sender.send(event).expect("queued");
        }
        drop(sender);
        let config = PipelineConfig {
            wait: WaitStrategyKind::Yield,
            pin: false,
            state_snapshots: None,
            embed: Some(server.clone()),
            ..PipelineConfig::default()
        };
        let source = LiveSource::new(Some(receiver), Some(server.poller()), stop.clone());
        let shards = (0..SHARDS).map(|i| ShardState::new(i, SHARDS)).collect();
        let thread = std::thread::spawn(move || {
            run_pipeline_from(&config, writer, shards, source).expect("pipeline runs")
        });
        Engine {
            stop,
            thread: Some(thread),
            server,
        }
    }

    fn finish(mut self) -> PipelineOutput {
        self.stop.store(true, Ordering::Release);
        let output = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("engine thread");
        self.server.stop();
        output
    }
}

fn market(count: usize) -> Vec<Event> {
    SyntheticMarket::new(SyntheticConfig {
        seed: 12,
        accounts: 4,
        bad_event_rate: 0.0,
        ..SyntheticConfig::default()
    })
    .take(count)
    .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The state the engine holds after `events` (one shard per id, batch ended).
fn expected_state(events: &[Event]) -> ShardState {
    let mut state = ShardState::new(0, 1);
    for (offset, event) in events.iter().enumerate() {
        state.step(offset as u64 + 1, event);
    }
    state.finish_batch();
    state
}

/// An account and a marked, unsettled option it does not hold yet.
fn target(state: &ShardState) -> (u32, u32, f64) {
    let target = keel_tests::what_if_target(state);
    (target.account, target.instrument, target.mark_price)
}

fn leg(instrument: u32, quantity_tenths: i64) -> Leg {
    Leg {
        instrument: u64::from(instrument),
        side: SIDE_BUY,
        quantity_mantissa: quantity_tenths,
        quantity_scale: 1,
        ..Leg::default()
    }
}

use keel_runtime::embed::Leg;

/// A fill record at the instrument's mark price (as 10^-8 units).
fn fill(
    account: u32,
    instrument: u32,
    quantity_tenths: i64,
    mark: f64,
    trade_id: u64,
    timestamp_ns: u64,
) -> Record {
    as_record(&FillRecord {
        kind: KIND_FILL,
        timestamp_ns,
        client_tag: trade_id,
        account: u64::from(account),
        instrument: u64::from(instrument),
        side: SIDE_BUY,
        quantity_mantissa: quantity_tenths,
        quantity_scale: 1,
        price_mantissa: (mark * 1e8).round() as i64,
        price_scale: 8,
        fee_mantissa: 0,
        fee_scale: 0,
        trade_id,
        reserved: [0; 3],
    })
}

#[test]
fn a_what_if_equals_the_fill_applied_and_the_journal_replays_to_the_same_state() {
    let shm = tempfile::tempdir().expect("dir");
    let journal = tempfile::tempdir().expect("dir");
    let input = market(3_000);
    let last_input_ns = input.last().expect("events").timestamp_ns;
    let expected = expected_state(&input);
    let (account, instrument, mark) = target(&expected);
    let engine = Engine::start(shm.path(), journal.path(), "whatif", input.clone());
    let mut client = Client::attach(shm.path(), "whatif").expect("attaches");
    wait_until("the input to be published", || {
        client.published_seq() >= input.len() as u64
    });
    let before = client.snapshot(account).expect("published");

    // Ask with the price explicit (the mark rounded to 1e-8, as the fill will trade).
    let mut asked = leg(instrument, 25);
    asked.price_mantissa = (mark * 1e8).round() as i64;
    asked.price_scale = 8;
    let answer = client
        .what_if(u64::from(account), &[asked], ANSWER_TIMEOUT)
        .expect("answered");
    assert_eq!(answer.status, STATUS_OK, "{answer:?}");
    assert_eq!(answer.as_of_seq, input.len() as u64);
    assert!(answer.currency_count >= 1 && answer.underlying_count >= 1);
    // A what-if changes nothing, and its "before" is the account as published.
    assert_eq!(client.snapshot(account), Some(before));
    for published in &before.currencies[..before.currency_count as usize] {
        if let Some(answered) = answer.before[..answer.currency_count as usize]
            .iter()
            .find(|c| c.currency == published.currency)
        {
            assert_eq!(
                answered, published,
                "before = the account's last evaluation"
            );
        }
    }

    client
        .push(&fill(
            account,
            instrument,
            25,
            mark,
            9_000_001,
            last_input_ns + 1,
        ))
        .expect("pushed");
    wait_until("the fill to be journaled and published", || {
        client.counters().events_journaled == 1
            && client.snapshot(account).is_some_and(|s| s.seq > before.seq)
    });
    let after = client.snapshot(account).expect("published");
    assert_eq!(after.seq, input.len() as u64 + 1);
    assert_eq!(
        after.rejected_events, before.rejected_events,
        "the fill was accepted"
    );
    for (index, currency) in after.currencies[..after.currency_count as usize]
        .iter()
        .enumerate()
    {
        let answered = answer.after[..answer.currency_count as usize]
            .iter()
            .find(|c| c.currency == currency.currency)
            .unwrap_or_else(|| panic!("currency {index} in the answer"));
        assert_eq!(answered, currency, "margin after the fill = the what-if's");
    }
    for greeks in &after.underlyings[..after.underlying_count as usize] {
        let answered = answer.greeks_after[..answer.underlying_count as usize]
            .iter()
            .find(|g| g.underlying == greeks.underlying)
            .expect("underlying in the answer");
        assert_eq!(answered, greeks, "Greeks after the fill = the what-if's");
    }

    let output = engine.finish();
    assert_eq!(output.what_ifs, 1);
    // Replay of the journal alone gives the same state, bit for bit.
    let (replayed, last_seq) = replay(journal.path(), None, SHARDS).expect("replays");
    assert_eq!(last_seq, output.last_seq);
    assert_eq!(combined_hash(&replayed), combined_hash(&output.shards));
    // The fill is journaled with its origin: client slot 0 is origin 1.
    let reader = JournalReader::open(journal.path()).expect("journal");
    let origins: Vec<u16> = reader
        .records_from(1)
        .expect("records")
        .map(|r| r.expect("record").meta.flags >> ORIGIN_SHIFT)
        .collect();
    assert_eq!(origins.len() as u64, last_seq);
    assert_eq!(origins.iter().filter(|&&o| o == 1).count(), 1);
    assert_eq!(origins.last(), Some(&(1 + client.slot() as u16)));
}

/// The size query over shared memory: the engine's answer is the in-process
/// `max_quantity` on the same state (quantity, lots, binding, evaluations), with and
/// without a stress budget; its `after` is the what-if of that quantity at the mark; a bad
/// lot or budget is refused with `STATUS_INVALID_SIZE`.
#[test]
fn a_size_answer_equals_the_in_process_sizing() {
    use keel_engine::state::sizing::{Binding, SizingQuery, StressBudget};
    use keel_engine::stress::{Scenario, Shock};
    use rust_decimal::Decimal;

    let shm = tempfile::tempdir().expect("dir");
    let journal = tempfile::tempdir().expect("dir");
    let input = market(3_000);
    let expected = expected_state(&input);
    let (account, instrument, _) = target(&expected);
    let engine = Engine::start(shm.path(), journal.path(), "size", input.clone());
    let mut client = Client::attach(shm.path(), "size").expect("attaches");
    wait_until("the input to be published", || {
        client.published_seq() >= input.len() as u64
    });
    let no_name = [0u8; NAME_BYTES];
    let lot = leg(instrument, 1); // 0.1 contract
    // No budget (a delta limit binds), a loose budget, and one a single lot breaks
    // (measured: 546 lots, delta limit; the same; 0 lots, stress budget).
    let budgets = [None, Some((-0.3, 20.0, 0.05)), Some((0.3, 40.0, 0.002))];
    let mut bindings = Vec::new();
    for stress in budgets {
        let answer = client
            .size(u64::from(account), no_name, &lot, stress, ANSWER_TIMEOUT)
            .expect("answered");
        assert_eq!(answer.status, STATUS_OK, "{answer:?}");
        assert_eq!(answer.as_of_seq, input.len() as u64);
        let query = SizingQuery {
            account: keel_engine::events::AccountId(account),
            instrument: keel_engine::events::InstrumentId(instrument),
            side: keel_engine::events::Side::Buy,
            lot: Decimal::new(1, 1),
            stress: stress.map(|(spot, vol, share)| {
                let mut shock = Shock {
                    spot_move: spot,
                    ..Shock::default()
                };
                shock.vol.points = vol;
                StressBudget {
                    scenario: Scenario {
                        others: Some(shock),
                        ..Scenario::default()
                    },
                    max_loss_share_of_equity: share,
                }
            }),
        };
        let sized = expected
            .max_quantity(&query, &mut Default::default())
            .expect("sizes");
        let quantity = sized.max_quantity.normalize();
        assert_eq!(
            (answer.max_quantity_mantissa, answer.max_quantity_scale),
            (
                i64::try_from(quantity.mantissa()).expect("fits"),
                u64::from(quantity.scale())
            ),
            "{stress:?}"
        );
        assert_eq!(answer.lots, sized.lots);
        assert_eq!(answer.evaluations, u64::from(sized.evaluations));
        assert_eq!(answer.already_breached, u64::from(sized.already_breached));
        let binding = match sized.binding {
            Binding::Condition(c) => c as u64,
            Binding::StressBudget => BINDING_STRESS_BUDGET,
            Binding::LotsMax => BINDING_LOTS_MAX,
        };
        assert_eq!(answer.binding, binding, "{stress:?}");
        bindings.push((answer.binding, answer.already_breached));
        // `after` is the account with the maximum traded at the mark.
        let mut at_max = lot;
        at_max.quantity_mantissa = answer.max_quantity_mantissa;
        at_max.quantity_scale = answer.max_quantity_scale;
        let legs = if answer.lots > 0 { &[at_max][..] } else { &[] };
        let what_if = client
            .what_if(u64::from(account), legs, ANSWER_TIMEOUT)
            .expect("answered");
        assert_eq!(what_if.after, answer.after);
        assert_eq!(what_if.greeks_after, answer.greeks_after);
    }
    assert_eq!(bindings[2].0, BINDING_STRESS_BUDGET, "{bindings:?}");
    assert_ne!(bindings[0].0, BINDING_STRESS_BUDGET, "{bindings:?}");
    let mut zero_lot = lot;
    zero_lot.quantity_mantissa = 0;
    for (bad_lot, stress) in [
        (zero_lot, None),
        (lot, Some((-0.3, 20.0, f64::NAN))),
        (lot, Some((-5.0, 0.0, 0.1))),
    ] {
        let answer = client
            .size(
                u64::from(account),
                no_name,
                &bad_lot,
                stress,
                ANSWER_TIMEOUT,
            )
            .expect("answered");
        assert_eq!(answer.status, STATUS_INVALID_SIZE, "{stress:?}");
    }
    engine.finish();
}

/// A request of an unknown kind, and a size query without its leg, are refused with
/// their own status (answered from the state directly, as the owning shard does).
#[test]
fn unknown_queries_and_legless_size_queries_are_refused() {
    use keel_runtime::embed::codec::{AnswerScratch, answer};
    let state = expected_state(&market(3_000));
    let (account, instrument, _) = target(&state);
    let mut scratch = AnswerScratch::default();
    let mut request = WhatIfRequest {
        account: u64::from(account),
        leg_count: 1,
        query: 7,
        ..WhatIfRequest::default()
    };
    request.legs[0] = leg(instrument, 1);
    let unknown = answer(&state, &request, &mut scratch);
    assert_eq!(
        (unknown.status, unknown.status_detail),
        (STATUS_UNKNOWN_QUERY, 7)
    );
    request.query = QUERY_SIZE;
    request.leg_count = 0;
    assert_eq!(
        answer(&state, &request, &mut scratch).status,
        STATUS_INVALID_SIZE
    );
    request.leg_count = 2;
    request.legs[1] = leg(instrument, 1);
    assert_eq!(
        answer(&state, &request, &mut scratch).status,
        STATUS_TOO_MANY_LEGS
    );
    request.leg_count = 1;
    assert_eq!(answer(&state, &request, &mut scratch).status, STATUS_OK);
}

#[test]
fn hostile_records_are_refused_and_counted_and_the_engine_keeps_serving() {
    let shm = tempfile::tempdir().expect("dir");
    let journal = tempfile::tempdir().expect("dir");
    let input = market(2_000);
    let expected = expected_state(&input);
    let (account, instrument, _) = target(&expected);
    let engine = Engine::start(shm.path(), journal.path(), "hostile", input.clone());
    let mut hostile = Client::attach(shm.path(), "hostile").expect("attaches");
    let mut honest = Client::attach(shm.path(), "hostile").expect("attaches");
    wait_until("the input", || honest.published_seq() >= input.len() as u64);

    let mut garbage = Vec::new();
    garbage.push(Record {
        kind: 99,
        client_tag: 1,
        ..Record::default()
    });
    let mut bad_side = fill(account, instrument, 1, 0.01, 2, 0);
    bad_side.words[2] = 7; // side
    bad_side.client_tag = 2;
    garbage.push(bad_side);
    let mut bad_scale = fill(account, instrument, 1, 0.01, 3, 0);
    bad_scale.words[4] = 40; // quantity scale
    bad_scale.client_tag = 3;
    garbage.push(bad_scale);
    let mut bad_id = fill(account, instrument, 1, 0.01, 4, 0);
    bad_id.words[0] = u64::MAX; // account
    bad_id.client_tag = 4;
    garbage.push(bad_id);
    // Decodes, but the state machine refuses it (NaN index price): counted there.
    garbage.push(as_record(&IndexPriceRecord {
        kind: KIND_INDEX_PRICE,
        client_tag: 5,
        underlying: 0,
        price: f64::NAN,
        ..IndexPriceRecord::default()
    }));
    for record in &garbage {
        hostile.push(record).expect("pushed");
    }
    wait_until("the garbage to be taken", || hostile.pending() == 0);
    let counters = hostile.counters();
    assert_eq!(counters.records_rejected, 4);
    assert_eq!(counters.last_rejected_tag, 4);
    assert_eq!(counters.last_rejection, REFUSED_ID);
    assert_eq!(counters.records_accepted, 1);

    // Impossible ring indexes: the engine skips to the head and counts a fault.
    let raw =
        Region::open(&client_path(shm.path(), "hostile", hostile.slot()), true).expect("maps");
    raw.words()[layout::HEAD].store(u64::MAX / 3, Ordering::Release);
    wait_until("the fault to be counted", || {
        hostile.counters().ring_faults == 1
    });

    // A client that dies mid-write: record words written, head never advanced.
    let half = fill(account, instrument, 5, 0.01, 77, 0);
    let at = layout::record(raw.words()[layout::TAIL].load(Ordering::Acquire));
    store(&raw.words()[at..at + Record::WORDS], &half);
    drop(hostile);

    // The honest client is served throughout.
    let answer = honest
        .what_if(u64::from(account), &[leg(instrument, 10)], ANSWER_TIMEOUT)
        .expect("answered");
    assert_eq!(answer.status, STATUS_OK);
    // Garbage in a what-if is an answer, not a failure.
    let mut bad_leg = leg(instrument, 10);
    bad_leg.side = 0;
    let refused = honest
        .what_if(u64::from(account), &[bad_leg], ANSWER_TIMEOUT)
        .expect("answered");
    assert_eq!(
        (refused.status, refused.status_detail),
        (STATUS_INVALID_LEG, 0)
    );
    let unknown = honest
        .what_if(u64::MAX, &[leg(instrument, 10)], ANSWER_TIMEOUT)
        .expect("answered");
    assert_eq!(unknown.status, STATUS_UNKNOWN_ACCOUNT);
    let output = engine.finish();
    // The one decoded record reached the state machine, which refused it (every shard
    // sees market events); the half-written record never did.
    assert_eq!(output.events, input.len() as u64 + 1);
    let mut shards: Vec<ShardState> = (0..SHARDS).map(|i| ShardState::new(i, SHARDS)).collect();
    for (offset, event) in input.iter().enumerate() {
        shards.iter_mut().for_each(|s| {
            s.step(offset as u64 + 1, event);
        });
    }
    let rejected =
        |shards: &[ShardState]| -> u64 { shards.iter().map(|s| s.rejections().total()).sum() };
    assert_eq!(
        rejected(&output.shards),
        rejected(&shards) + u64::from(SHARDS)
    );
}

#[test]
fn a_full_ring_is_refused_at_once_and_slots_are_limited_and_reclaimed() {
    let shm = tempfile::tempdir().expect("dir");
    // Serving, but nobody polls yet: the ring fills.
    let server = EmbedServer::start(&EmbedConfig {
        name: "full".into(),
        dir: shm.path().to_path_buf(),
        accounts_max: 8,
        clients_max: CLIENTS_MAX,
    })
    .expect("serves");
    let mut clients: Vec<Client> = (0..CLIENTS_MAX)
        .map(|_| Client::attach(shm.path(), "full").expect("a slot"))
        .collect();
    assert!(matches!(
        Client::attach(shm.path(), "full"),
        Err(EmbedError::NoFreeSlot(CLIENTS_MAX))
    ));
    let index = as_record(&IndexPriceRecord {
        kind: KIND_INDEX_PRICE,
        timestamp_ns: 1,
        price: 100.0,
        ..IndexPriceRecord::default()
    });
    for _ in 0..INGRESS_RECORDS {
        clients[0].push(&index).expect("room");
    }
    assert!(matches!(
        clients[0].push(&index),
        Err(EmbedError::RingFull(_))
    ));
    let raw = Region::open(&client_path(shm.path(), "full", 0), false).expect("maps");
    assert_eq!(raw.words()[layout::CONTROL_FULL].load(Ordering::Relaxed), 1);
    // A client that goes away frees its slot (the kernel drops its lock).
    drop(clients.remove(3));
    let again = Client::attach(shm.path(), "full").expect("the freed slot");
    assert_eq!(again.slot(), 3);
    // Now the engine runs: it drains the full ring without waiting on anyone.
    let journal = tempfile::tempdir().expect("dir");
    let engine = Engine::start_with(server, journal.path(), Vec::new());
    wait_until("the ring to drain", || clients[0].pending() == 0);
    let output = engine.finish();
    assert_eq!(output.events, INGRESS_RECORDS);
}

#[test]
fn wrong_layouts_are_refused_and_a_restarted_engine_is_detected() {
    let shm = tempfile::tempdir().expect("dir");
    assert!(matches!(
        Client::attach(shm.path(), "none"),
        Err(EmbedError::NoEngine(_))
    ));
    assert!(matches!(
        Client::attach(shm.path(), "../x"),
        Err(EmbedError::Name(_))
    ));
    let config = EmbedConfig {
        name: "restart".into(),
        dir: shm.path().to_path_buf(),
        accounts_max: 8,
        clients_max: CLIENTS_MAX,
    };
    let first = EmbedServer::start(&config).expect("serves");
    assert!(matches!(
        EmbedServer::start(&config),
        Err(EmbedError::AlreadyServing(_))
    ));
    let mut client = Client::attach(shm.path(), "restart").expect("attaches");
    assert_eq!(client.engine_status(), EngineStatus::Running);
    drop(first);
    assert_eq!(client.engine_status(), EngineStatus::Stopped);
    let _second = EmbedServer::start(&config).expect("serves again");
    assert_eq!(client.engine_status(), EngineStatus::Restarted);
    assert!(matches!(
        client.what_if(0, &[], Duration::from_millis(10)),
        Err(EmbedError::EngineStopped)
    ));
    let reattached = Client::attach(shm.path(), "restart").expect("attaches to the new engine");
    assert_ne!(reattached.epoch(), client.epoch());

    // The client limit is the engine's: 2 slots, a third client is refused; 0 or 9 slots
    // are refused when the engine starts.
    let two = EmbedConfig {
        name: "two".into(),
        clients_max: 2,
        ..config.clone()
    };
    let _two = EmbedServer::start(&two).expect("serves");
    let _a = Client::attach(shm.path(), "two").expect("slot 0");
    let _b = Client::attach(shm.path(), "two").expect("slot 1");
    assert!(matches!(
        Client::attach(shm.path(), "two"),
        Err(EmbedError::NoFreeSlot(2))
    ));
    for clients_max in [0, CLIENTS_MAX + 1] {
        let refused = EmbedServer::start(&EmbedConfig {
            name: "limits".into(),
            clients_max,
            ..config.clone()
        });
        assert!(matches!(refused, Err(EmbedError::ClientLimit(n)) if n == clients_max));
    }

    // Another layout version, a foreign file, a short file: refused on attach.
    let path = engine_path(shm.path(), "restart");
    let words = Region::open(&path, true).expect("maps");
    let version_word = std::mem::offset_of!(EngineHeader, layout_version) / 8;
    words.words()[version_word].store(LAYOUT_VERSION + 1, Ordering::Release);
    assert!(matches!(
        Client::attach(shm.path(), "restart"),
        Err(EmbedError::LayoutVersion { found, .. }) if found == LAYOUT_VERSION + 1
    ));
    words.words()[0].store(0x1234, Ordering::Release);
    assert!(matches!(
        Client::attach(shm.path(), "restart"),
        Err(EmbedError::Magic { .. })
    ));
    std::fs::write(shm.path().join("short"), [0u8; 16]).expect("written");
    assert!(matches!(
        Client::attach(shm.path(), "short"),
        Err(EmbedError::Layout { .. })
    ));
}
