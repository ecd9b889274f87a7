//! `keel-feeds`: event sources for the engine: Keel's own JSON-lines format, Deribit's
//! websocket JSON-RPC, Tardis CSV, the seeded synthetic market, and Deribit's
//! portfolio-margin files. docs/FEEDS.md maps every venue field.

pub mod adversarial;
pub mod csv_feed;
pub mod deribit;
pub mod feed;
pub mod index_levels;
pub mod keel_json;
pub mod lines;
pub mod rng;
pub mod synthetic;
pub mod tardis;
pub mod venue_map;
pub mod venue_view;

pub use synthetic::{SyntheticConfig, SyntheticMarket};

#[cfg(test)]
mod tests {
    use keel_engine::events::{EventBody, EventEncoder};
    use keel_engine::state::{Outcome, RejectReason, ShardState};

    use super::*;

    fn encoded(seed: u64, count: usize) -> Vec<u8> {
        let mut encoder = EventEncoder::default();
        let mut bytes = Vec::new();
        for event in SyntheticMarket::new(SyntheticConfig {
            seed,
            ..SyntheticConfig::default()
        })
        .take(count)
        {
            let (kind, payload) = encoder.encode(&event).expect("encodes");
            bytes.extend_from_slice(&kind.to_le_bytes());
            bytes.extend_from_slice(payload);
        }
        bytes
    }

    #[test]
    fn same_seed_same_bytes_different_seed_different_bytes() {
        assert_eq!(encoded(7, 20_000), encoded(7, 20_000));
        assert_ne!(encoded(7, 20_000), encoded(8, 20_000));
    }

    #[test]
    fn the_universe_is_deribit_like_and_the_engine_accepts_it() {
        let market = SyntheticMarket::new(SyntheticConfig::default());
        // 2 underlyings × (perpetual + 4 futures + 10 expiries × 30 strikes).
        assert_eq!(
            market.instruments(),
            2 * (1 + 4 + 10 * synthetic::STRIKES_PER_EXPIRY)
        );
        let mut state = ShardState::new(0, 1);
        let (mut fills, mut settlements, mut rejected) = (0, 0, 0);
        for (i, event) in market.take(200_000).enumerate() {
            if let EventBody::Fill(_) = event.body {
                fills += 1;
            }
            if let EventBody::Settlement(_) = event.body {
                settlements += 1;
            }
            if let Outcome::Rejected(_) = state.step(i as u64 + 1, &event).outcome {
                rejected += 1;
            }
        }
        state.finish_batch();
        assert!(fills > 10_000, "{fills} fills");
        assert!(
            settlements >= 60,
            "the 15-minute expiry settles: {settlements}"
        );
        // Only the deliberately bad events are rejected, a fraction of a percent.
        assert!(
            rejected > 0 && rejected < 2_000,
            "{rejected} rejected: {:?}",
            state.rejections().nonzero().collect::<Vec<_>>()
        );
        assert!(state.rejections().get(RejectReason::NotFinite) > 0);
        assert!(state.rejections().get(RejectReason::DuplicateTradeId) > 0);
        keel_engine::state::checker::check(&state).expect("incremental = from scratch");
    }
}
