//! `keel margin --portfolio FILE`: the contract scripts rely on.

use serde_json::Value;

mod common;
use common::keel;

const PORTFOLIO: &str = r#"{
  "model_params": {"general": {"timestamp": 1718619740501}},
  "portfolio": {"position": {"BTC-PERPETUAL": 0.5, "BTC-28JUN24-70000-C": -2}},
  "index_price": {"btc_usd": 65666.19},
  "ticker": {"BTC-28JUN24-70000-C": {"mark_iv": 48.5, "underlying_price": 65800.0}},
  "mmp_margin": 0.01
}"#;

#[test]
fn a_portfolio_gets_deribit_s_breakdown_and_bad_files_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("book.json");
    // An incomplete model_params is refused, naming the missing key.
    std::fs::write(&path, PORTFOLIO).expect("write");
    let path_text = path.to_str().expect("utf-8");
    let refused = keel(&["margin", "--portfolio", path_text]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("missing /model_params/"), "{stderr}");

    // Without model_params: Keel's built-in BTC parameters; needs a timestamp.
    let mut book: Value = serde_json::from_str(PORTFOLIO).expect("JSON");
    book.as_object_mut().unwrap().remove("model_params");
    book["timestamp"] = Value::from(1_718_619_740_501i64);
    std::fs::write(&path, book.to_string()).expect("write");
    let output = keel(&["margin", "--portfolio", path_text, "--json", "--verbose"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let case = &report["portfolio"];
    let im = case["initial_margin"].as_f64().expect("im");
    let mm = case["maintenance_margin"].as_f64().expect("mm");
    let details = &case["initial_margin_details"];
    let rmm = details["risk_matrix_margin"].as_f64().expect("rmm");
    assert!((im - (rmm + 0.01)).abs() < 1e-12, "IM = RMM + MMP margin");
    assert!((mm - 0.8 * rmm).abs() < 1e-12, "MM = 0.8 RMM");
    assert!(rmm > 0.0);
    assert_eq!(
        case["initial_risk_vectors"]["BTC-28JUN24-70000-C"]["standard"]
            .as_array()
            .unwrap()
            .len(),
        27
    );
    assert_eq!(
        case["aggregated_risk_vector"]["extended"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    for bad in [
        "{",
        r#"{"portfolio": {"position": {"NOPE": 1}}}"#,
        r#"{"portfolio": {"position": {"BTC-PERPETUAL": "x"}}}"#,
    ] {
        std::fs::write(&path, bad).expect("write");
        let output = keel(&["margin", "--portfolio", path_text]);
        assert!(!output.status.success(), "{bad}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).lines().count(),
            1,
            "{bad}"
        );
    }
    let missing = keel(&["margin", "--portfolio", "/nonexistent/book.json"]);
    assert!(!missing.status.success());
}
