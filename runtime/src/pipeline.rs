//! The live pipeline (DESIGN 2): events → disruptor ring (preallocated slots) → journal
//! append (ring sequence = journal sequence) → N shards (each owns the accounts `id % N`,
//! all see market events), each event applied strictly after it is journaled.
//!
//! Two topologies (docs/PIPELINE.md says why): **fused**, one consumer thread that
//! journals each event and then applies it to every shard — one hop, for machines without
//! a spare core per stage; and **staged**, a journal stage and one thread per shard after
//! it (the LMAX layout), for machines with a core for each.
//!
//! Batch ends (conflation boundaries) follow the batch rule of `state::driver` (sequence
//! alone) and are journaled as a record flag for audit; replay applies the same rule. At a
//! clean end each shard revalues its last partial batch (as `replay` with
//! `finish_partial_batch` does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel;
use disruptor::{BusySpin, ProcessorSettings, Producer, Sequence};
use hdrhistogram::Histogram;
use keel_journal::JournalWriter;
use thiserror::Error;

use super::replay::FLAG_BATCH_END;
use super::risk_snapshots::{AccountRiskSnapshot, RiskSnapshots};
use super::state_snapshots::{SnapshotStats, SnapshotTaker, SnapshotWriter, StateSnapshotPolicy};
use super::wait::WaitStrategyKind;
use keel_engine::events::{Event, EventBody, EventEncoder, IndexPrice, UnderlyingId};
use keel_engine::state::{ShardState, ends_batch};

pub use keel_engine::state::BATCH_EVENTS_MAX;

/// Most shards one engine runs.
pub const SHARDS_MAX: u32 = 64;

/// How the consumers of the ring are laid out on threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One consumer thread journals each event, then applies it to every shard.
    Fused,
    /// A journal stage, then one thread per shard after it.
    Staged,
}

impl Topology {
    /// Staged when the machine has a core for the producer, the journal stage and every
    /// shard; fused otherwise (more busy threads than cores costs more than it gains).
    pub fn for_machine(shards: usize) -> Topology {
        let cores = core_affinity::get_core_ids().map_or(1, |c| c.len());
        if cores >= shards + 2 {
            Topology::Staged
        } else {
            Topology::Fused
        }
    }
}

