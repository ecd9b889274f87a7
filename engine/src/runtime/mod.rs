//! The runtime around the pure state machine: the ring pipeline and journal replay.

pub mod pacer;
pub mod pipeline;
pub mod replay;
pub mod risk_snapshots;
pub mod wait;

pub use pacer::Pacer;
pub use pipeline::{BATCH_EVENTS_MAX, PipelineConfig, PipelineError, PipelineOutput, run_pipeline};
pub use replay::{FLAG_BATCH_END, ReplayError, replay, replay_into};
pub use risk_snapshots::{AccountRiskSnapshot, RiskSnapshots};
pub use wait::WaitStrategyKind;
