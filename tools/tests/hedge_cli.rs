//! `keel hedge` on a demo journal: the documented JSON fields, and the proposal's
//! promise (every band holds after the trades, initial margin too); an unknown account
//! is a one-line error.

use serde_json::Value;

mod common;
use common::keel;

#[test]
fn hedge_proposes_trades_with_greeks_and_margin_before_and_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::demo_journal(dir.path(), 30_000);
    let journal = journal.as_str();
    let mut traded = 0;
    for account in 0..8 {
        let name = format!("account-{account}");
        let output = keel(&["hedge", "--journal", journal, "--account", &name, "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let p: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        for trade in p["trades"].as_array().expect("trades") {
            assert!(trade["instrument"].is_string(), "{trade}");
            assert!(["buy", "sell"].contains(&trade["side"].as_str().expect("side")));
            let q: f64 = trade["quantity"]
                .as_str()
                .expect("decimal")
                .parse()
                .expect("number");
            assert!(q > 0.0, "{trade}");
            traded += 1;
        }
        for side in ["before", "after"] {
            assert!(
                p[side]["greeks"].as_array().is_some_and(|g| !g.is_empty()),
                "{p}"
            );
            for m in p[side]["margin"].as_array().expect("margin") {
                assert!(
                    m["im"].as_f64().is_some() && m["mm"].as_f64().is_some(),
                    "{m}"
                );
            }
        }
        assert_eq!(p["outside_after"], Value::Array(vec![]), "{p}");
        assert_eq!(p["breaches_initial_margin"], Value::Bool(false), "{p}");
    }
    assert!(traded > 0, "the demo leaves some band");
    let table = keel(&["hedge", "--journal", journal, "--account", "account-2"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("nothing is traded"));
    let bad = keel(&["hedge", "--journal", journal, "--account", "nobody"]);
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim().lines().count(),
        1
    );
}
