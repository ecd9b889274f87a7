//! Helpers shared by Keel's integration tests.
//!
//! Reference data lives beside the repository in `../shared/data` (never copied into it).
//! A test that needs it calls [`shared_data_dir`], which prints one line and returns
//! `None` when the folder is absent, so the test passes as skipped on a user's clone.

use std::path::PathBuf;

/// Environment variable that overrides where the shared reference data is.
pub const SHARED_DATA_ENV: &str = "KEEL_SHARED_DATA";

/// A test's size from environment variable `name` (a slow loop's count beyond its CI-sized
/// default), or `default` when unset. A value that does not parse fails the test: a
/// mistyped override must not quietly run the default.
pub fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a count")),
        Err(_) => default,
    }
}

/// The shared reference-data folder, or `None` (after printing why) when it is absent.
pub fn shared_data_dir(test_name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(SHARED_DATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("data")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED {test_name}: reference data not found at {} (set {SHARED_DATA_ENV})",
            dir.display()
        );
        None
    }
}

/// The Deribit option-chain snapshots in the shared data, in time order.
pub fn chain_snapshot_paths(data: &std::path::Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data.join("deribit"))
        .expect("deribit data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("deribit_options_snapshot_"))
        })
        .collect();
    paths.sort();
    paths
}

/// One shard fed every row of a Deribit chain snapshot (rows it refuses are skipped, as
/// a gateway would count them), then a batch end: the surface is fitted.
pub fn chain_snapshot_state(path: &std::path::Path) -> keel_engine::state::ShardState {
    use keel_feeds::feed::FeedDecoder;
    let text = std::fs::read_to_string(path).expect("snapshot");
    let mut decoder = keel_feeds::deribit::chain_snapshot::ChainSnapshotDecoder::new(
        keel_feeds::venue_map::VenueMap::new(),
    );
    let mut state = keel_engine::state::ShardState::new(0, 1);
    let mut events = Vec::new();
    for line in text.lines() {
        let _ = decoder.decode(line.as_bytes(), &mut events);
    }
    for (seq, event) in events.iter().enumerate() {
        state.step(seq as u64 + 1, event);
    }
    state.finish_batch();
    state
}

/// One shard after `events` of the default synthetic market (eight accounts) from
/// `seed`, every event stepped and a final batch end.
pub fn synthetic_state(seed: u64, events: usize) -> keel_engine::state::ShardState {
    let market = keel_feeds::SyntheticMarket::new(keel_feeds::SyntheticConfig {
        seed,
        accounts: 8,
        ..keel_feeds::SyntheticConfig::default()
    });
    let mut state = keel_engine::state::ShardState::new(0, 1);
    for (i, event) in market.take(events).enumerate() {
        state.step(i as u64 + 1, &event);
    }
    state.finish_batch();
    state
}

/// Median of a non-empty sample (sorts in place); `NaN` for an empty one.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Relative difference `|got − expected| / |expected|` (absolute when expected is 0).
pub fn relative_error(got: f64, expected: f64) -> f64 {
    let difference = (got - expected).abs();
    if expected == 0.0 {
        difference
    } else {
        difference / expected.abs()
    }
}

/// Deterministic payload for record `seq`: 1 to 200 bytes derived from `seq`, so a test
/// can check every record's content without storing it.
pub fn journal_payload(seq: u64) -> Vec<u8> {
    let len = 1 + (seq.wrapping_mul(0x9E37_79B9) % 200) as usize;
    (0..len)
        .map(|i| (seq as usize).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

/// Kind stored with record `seq` in tests.
pub fn journal_kind(seq: u64) -> u16 {
    (seq % 7) as u16
}

/// What a what-if test asks about: the first account, and a marked (mark above 0.001),
/// unsettled option it does not hold.
pub struct WhatIfTarget {
    pub account: u32,
    pub account_name: String,
    pub instrument: u32,
    pub instrument_name: String,
    pub mark_price: f64,
}

/// The [`WhatIfTarget`] of `state` (panics when the market has none: a test setup error).
pub fn what_if_target(state: &keel_engine::state::ShardState) -> WhatIfTarget {
    use keel_engine::events::InstrumentKind;
    let (account_id, account) = state.accounts.iter().next().expect("an account");
    let (id, instrument) = state
        .instruments
        .iter()
        .find(|(id, i)| {
            i.definition.kind == InstrumentKind::Option
                && i.mark.is_some_and(|m| m.mark_price > 1e-3)
                && !i.settled
                && account.positions.get(id).is_none()
        })
        .expect("a marked option nobody in the account holds");
    WhatIfTarget {
        account: account_id.0,
        account_name: account.name.as_text(),
        instrument: id.0,
        instrument_name: instrument.definition.name.as_text(),
        mark_price: instrument.mark.expect("marked").mark_price,
    }
}
