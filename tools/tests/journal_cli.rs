//! Pins the `keel journal` interface: inspect (table and JSON), verify (head seal when
//! clean; one line naming file and offset, non-zero exit, when damaged), dump (lines and
//! JSON lines, --from/--limit).

use std::path::Path;

use keel_journal::{Durability, JournalConfig, JournalWriter};

mod common;
use common::keel;

fn make_journal(dir: &Path, records: u64) {
    let config = JournalConfig {
        segment_size_bytes: 64 * 1024,
        durability: Durability::None,
        ..JournalConfig::default()
    };
    let (mut writer, _) = JournalWriter::open(dir, config).expect("open");
    for seq in 1..=records {
        writer
            .append(7, seq * 10, &seq.to_le_bytes().repeat(20))
            .expect("append");
    }
    writer.close().expect("close");
}

#[test]
fn inspect_verify_and_dump_a_clean_journal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_journal(tmp.path(), 1_500);
    let dir = tmp.path().to_str().expect("utf-8");

    let inspect = keel(&["journal", "inspect", dir, "--json"]);
    assert!(inspect.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("JSON");
    assert_eq!(summary["records"], 1_500);
    assert_eq!(summary["last_seq"], 1_500);
    let segments = summary["segments"].as_array().expect("segments");
    assert!(segments.len() >= 3);
    assert_eq!(segments[0]["sealed"], true);
    assert_eq!(segments.last().expect("open segment")["sealed"], false);
    assert_eq!(segments[0]["durability"], "none");

    let table = keel(&["journal", "inspect", dir]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("1500 records"));

    let verify = keel(&["journal", "verify", dir]);
    assert!(verify.status.success());
    let text = String::from_utf8_lossy(&verify.stdout);
    let head_seal = summary["head_seal"].as_str().expect("head seal");
    assert!(text.contains(head_seal), "{text}");

    let dump = keel(&["journal", "dump", dir, "--from", "1499", "--limit", "5"]);
    let lines: Vec<String> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2);
    // These payloads are not engine events: shown in hex, with the reason.
    assert!(lines[0].starts_with("seq=1499 timestamp_ns=14990 kind=funding len=160 payload="));
    let json_dump = keel(&[
        "journal", "dump", dir, "--from", "10", "--limit", "1", "--json",
    ]);
    let line: serde_json::Value = serde_json::from_slice(&json_dump.stdout).expect("JSON line");
    assert_eq!(line["seq"], 10);
    assert_eq!(line["payload_hex"].as_str().expect("hex").len(), 320);
    assert!(line["decode_error"].is_string());
}

#[test]
fn dump_decodes_engine_events() {
    use keel_engine::events::{AccountId, InstrumentId, UnderlyingId};
    use keel_engine::events::{Dec, Event, EventBody, EventEncoder, Fill, IndexPrice, Side};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = JournalWriter::open(tmp.path(), JournalConfig::default()).expect("open");
    let mut encoder = EventEncoder::default();
    let events = [
        Event {
            timestamp_ns: 5,
            body: EventBody::IndexPrice(IndexPrice {
                underlying: UnderlyingId(0),
                price: 60_000.5,
            }),
        },
        Event {
            timestamp_ns: 6,
            body: EventBody::Fill(Fill {
                account: AccountId(1),
                instrument: InstrumentId(2),
                side: Side::Buy,
                quantity: Dec::new(rust_decimal::Decimal::new(15, 1)),
                price: Dec::new(rust_decimal::Decimal::new(2170, 4)),
                fee: Dec::ZERO,
                trade_id: 99,
            }),
        },
    ];
    for event in &events {
        let (kind, payload) = encoder.encode(event).expect("encode");
        writer
            .append(kind, event.timestamp_ns, payload)
            .expect("append");
    }
    writer.close().expect("close");
    let dir = tmp.path().to_str().expect("utf-8");
    let text = keel(&["journal", "dump", dir]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("kind=index_price") && text.contains("price: 60000.5"),
        "{text}"
    );
    let json = keel(&["journal", "dump", dir, "--from", "2", "--json"]);
    let line: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(line["kind_name"], "fill");
    assert_eq!(line["event"]["type"], "fill");
    assert_eq!(line["event"]["quantity"], "1.5");
    assert_eq!(line["event"]["price"], "0.2170");
    assert_eq!(line["event"]["trade_id"], 99);
}

#[test]
fn verify_names_file_and_offset_of_damage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_journal(tmp.path(), 1_000);
    let segment = tmp.path().join("00000000.seg");
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[5_000] ^= 0x40;
    std::fs::write(&segment, bytes).expect("damage");
    let verify = keel(&["journal", "verify", tmp.path().to_str().expect("utf-8")]);
    assert!(!verify.status.success());
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("00000000.seg") && stderr.contains("at byte"),
        "{stderr}"
    );
}

#[test]
fn missing_or_empty_directories_fail_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["journal", "verify", "/no/such/journal"],
        vec!["journal", "inspect", tmp.path().to_str().expect("utf-8")],
        vec!["journal", "dump", tmp.path().to_str().expect("utf-8")],
    ] {
        let output = keel(&args);
        assert!(!output.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).lines().count(),
            1,
            "{args:?}"
        );
    }
}
