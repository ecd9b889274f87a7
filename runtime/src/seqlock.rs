//! The seqlock rule, in one place: one writer publishes a payload of `u64` words next to a
//! version word; any number of readers copy it without locks or syscalls and know whether
//! their copy is whole. Words are atomics (relaxed), so a racing read is defined behaviour,
//! not a data race — in process memory and in shared memory alike.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Times a reader retries a slot being written before giving up.
pub const READ_RETRIES_MAX: u32 = 1_000;

/// Publishes `payload` under `version` (even: stable, odd: being written, 0: never
/// written). Only one writer per slot; it never waits.
pub fn write(version: &AtomicU64, slot: &[AtomicU64], payload: &[u64]) {
    let before = version.load(Ordering::Relaxed);
    // Odd while writing. The release fence keeps the payload stores below from being seen
    // before the odd version by a reader that acquires it.
    version.store(before.wrapping_add(1) | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    for (word, value) in slot.iter().zip(payload) {
        word.store(*value, Ordering::Relaxed);
    }
    // Even again, released: a reader acquiring it sees the whole payload.
    version.store((before | 1).wrapping_add(1), Ordering::Release);
}

/// Copies a whole payload into `out` and returns its version, or `None` when the slot was
/// never written or a writer kept it busy for [`READ_RETRIES_MAX`] tries.
pub fn read(version: &AtomicU64, slot: &[AtomicU64], out: &mut [u64]) -> Option<u64> {
    for _ in 0..READ_RETRIES_MAX {
        let before = version.load(Ordering::Acquire);
        if before == 0 {
            return None;
        }
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        for (copy, word) in out.iter_mut().zip(slot) {
            *copy = word.load(Ordering::Relaxed);
        }
        // The acquire fence orders the payload loads before the version re-check.
        fence(Ordering::Acquire);
        if version.load(Ordering::Relaxed) == before {
            return Some(before);
        }
    }
    None
}
