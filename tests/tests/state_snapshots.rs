//! State snapshots (docs/PIPELINE.md, "State snapshots"): an image restores an equal state;
//! the pipeline writes snapshots that recovery uses, replaying only the tail, to the same
//! state hash as a full replay; damaged, stale or foreign snapshots fall back without
//! changing the result.

use keel_engine::events::Event;
use keel_engine::state::hash::combined_hash;
use keel_engine::state::{ShardState, SnapshotError, decode_state, encode_state};
use keel_feeds::rng::SplitMix64;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, JournalConfig, JournalWriter, SnapshotStore};
use keel_runtime::{
    PipelineConfig, StateSnapshotPolicy, WaitStrategyKind, recover, recover_to_continue, replay,
    run_pipeline, shard_store_name,
};

fn events(seed: u64, count: usize) -> Vec<Event> {
    SyntheticMarket::new(SyntheticConfig {
        seed,
        accounts: 6,
        ..SyntheticConfig::default()
    })
    .take(count)
    .collect()
}

fn apply(shards: &mut [ShardState], events: &[Event], first_seq: u64) {
    for (offset, event) in events.iter().enumerate() {
        let seq = first_seq + offset as u64;
        for shard in shards.iter_mut() {
            shard.step(seq, event);
        }
    }
}

#[test]
fn an_image_restores_an_equal_state_that_evolves_identically() {
    let stream = events(5, 90_000);
    let (head, tail) = stream.split_at(60_032); // a batch end
    let mut shards: Vec<ShardState> = (0..2).map(|i| ShardState::new(i, 2)).collect();
    apply(&mut shards, head, 1);
    let mut restored: Vec<ShardState> = shards
        .iter()
        .map(|shard| {
            let image = encode_state(shard).expect("encodes");
            decode_state(&image, shard.shard_index, 2).expect("decodes")
        })
        .collect();
    assert_eq!(restored, shards, "every field, trade-id window included");
    assert!(
        shards
            .iter()
            .all(|s| !s.parked.is_empty() || !s.trade_ids.is_empty())
    );
    apply(&mut shards, tail, head.len() as u64 + 1);
    apply(&mut restored, tail, head.len() as u64 + 1);
    assert_eq!(restored, shards);
    assert_eq!(combined_hash(&restored), combined_hash(&shards));
}

#[test]
fn damaged_or_foreign_images_are_refused_without_panicking() {
    let mut shard = ShardState::new(1, 3);
    apply(std::slice::from_mut(&mut shard), &events(8, 20_000), 1);
    let image = encode_state(&shard).expect("encodes").to_vec();
    assert!(matches!(
        decode_state(&image, 0, 3),
        Err(SnapshotError::WrongShard { .. })
    ));
    assert!(decode_state(&image[..image.len() / 2], 1, 3).is_err());
    assert!(decode_state(&[], 1, 3).is_err());
    let mut rng = SplitMix64::new(77);
    let mut refused = 0;
    for _ in 0..2_000 {
        let mut damaged = image.clone();
        let index = (rng.next_u64() % damaged.len() as u64) as usize;
        damaged[index] ^= 1 << (rng.next_u64() % 8);
        // Must return, never panic; a flip inside a float may still decode.
        if decode_state(&damaged, 1, 3).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0);
}

fn journal_config() -> JournalConfig {
    JournalConfig {
        segment_size_bytes: 4 << 20,
        durability: Durability::None,
        ..JournalConfig::default()
    }
}

const PIPELINE_EVENTS: usize = 50_000;
const INTERVAL_EVENTS: u64 = 8_192;

