//! The Rust client: attach to a serving engine by name, push events, ask what-ifs, read
//! snapshots. Every hot call is loads and stores in shared memory; syscalls happen only at
//! attach and when telling a stopped or restarted engine apart (after a timeout).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use super::region::Region;
use super::wire::*;
use super::{EmbedError, check_name, client_path, egress, engine_path, layout, lock_path, mailbox};

/// A what-if leg and answer, as on the wire.
pub type Leg = WhatIfLeg;
pub type Answer = WhatIfResponse;

/// Polls of the answer word between looks at the clock.
const SPINS_PER_CLOCK_CHECK: u32 = 256;

/// What became of the engine a client attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineStatus {
    Running,
    /// It stopped cleanly; its last snapshots are still readable.
    Stopped,
    /// It died without stopping (its lock is free).
    Dead,
    /// Another engine (another epoch) now serves the name.
    Restarted,
}

/// One attached client slot.
pub struct Client {
    dir: PathBuf,
    name: String,
    engine: Region,
    area: Region,
    slot: usize,
    epoch: u64,
    accounts_max: usize,
    head: u64,
    next_request: u64,
    /// The request and the answer, reused: building a 480-byte request and a 728-byte
    /// answer and moving the answer by value cost the client about 50 of the 240 ns the
    /// mailbox's own work took on one thread (docs/BENCHMARKS.md). Only the words a
    /// request carries are published, so stale words past them never reach the engine;
    /// the answer is zero past its counts.
    request: WhatIfRequest,
    answer: Answer,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Client({}, slot {}, epoch {})",
            self.name, self.slot, self.epoch
        )
    }
}

/// Checks an engine file's header against this build's layout.
pub fn check_engine_header(
    path: &Path,
    header: &EngineHeader,
    file_words: usize,
) -> Result<(), EmbedError> {
    if header.magic != ENGINE_MAGIC {
        return Err(EmbedError::Magic {
            path: path.to_path_buf(),
        });
    }
    if header.layout_version != LAYOUT_VERSION {
        return Err(EmbedError::LayoutVersion {
            path: path.to_path_buf(),
            found: header.layout_version,
            expected: LAYOUT_VERSION,
        });
    }
    let layout_error = |what| EmbedError::Layout {
        path: path.to_path_buf(),
        what,
    };
    if header.header_bytes != size_of::<EngineHeader>() as u64 {
        return Err(layout_error("header size"));
    }
    if header.snapshot_bytes != size_of::<AccountSnapshot>() as u64 {
        return Err(layout_error("snapshot size"));
    }
    if header.client_file_bytes != (layout::client_file_words() * 8) as u64
        || header.ingress_records != INGRESS_RECORDS
    {
        return Err(layout_error("client file size"));
    }
    if header.clients_max == 0 || header.clients_max > CLIENTS_MAX as u64 {
        return Err(layout_error("client count"));
    }
    let accounts = usize::try_from(header.accounts_max).map_err(|_| layout_error("accounts"))?;
    if layout::engine_file_words(accounts) > file_words {
        return Err(layout_error("engine file size"));
    }
    Ok(())
}

