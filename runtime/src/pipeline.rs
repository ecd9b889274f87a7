//! The live pipeline (docs/PIPELINE.md): events → disruptor ring (preallocated slots) → journal
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

use super::embed::EmbedServer;
use super::embed::codec::AnswerScratch;
use super::replay::{FLAG_BATCH_END, ORIGIN_SHIFT};
use super::risk_snapshots::{AccountRiskSnapshot, RiskSnapshots};
use super::source::{EventSource, IterSource, ORIGIN_INPUT, Origin, Polled};
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
    /// No ring hop: the thread that polls the sources journals and applies each event
    /// itself, in the same order and through the same stages as `Fused`. For a machine
    /// whose cores are all taken by one engine thread and its shared-memory clients
    /// (docs/EMBEDDING.md: a third runnable thread on two cores costs more than the hop).
    Inline,
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

impl Topology {
    /// For an engine serving shared-memory clients: inline when the machine has no core
    /// for a ring hop beside the engine and a spinning client (fewer than 4), else as
    /// [`Topology::for_machine`].
    pub fn for_embedding(shards: usize) -> Topology {
        let cores = core_affinity::get_core_ids().map_or(1, |c| c.len());
        if cores < 4 {
            Topology::Inline
        } else {
            Topology::for_machine(shards)
        }
    }
}

