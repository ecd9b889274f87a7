//! Sealing a closed segment: its content hash chained to the previous segment's seal,
//! written into its last bytes, so any later alteration of a closed segment is detectable.

use crate::error::Result;
use crate::faults::Faults;
use crate::format::{Durability, SEAL_LEN, Seal};
use crate::segment::Segment;

/// Seals `segment`, whose data (header and records) is `[0, data_end)`, and makes the
/// segment durable unless the journal runs without syncing.
pub fn seal_segment(
    segment: &Segment,
    data_end: usize,
    record_count: u64,
    last_seq: u64,
    previous_seal: [u8; 32],
    durability: Durability,
    faults: &Faults,
) -> Result<Seal> {
    // SAFETY: the segment is closed (its end marker is written): nothing writes its data.
    let data = unsafe { segment.bytes_unchecked(data_end) };
    let seal = Seal::compute(data, record_count, last_seq, previous_seal);
    let bytes = seal.encode();
    let offset = segment.len() - SEAL_LEN;
    // SAFETY: the seal area is in bounds and written only here, once per closed segment,
    // by the single thread that seals (recovery or the writer's background thread).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), segment.base_ptr().add(offset), SEAL_LEN);
    }
    if durability != Durability::None {
        segment.sync_range(0, segment.len(), faults)?;
    }
    Ok(seal)
}
