//! Pins `keel run`: JSON-lines events in (docs/EVENTS.md), the same state as applying the
//! same events in-process, bad lines counted and skipped, the configuration validated.

use std::io::Write;

use keel_engine::events::{Event, EventBody, InputPosition};
use keel_engine::state::ShardState;
use keel_engine::state::hash::combined_hash;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use serde_json::Value;

mod common;
use common::keel;

const EVENTS: usize = 20_000;

fn bookmark(timestamp_ns: u64, line: u64) -> Event {
    Event {
        timestamp_ns,
        body: EventBody::InputPosition(InputPosition { line }),
    }
}

#[test]
fn json_lines_reach_the_demo_state_and_bad_lines_are_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("events.jsonl");
    // JSON cannot carry NaN: keep the events that survive a JSON round trip (the
    // synthetic stream's NaN marks do not).
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig::default())
        .take(EVENTS)
        .filter(|event| {
            let text = serde_json::to_string(event).expect("serialize");
            serde_json::from_str::<Event>(&text).is_ok_and(|back| back == *event)
        })
        .collect();
    let mut file = std::fs::File::create(&input).expect("create");
    for (index, event) in events.iter().enumerate() {
        serde_json::to_writer(&mut file, event).expect("serialize");
        file.write_all(b"\n").expect("write");
        if index == 10 {
            file.write_all(b"this is not an event\n{\"type\":\"fill\"}\n")
                .expect("write");
        }
    }
    drop(file);
    // The expected state, computed here without the pipeline: same events, same batches,
    // and keel run's input-position bookmarks where the feeder protocol puts them (every
    // 4,096 input lines, counting the 2 bad ones, and at the end).
    let mut journaled = Vec::new();
    let mut marked = 0u64;
    for (index, event) in events.iter().enumerate() {
        let line = index as u64 + 1 + if index > 10 { 2 } else { 0 };
        journaled.push(*event);
        if line - marked >= 4_096 {
            marked = line;
            journaled.push(bookmark(event.timestamp_ns, line));
        }
    }
    let last_line = events.len() as u64 + 2;
    if last_line > marked {
        let last = events.last().expect("events").timestamp_ns;
        journaled.push(bookmark(last, last_line));
    }
    let mut expected = ShardState::new(0, 1);
    for (index, event) in journaled.iter().enumerate() {
        expected.step(index as u64 + 1, event);
    }
    expected.finish_batch();
    let config = tmp.path().join("keel.toml");
    let run_dir = tmp.path().join("run");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[journal]\ndurability = \"none\"\nsegment_size_mib = 16\n",
            run_dir
        ),
    )
    .expect("config");
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
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["input_lines_rejected"], 2);
    assert_eq!(report["last_seq"], journaled.len());
    let expected_hash = format!("{:032x}", combined_hash([&expected]));
    assert_eq!(
        report["state_hash"],
        expected_hash.as_str(),
        "the pipeline reaches the in-process state"
    );
}

#[test]
fn a_bad_configuration_is_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("keel.toml");
    for text in [
        "shards = 0\n",
        "[journal]\ndurability = \"sometimes\"\n",
        "colour = \"blue\"\n",
    ] {
        std::fs::write(&config, text).expect("config");
        let output = keel(&[
            "run",
            "--config",
            config.to_str().expect("utf-8"),
            "--input",
            "/dev/null",
        ]);
        assert!(!output.status.success(), "{text}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).lines().count(),
            1,
            "{text}"
        );
    }
    let missing = keel(&["run", "--config", "/no/such/keel.toml"]);
    assert!(!missing.status.success());
}
