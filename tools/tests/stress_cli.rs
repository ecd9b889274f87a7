//! `keel stress`: the built-in library, a TOML file and inline shocks on a demo journal;
//! rows carry the documented fields; bad scenarios are one-line errors.

use serde_json::Value;

mod common;
use common::keel;

fn rows(args: &[&str]) -> Vec<Value> {
    let output = keel(args);
    assert!(
        output.status.success(),
        "keel {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    value.as_array().expect("a list of rows").clone()
}

#[test]
fn stress_runs_builtin_file_and_inline_scenarios() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::demo_journal(dir.path(), 20_000);
    let journal = journal.as_str();

    let builtin = rows(&["stress", "--journal", journal, "--json"]);
    assert_eq!(builtin.len(), (5 + 16 + 8) * 8, "29 scenarios × 8 accounts");
    for row in &builtin {
        for field in [
            "scenario",
            "account",
            "pnl_usd",
            "equity_after",
            "im_after",
            "mm_after",
        ] {
            assert!(!row[field].is_null(), "{field} in {row}");
        }
        assert!(row["liquidated"].is_boolean());
        // Equity after = equity before + PnL, per currency.
        for c in row["currencies"].as_array().expect("currencies") {
            let (before, pnl, after) = (
                c["equity_before"].as_f64().unwrap(),
                c["pnl"].as_f64().unwrap(),
                c["equity_after"].as_f64().unwrap(),
            );
            assert!((before + pnl - after).abs() <= 1e-9 * after.abs().max(1.0));
        }
    }
    // A crash loses money for some account; an unmoved scenario loses nothing.
    assert!(builtin.iter().any(|r| r["pnl_usd"].as_f64().unwrap() < 0.0));

    let file = dir.path().join("scenarios.toml");
    std::fs::write(
        &file,
        r#"
[[scenario]]
name = "nothing moves"
[[scenario.shock]]
underlying = "*"

[[scenario]]
name = "BTC -30 % with ETH -40 %, vols up, one day"
time_step_hours = 24
[[scenario.shock]]
underlying = "BTC"
spot_move_pct = -30
vol_points = 30
vol_reference_days = 7
vol_tenor_power = 0.5
[[scenario.shock]]
underlying = "ETH"
spot_move_pct = -40
vol_relative_pct = 50
"#,
    )
    .expect("write");
    let from_file = rows(&[
        "stress",
        "--journal",
        journal,
        "--scenarios",
        file.to_str().unwrap(),
        "--account",
        "account-1",
        "--json",
    ]);
    assert_eq!(from_file.len(), 2);
    assert_eq!(
        from_file[0]["pnl_usd"].as_f64(),
        Some(0.0),
        "{}",
        from_file[0]
    );
    assert_eq!(from_file[1]["account"], "account-1");

    let inline = rows(&[
        "stress",
        "--journal",
        journal,
        "--shock",
        "BTC:spot=-30%,vol=+30,ref=7,power=0.5;ETH:spot=-40%,vol=50%,time=24h",
        "--account",
        "account-1",
        "--json",
    ]);
    assert_eq!(inline.len(), 1);
    let relative =
        (inline[0]["pnl_usd"].as_f64().unwrap() - from_file[1]["pnl_usd"].as_f64().unwrap()).abs()
            / from_file[1]["pnl_usd"].as_f64().unwrap().abs().max(1.0);
    assert!(relative < 1e-12, "inline and file give the same scenario");

    // The same inline scenario with vols on the surface (sticky moneyness, calendar
    // floor): the flag and the inline key are the same setting, and it changes the PnL.
    let on_surface = |extra: &[&str], shock: &str| {
        let mut args = vec![
            "stress",
            "--journal",
            journal,
            "--shock",
            shock,
            "--account",
            "account-1",
            "--json",
        ];
        args.extend_from_slice(extra);
        rows(&args)[0]["pnl_usd"].as_f64().expect("pnl")
    };
    let shock = "BTC:spot=-30%,vol=+30,ref=7,power=0.5;ETH:spot=-40%,vol=50%,time=24h";
    let by_flag = on_surface(&["--smile", "surface"], shock);
    let by_key = on_surface(&[], &format!("{shock},smile=surface"));
    assert_eq!(by_flag, by_key);
    let sticky = inline[0]["pnl_usd"].as_f64().expect("pnl");
    assert!(
        by_flag.is_finite() && by_flag != sticky,
        "{by_flag} vs {sticky}"
    );

    let table = keel(&["stress", "--journal", journal, "--account", "account-2"]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("historical: 2022-11-08/09 ftx collapse"),
        "{text}"
    );
}

#[test]
fn bad_scenarios_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::demo_journal(dir.path(), 2_000);
    let journal = journal.as_str();
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, "[[scenario]]\nname = \"x\"\nspot = 3\n").expect("write");
    for args in [
        vec!["stress", "--journal", journal, "--shock", "DOGE:spot=-10%"],
        vec!["stress", "--journal", journal, "--shock", "BTC:spot=-150%"],
        vec!["stress", "--journal", journal, "--shock", "BTC:moon=1"],
        vec!["stress", "--journal", journal, "--smile", "sticky-delta"],
        vec!["stress", "--journal", journal, "--shock", "BTC:smile=flat"],
        vec![
            "stress",
            "--journal",
            journal,
            "--scenarios",
            bad_file.to_str().unwrap(),
        ],
        vec![
            "stress",
            "--journal",
            journal,
            "--scenarios",
            "/nonexistent.toml",
        ],
    ] {
        let output = keel(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