impl Client {
    /// Attaches to the engine `name` serving in `dir`, claiming the first free slot.
    pub fn attach(dir: &Path, name: &str) -> Result<Client, EmbedError> {
        check_name(name)?;
        let path = engine_path(dir, name);
        let engine = Region::open(&path, false)?;
        let header: EngineHeader = load(engine.words());
        check_engine_header(&path, &header, engine.words().len())?;
        if header.running != 1 {
            return Err(EmbedError::EngineStopped);
        }
        for slot in 0..header.clients_max as usize {
            let client_file = client_path(dir, name, slot);
            let area = Region::open(&client_file, true)?;
            if flock(area.file(), FlockOperation::NonBlockingLockExclusive).is_err() {
                continue; // another client holds it
            }
            let client_header: ClientHeader = load(area.words());
            if client_header.magic != CLIENT_MAGIC {
                return Err(EmbedError::Magic { path: client_file });
            }
            if client_header.layout_version != LAYOUT_VERSION {
                return Err(EmbedError::LayoutVersion {
                    path: client_file,
                    found: client_header.layout_version,
                    expected: LAYOUT_VERSION,
                });
            }
            if area.words().len() < layout::client_file_words()
                || client_header.file_bytes != (layout::client_file_words() * 8) as u64
            {
                return Err(EmbedError::Layout {
                    path: client_file,
                    what: "client file size",
                });
            }
            if client_header.epoch != header.epoch {
                return Err(EmbedError::EngineRestarted);
            }
            let words = area.words();
            let attach_count = words[layout::CONTROL_ATTACH_COUNT].load(Ordering::Relaxed);
            words[layout::CONTROL_ATTACH_COUNT].store(attach_count + 1, Ordering::Relaxed);
            words[layout::CONTROL_PID].store(u64::from(std::process::id()), Ordering::Relaxed);
            // Continue after what an earlier holder of the slot published, unless its
            // indexes are impossible.
            let tail = words[layout::TAIL].load(Ordering::Acquire);
            let mut head = words[layout::HEAD].load(Ordering::Relaxed);
            if head.wrapping_sub(tail) > INGRESS_RECORDS {
                head = tail;
                words[layout::HEAD].store(head, Ordering::Release);
            }
            let request = words[layout::REQUEST_SEQ].load(Ordering::Relaxed);
            let response = words[layout::RESPONSE_SEQ].load(Ordering::Acquire);
            return Ok(Client {
                dir: dir.to_path_buf(),
                name: name.to_string(),
                engine,
                area,
                slot,
                epoch: header.epoch,
                accounts_max: header.accounts_max as usize,
                head,
                next_request: request.max(response) + 1,
                request: WhatIfRequest::default(),
                answer: Answer::default(),
            });
        }
        Err(EmbedError::NoFreeSlot(header.clients_max as usize))
    }

