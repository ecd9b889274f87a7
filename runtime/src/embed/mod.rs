//! Embedding over shared memory (docs/EMBEDDING.md): execution systems on the same host
//! push events into Keel, ask pre-trade what-if questions and read per-account risk
//! snapshots, with no syscall on the hot path.
//!
//! Files in a shared-memory directory (`/dev/shm` by default), for an engine named `N`:
//! - `N`: the engine file — [`wire::EngineHeader`], then one [`wire::AccountSnapshot`]
//!   seqlock slot per account id. Written by the engine; clients map it read-only.
//! - `N.client-K` (K < [`wire::CLIENTS_MAX`]): one per client slot —
//!   [`wire::ClientArea`] (ring indexes, what-if mailbox, counters) then the ingress
//!   ring's records. A client claims a slot with an exclusive `flock` on the file, which
//!   the kernel releases when the client dies: a crashed client's slot is free again.
//! - `N.lock`: held (exclusive `flock`) by the serving engine: one engine per name, and a
//!   client can tell a live engine from a dead one.

pub mod client;
pub mod codec;
pub mod egress;
pub mod mailbox;
pub mod region;
pub mod server;
pub mod wire;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use client::{Answer, Client, Leg};
pub use server::{ClientInput, EmbedConfig, EmbedPoller, EmbedServer};

/// Where shared-memory files go unless configured otherwise.
pub const SHM_DIR_DEFAULT: &str = "/dev/shm";
/// Account snapshot slots an engine publishes unless configured otherwise.
pub const ACCOUNTS_DEFAULT: u32 = 1024;
/// Longest engine name (it becomes a file name).
pub const NAME_MAX_BYTES: usize = 64;

#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no engine serves {0} (is `keel run` with an [embed] section running?)")]
    NoEngine(PathBuf),
    #[error("{path}: not a Keel shared-memory file (wrong magic)")]
    Magic { path: PathBuf },
    #[error("{path}: layout version {found}, this build speaks version {expected}")]
    LayoutVersion {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("{path}: {what} does not match this build's layout")]
    Layout { path: PathBuf, what: &'static str },
    #[error("engine name '{0}' must be 1 to {NAME_MAX_BYTES} of [A-Za-z0-9_-]")]
    Name(String),
    #[error("another engine already serves '{0}'")]
    AlreadyServing(String),
    #[error("client limit {0}: 1 to {max} client slots are supported", max = wire::CLIENTS_MAX)]
    ClientLimit(usize),
    #[error("all {0} client slots of the engine are taken")]
    NoFreeSlot(usize),
    #[error("the engine has stopped")]
    EngineStopped,
    #[error("the engine restarted (epoch changed): attach again")]
    EngineRestarted,
    #[error("the ingress ring is full ({0} records): retry later")]
    RingFull(u64),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Request(&'static str),
}

/// Checks an engine name: it becomes part of file names.
pub fn check_name(name: &str) -> Result<(), EmbedError> {
    let valid = !name.is_empty()
        && name.len() <= NAME_MAX_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(EmbedError::Name(name.to_string()))
    }
}

/// The engine file of `name` in `dir`.
pub fn engine_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Client slot `slot`'s file.
pub fn client_path(dir: &Path, name: &str, slot: usize) -> PathBuf {
    dir.join(format!("{name}.client-{slot}"))
}

/// The lock the serving engine holds.
pub fn lock_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.lock"))
}

/// Word offsets inside the files (the wire structs' `offset_of`, in words).
pub mod layout {
    use super::wire::*;
    use std::mem::offset_of;

    pub const SNAPSHOTS: usize = EngineHeader::WORDS;
    pub const CONTROL: usize = offset_of!(ClientArea, control) / 8;
    pub const COUNTERS: usize = offset_of!(ClientArea, counters) / 8;
    pub const HEAD: usize = offset_of!(ClientArea, head) / 8;
    pub const TAIL: usize = offset_of!(ClientArea, tail) / 8;
    pub const REQUEST: usize = offset_of!(ClientArea, request) / 8;
    pub const RESPONSE: usize = offset_of!(ClientArea, response) / 8;
    pub const RECORDS: usize = ClientArea::WORDS;

    pub const fn engine_file_words(accounts_max: usize) -> usize {
        SNAPSHOTS + accounts_max * AccountSnapshot::WORDS
    }

    pub const fn client_file_words() -> usize {
        RECORDS + INGRESS_RECORDS as usize * Record::WORDS
    }

    pub const fn snapshot(account: usize) -> usize {
        SNAPSHOTS + account * AccountSnapshot::WORDS
    }

    pub const fn record(index: u64) -> usize {
        RECORDS + (index % INGRESS_RECORDS) as usize * Record::WORDS
    }

    /// Word offset of a field inside a struct.
    pub const fn word(byte_offset: usize) -> usize {
        byte_offset / 8
    }

    pub const ENGINE_RUNNING: usize = word(offset_of!(EngineHeader, running));
    pub const ENGINE_EPOCH: usize = word(offset_of!(EngineHeader, epoch));
    pub const ENGINE_PUBLISHED_SEQ: usize = word(offset_of!(EngineHeader, published_seq));
    pub const CONTROL_ATTACH_COUNT: usize = CONTROL + word(offset_of!(ClientControl, attach_count));
    pub const COUNTER_ACCEPTED: usize =
        COUNTERS + word(offset_of!(EngineCounters, records_accepted));
    pub const COUNTER_REJECTED: usize =
        COUNTERS + word(offset_of!(EngineCounters, records_rejected));
    pub const COUNTER_LAST_TAG: usize =
        COUNTERS + word(offset_of!(EngineCounters, last_rejected_tag));
    pub const COUNTER_LAST_REASON: usize =
        COUNTERS + word(offset_of!(EngineCounters, last_rejection));
    pub const COUNTER_JOURNALED: usize =
        COUNTERS + word(offset_of!(EngineCounters, events_journaled));
    pub const COUNTER_FAULTS: usize = COUNTERS + word(offset_of!(EngineCounters, ring_faults));
    pub const COUNTER_WHAT_IFS: usize =
        COUNTERS + word(offset_of!(EngineCounters, what_ifs_answered));
    pub const CONTROL_PID: usize = CONTROL + word(offset_of!(ClientControl, client_pid));
    pub const CONTROL_FULL: usize = CONTROL + word(offset_of!(ClientControl, pushes_refused_full));
    pub const REQUEST_SEQ: usize = REQUEST + word(offset_of!(WhatIfRequest, request_seq));
    pub const RESPONSE_SEQ: usize = RESPONSE + word(offset_of!(WhatIfResponse, response_seq));
}
