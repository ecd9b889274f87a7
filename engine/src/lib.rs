//! `keel-engine`: Keel's pure core — events and their codec, Black-76 pricing and Greeks,
//! implied volatility, the margin models and the risk state machine with its one driver
//! (`ShardState::step`). No threads, no clock, no I/O, no hash-ordered collections
//! (`engine/clippy.toml` makes clippy refuse them): the same events give the same state,
//! bit for bit. The runtime around it (ring, threads, journal, snapshots) is `keel-runtime`.

pub mod attribution;
pub mod decimal_f64;
pub mod events;
pub mod margin;
pub mod pricing;
pub mod state;
pub mod stress;
pub mod surface;
#[cfg(test)]
mod test_lcg;
