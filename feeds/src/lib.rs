//! `keel-feeds`: venue decoders and the synthetic market (DESIGN 3).
//!
//! Not built yet: the pipeline issue fills this crate with the seeded synthetic market and
//! the Deribit decoders.
