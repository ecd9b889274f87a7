//! Pins `keel demo` and `keel replay`: the JSON report's shape, determinism (same seed,
//! same hash; replay with any shard count gives the run's hash), and crash recovery:
//! the demo killed with SIGKILL at random moments 20 times, then rerun with the same
//! arguments, ends with the uninterrupted run's state hash.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::Value;

mod common;
use common::keel;

const EVENTS: &str = "60000";

fn demo_json(dir: &Path, extra: &[&str]) -> Value {
    let dir = dir.to_str().expect("utf-8");
    let mut args = vec!["demo", "--data-dir", dir, "--events", EVENTS, "--json"];
    args.extend_from_slice(extra);
    let output = keel(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[test]
fn demo_report_has_every_field_and_replay_reproduces_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let report = demo_json(&dir, &["--shards", "2"]);
    assert_eq!(report["events"], 60_000);
    assert_eq!(report["last_seq"], 60_000);
    let hash = report["state_hash"].as_str().expect("hash").to_string();
    assert_eq!(hash.len(), 32);
    let accounts = report["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 8);
    let underlying = &accounts[0]["underlyings"][0];
    for key in [
        "underlying",
        "delta_coin",
        "dollar_delta_usd",
        "black_delta_coin",
        "gamma_coin_per_usd",
        "dollar_gamma_usd_per_1pct",
        "vega_usd_per_vol_point",
        "theta_usd_per_day",
    ] {
        assert!(!underlying[key].is_null(), "{key}");
    }
    assert!(accounts[0]["realized_pnl_usd"].is_f64() && accounts[0]["unrealized_pnl_usd"].is_f64());
    // Dollar delta is the coin delta at the index: same sign, USD.
    let (coin, dollars) = (
        underlying["delta_coin"].as_f64().expect("delta"),
        underlying["dollar_delta_usd"]
            .as_f64()
            .expect("dollar delta"),
    );
    assert!(
        coin == 0.0 || coin.signum() == dollars.signum(),
        "{coin} {dollars}"
    );
    assert!(report["parked_fills"].is_array());
    // The day's PnL attribution (parts add up to the actual PnL) and the worst
    // historical stress, per account.
    for account in accounts {
        let today = &account["pnl_today"];
        let actual = today["actual_pnl_usd"].as_f64().expect("actual");
        let parts = today["components_usd"].as_object().expect("components");
        let sum: f64 = parts.values().map(|v| v.as_f64().expect("number")).sum();
        let gross: f64 = parts
            .values()
            .map(|v| v.as_f64().unwrap_or(0.0).abs())
            .sum();
        assert!((actual - sum).abs() <= 1e-9 * gross.max(1.0), "{today}");
        let worst = &account["stress_worst_historical"];
        assert!(
            worst["scenario"]
                .as_str()
                .expect("scenario")
                .starts_with("historical")
        );
        assert!(worst["pnl_usd"].as_f64().is_some());
    }
    // Margin per account and currency, and the trading state.
    for account in accounts {
        let state = account["state"].as_str().expect("state");
        assert!(
            ["ACTIVE", "REDUCE_ONLY", "HALTED"].contains(&state),
            "{state}"
        );
        let margin = account["margin"].as_array().expect("margin");
        assert_eq!(margin.len(), 2, "BTC and ETH: {margin:?}");
        for currency in margin {
            for key in ["equity", "im", "mm", "available_balance"] {
                assert!(currency[key].is_f64(), "{key}: {currency}");
            }
            for key in [
                "margin_ratio",
                "liq_distance_down_pct",
                "liq_distance_up_pct",
            ] {
                let value = &currency[key];
                assert!(value.is_null() || value.as_f64().is_some_and(|v| v >= 0.0));
            }
        }
    }
    let margined = accounts
        .iter()
        .flat_map(|a| a["margin"].as_array().expect("margin"))
        .filter(|m| m["im"].as_f64().is_some_and(|im| im > 0.0))
        .count();
    assert!(margined > 4, "positions carry margin");
    assert!(report["alerts"]["counts"].is_object());
    assert!(report["rejected"]["not_finite"].as_u64().expect("counted") > 0);
    for key in ["p50", "p99", "p999", "max"] {
        assert!(report["latency_ns"][key].as_u64().is_some(), "{key}");
    }
    assert!(report["throughput_eps"].as_f64().expect("throughput") > 0.0);

    let other = tmp.path().join("again");
    assert_eq!(
        demo_json(&other, &[])["state_hash"],
        hash.as_str(),
        "same seed, same state (1 vs 2 shards)"
    );
    let different = tmp.path().join("seed2");
    assert_ne!(
        demo_json(&different, &["--seed", "2"])["state_hash"],
        hash.as_str()
    );

    let dir_text = dir.to_str().expect("utf-8");
    for shards in ["1", "3"] {
        let output = keel(&["replay", dir_text, "--shards", shards, "--check", "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let replayed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(
            replayed["state_hash"],
            hash.as_str(),
            "replay with {shards} shard(s)"
        );
        assert_eq!(replayed["checked"], true);
        assert_eq!(replayed["rejected"], report["rejected"]);
        assert_eq!(
            replayed["alerts"], report["alerts"],
            "alerts replay identically"
        );
    }
    let partial = keel(&[
        "replay",
        dir_text,
        "--to-seq",
        "1000",
        "--account",
        "3",
        "--json",
    ]);
    let partial: Value = serde_json::from_slice(&partial.stdout).expect("JSON");
    assert_eq!(partial["last_seq"], 1000);
    assert!(
        partial["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .all(|a| a["account"] == 3)
    );
}

/// Kills happen early in each run (each rerun resumes with less left to do, so a late
/// kill would often find it finished), and later in each successive attempt of a round
/// (a rerun first replays the growing journal, so a fixed early kill could stop every
/// attempt before any progress). Rounds repeat, each from a fresh directory and each
/// ending in a completed run, until at least 20 runs have been killed mid-way.
/// The crashing runs snapshot state every 4,096 events, so resumes restore a snapshot and
/// replay only the tail; at least one finishing run must have started from a snapshot.
#[test]
fn a_demo_killed_twenty_times_ends_like_an_uninterrupted_one() {
    const KILLS_WANTED: u32 = 20;
    const ROUNDS_MAX: u32 = 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let reference = demo_json(&tmp.path().join("reference"), &[])["state_hash"].clone();
    let run_ms = started.elapsed().as_millis().max(20) as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65_656c);
    let (mut kills, mut rounds, mut resumed_from_snapshot) = (0, 0, 0);
    while kills < KILLS_WANTED {
        rounds += 1;
        assert!(
            rounds <= ROUNDS_MAX,
            "only {kills} kills in {ROUNDS_MAX} rounds"
        );
        let dir = tmp.path().join(format!("crashing-{rounds}"));
        let dir_text = dir.to_str().expect("utf-8");
        for attempt in 0u64.. {
            let child = Command::new(env!("CARGO_BIN_EXE_keel"))
                .args(["demo", "--data-dir", dir_text, "--events", EVENTS, "--json"])
                .args(["--snapshot-interval", "4096"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("demo starts");
            let mut child = child;
            let delay_ms = rng.random_range(run_ms / 40..=run_ms / 4) + attempt * run_ms / 8;
            std::thread::sleep(Duration::from_millis(delay_ms));
            if child.try_wait().expect("status").is_none() {
                child.kill().expect("SIGKILL");
                child.wait().expect("reaped");
                kills += 1;
                continue;
            }
            let output = child.wait_with_output().expect("finished run");
            assert!(output.status.success());
            let finished: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
            assert_eq!(finished["state_hash"], reference, "round {rounds}");
            assert_eq!(finished["last_seq"], 60_000);
            let snapshot_seq = &finished["resumed"]["snapshot_seqs"][0];
            if snapshot_seq.as_u64().is_some_and(|seq| seq > 0) {
                resumed_from_snapshot += 1;
            }
            break;
        }
    }
    assert!(
        resumed_from_snapshot > 0,
        "no finishing run started from a state snapshot"
    );
}

#[test]
fn a_journal_from_another_seed_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let dir_text = dir.to_str().expect("utf-8");
    assert!(
        keel(&["demo", "--data-dir", dir_text, "--events", "1000", "--json"])
            .status
            .success()
    );
    let output = keel(&["demo", "--data-dir", dir_text, "--seed", "9"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--seed"), "{stderr}");
}
