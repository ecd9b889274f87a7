//! Pins the engine's input contract with the deterministic simulator: a fixed set of
//! seeds of adversarial streams (every class of bad input mixed into valid trading)
//! through the pure state machine, the pipeline with 1 and 3 shards, a full replay and
//! crash-and-recover points; no panic, checker agrees, no NaN, nothing vanishes, one
//! hash. `KEEL_SIM_SEEDS` / `KEEL_SIM_EVENTS` run more (`keel sim` runs long campaigns).

use keel_engine::state::RejectReason;
use keel_feeds::adversarial::AdversarialStream;
use keel_runtime::simulation::{SimConfig, simulate};
use keel_tests::env_or;

#[test]
fn adversarial_streams_never_break_the_engine() {
    let seeds = env_or("KEEL_SIM_SEEDS", 6) as u64;
    let events = env_or("KEEL_SIM_EVENTS", 20_000);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut seen = keel_engine::state::RejectionCounts::default();
    for seed in 0..seeds {
        let stream: Vec<_> = AdversarialStream::new(seed).take(events).collect();
        let config = SimConfig {
            shards: 3,
            crash_after: vec![events / 3 + seed as usize, 2 * events / 3 + 7],
            check_every_batches: 8,
            dir: scratch.path().join(format!("seed-{seed}")),
        };
        let report =
            simulate(&stream, &config).unwrap_or_else(|failure| panic!("seed {seed}: {failure}"));
        assert_eq!(report.events, events as u64);
        seen.add(&report.rejections);
    }
    // The streams exercise the contract: the hostile classes are all refused somewhere.
    for reason in [
        RejectReason::NotFinite,
        RejectReason::OutOfBounds,
        RejectReason::TimestampOutOfRange,
        RejectReason::DuplicateTradeId,
        RejectReason::DuplicateTransferId,
        RejectReason::DuplicateName,
        RejectReason::ConflictingDefinition,
        RejectReason::SettlementBeforeExpiry,
        RejectReason::InsufficientCollateral,
        RejectReason::IdOutOfRange,
        RejectReason::InvalidParams,
        RejectReason::InvalidLimits,
        RejectReason::ParkedExpired,
        RejectReason::ImplausiblePrice,
    ] {
        assert!(seen.get(reason) > 0, "{} never exercised", reason.name());
    }
}