    pub fn slot(&self) -> usize {
        self.slot
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn check_running(&self) -> Result<(), EmbedError> {
        if self.engine.words()[layout::ENGINE_RUNNING].load(Ordering::Acquire) == 1 {
            Ok(())
        } else {
            Err(EmbedError::EngineStopped)
        }
    }

    /// Pushes a record (a fill, collateral, index or ticker record as [`Record`]). A full
    /// ring is refused at once (counted in the file), never waited on.
    pub fn push(&mut self, record: &Record) -> Result<(), EmbedError> {
        self.check_running()?;
        let words = self.area.words();
        let tail = words[layout::TAIL].load(Ordering::Acquire);
        if self.head.wrapping_sub(tail) >= INGRESS_RECORDS {
            let full = words[layout::CONTROL_FULL].load(Ordering::Relaxed);
            words[layout::CONTROL_FULL].store(full + 1, Ordering::Relaxed);
            return Err(EmbedError::RingFull(INGRESS_RECORDS));
        }
        let at = layout::record(self.head);
        store(&words[at..at + Record::WORDS], record);
        self.head = self.head.wrapping_add(1);
        // Released: the engine that sees the new head sees the whole record.
        words[layout::HEAD].store(self.head, Ordering::Release);
        Ok(())
    }

    /// Asks a what-if about account id `account` and waits (spinning, yielding every few
    /// hundred polls) for the answer, up to `timeout`.
    pub fn what_if(
        &mut self,
        account: u64,
        legs: &[Leg],
        timeout: Duration,
    ) -> Result<Answer, EmbedError> {
        self.what_if_in_place(account, legs, timeout).copied()
    }

    /// [`what_if`](Client::what_if), the answer lent from the client's own buffer (valid
    /// until the next question): no 728-byte copy, for callers on a latency budget.
    pub fn what_if_in_place(
        &mut self,
        account: u64,
        legs: &[Leg],
        timeout: Duration,
    ) -> Result<&Answer, EmbedError> {
        self.ask(account, [0; NAME_BYTES], legs, timeout)
    }

    /// [`what_if`](Client::what_if) about the account named `account_name` (NUL-padded).
    pub fn what_if_named(
        &mut self,
        account_name: [u8; NAME_BYTES],
        legs: &[Leg],
        timeout: Duration,
    ) -> Result<Answer, EmbedError> {
        self.ask(0, account_name, legs, timeout).copied()
    }

    fn ask(
        &mut self,
        account: u64,
        account_name: [u8; NAME_BYTES],
        legs: &[Leg],
        timeout: Duration,
    ) -> Result<&Answer, EmbedError> {
        if legs.len() > WHAT_IF_LEGS_MAX {
            return Err(EmbedError::Request("more legs than KEEL_WHAT_IF_LEGS_MAX"));
        }
        let request = &mut self.request;
        request.account = account;
        request.account_name = account_name;
        request.leg_count = legs.len() as u64;
        request.query = QUERY_WHAT_IF;
        request.legs[..legs.len()].copy_from_slice(legs);
        self.request(timeout)
    }

    /// Asks the largest quantity of `lot`'s instrument and side that account id `account`
    /// (or the account named `account_name`, when not empty) may trade at the mark, in
    /// whole lots of `lot.quantity`; `stress`, when given, is (spot move as a fraction,
    /// vol move in points, largest loss as a share of equity) for every underlying.
    pub fn size(
        &mut self,
        account: u64,
        account_name: [u8; NAME_BYTES],
        lot: &Leg,
        stress: Option<(f64, f64, f64)>,
        timeout: Duration,
    ) -> Result<Answer, EmbedError> {
        let (spot, vol, share) = stress.unwrap_or((0.0, 0.0, 0.0));
        let request = &mut self.request;
        request.account = account;
        request.account_name = account_name;
        request.leg_count = 1;
        request.query = QUERY_SIZE;
        request.stress_spot_move = spot;
        request.stress_vol_points = vol;
        request.stress_max_loss_share = share;
        request.legs[0] = *lot;
        self.request(timeout).copied()
    }

    /// Publishes `self.request` and waits for its answer in `self.answer`.
    fn request(&mut self, timeout: Duration) -> Result<&Answer, EmbedError> {
        self.check_running()?;
        let seq = self.next_request;
        self.next_request += 1;
        self.request.request_seq = seq;
        let words = self.area.words();
        mailbox::publish_request(
            &words[layout::REQUEST..layout::REQUEST + WhatIfRequest::WORDS],
            &self.request,
        );
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if words[layout::RESPONSE_SEQ].load(Ordering::Acquire) == seq {
                mailbox::load_response_into(
                    &words[layout::RESPONSE..layout::RESPONSE + WhatIfResponse::WORDS],
                    &mut self.answer,
                );
                // The engine wrote the sequence last; a newer request would change it.
                if self.answer.response_seq == seq {
                    return Ok(&self.answer);
                }
            }
            spins += 1;
            if spins % SPINS_PER_CLOCK_CHECK == 0 {
                if started.elapsed() >= timeout {
                    return Err(match self.engine_status() {
                        EngineStatus::Running => EmbedError::Timeout(timeout.as_millis() as u64),
                        EngineStatus::Restarted => EmbedError::EngineRestarted,
                        EngineStatus::Stopped | EngineStatus::Dead => EmbedError::EngineStopped,
                    });
                }
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// The latest whole snapshot of `account`, or `None` if none was published yet.
    pub fn snapshot(&self, account: u32) -> Option<AccountSnapshot> {
        let index = account as usize;
        if index >= self.accounts_max {
            return None;
        }
        egress::read(
            self.engine
                .slice(layout::snapshot(index), AccountSnapshot::WORDS)?,
        )
    }

    /// Journal sequence of the last batch end the engine published.
    pub fn published_seq(&self) -> u64 {
        self.engine.words()[layout::ENGINE_PUBLISHED_SEQ].load(Ordering::Acquire)
    }

    /// What the engine did with this slot's input so far.
    pub fn counters(&self) -> EngineCounters {
        load(&self.area.words()[layout::COUNTERS..layout::COUNTERS + EngineCounters::WORDS])
    }

    /// Records pushed but not yet taken by the engine.
    pub fn pending(&self) -> u64 {
        self.head
            .wrapping_sub(self.area.words()[layout::TAIL].load(Ordering::Acquire))
    }

    /// Running, stopped, dead, or replaced by a restarted engine (syscalls: for error
    /// paths, not the hot path).
    pub fn engine_status(&self) -> EngineStatus {
        if let Ok(current) = Region::open(&engine_path(&self.dir, &self.name), false) {
            let header: EngineHeader = load(current.words());
            if header.epoch != self.epoch {
                return EngineStatus::Restarted;
            }
        }
        if self.engine.words()[layout::ENGINE_RUNNING].load(Ordering::Acquire) != 1 {
            return EngineStatus::Stopped;
        }
        let lock = std::fs::File::open(lock_path(&self.dir, &self.name));
        match lock {
            Ok(file) if flock(&file, FlockOperation::NonBlockingLockShared).is_ok() => {
                EngineStatus::Dead
            }
            _ => EngineStatus::Running,
        }
    }
}
