//! `keel size` on a demo journal: the documented JSON fields, a quantity that is a whole
//! number of lots, a named binding constraint; bad flags are one-line errors.

use serde_json::Value;

mod common;
use common::keel;

#[test]
fn size_answers_with_the_binding_constraint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::demo_journal(dir.path(), 20_000);
    let journal = journal.as_str();

    let size = |extra: &[&str]| {
        let mut args = vec!["size", "--journal", journal, "--json"];
        args.extend_from_slice(extra);
        let output = keel(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON")
    };
    let answer = size(&[
        "--account",
        "account-2",
        "--instrument",
        "BTC-PERPETUAL",
        "--side",
        "sell",
    ]);
    let max: f64 = answer["max_quantity"]
        .as_str()
        .expect("a decimal string")
        .parse()
        .expect("a number");
    assert!(max > 0.0 && max.fract() == 0.0, "{answer}");
    assert_eq!(answer["binding"], "initial_margin", "{answer}");

    // A stress budget of 0 % beyond nothing: the crash already costs the book more.
    let budget = size(&[
        "--account",
        "account-2",
        "--instrument",
        "BTC-PERPETUAL",
        "--side",
        "buy",
        "--stress-shock",
        "BTC:spot=-30%",
        "--max-loss-pct",
        "0",
    ]);
    assert_eq!(budget["binding"], "stress_budget", "{budget}");
    assert_eq!(budget["max_quantity"], "0", "{budget}");

    for bad in [
        vec![
            "--account",
            "nobody",
            "--instrument",
            "BTC-PERPETUAL",
            "--side",
            "buy",
        ],
        vec![
            "--account",
            "account-2",
            "--instrument",
            "NOPE",
            "--side",
            "buy",
        ],
        vec![
            "--account",
            "account-2",
            "--instrument",
            "BTC-PERPETUAL",
            "--side",
            "up",
        ],
        vec![
            "--account",
            "account-2",
            "--instrument",
            "BTC-PERPETUAL",
            "--side",
            "buy",
            "--lot",
            "-1",
        ],
    ] {
        let mut args = vec!["size", "--journal", journal];
        args.extend_from_slice(&bad);
        let output = keel(&args);
        assert!(!output.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{bad:?}: {stderr}");
    }
    // Over an engine: the lot is required, the shock must move every underlying, and
    // an engine that is not there is one line (no engine runs in this test).
    let shm = dir.path().join("shm");
    std::fs::create_dir_all(&shm).expect("dir");
    let shm = shm.to_str().expect("utf-8");
    let engine = [
        "size",
        "--engine",
        "nosuch",
        "--shm-dir",
        shm,
        "--account",
        "account-2",
        "--instrument",
        "BTC-PERPETUAL",
        "--side",
        "buy",
    ];
    for (extra, says) in [
        (&[][..], "--lot is required"),
        (
            &[
                "--lot",
                "1",
                "--stress-shock",
                "BTC:spot=-30%",
                "--max-loss-pct",
                "5",
            ][..],
            "every underlying",
        ),
        (&["--lot", "1"][..], "no engine serves"),
    ] {
        let mut args = engine.to_vec();
        args.extend_from_slice(extra);
        let output = keel(&args);
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    let both = keel(&[
        "size",
        "--journal",
        journal,
        "--engine",
        "x",
        "--account",
        "a",
        "--instrument",
        "b",
        "--side",
        "buy",
    ]);
    assert!(!both.status.success());
}
