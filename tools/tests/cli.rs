//! Pins the `keel price`, `keel iv` and `keel demo` interface that scripts rely on: JSON
//! keys, stdin line-for-line behaviour, one-line errors and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn keel(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keel runs");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("keel exits")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

const ATM_CALL: [&str; 11] = [
    "price",
    "--kind",
    "call",
    "--forward",
    "39165.86",
    "--strike",
    "40000",
    "--years",
    "0.8825",
    "--vol",
    "0.6086",
];

#[test]
fn price_prints_usd_greeks() {
    let output = keel(&ATM_CALL, None);
    assert!(output.status.success());
    let value = json(&output);
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for key in ["price", "delta", "gamma", "vega", "theta", "rho"] {
        assert!(value[key].is_f64(), "{key} missing");
    }
    assert!((value["delta"].as_f64().unwrap() - 0.59833).abs() < 5e-4);
}

#[test]
fn price_inverse_adds_coin_greeks() {
    let mut args = ATM_CALL.to_vec();
    args.push("--inverse");
    let value = json(&keel(&args, None));
    for key in [
        "price_coin",
        "delta_coin",
        "gamma_coin",
        "vega_coin",
        "theta_coin",
    ] {
        assert!(value[key].is_f64(), "{key} missing");
    }
    assert!((value["price_coin"].as_f64().unwrap() - 0.2169).abs() < 5e-4);
}

#[test]
fn price_stdin_answers_every_line_in_order_and_fails_on_bad_lines() {
    let input = concat!(
        r#"{"kind":"call","forward":100,"strike":100,"years":1,"vol":0.5}"#,
        "\n",
        "not json\n",
        r#"{"kind":"put","forward":-5,"strike":100,"years":1,"vol":0.5}"#,
        "\n",
        r#"{"kind":"put","forward":100,"strike":100,"years":1,"vol":0.5,"rate":0.01,"inverse":true}"#,
        "\n",
    );
    let output = keel(&["price", "--stdin"], Some(input));
    assert!(
        !output.status.success(),
        "a bad line makes the exit code non-zero"
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each output line is JSON"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["price"].is_f64());
    assert!(lines[1]["error"].as_str().unwrap().contains("line 2"));
    assert!(lines[2]["error"].as_str().unwrap().contains("forward"));
    assert!(lines[3]["price_coin"].is_f64());

    let good = keel(
        &["price", "--stdin"],
        Some(concat!(
            r#"{"kind":"call","forward":100,"strike":90,"years":0.5,"vol":0.4}"#,
            "\n"
        )),
    );
    assert!(good.status.success());
}

#[test]
fn iv_inverts_price_in_usd_and_coin() {
    let price = json(&keel(&ATM_CALL, None))["price"].as_f64().unwrap();
    let price_text = price.to_string();
    let args = [
        "iv",
        "--kind",
        "call",
        "--forward",
        "39165.86",
        "--strike",
        "40000",
        "--years",
        "0.8825",
        "--price",
        &price_text,
    ];
    let vol = json(&keel(&args, None))["vol"].as_f64().unwrap();
    assert!((vol - 0.6086).abs() < 1e-12);

    let coin_text = (price / 39165.86).to_string();
    let input = format!(
        "{{\"kind\":\"call\",\"forward\":39165.86,\"strike\":40000,\"years\":0.8825,\"price\":{coin_text},\"inverse\":true}}\n\
         {{\"kind\":\"call\",\"forward\":100,\"strike\":50,\"years\":1,\"price\":10}}\n"
    );
    let output = keel(&["iv", "--stdin"], Some(&input));
    assert!(!output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!((lines[0]["vol"].as_f64().unwrap() - 0.6086).abs() < 1e-11);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("below the intrinsic")
    );
}

#[test]
fn bad_flags_and_values_print_one_line_and_fail() {
    for args in [
        vec![
            "price",
            "--kind",
            "straddle",
            "--forward",
            "1",
            "--strike",
            "1",
            "--years",
            "1",
            "--vol",
            "1",
        ],
        vec![
            "price",
            "--kind",
            "call",
            "--forward",
            "-1",
            "--strike",
            "1",
            "--years",
            "1",
            "--vol",
            "1",
        ],
        vec![
            "price",
            "--kind",
            "call",
            "--forward",
            "abc",
            "--strike",
            "1",
            "--years",
            "1",
            "--vol",
            "1",
        ],
        vec![
            "iv",
            "--kind",
            "put",
            "--forward",
            "100",
            "--strike",
            "100",
            "--years",
            "1",
            "--price",
            "200",
        ],
    ] {
        let output = keel(&args, None);
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("error"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = keel(
        &[
            "price",
            "--kind",
            "call",
            "--forward",
            "-1",
            "--strike",
            "1",
            "--years",
            "1",
            "--vol",
            "1",
        ],
        None,
    );
    assert_eq!(String::from_utf8(output.stderr).unwrap().lines().count(), 1);
}
