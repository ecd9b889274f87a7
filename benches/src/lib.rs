//! Shared pieces of Keel's benchmarks: deterministic inputs and the paired
//! ours-versus-baseline summary every benchmark prints.

pub mod channel_pipeline;
pub mod feeds;
pub mod latency;
pub mod option_book;
pub mod option_chain;
pub mod paired;
pub mod synthetic_state;
