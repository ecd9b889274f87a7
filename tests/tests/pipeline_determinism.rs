//! Pins the pipeline's determinism (docs/PIPELINE.md, docs/RELIABILITY.md): the live run
//! (ring, journal stage, shard threads) and replays of its journal with 1 and 3 shards
//! reach the same state hash; a run resumed from its journal ends where an uninterrupted
//! one does.

use keel_engine::state::ShardState;
use keel_engine::state::checker::check;
use keel_engine::state::hash::combined_hash;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_runtime::pipeline::Topology;
use keel_runtime::{
    AccountRiskSnapshot, PipelineConfig, RiskSnapshots, WaitStrategyKind, replay, replay_into,
    run_pipeline,
};

const EVENTS: usize = 60_000;

fn journal_config() -> JournalConfig {
    JournalConfig {
        segment_size_bytes: 4 << 20,
        durability: Durability::None,
        ..JournalConfig::default()
    }
}

fn pipeline_config() -> PipelineConfig {
    PipelineConfig {
        ring_size: 1 << 10,
        wait: WaitStrategyKind::Yield,
        pin: false,
        offered_rate_eps: None,
        snapshots: None,
        state_snapshots: None,
        ..PipelineConfig::default()
    }
}

fn market(seed: u64) -> SyntheticMarket {
    SyntheticMarket::new(SyntheticConfig {
        seed,
        accounts: 6,
        ..SyntheticConfig::default()
    })
}

#[test]
fn live_runs_in_every_topology_and_replays_with_any_shard_count_agree() {
    for topology in [Topology::Fused, Topology::Staged, Topology::Inline] {
        live_run_and_replays_agree(topology);
    }
}

fn live_run_and_replays_agree(topology: Topology) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = JournalWriter::open(dir.path(), journal_config()).expect("journal");
    let shards = (0..2).map(|i| ShardState::new(i, 2)).collect();
    let config = PipelineConfig {
        topology: Some(topology),
        ..pipeline_config()
    };
    let live = run_pipeline(&config, journal, shards, market(3).take(EVENTS)).expect("pipeline");
    assert_eq!(live.events, EVENTS as u64);
    assert_eq!(live.last_seq, EVENTS as u64);
    let live_hash = combined_hash(&live.shards);
    for shard in &live.shards {
        check(shard).expect("incremental = from scratch");
    }
    for shard_count in [1, 3] {
        let (replayed, last) = replay(dir.path(), None, shard_count).expect("replay");
        assert_eq!(last, EVENTS as u64);
        assert_eq!(
            combined_hash(&replayed),
            live_hash,
            "replay with {shard_count} shard(s) of a {topology:?} run"
        );
    }
    assert!(live.latency_ns.len() >= EVENTS as u64);
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let whole_dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = JournalWriter::open(whole_dir.path(), journal_config()).expect("journal");
    let whole = run_pipeline(
        &pipeline_config(),
        journal,
        vec![ShardState::new(0, 1)],
        market(5).take(EVENTS),
    )
    .expect("pipeline");

    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = JournalWriter::open(dir.path(), journal_config()).expect("journal");
    let first = 23_457; // a cut in the middle of a batch
    run_pipeline(
        &pipeline_config(),
        journal,
        vec![ShardState::new(0, 1)],
        market(5).take(first),
    )
    .expect("first part");
    // Restart: recover the journal, rebuild the state, continue the same stream.
    let (journal, report) = JournalWriter::open(dir.path(), journal_config()).expect("reopen");
    assert_eq!(report.last_seq, first as u64);
    let mut shards = vec![ShardState::new(0, 1)];
    replay_into(dir.path(), None, &mut shards, false).expect("replay");
    let rest = market(5).skip(first).take(EVENTS - first);
    let resumed = run_pipeline(&pipeline_config(), journal, shards, rest).expect("second part");
    assert_eq!(resumed.last_seq, EVENTS as u64);
    assert_eq!(combined_hash(&resumed.shards), combined_hash(&whole.shards));
}

/// Risk snapshots readable from another thread while the shards run; at the end each
/// account's snapshot is its final state, tagged with the last sequence applied.
#[test]
fn risk_snapshots_track_the_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = JournalWriter::open(dir.path(), journal_config()).expect("journal");
    let snapshots = std::sync::Arc::new(RiskSnapshots::new(16));
    let config = PipelineConfig {
        snapshots: Some(snapshots.clone()),
        ..pipeline_config()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (snapshots, stop) = (snapshots.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last_seq = 0;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                if let Some(snapshot) = snapshots.read(1) {
                    assert!(snapshot.seq >= last_seq, "never back in time");
                    last_seq = snapshot.seq;
                }
                std::thread::yield_now();
            }
            last_seq
        })
    };
    let shards = (0..2).map(|i| ShardState::new(i, 2)).collect();
    let output = run_pipeline(&config, journal, shards, market(9).take(EVENTS)).expect("pipeline");
    stop.store(true, std::sync::atomic::Ordering::Release);
    // Whatever the reader saw while the shards ran was never older than what it had
    // seen before (checked in the thread); at the end, every snapshot is the final state.
    reader.join().expect("reader saw snapshots in order");
    for shard in &output.shards {
        for (id, account) in &shard.accounts {
            let snapshot = snapshots.read(id.0).expect("published");
            assert_eq!(
                snapshot,
                AccountRiskSnapshot::of(account, output.last_seq),
                "account {id:?}"
            );
        }
    }
}
