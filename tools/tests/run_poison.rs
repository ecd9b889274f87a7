//! Pins `keel run`'s input contract end to end (the findings of issue 10): poison events
//! are journaled and rejected with a counted reason, never a panic, and the journal stays
//! replayable to the same state hash; a resent feed does not double-count collateral;
//! misspelled fields, a byte-order mark, directories, all-bad inputs, another writer's
//! journal and absurd settings are each one clear outcome.

use std::process::Command;

use serde_json::Value;

mod common;
use common::keel;

const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("keel.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[journal]\ndurability = \"none\"\nsegment_size_mib = 16\n",
            dir.join("journal")
        ),
    )
    .expect("config");
    path
}

fn run_json(config: &std::path::Path, input: &std::path::Path) -> Value {
    let output = keel(&[
        "run",
        "--config",
        config.to_str().expect("utf-8"),
        "--input",
        input.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// A small real book, then every poison event the reliability pass found.
fn poison_input() -> String {
    let t = |offset_ns: u64| T0 + offset_ns;
    let expiry = T0 + 24 * DAY_NS;
    let mut lines = vec![
        format!(
            r#"{{"timestamp_ns":{},"type":"instrument_defined","id":1,"name":"BTC-PERPETUAL","kind":"perpetual","settlement":"inverse","underlying":0,"expiry_ns":0,"strike":"0","right":"call","contract_size":"10"}}"#,
            t(0)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"instrument_defined","id":2,"name":"BTC-24JAN26-70000-C","kind":"option","settlement":"inverse","underlying":0,"expiry_ns":{expiry},"strike":"70000","right":"call","contract_size":"1"}}"#,
            t(0)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"account_defined","id":0,"name":"desk","margin_model":"portfolio"}}"#,
            t(0)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"collateral","account":0,"currency":0,"amount":"5","transfer_id":1}}"#,
            t(1)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"index_price","underlying":0,"price":65000.0}}"#,
            t(2)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"ticker","instrument":1,"mark_price":65010.0,"mark_iv":0.0,"forward":65010.0,"best_bid":65000.0,"best_ask":65020.0}}"#,
            t(2)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"ticker","instrument":2,"mark_price":0.02,"mark_iv":0.55,"forward":65100.0,"best_bid":0.019,"best_ask":0.021}}"#,
            t(2)
        ),
        format!(
            r#"{{"timestamp_ns":{},"type":"fill","account":0,"instrument":2,"side":"buy","quantity":"2","price":"0.02","fee":"0.0003","trade_id":10}}"#,
            t(3)
        ),
    ];
    let poison = [
        // 1: the poison pill and its relatives.
        r#""type":"fill","account":0,"instrument":1,"side":"buy","quantity":"1e25","price":"1e25","fee":"0","trade_id":11"#.to_string(),
        r#""type":"fill","account":0,"instrument":1,"side":"buy","quantity":"1","price":"0.0000000000000000000000000001","fee":"0","trade_id":12"#.to_string(),
        r#""type":"fill","account":0,"instrument":1,"side":"buy","quantity":"1","price":"65000","fee":"1e25","trade_id":13"#.to_string(),
        r#""type":"funding","instrument":1,"rate_per_contract":"1e25","funding_id":1"#.to_string(),
        r#""type":"index_price","underlying":0,"price":1e308"#.to_string(),
        // 12: finite but absurd marks.
        r#""type":"ticker","instrument":2,"mark_price":1.7976931348623157e308,"mark_iv":0.5,"forward":1.7976931348623157e308,"best_bid":0.0,"best_ask":0.0"#.to_string(),
        // 4: unchecked state changes.
        r#""type":"settlement","instrument":2,"price":"1""#.to_string(),
        r#""type":"collateral","account":0,"currency":0,"amount":"-1000","transfer_id":2"#.to_string(),
        r#""type":"instrument_defined","id":3,"name":"BTC-PERPETUAL","kind":"perpetual","settlement":"inverse","underlying":0,"expiry_ns":0,"strike":"0","right":"call","contract_size":"10""#.to_string(),
    ];
    for (i, body) in poison.iter().enumerate() {
        lines.push(format!(r#"{{"timestamp_ns":{},{body}}}"#, t(10 + i as u64)));
    }
    // 2: clock poisoning, and a timestamp from 1970.
    lines.push(format!(
        r#"{{"timestamp_ns":{},"type":"index_price","underlying":0,"price":65000.0}}"#,
        u64::MAX - 1
    ));
    lines.push(
        r#"{"timestamp_ns":5,"type":"index_price","underlying":0,"price":65000.0}"#.to_string(),
    );
    // 4: a misspelled field is refused (not defaulted).
    lines.push(format!(r#"{{"timestamp_ns":{},"type":"account_defined","id":1,"name":"desk-b","margn_model":"standard"}}"#, t(30)));
    lines.join("\n") + "\n"
}

#[test]
fn poison_inputs_are_counted_rejections_and_the_journal_replays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("poison.jsonl");
    // 3: a byte-order mark must not lose the first definition.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(poison_input().as_bytes());
    std::fs::write(&input, bytes).expect("input");
    let config = config(tmp.path());
    let report = run_json(&config, &input);
    let rejected = &report["rejected"];
    for (reason, at_least) in [
        ("out_of_bounds", 6),
        ("settlement_before_expiry", 1),
        ("insufficient_collateral", 1),
        ("duplicate_name", 1),
        ("timestamp_out_of_range", 2),
    ] {
        assert!(
            rejected[reason].as_u64().unwrap_or(0) >= at_least,
            "{reason}: {rejected}"
        );
    }
    assert_eq!(report["input_lines_rejected"], 1, "the misspelled field");
    let account = &report["accounts"][0];
    let btc = &account["margin"][0];
    assert_eq!(btc["currency"], "BTC");
    let equity = btc["equity"].as_f64().expect("equity");
    assert!(
        (4.9..5.0).contains(&equity),
        "5 BTC less the premium: {equity}"
    );
    // 2: the model clock did not jump: the option still has time value and vega.
    let vega = account["underlyings"][0]["vega_usd_per_vol_point"]
        .as_f64()
        .expect("vega");
    assert!(vega > 1.0, "vega {vega}");
    // The journal of all that replays to the same state.
    let journal = tmp.path().join("journal");
    let replayed = keel(&["replay", journal.to_str().expect("utf-8"), "--json"]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replayed: Value = serde_json::from_slice(&replayed.stdout).expect("JSON");
    assert_eq!(replayed["state_hash"], report["state_hash"]);
    // 5: the gateway restarts and resends everything: nothing is counted twice.
    let again = run_json(&config, &input);
    let equity_again = again["accounts"][0]["margin"][0]["equity"]
        .as_f64()
        .expect("equity");
    assert!(
        (equity_again - equity).abs() < 1e-12,
        "{equity} then {equity_again}"
    );
    assert_eq!(
        again["rejected"]["duplicate_transfer_id"], 1,
        "{}",
        again["rejected"]
    );
    assert_eq!(
        again["rejected"]["duplicate_trade_id"], 1,
        "{}",
        again["rejected"]
    );
}

#[test]
fn a_journal_of_another_writer_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo_dir = tmp.path().join("journal");
    let demo = keel(&[
        "demo",
        "--data-dir",
        demo_dir.to_str().expect("utf-8"),
        "--events",
        "2000",
        "--json",
    ]);
    assert!(demo.status.success());
    let config = config(tmp.path()); // data_dir = the demo's journal
    let output = keel(&[
        "run",
        "--config",
        config.to_str().expect("utf-8"),
        "--input",
        "/dev/null",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("demo"), "{stderr}");
    // And the other way round.
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).expect("dir");
    std::fs::write(run_dir.join("keel-writer.json"), r#"{"writer":"run"}"#).expect("claim");
    let output = keel(&["demo", "--data-dir", run_dir.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

#[test]
fn cli_traps_are_one_line_and_non_zero() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path());
    let config_text = config.to_str().expect("utf-8");
    // 17: a directory as input.
    let output = keel(&["run", "--config", config_text, "--input", "/tmp"]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
    // 17: every line rejected.
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "not an event\n{\"type\":\"fill\"}\n").expect("input");
    let output = keel(&[
        "run",
        "--config",
        config_text,
        "--input",
        bad.to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success(), "an input with no valid event");
    // 17: absurd sizes.
    let output = keel(&[
        "demo",
        "--accounts",
        "4000000000",
        "--data-dir",
        tmp.path().join("d").to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
    let huge_ring = tmp.path().join("ring.toml");
    std::fs::write(&huge_ring, "ring_size = 1099511627776\n").expect("config");
    let output = keel(&[
        "run",
        "--config",
        huge_ring.to_str().expect("utf-8"),
        "--input",
        "/dev/null",
    ]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

/// Issue 10, finding 5 and the feeder protocol: a run stopped part-way and restarted with
/// `--resume` on the same input skips what the journal holds; the result equals one run
/// over the whole input, with no duplicate even offered to the engine.
#[test]
fn resume_continues_a_feed_without_double_counting() {
    use keel_feeds::{SyntheticConfig, SyntheticMarket};
    let tmp = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = SyntheticMarket::new(SyntheticConfig::default())
        .take(12_000)
        .filter_map(|event| serde_json::to_string(&event).ok())
        .filter(|line| keel_feeds::keel_json::decode_line(line).is_ok())
        .collect();
    let full = tmp.path().join("full.jsonl");
    let part = tmp.path().join("part.jsonl");
    std::fs::write(&full, lines.join("\n") + "\n").expect("input");
    std::fs::write(&part, lines[..6_000].join("\n") + "\n").expect("input");
    let whole_dir = tmp.path().join("whole");
    std::fs::create_dir_all(&whole_dir).expect("dir");
    let whole = run_json(&config(&whole_dir), &full);
    let resumed_dir = tmp.path().join("resumed");
    std::fs::create_dir_all(&resumed_dir).expect("dir");
    let resumed_config = config(&resumed_dir);
    run_json(&resumed_config, &part);
    let output = keel(&[
        "run",
        "--config",
        resumed_config.to_str().expect("utf-8"),
        "--input",
        full.to_str().expect("utf-8"),
        "--resume",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(resumed["input_position"]["resumed_after_line"], 6_000);
    assert_eq!(resumed["input_position"]["lines_read"], lines.len());
    assert_eq!(
        resumed["rejected"]["duplicate_trade_id"],
        whole["rejected"]["duplicate_trade_id"]
    );
    let accounts = whole["accounts"].as_array().expect("accounts");
    assert!(!accounts.is_empty());
    for (a, b) in accounts
        .iter()
        .zip(resumed["accounts"].as_array().expect("accounts"))
    {
        for (ma, mb) in a["margin"]
            .as_array()
            .expect("margin")
            .iter()
            .zip(b["margin"].as_array().expect("margin"))
        {
            let (x, y) = (
                ma["equity"].as_f64().expect("equity"),
                mb["equity"].as_f64().expect("equity"),
            );
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                "account {}: {x} vs {y}",
                a["account"]
            );
        }
    }
}

/// The poison inputs in a long feed, `kill -9` part-way: the journal replays (no panic),
/// a resumed run finishes the input, and the journal then replays to that run's hash.
#[test]
fn a_poisoned_feed_killed_and_resumed_replays_to_the_same_hash() {
    use keel_feeds::{SyntheticConfig, SyntheticMarket};
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = poison_input();
    let synthetic: Vec<String> = SyntheticMarket::new(SyntheticConfig::default())
        .take(60_000)
        .filter_map(|event| serde_json::to_string(&event).ok())
        .filter(|line| keel_feeds::keel_json::decode_line(line).is_ok())
        .collect();
    text.push_str(&(synthetic.join("\n") + "\n"));
    let total_lines = text.lines().count() as u64;
    let input = tmp.path().join("feed.jsonl");
    std::fs::write(&input, &text).expect("input");
    let config = config(tmp.path());
    let args = [
        "run",
        "--config",
        config.to_str().expect("utf-8"),
        "--input",
        input.to_str().expect("utf-8"),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("keel run starts");
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let journal = tmp.path().join("journal");
    let journal_text = journal.to_str().expect("utf-8");
    if journal.join("00000000.seg").exists() {
        let replayed = keel(&["replay", journal_text, "--json"]);
        assert!(
            replayed.status.success(),
            "replay after kill -9: {}",
            String::from_utf8_lossy(&replayed.stderr)
        );
    }
    let output = keel(&[
        args[0], args[1], args[2], args[3], args[4], "--resume", "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(resumed["input_position"]["lines_read"], total_lines);
    let replayed = keel(&["replay", journal_text, "--json", "--no-snapshots"]);
    assert!(replayed.status.success());
    let replayed: Value = serde_json::from_slice(&replayed.stdout).expect("JSON");
    assert_eq!(replayed["state_hash"], resumed["state_hash"]);
}
