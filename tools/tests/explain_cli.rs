//! `keel explain`: the attribution recomputed from a demo journal agrees with the
//! engine's incremental accrual on every account, its parts add up to the actual PnL,
//! windows add up, and bad points are one-line errors.

use serde_json::Value;

mod common;
use common::keel;

fn explain(journal: &str, extra: &[&str]) -> Value {
    let mut args = vec!["explain", "--journal", journal, "--json"];
    args.extend_from_slice(extra);
    let output = keel(&args);
    assert!(
        output.status.success(),
        "keel {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// The components `--json` prints, as the engine names them.
const COMPONENTS: [&str; 9] = keel_engine::attribution::COMPONENT_NAMES;

fn components_sum(account: &Value) -> f64 {
    COMPONENTS
        .iter()
        .map(|c| account["components_usd"][c].as_f64().expect(c))
        .sum()
}

fn gross(account: &Value) -> f64 {
    COMPONENTS
        .iter()
        .map(|c| account["components_usd"][c].as_f64().unwrap_or(0.0).abs())
        .sum::<f64>()
        .max(1.0)
}

#[test]
fn explain_agrees_with_the_engine_and_the_parts_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("demo");
    let journal = journal.to_str().expect("utf-8");
    let demo = keel(&["demo", "--events", "40000", "--data-dir", journal, "--json"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let whole = explain(journal, &[]);
    assert_eq!(whole["agrees"], true);
    let accounts = whole["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 8);
    for account in accounts {
        assert_eq!(account["agrees"], true, "{account}");
        let actual = account["actual_pnl_usd"].as_f64().expect("actual");
        let explained = components_sum(account);
        assert!(
            (actual - explained).abs() <= 1e-9 * gross(account),
            "{}: actual {actual} against components {explained}",
            account["name"]
        );
        // Every account traded and paid fees; markets moved.
        assert!(account["components_usd"]["fees"].as_f64().unwrap_or(0.0) < 0.0);
        assert!(account["components_usd"]["delta"].as_f64().unwrap_or(0.0) != 0.0);
        // The coin view per underlying is there too.
        assert!(
            !account["by_underlying"]
                .as_array()
                .expect("rows")
                .is_empty()
        );
    }

    // Two adjacent windows add up to the whole (split at a batch end).
    let first = explain(journal, &["--to", "19200"]);
    let second = explain(journal, &["--from", "19200"]);
    assert_eq!(first["to_seq"], 19200);
    assert_eq!(second["from_seq"], 19200);
    for (n, account) in accounts.iter().enumerate() {
        let parts = |v: &Value, c: &str| {
            v["accounts"][n]["components_usd"][c]
                .as_f64()
                .unwrap_or(0.0)
        };
        for c in COMPONENTS {
            let whole_part = account["components_usd"][c].as_f64().unwrap_or(0.0);
            let split = parts(&first, c) + parts(&second, c);
            assert!(
                (whole_part - split).abs() <= 1e-9 * gross(account),
                "{c}: {whole_part} against {split}"
            );
        }
    }

    // One account by name, and a window by time.
    let one = explain(
        journal,
        &["--account", "account-3", "--from", "2026-01-01T00:01:00Z"],
    );
    let rows = one["accounts"].as_array().expect("accounts");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "account-3");
    assert!(one["from_seq"].as_u64().expect("from") > 0);
}

#[test]
fn bad_points_and_accounts_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::demo_journal(dir.path(), 2_000);
    let journal = journal.as_str();
    for args in [
        vec!["explain", "--journal", journal, "--from", "yesterday"],
        vec!["explain", "--journal", journal, "--account", "nobody"],
        vec!["explain", "--journal", "/nonexistent/keel"],
    ] {
        let output = keel(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
