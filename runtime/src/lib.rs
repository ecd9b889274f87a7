//! `keel-runtime`: everything around the pure state machine of `keel-engine` that has
//! threads, a clock or I/O — the ring pipeline and its topologies, the journal stage,
//! risk and state snapshots, journal replay and recovery, and the simulator that drives
//! them all.

pub mod embed;
pub mod pacer;
pub mod pipeline;
pub mod replay;
pub mod risk_snapshots;
pub mod seqlock;
pub mod simulation;
pub mod source;
pub mod state_snapshots;
pub mod wait;

pub use pacer::Pacer;
pub use pipeline::{
    BATCH_EVENTS_MAX, PipelineConfig, PipelineError, PipelineOutput, run_pipeline,
    run_pipeline_from,
};
pub use replay::{
    FLAG_BATCH_END, Recovered, ReplayError, recover, recover_to_continue, replay, replay_into,
};
pub use risk_snapshots::{AccountRiskSnapshot, RiskSnapshots};
pub use state_snapshots::{
    SNAPSHOT_INTERVAL_DEFAULT_EVENTS, SnapshotStats, StateSnapshotPolicy, shard_store_name,
};
pub use wait::WaitStrategyKind;
