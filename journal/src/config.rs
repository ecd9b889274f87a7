//! How a journal is opened for writing.

use crate::error::{JournalError, Result};
use crate::faults::FaultPlan;
use crate::format::{Durability, SEGMENT_SIZE_MAX_BYTES, SEGMENT_SIZE_MIN_BYTES};
use crate::segment::page_size;

/// Default segment size: 256 MiB.
pub const SEGMENT_SIZE_DEFAULT_BYTES: u64 = 256 << 20;
/// Default distance the background thread keeps pages pre-faulted ahead of the writer.
pub const PREFAULT_AHEAD_DEFAULT_BYTES: usize = 64 << 20;

/// Writer configuration. Existing segments keep the size and mode they were created with;
/// these apply to segments created from now on.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    pub segment_size_bytes: u64,
    pub durability: Durability,
    pub prefault_ahead_bytes: usize,
    /// Recompute every closed segment's content hash on open, so damage anywhere stops
    /// start-up (costs one read of the journal; BLAKE3 runs at GB/s).
    pub verify_closed_segments_on_open: bool,
    /// Test-only failure injection; leave at its default.
    pub faults: FaultPlan,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_size_bytes: SEGMENT_SIZE_DEFAULT_BYTES,
            durability: Durability::None,
            prefault_ahead_bytes: PREFAULT_AHEAD_DEFAULT_BYTES,
            verify_closed_segments_on_open: true,
            faults: FaultPlan::default(),
        }
    }
}

impl JournalConfig {
    pub fn validate(&self) -> Result<()> {
        let size = self.segment_size_bytes;
        if !(SEGMENT_SIZE_MIN_BYTES..=SEGMENT_SIZE_MAX_BYTES).contains(&size) {
            return Err(JournalError::Config(format!(
                "segment size {size} outside [{SEGMENT_SIZE_MIN_BYTES}, {SEGMENT_SIZE_MAX_BYTES}]"
            )));
        }
        if size % page_size() as u64 != 0 {
            return Err(JournalError::Config(format!(
                "segment size {size} is not a multiple of the page size {}",
                page_size()
            )));
        }
        if let Durability::Interval { period_ms: 0 } = self.durability {
            return Err(JournalError::Config(
                "interval durability needs a period > 0 ms".into(),
            ));
        }
        Ok(())
    }
}
