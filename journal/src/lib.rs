//! `keel-journal`: a directory of fixed-size, memory-mapped segment files holding an
//! append-only sequence of opaque records (docs/JOURNAL.md). It knows nothing of the domain.
//!
//! - [`JournalWriter`]: one per directory; appends with `none` / `interval` / `sync`
//!   durability, recovers on open (torn tail truncated, anything else refused with file
//!   and offset), seals closed segments in a hash chain.
//! - [`JournalReader`], [`Tailer`]: read from any sequence number, or follow a live writer,
//!   in this process or another.
//! - [`SnapshotStore`]: opaque state snapshots tagged with the sequence they include.
//! - [`check_journal`]: whole-journal verification for `keel journal verify / inspect`.
//!
//! The byte-level format is specified in `docs/JOURNAL.md`.

pub mod config;
pub mod error;
pub mod faults;
pub mod format;
pub mod index;
mod maintenance;
pub mod reader;
pub mod recovery;
pub mod scan;
mod seal;
pub mod segment;
pub mod snapshot;
pub mod tailer;
pub mod verify;
pub mod writer;

pub use config::JournalConfig;
pub use error::JournalError;
pub use faults::FaultPlan;
pub use format::{Durability, RecordMeta, RecordView, hex};
pub use reader::{JournalReader, Records};
pub use recovery::{RecoveryReport, TornTail};
pub use snapshot::{Snapshot, SnapshotStep, SnapshotStore};
pub use tailer::Tailer;
pub use verify::{Depth, JournalSummary, SegmentSummary, check_journal};
pub use writer::{JournalWriter, WriterStatus};