impl std::str::FromStr for Topology {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "fused" => Ok(Topology::Fused),
            "staged" => Ok(Topology::Staged),
            "inline" => Ok(Topology::Inline),
            _ => Err(format!(
                "topology must be 'fused', 'staged' or 'inline', got '{text}'"
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
    /// Shared memory served to embedding clients: shards answer their what-ifs and
    /// publish snapshots there; the journal stage counts their events journaled.
    pub embed: Option<Arc<EmbedServer>>,
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
            embed: None,
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

/// One ring slot: an event with its journal sequence, origin and whether it ends a batch,
/// and when it was due (ns since the pipeline started: its scheduled time at a fixed rate,
/// else its publish time); or a what-if for the shards (not journaled).
struct Slot {
    event: Event,
    due_ns: u64,
    seq: u64,
    origin: Origin,
    end_batch: bool,
    /// Client slot of a what-if to answer; the event is then unused.
    what_if: Option<u8>,
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
        seq: 0,
        origin: ORIGIN_INPUT,
        end_batch: false,
        what_if: None,
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
    /// What-if requests passed to the shards.
    pub what_ifs: u64,
}

struct JournalStage {
    writer: Option<JournalWriter>,
    encoder: EventEncoder,
    embed: Option<Arc<EmbedServer>>,
    /// First sequence not journaled (u64::MAX: none); shards stop there.
    failed_at: Arc<AtomicU64>,
    error: Arc<std::sync::Mutex<Option<String>>>,
    close_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl JournalStage {
    fn handle(&mut self, slot: &Slot) {
        let seq = slot.seq;
        if slot.what_if.is_some() || self.failed_at.load(Ordering::Acquire) != u64::MAX {
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
                let batch = if slot.end_batch { FLAG_BATCH_END } else { 0 };
                let flags = batch | (u16::from(slot.origin) << ORIGIN_SHIFT);
                writer
                    .append_flagged(kind, flags, slot.event.timestamp_ns, payload)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(appended) if appended == seq => {
                if let (Some(embed), Some(client)) =
                    (&self.embed, usize::from(slot.origin).checked_sub(1))
                {
                    embed.journaled(client);
                }
            }
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
    embed: Option<Arc<EmbedServer>>,
    answer_scratch: AnswerScratch,
    failed_at: Arc<AtomicU64>,
    done: channel::Sender<(ShardState, Histogram<u64>)>,
    snapshots: Option<Arc<RiskSnapshots>>,
    state_snapshots: Option<SnapshotTaker>,
    warm_up_events: u64,
    /// Journal sequence of the last event applied.
    last_seq: u64,
}

impl ShardStage {
    fn handle(&mut self, slot: &Slot) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if let Some(client) = slot.what_if {
            // Between events; only the shard owning the account answers.
            if let Some(embed) = &self.embed {
                embed.answer_what_if(usize::from(client), state, &mut self.answer_scratch);
            }
            return;
        }
        let seq = slot.seq;
        if seq >= self.failed_at.load(Ordering::Acquire) {
            return; // not journaled: never applied
        }
        self.last_seq = seq;
        if state
            .step_ending(seq, &slot.event, slot.end_batch)
            .batch_end
        {
            publish_snapshots(self.snapshots.as_deref(), self.embed.as_deref(), state, seq);
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
            for (id, account) in &state.accounts {
                if let Some(snapshots) = self.snapshots.as_deref() {
                    snapshots.publish(id.0, &AccountRiskSnapshot::of(account, self.last_seq));
                }
                if let Some(embed) = self.embed.as_deref() {
                    embed.publish_snapshot(*id, account, self.last_seq);
                }
            }
            if let Some(embed) = self.embed.as_deref() {
                embed.published_through(self.last_seq);
            }
            let histogram = std::mem::replace(
                &mut self.latency_ns,
                Histogram::new(1).expect("trivial histogram"),
            );
            let _ = self.done.send((state, histogram));
        }
    }
}

/// Publishes the accounts the last batch end evaluated (the others did not change), in
/// process and in shared memory.
fn publish_snapshots(
    snapshots: Option<&RiskSnapshots>,
    embed: Option<&EmbedServer>,
    state: &ShardState,
    seq: u64,
) {
    if snapshots.is_none() && embed.is_none() {
        return;
    }
    for id in state.changed_accounts() {
        if let Some(account) = state.accounts.get(id) {
            if let Some(snapshots) = snapshots {
                snapshots.publish(id.0, &AccountRiskSnapshot::of(account, seq));
            }
            if let Some(embed) = embed {
                embed.publish_snapshot(*id, account, seq);
            }
        }
    }
    if let Some(embed) = embed {
        embed.published_through(seq);
    }
}

/// The fused topology's one consumer: journal, then every shard.
struct FusedStage {
    journal: JournalStage,
    shards: Vec<ShardStage>,
}

impl FusedStage {
    fn handle(&mut self, slot: &Slot) {
        self.journal.handle(slot);
        for shard in &mut self.shards {
            shard.handle(slot);
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
    run_pipeline_from(config, journal, shards, IterSource(events))
}

/// [`run_pipeline`] from any [`EventSource`]: when the source is idle, the last event
/// published ends a batch early (journaled as such), so a quiet live feed is revalued and
/// published at once instead of waiting for the batch to fill.
pub fn run_pipeline_from(
    config: &PipelineConfig,
    journal: JournalWriter,
    shards: Vec<ShardState>,
    events: impl EventSource,
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
        embed: config.embed.clone(),
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
            embed: config.embed.clone(),
            answer_scratch: AnswerScratch::default(),
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
                Publisher {
                    clock: &clock,
                    start_raw,
                    offered_rate_eps: config.offered_rate_eps,
                    failed_at: &failed_at,
                    first_seq,
                    idle_wait: config.wait,
                    inline: topology == Topology::Inline,
                },
                events,
            )
        };
    }
    let builder = disruptor::build_single_producer(config.ring_size, empty_slot, BusySpin);
    let started = std::time::Instant::now();
    let Published {
        events: published,
        ring_full_waits,
        what_ifs,
    } = match topology {
        Topology::Inline => {
            // The engine takes the last core; clients are expected on the others.
            if config.pin && cores.len() >= 2 {
                core_affinity::set_for_current(cores[cores.len() - 1]);
            }
            publish!(InlineSink {
                stage: FusedStage {
                    journal: journal_stage,
                    shards: stages,
                },
            })
        }
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
                    |stage: &mut FusedStage, slot: &Slot, _: Sequence, _end: bool| {
                        stage.handle(slot)
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
                    |stage: &mut JournalStage, slot: &Slot, _: Sequence, _end: bool| {
                        stage.handle(slot)
                    },
                    move || journal_stage,
                    config.wait,
                )
                .and_then();
            let shard_handler =
                |stage: &mut ShardStage, slot: &Slot, _: Sequence, _end: bool| stage.handle(slot);
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
        what_ifs,
    })
}

/// Where the producer puts a slot: the ring, or (inline) straight into the stages.
trait SlotSink {
    /// Puts the slot, or says the ring is full (nothing put).
    fn try_put(&mut self, fill: &mut dyn FnMut(&mut Slot)) -> bool;
    /// Puts the slot, waiting for room.
    fn put(&mut self, fill: &mut dyn FnMut(&mut Slot));
}

impl<P: Producer<Slot>> SlotSink for P {
    fn try_put(&mut self, fill: &mut dyn FnMut(&mut Slot)) -> bool {
        self.try_publish(|slot| fill(slot)).is_ok()
    }

    fn put(&mut self, fill: &mut dyn FnMut(&mut Slot)) {
        self.publish(|slot| fill(slot));
    }
}

/// The inline topology: each slot handled by the stages on the producer's thread.
struct InlineSink {
    stage: FusedStage,
}

impl SlotSink for InlineSink {
    fn try_put(&mut self, fill: &mut dyn FnMut(&mut Slot)) -> bool {
        self.put(fill);
        true
    }

    fn put(&mut self, fill: &mut dyn FnMut(&mut Slot)) {
        let mut slot = empty_slot();
        fill(&mut slot);
        self.stage.handle(&slot);
    }
}

/// What the producer needs besides the ring and the source.
struct Publisher<'a> {
    clock: &'a quanta::Clock,
    start_raw: u64,
    offered_rate_eps: Option<f64>,
    failed_at: &'a AtomicU64,
    /// Journal sequence of the first event.
    first_seq: u64,
    /// How the producer waits while the source is idle.
    idle_wait: super::wait::WaitStrategyKind,
    /// The producer journals and applies events itself (no ring consumers).
    inline: bool,
}

struct Published {
    events: u64,
    ring_full_waits: u64,
    what_ifs: u64,
}

/// Publishes everything the source gives until it ends or the journal stage fails, then
/// drops the producer: the consumers drain the ring, stop, and hand their states back.
///
/// One event is held back until the next poll: if the source is then idle, it is published
/// as the end of a batch (the batch rule's early end).
fn publish_all(
    mut producer: impl SlotSink,
    publisher: Publisher<'_>,
    mut source: impl EventSource,
) -> Published {
    let mut pacer = super::pacer::Pacer::new(
        publisher.clock.clone(),
        publisher.start_raw,
        publisher.offered_rate_eps,
    );
    let mut out = Published {
        events: 0,
        ring_full_waits: 0,
        what_ifs: 0,
    };
    let mut held: Option<(Event, Origin)> = None;
    // Idle stretches so far: each one restarts the wait strategy's backoff.
    let mut idle_stretch: Sequence = 0;
    let mut idle = false;
    // A what-if slot carries only its client slot: it has no sequence, is not journaled,
    // is not timed and ends no batch.
    let mut publish =
        |out: &mut Published, event: Event, origin: Origin, what_if: Option<u8>, end: bool| {
            let (seq, due_ns, end_batch) = match what_if {
                Some(_) => (0, 0, false),
                None => {
                    let seq = publisher.first_seq + out.events;
                    (seq, pacer.next_due_ns(), end || ends_batch(seq))
                }
            };
            let mut fill = |slot: &mut Slot| {
                slot.event = event;
                slot.due_ns = due_ns;
                slot.seq = seq;
                slot.origin = origin;
                slot.end_batch = end_batch;
                slot.what_if = what_if;
            };
            if !producer.try_put(&mut fill) {
                // The ring is full: wait for a slot (counted back-pressure, never a drop).
                out.ring_full_waits += 1;
                producer.put(&mut fill);
            }
            if what_if.is_some() {
                out.what_ifs += 1;
            } else {
                out.events += 1;
            }
        };
    loop {
        // A journal failure stops intake at once: nothing more is consumed from the
        // source (a live feed would otherwise be read and dropped until its end).
        if publisher.failed_at.load(Ordering::Acquire) != u64::MAX {
            break;
        }
        let polled = source.poll();
        if polled != Polled::Idle {
            idle = false;
        }
        match polled {
            Polled::Event(event, origin) => {
                if let Some((held_event, held_origin)) = held.replace((event, origin)) {
                    publish(&mut out, held_event, held_origin, None, false);
                }
            }
            Polled::WhatIf { slot } => {
                // Events before the question are applied before it is answered.
                if let Some((held_event, held_origin)) = held.take() {
                    publish(&mut out, held_event, held_origin, None, false);
                }
                publish(
                    &mut out,
                    empty_slot().event,
                    ORIGIN_INPUT,
                    Some(slot),
                    false,
                );
            }
            Polled::Idle => {
                if let Some((held_event, held_origin)) = held.take() {
                    publish(&mut out, held_event, held_origin, None, true);
                } else {
                    if !idle {
                        idle = true;
                        idle_stretch -= 1;
                    }
                    publisher
                        .idle_wait
                        .idle_wait(idle_stretch - 1, publisher.inline);
                }
            }
            Polled::End => {
                if let Some((held_event, held_origin)) = held.take() {
                    publish(&mut out, held_event, held_origin, None, false);
                }
                break;
            }
        }
    }
    out
}
