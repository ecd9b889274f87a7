//! The engine's side: creates the files, polls client rings and what-if mailboxes (from
//! the producer thread, which puts what it finds into the engine's ring), answers
//! what-ifs (from the owning shard) and publishes snapshots (from each shard).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use keel_engine::events::{AccountId, Event};
use keel_engine::state::{AccountState, ShardState};
use rustix::fs::{FlockOperation, flock};

use super::codec::{AnswerScratch, answer_in_place, decode_record, requested_account};
use super::region::Region;
use super::wire::*;
use super::{EmbedError, check_name, client_path, egress, engine_path, layout, lock_path, mailbox};

/// Refused records logged per client (all are counted).
const REFUSALS_LOGGED_MAX: u64 = 10;

#[derive(Clone, Debug)]
pub struct EmbedConfig {
    pub name: String,
    pub dir: PathBuf,
    /// Snapshot slots: accounts with ids below this are published.
    pub accounts_max: u32,
    /// Client slots served (1 to [`CLIENTS_MAX`]).
    pub clients_max: usize,
}

/// The engine's shared memory: its own file and every client slot's file.
pub struct EmbedServer {
    name: String,
    engine: Region,
    clients: Vec<Region>,
    accounts_max: usize,
    epoch: u64,
    /// Held exclusively while serving.
    _lock: File,
}

impl std::fmt::Debug for EmbedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmbedServer({}, epoch {})", self.name, self.epoch)
    }
}

impl EmbedServer {
    /// Creates the files of `config.name` (replacing those of an engine that has stopped)
    /// and starts serving. Refused while another engine serves the name.
    pub fn start(config: &EmbedConfig) -> Result<Arc<EmbedServer>, EmbedError> {
        check_name(&config.name)?;
        if !(1..=CLIENTS_MAX).contains(&config.clients_max) {
            return Err(EmbedError::ClientLimit(config.clients_max));
        }
        let accounts_max =
            (config.accounts_max as usize).min(keel_engine::events::ids::ACCOUNTS_MAX as usize);
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |error| EmbedError::Io { path, error }
        };
        std::fs::create_dir_all(&config.dir).map_err(io(&config.dir))?;
        let lock_file = lock_path(&config.dir, &config.name);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)
            .map_err(io(&lock_file))?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| EmbedError::AlreadyServing(config.name.clone()))?;
        let epoch = new_epoch();
        let engine = Region::create(
            &engine_path(&config.dir, &config.name),
            layout::engine_file_words(accounts_max) * 8,
        )?;
        let mut clients = Vec::with_capacity(config.clients_max);
        for slot in 0..config.clients_max {
            let region = Region::create(
                &client_path(&config.dir, &config.name, slot),
                layout::client_file_words() * 8,
            )?;
            let header = ClientHeader {
                magic: CLIENT_MAGIC,
                layout_version: LAYOUT_VERSION,
                file_bytes: (layout::client_file_words() * 8) as u64,
                slot: slot as u64,
                epoch,
                ingress_records: INGRESS_RECORDS,
                legs_max: WHAT_IF_LEGS_MAX as u64,
                reserved: 0,
            };
            store(region.words(), &header);
            clients.push(region);
        }
        let header = EngineHeader {
            magic: ENGINE_MAGIC,
            layout_version: LAYOUT_VERSION,
            header_bytes: size_of::<EngineHeader>() as u64,
            snapshot_bytes: size_of::<AccountSnapshot>() as u64,
            accounts_max: accounts_max as u64,
            clients_max: config.clients_max as u64,
            client_file_bytes: (layout::client_file_words() * 8) as u64,
            ingress_records: INGRESS_RECORDS,
            epoch,
            engine_pid: u64::from(std::process::id()),
            running: 1,
            published_seq: 0,
            reserved: [0; 4],
        };
        store(engine.words(), &header);
        std::sync::atomic::fence(Ordering::Release);
        tracing::info!(name = %config.name, epoch, dir = %config.dir.display(), "serving shared memory");
        Ok(Arc::new(EmbedServer {
            name: config.name.clone(),
            engine,
            clients,
            accounts_max,
            epoch,
            _lock: lock,
        }))
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Publishes `account`'s snapshot as of `seq` (accounts beyond the slots are not).
    pub fn publish_snapshot(&self, account_id: AccountId, account: &AccountState, seq: u64) {
        let index = account_id.0 as usize;
        if index >= self.accounts_max {
            return;
        }
        if let Some(slot) = self
            .engine
            .slice(layout::snapshot(index), AccountSnapshot::WORDS)
        {
            egress::publish(slot, &egress::snapshot_of(account_id.0, account, seq));
        }
    }

    /// Records that every batch end up to `seq` is published (shards call it; the
    /// largest wins).
    pub fn published_through(&self, seq: u64) {
        self.engine.words()[layout::ENGINE_PUBLISHED_SEQ].fetch_max(seq, Ordering::Release);
    }

    /// Answers client `slot`'s pending what-if if `state`'s shard owns the account asked
    /// about (an account nobody has is answered, as unknown, by shard 0).
    pub fn answer_what_if(&self, slot: usize, state: &ShardState, scratch: &mut AnswerScratch) {
        let Some(region) = self.clients.get(slot) else {
            return;
        };
        let words = region.words();
        mailbox::load_request_into(
            &words[layout::REQUEST..layout::REQUEST + WhatIfRequest::WORDS],
            &mut scratch.request,
        );
        let request_seq = scratch.request.request_seq;
        let owner = match requested_account(state, &scratch.request) {
            Some(id) if state.account_names.contains_key(&id) => state.owns(id),
            _ => state.shard_index == 0,
        };
        if !owner {
            return;
        }
        answer_in_place(state, scratch);
        scratch.response.response_seq = request_seq;
        mailbox::publish_response(
            &words[layout::RESPONSE..layout::RESPONSE + WhatIfResponse::WORDS],
            &scratch.response,
        );
        // Several shard threads may answer one client (about accounts of different shards,
        // if it does not wait for each answer): an atomic add, not a single-writer bump.
        words[layout::COUNTER_WHAT_IFS].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one of client `slot`'s events as journaled (the journal stage calls it).
    pub fn journaled(&self, slot: usize) {
        if let Some(region) = self.clients.get(slot) {
            bump(&region.words()[layout::COUNTER_JOURNALED]);
        }
    }

    /// What the engine did with each client slot's input.
    pub fn counters(&self) -> Vec<EngineCounters> {
        self.clients
            .iter()
            .map(|region| {
                load(&region.words()[layout::COUNTERS..layout::COUNTERS + EngineCounters::WORDS])
            })
            .collect()
    }

    /// Marks the engine stopped: clients see it at their next call.
    pub fn stop(&self) {
        self.engine.words()[layout::ENGINE_RUNNING].store(0, Ordering::Release);
    }

    /// The producer's view of the client slots.
    pub fn poller(self: &Arc<Self>) -> EmbedPoller {
        EmbedPoller {
            server: self.clone(),
            tails: [0; CLIENTS_MAX],
            last_requests: [0; CLIENTS_MAX],
            next: 0,
        }
    }
}