impl std::str::FromStr for Topology {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "fused" => Ok(Topology::Fused),
            "staged" => Ok(Topology::Staged),
            _ => Err(format!(
                "topology must be 'fused' or 'staged', got '{text}'"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Ring slots (a power of two).
    pub ring_size: usize,
    pub wait: WaitStrategyKind,
    /// Pin stages to cores when the machine has a core for each and the producer.
    pub pin: bool,
    /// Publish at this fixed rate (events/s), latency measured from each event's
    /// scheduled time (no coordinated omission); `None`: as fast as the ring accepts.
    /// The producer spins between events (the one spinning thread).
    pub offered_rate_eps: Option<f64>,
    /// Events at the start whose latency is not recorded (warm-up: state built, caches
    /// and the journal's spare segment ready). They are journaled and applied as usual.
    pub latency_warm_up_events: u64,
    /// Where shards publish each owned account's risk at every batch end, for readers
    /// on other threads (seqlock slots; shards never wait on readers).
    pub snapshots: Option<Arc<RiskSnapshots>>,
    /// Periodic snapshots of shard state into the journal directory (fast recovery).
    pub state_snapshots: Option<StateSnapshotPolicy>,
    /// Thread layout; `None`: [`Topology::for_machine`].
    pub topology: Option<Topology>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ring_size: 1 << 14,
            wait: WaitStrategyKind::Backoff,
            pin: true,
            offered_rate_eps: None,
            latency_warm_up_events: 0,
            snapshots: None,
            state_snapshots: Some(StateSnapshotPolicy::default()),
            topology: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("{0} shards requested; 1 to {SHARDS_MAX} are supported")]
    Shards(usize),
    #[error("ring size {0} must be a power of two of at least 64")]
    RingSize(usize),
    #[error("journal stage failed at sequence {seq}: {message}")]
    Journal { seq: u64, message: String },
    #[error("closing the journal failed (its last records may not be durable): {0}")]
    JournalClose(String),
    #[error("a pipeline stage stopped without handing back its state")]
    StageLost,
    #[error("cannot start a pipeline thread: {0}")]
    Thread(String),
}

/// One ring slot: the event and when it was due (ns since the pipeline started: its
/// scheduled time at a fixed rate, else its publish time).
struct Slot {
    event: Event,
    due_ns: u64,
}

fn empty_slot() -> Slot {
    Slot {
        event: Event {
            timestamp_ns: 0,
            body: EventBody::IndexPrice(IndexPrice {
                underlying: UnderlyingId(0),
                price: 0.0,
            }),
        },
        due_ns: 0,
    }
}

/// What a finished run hands back.
pub struct PipelineOutput {
    pub shards: Vec<ShardState>,
    /// Publish → applied by a shard, per event, all shards merged (ns).
    pub latency_ns: Histogram<u64>,
    pub events: u64,
    pub last_seq: u64,
    pub elapsed_s: f64,
    pub state_snapshots: SnapshotStats,
    /// Events that found the ring full and waited for a free slot (back-pressure on the
    /// source: nothing is dropped, the source is read more slowly).
    pub ring_full_waits: u64,
}

struct JournalStage {
    writer: Option<JournalWriter>,
    encoder: EventEncoder,
    /// Journal sequence of ring sequence 0.
    first_seq: u64,
    /// First sequence not journaled (u64::MAX: none); shards stop there.
    failed_at: Arc<AtomicU64>,
    error: Arc<std::sync::Mutex<Option<String>>>,
    close_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl JournalStage {
    fn handle(&mut self, slot: &Slot, sequence: Sequence) {
        let seq = self.first_seq + sequence as u64;
        if self.failed_at.load(Ordering::Acquire) != u64::MAX {
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let result = self
            .encoder
            .encode(&slot.event)
            .map_err(|e| e.to_string())
            .and_then(|(kind, payload)| {
                let flags = if ends_batch(seq) { FLAG_BATCH_END } else { 0 };
                writer
                    .append_flagged(kind, flags, slot.event.timestamp_ns, payload)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(appended) if appended == seq => {}
            Ok(appended) => self.fail(
                seq,
                format!("journal gave sequence {appended}, ring expected {seq}"),
            ),
            Err(message) => self.fail(seq, message),
        }
    }

    fn fail(&mut self, seq: u64, message: String) {
        tracing::error!(seq, %message, "journal stage failed; later events are not applied");
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        // Release: shards that see the sequence also see the message.
        self.failed_at.store(seq, Ordering::Release);
    }
}

impl Drop for JournalStage {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(error) = writer.close() {
                // A failed final sync: the run must not end as a success.
                tracing::error!(%error, "journal close failed");
                *self.close_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(error.to_string());
            }
        }
    }
}

struct ShardStage {
    state: Option<ShardState>,
    latency_ns: Histogram<u64>,
    clock: quanta::Clock,
    start_raw: u64,
    first_seq: u64,
    failed_at: Arc<AtomicU64>,
    done: channel::Sender<(ShardState, Histogram<u64>)>,
    snapshots: Option<Arc<RiskSnapshots>>,
    state_snapshots: Option<SnapshotTaker>,
    warm_up_events: u64,
    /// Journal sequence of the last event applied.
    last_seq: u64,
}

impl ShardStage {
    fn handle(&mut self, slot: &Slot, sequence: Sequence) {
        let seq = self.first_seq + sequence as u64;
        if seq >= self.failed_at.load(Ordering::Acquire) {
            return; // not journaled: never applied
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        self.last_seq = seq;
        if state.step(seq, &slot.event).batch_end {
            publish_snapshots(self.snapshots.as_deref(), state, seq);
            if let Some(taker) = &self.state_snapshots {
                taker.after_batch_end(state, seq);
            }
        }
        let now_ns = self.clock.delta_as_nanos(self.start_raw, self.clock.raw());
        if seq >= self.first_seq + self.warm_up_events {
            self.latency_ns
                .saturating_record(now_ns.saturating_sub(slot.due_ns).max(1));
        }
    }
}

impl Drop for ShardStage {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            // Clean end of the stream: revalue the last partial batch (not journaled;
            // `replay(.., finish_partial_batch: true)` does the same) and publish it.
            state.finish_batch();
            // At the end every account is published as of the last sequence.
            if let Some(snapshots) = self.snapshots.as_deref() {
                for (id, account) in &state.accounts {
                    snapshots.publish(id.0, &AccountRiskSnapshot::of(account, self.last_seq));
                }
            }
            let histogram = std::mem::replace(
                &mut self.latency_ns,
                Histogram::new(1).expect("trivial histogram"),
            );
            let _ = self.done.send((state, histogram));
        }
    }
}

/// Publishes the accounts the last batch end evaluated (the others did not change).
fn publish_snapshots(snapshots: Option<&RiskSnapshots>, state: &ShardState, seq: u64) {
    if let Some(snapshots) = snapshots {
        for id in state.changed_accounts() {
            if let Some(account) = state.accounts.get(id) {
                snapshots.publish(id.0, &AccountRiskSnapshot::of(account, seq));
            }
        }
    }
}

/// The fused topology's one consumer: journal, then every shard.
struct FusedStage {
    journal: JournalStage,
    shards: Vec<ShardStage>,
}

impl FusedStage {
    fn handle(&mut self, slot: &Slot, sequence: Sequence) {
        self.journal.handle(slot, sequence);
        for shard in &mut self.shards {
            shard.handle(slot, sequence);
        }
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

/// Runs `events` through the pipeline into `journal` and `shards` (already recovered to
/// the journal's end), and returns when every event is journaled and applied.
pub fn run_pipeline(
    config: &PipelineConfig,
    journal: JournalWriter,
    shards: Vec<ShardState>,
    events: impl Iterator<Item = Event>,
) -> Result<PipelineOutput, PipelineError> {
    let shard_count = shards.len();
    if shard_count == 0 || shard_count > SHARDS_MAX as usize {
        return Err(PipelineError::Shards(shard_count));
    }
    if !config.ring_size.is_power_of_two() || config.ring_size < 64 {
        return Err(PipelineError::RingSize(config.ring_size));
    }
    let first_seq = journal.next_seq();
    let (snapshot_writer, snapshot_taker) = config
        .state_snapshots
        .as_ref()
        .map(|policy| {
            SnapshotWriter::start(journal.dir(), shard_count as u32, policy, journal.status())
        })
        .transpose()
        .map_err(|e| PipelineError::Thread(e.to_string()))?
        .unzip();
    let failed_at = Arc::new(AtomicU64::new(u64::MAX));
    let journal_error = Arc::new(std::sync::Mutex::new(None));
    let close_error = Arc::new(std::sync::Mutex::new(None));
    let clock = quanta::Clock::new();
    let start_raw = clock.raw();
    let (done_tx, done_rx) = channel::bounded(shard_count);

    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let topology = config
        .topology
        .unwrap_or_else(|| Topology::for_machine(shard_count));
    let journal_stage = JournalStage {
        writer: Some(journal),
        encoder: EventEncoder::default(),
        first_seq,
        failed_at: failed_at.clone(),
        error: journal_error.clone(),
        close_error: close_error.clone(),
    };
    let mut stages: Vec<ShardStage> = shards
        .into_iter()
        .map(|state| ShardStage {
            state: Some(state),
            latency_ns: latency_histogram(),
            clock: clock.clone(),
            start_raw,
            first_seq,
            failed_at: failed_at.clone(),
            done: done_tx.clone(),
            snapshots: config.snapshots.clone(),
            state_snapshots: snapshot_taker.clone(),
            warm_up_events: config.latency_warm_up_events,
            last_seq: first_seq.saturating_sub(1),
        })
        .collect();
    drop(done_tx);
    // The producer's type differs per layout: one call site each.
    macro_rules! publish {
        ($producer:expr) => {
            publish_all(
                $producer,
                &clock,
                start_raw,
                config.offered_rate_eps,
                &failed_at,
                events,
            )
        };
    }
    let builder = disruptor::build_single_producer(config.ring_size, empty_slot, BusySpin);
    let started = std::time::Instant::now();
    let (published, ring_full_waits) = match topology {
        Topology::Fused => {
            // The producer keeps core 0; the consumer gets a core of its own if there is one.
            let pin = config.pin && cores.len() >= 2;
            let mut builder = builder;
            if pin {
                builder = builder.pin_at_core(cores[1].id);
            }
            let fused = FusedStage {
                journal: journal_stage,
                shards: stages,
            };
            let producer = builder
                .thread_name("keel-consumer")
                .handle_events_and_state_with_wait_strategy(
                    |stage: &mut FusedStage, slot: &Slot, sequence: Sequence, _end: bool| {
                        stage.handle(slot, sequence)
                    },
                    move || fused,
                    config.wait,
                )
                .build();
            publish!(producer)
        }
        Topology::Staged => {
            let pin = config.pin && cores.len() >= shard_count + 2;
            let mut builder = builder;
            if pin {
                builder = builder.pin_at_core(cores[1].id);
            }
            let after_journal = builder
                .thread_name("keel-journal-stage")
                .handle_events_and_state_with_wait_strategy(
                    |stage: &mut JournalStage, slot: &Slot, sequence: Sequence, _end: bool| {
                        stage.handle(slot, sequence)
                    },
                    move || journal_stage,
                    config.wait,
                )
                .and_then();
            let shard_handler =
                |stage: &mut ShardStage, slot: &Slot, sequence: Sequence, _end: bool| {
                    stage.handle(slot, sequence)
                };
            // The builder's type changes with the number of consumers (one, then many),
            // so the first shard is added on its own and the rest in a loop.
            let rest = stages.split_off(1);
            let first = stages.pop().ok_or(PipelineError::Shards(0))?;
            let mut one = after_journal;
            if pin {
                one = one.pin_at_core(cores[2].id);
            }
            let one = one
                .thread_name("keel-shard")
                .handle_events_and_state_with_wait_strategy(
                    shard_handler,
                    move || first,
                    config.wait,
                );
            if rest.is_empty() {
                publish!(one.build())
            } else {
                let mut rest = rest.into_iter().enumerate();
                let (index, second) = rest.next().ok_or(PipelineError::Shards(0))?;
                let mut many = one;
                if pin {
                    many = many.pin_at_core(cores[3 + index].id);
                }
                let mut many = many
                    .thread_name("keel-shard")
                    .handle_events_and_state_with_wait_strategy(
                        shard_handler,
                        move || second,
                        config.wait,
                    );
                for (index, stage) in rest {
                    if pin {
                        many = many.pin_at_core(cores[3 + index].id);
                    }
                    many = many
                        .thread_name("keel-shard")
                        .handle_events_and_state_with_wait_strategy(
                            shard_handler,
                            move || stage,
                            config.wait,
                        );
                }
                publish!(many.build())
            }
        }
    };
    let elapsed_s = started.elapsed().as_secs_f64();
    drop(snapshot_taker);

    let mut finished: Vec<(ShardState, Histogram<u64>)> = done_rx.iter().collect();
    // Every shard stage (and its snapshot taker) is gone: the writer drains and stops.
    let state_snapshots = snapshot_writer
        .map(SnapshotWriter::finish)
        .unwrap_or_default();
    if finished.len() != shard_count {
        return Err(PipelineError::StageLost);
    }
    if let Some(message) = journal_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(PipelineError::Journal {
            seq: failed_at.load(Ordering::Acquire),
            message,
        });
    }
    if let Some(message) = close_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(PipelineError::JournalClose(message));
    }
    finished.sort_by_key(|(state, _)| state.shard_index);
    let mut latency_ns = latency_histogram();
    let mut shards = Vec::with_capacity(shard_count);
    for (state, histogram) in finished {
        let _ = latency_ns.add(&histogram);
        shards.push(state);
    }
    Ok(PipelineOutput {
        shards,
        latency_ns,
        events: published,
        last_seq: first_seq + published - 1,
        elapsed_s,
        state_snapshots,
        ring_full_waits,
    })
}

/// Publishes every event until the journal stage fails, then drops the producer: the
/// consumers drain the ring, stop, and hand their states back. Returns the count and how many found the ring full.
fn publish_all(
    mut producer: impl Producer<Slot>,
    clock: &quanta::Clock,
    start_raw: u64,
    offered_rate_eps: Option<f64>,
    failed_at: &AtomicU64,
    events: impl Iterator<Item = Event>,
) -> (u64, u64) {
    let mut pacer = super::pacer::Pacer::new(clock.clone(), start_raw, offered_rate_eps);
    let mut published = 0u64;
    let mut ring_full_waits = 0u64;
    let mut events = events;
    loop {
        // A journal failure stops intake at once: nothing more is consumed from the
        // source (a live feed would otherwise be read and dropped until its end).
        if failed_at.load(Ordering::Acquire) != u64::MAX {
            break;
        }
        let Some(event) = events.next() else {
            break;
        };
        let due_ns = pacer.next_due_ns();
        let fill = |slot: &mut Slot| {
            slot.event = event;
            slot.due_ns = due_ns;
        };
        if producer.try_publish(fill).is_err() {
            // The ring is full: wait for a slot (counted back-pressure, never a drop).
            ring_full_waits += 1;
            producer.publish(fill);
        }
        published += 1;
    }
    (published, ring_full_waits)
}
