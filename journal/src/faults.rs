//! Fault injection for tests of the failure paths (full disk at segment roll, failing
//! sync). Inert unless a plan is given; production code never sets one.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which operations fail. `Default` is no faults.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Creating the segment with this index fails with ENOSPC.
    pub fail_segment_create_index: Option<u64>,
    /// The n-th sync (1-based, counted across the writer and its background thread)
    /// and every later one fail with EIO.
    pub fail_sync_from_call: Option<u64>,
}

/// A plan plus the counters it needs; shared by the writer and its background thread.
#[derive(Debug, Default)]
pub struct Faults {
    plan: FaultPlan,
    sync_calls: AtomicU64,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        Faults {
            plan,
            sync_calls: AtomicU64::new(0),
        }
    }

    pub fn on_segment_create(&self, index: u64) -> io::Result<()> {
        if self.plan.fail_segment_create_index == Some(index) {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::NOSPC.raw_os_error(),
            ));
        }
        Ok(())
    }

    pub fn on_sync(&self) -> io::Result<()> {
        let Some(from_call) = self.plan.fail_sync_from_call else {
            return Ok(());
        };
        // Relaxed: a counter, ordering nothing else.
        let call = self.sync_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if call >= from_call {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            ));
        }
        Ok(())
    }
}