impl Drop for EmbedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adds one to a counter this thread alone writes.
fn bump(counter: &std::sync::atomic::AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A number that differs at every start: the clock's nanoseconds mixed with the pid.
/// Runtime identity only; nothing in the state depends on it.
fn new_epoch() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 40)) | 1
}

/// What the producer found in a client slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClientInput {
    /// An event from client slot `slot`.
    Event { event: Event, slot: usize },
    /// A what-if request waits in client slot `slot`'s mailbox.
    WhatIf { slot: usize },
}

/// Polls client slots round robin. Owned by the producer thread: it alone reads rings and
/// writes their tails.
pub struct EmbedPoller {
    server: Arc<EmbedServer>,
    /// Next record to read per slot (the engine's own copy; the file's is only published).
    tails: [u64; CLIENTS_MAX],
    last_requests: [u64; CLIENTS_MAX],
    next: usize,
}

impl EmbedPoller {
    pub fn server(&self) -> &Arc<EmbedServer> {
        &self.server
    }

    /// The next what-if request or event from any client, or `None` when all are idle.
    /// Refused records are counted in the client's file and skipped.
    pub fn poll(&mut self) -> Option<ClientInput> {
        let slots = self.server.clients.len();
        for step in 0..slots {
            let slot = (self.next + step) % slots;
            if let Some(polled) = self.poll_slot(slot) {
                self.next = (slot + 1) % slots;
                return Some(polled);
            }
        }
        None
    }

    fn poll_slot(&mut self, slot: usize) -> Option<ClientInput> {
        // Disjoint borrows: the file's words stay borrowed while the tails change.
        let EmbedPoller {
            server,
            tails,
            last_requests,
            ..
        } = self;
        let words = server.clients[slot].words();
        let set_tail = |tails: &mut [u64; CLIENTS_MAX], tail: u64| {
            tails[slot] = tail;
            // Released: the client may reuse the records before it once it sees this.
            words[layout::TAIL].store(tail, Ordering::Release);
        };
        let request_seq = words[layout::REQUEST_SEQ].load(Ordering::Acquire);
        mailbox::touch_request_body(
            &words[layout::REQUEST..layout::REQUEST + WhatIfRequest::WORDS],
        );
        if request_seq != last_requests[slot] {
            last_requests[slot] = request_seq;
            return Some(ClientInput::WhatIf { slot });
        }
        loop {
            let head = words[layout::HEAD].load(Ordering::Acquire);
            let tail = tails[slot];
            if head == tail {
                return None;
            }
            if head.wrapping_sub(tail) > INGRESS_RECORDS {
                // Impossible indexes (a client bug or garbage): skip to its head.
                bump(&words[layout::COUNTER_FAULTS]);
                tracing::warn!(
                    slot,
                    head,
                    tail,
                    "client ring indexes impossible; skipped to head"
                );
                set_tail(tails, head);
                return None;
            }
            let at = layout::record(tail);
            let record: Record = load(&words[at..at + Record::WORDS]);
            set_tail(tails, tail.wrapping_add(1));
            match decode_record(&record) {
                Ok(event) => {
                    bump(&words[layout::COUNTER_ACCEPTED]);
                    return Some(ClientInput::Event { event, slot });
                }
                Err(reason) => {
                    bump(&words[layout::COUNTER_REJECTED]);
                    words[layout::COUNTER_LAST_TAG].store(record.client_tag, Ordering::Relaxed);
                    words[layout::COUNTER_LAST_REASON].store(reason, Ordering::Relaxed);
                    if words[layout::COUNTER_REJECTED].load(Ordering::Relaxed)
                        <= REFUSALS_LOGGED_MAX
                    {
                        tracing::warn!(
                            slot,
                            reason,
                            tag = record.client_tag,
                            "client record refused"
                        );
                    }
                }
            }
        }
    }
}