/// A live run with snapshots every `INTERVAL_EVENTS`; returns its state hash.
fn live_run(dir: &std::path::Path, shard_count: u32) -> u128 {
    let (journal, _) = JournalWriter::open(dir, journal_config()).expect("journal");
    let config = PipelineConfig {
        ring_size: 1 << 10,
        wait: WaitStrategyKind::Yield,
        pin: false,
        // Paced: a snapshot the writer is still busy with is skipped by design (the
        // shard never waits), so flat out on a loaded 2-core machine a slow disk can skip
        // one; at 40k ev/s each shard's writer has about 400 ms per snapshot (at 100k,
        // 160 ms was once too little with this file's other tests running alongside).
        offered_rate_eps: Some(40_000.0),
        snapshots: None,
        state_snapshots: Some(StateSnapshotPolicy {
            interval_events: INTERVAL_EVENTS,
            keep: 2,
        }),
        ..PipelineConfig::default()
    };
    let shards = (0..shard_count)
        .map(|i| ShardState::new(i, shard_count))
        .collect();
    let output = run_pipeline(
        &config,
        journal,
        shards,
        events(21, PIPELINE_EVENTS).into_iter(),
    )
    .expect("pipeline");
    let expected = PIPELINE_EVENTS as u64 / INTERVAL_EVENTS * u64::from(shard_count);
    assert_eq!(
        output.state_snapshots.written, expected,
        "{:?}",
        output.state_snapshots
    );
    combined_hash(&output.shards)
}

#[test]
fn recovery_from_snapshots_equals_full_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live_hash = live_run(dir.path(), 2);
    let last_snapshot = PIPELINE_EVENTS as u64 / INTERVAL_EVENTS * INTERVAL_EVENTS;
    for index in 0..2 {
        let store =
            SnapshotStore::open_named(dir.path(), &shard_store_name(index, 2)).expect("store");
        let kept: Vec<u64> = store
            .list()
            .expect("list")
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(
            kept,
            [last_snapshot - INTERVAL_EVENTS, last_snapshot],
            "pruned to 2"
        );
    }

    let recovered = recover(dir.path(), 2, None, true, true).expect("recover");
    assert_eq!(recovered.snapshot_seqs, [last_snapshot, last_snapshot]);
    assert_eq!(
        recovered.records_replayed,
        PIPELINE_EVENTS as u64 - last_snapshot
    );
    assert_eq!(recovered.last_seq, PIPELINE_EVENTS as u64);
    assert_eq!(combined_hash(&recovered.shards), live_hash);

    // Part-way: the snapshot at or before the requested end, then the tail to it.
    let to_seq = last_snapshot - 1_000;
    let partial = recover(dir.path(), 2, Some(to_seq), true, true).expect("recover");
    assert_eq!(partial.snapshot_seqs, [last_snapshot - INTERVAL_EVENTS; 2]);
    let (full, _) = replay(dir.path(), Some(to_seq), 2).expect("replay");
    assert_eq!(partial.shards, full);

    // Another shard count has no snapshots: full replay, same hash.
    let three = recover(dir.path(), 3, None, true, true).expect("recover");
    assert_eq!(three.snapshot_seqs, [0, 0, 0]);
    assert_eq!(combined_hash(&three.shards), live_hash);
}

#[test]
fn damaged_and_stale_snapshots_fall_back_to_the_same_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live_hash = live_run(dir.path(), 1);
    let store = SnapshotStore::open_named(dir.path(), &shard_store_name(0, 1)).expect("store");
    let kept = store.list().expect("list");
    let (newest_seq, newest_path) = kept.last().cloned().expect("a snapshot");
    let (older_seq, _) = kept[0].clone();

    // A snapshot "from the future" (past the journal's end, as after a crash that lost
    // the journal's tail): never used, and deleted before the journal continues.
    let future = store
        .dir()
        .join(format!("snapshot-{:020}.snap", PIPELINE_EVENTS as u64 + 64));
    std::fs::copy(&newest_path, &future).expect("copy");

    // Damage the newest: recovery falls back to the older one.
    let mut bytes = std::fs::read(&newest_path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&newest_path, bytes).expect("write");

    let recovered = recover(dir.path(), 1, None, true, true).expect("recover");
    assert_eq!(recovered.snapshot_seqs, [older_seq]);
    assert!(older_seq < newest_seq);
    assert_eq!(combined_hash(&recovered.shards), live_hash);

    let continued = recover_to_continue(dir.path(), 1).expect("recover");
    assert_eq!(continued.last_seq, PIPELINE_EVENTS as u64);
    assert!(!future.exists(), "stale snapshot deleted");
}
