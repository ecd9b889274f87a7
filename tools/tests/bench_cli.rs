//! Pins the `keel bench <…> --json` interface the benchmark docs and scripts read: each
//! subcommand prints one flat JSON object with its figures, its same-run baseline and the
//! ratio, every figure a positive finite number. Run at toy sizes: these check the
//! commands, not the speed (speed is measured by the commands themselves, in release).

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("keel runs");
    assert!(
        output.status.success(),
        "keel bench {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).expect("one JSON object")
}

fn assert_positive(figures: &Value, names: &[&str]) {
    for name in names {
        let value = figures[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing in {figures}"));
        assert!(value.is_finite() && value > 0.0, "{name} = {value}");
    }
}

#[test]
fn every_benchmark_prints_its_figures_baseline_and_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = |name: &str| dir.path().join(name).display().to_string();

    let apply = bench(&[
        "apply",
        "--warm-events",
        "3000",
        "--events",
        "2000",
        "--rounds",
        "1",
        "--baseline-events",
        "128",
    ]);
    assert_positive(
        &apply,
        &[
            "ns_per_event",
            "ns_per_event_all_held",
            "ns_per_event_index_heavy",
            "held_ticker_share",
            "baseline_ns_per_event",
            "ratio",
        ],
    );

    let tick = bench(&["tick"]);
    assert_positive(&tick, &["us_per_tick", "baseline_us_per_tick", "ratio"]);

    let pricing = bench(&["pricing"]);
    assert_positive(
        &pricing,
        &[
            "batch_price_ns_per_row",
            "scalar_greeks_ns",
            "one_option_batch_kernel_ns",
            "one_option_scalar_baseline_ns",
            "implied_vol_ns",
            "baseline_implied_vol_ns",
        ],
    );

    let replay = bench(&[
        "replay",
        "--events",
        "5000",
        "--rounds",
        "1",
        "--data-dir",
        &data("replay"),
    ]);
    assert_positive(&replay, &["events_per_s", "baseline_events_per_s", "ratio"]);

    let journal = bench(&[
        "journal",
        "--records",
        "5000",
        "--rounds",
        "1",
        "--data-dir",
        &data("journal"),
    ]);
    assert_positive(
        &journal,
        &[
            "append_records_per_s",
            "baseline_append_records_per_s",
            "scan_records_per_s",
        ],
    );

    // A yielding consumer: tests never add a second busy-spinning thread to the pacer.
    let pipeline = bench(&[
        "pipeline",
        "--rate",
        "20000",
        "--seconds",
        "0.2",
        "--warm-up-seconds",
        "0.1",
        "--wait",
        "yield",
        "--data-dir",
        &data("pipeline"),
    ]);
    assert_positive(
        &pipeline,
        &[
            "p50_ns",
            "p99_ns",
            "p999_ns",
            "baseline_p50_ns",
            "baseline_p99_ns",
            "achieved_eps",
        ],
    );

    let embed = bench(&[
        "embed",
        "--requests",
        "300",
        "--rate",
        "5000",
        "--events",
        "3000",
    ]);
    assert_positive(
        &embed,
        &[
            "p50_ns",
            "p99_ns",
            "p999_ns",
            "flat_out_p50_ns",
            "baseline_p50_ns",
            "baseline_p99_ns",
            "baseline_over_shm_p50",
            "snapshot_read_ns",
            "answer_compute_ns",
            "unheld_instrument_answer_compute_ns",
            "unheld_instrument_first_answer_compute_ns",
            "no_request_floor_p99_ns",
        ],
    );
    // The machine's core-to-core round trip needs two cores to measure.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        assert_positive(&embed, &["core_to_core_round_trip_ns"]);
    } else {
        assert!(embed.get("core_to_core_round_trip_ns").is_none());
    }
    assert_eq!(embed["what_ifs_answered_by_engine"], 900);

    let stress = bench(&["stress", "--scenarios", "2"]);
    assert_positive(
        &stress,
        &[
            "ms_per_100_scenarios",
            "baseline_ms_per_100_scenarios",
            "us_per_scenario",
            "ratio",
            "options",
            "scenarios",
        ],
    );
    assert_eq!(stress["scenarios"], 2);
    assert!(stress["agreement_gap_relative_max"].as_f64().expect("gap") <= 1e-9);
    let size = bench(&["size"]);
    assert_positive(
        &size,
        &[
            "us_per_query",
            "baseline_us_per_query",
            "ratio",
            "what_ifs_per_query",
            "queries",
        ],
    );
    let feeds = bench(&["feeds", "--lines", "200"]);
    for format in [
        "deribit",
        "keel",
        "tardis_options_chain",
        "tardis_derivative_ticker",
        "deribit_chain",
    ] {
        assert_positive(
            &feeds,
            &[
                &format!("{format}_ns_per_line"),
                &format!("{format}_lines_per_s"),
                &format!("{format}_baseline_ns_per_line"),
                &format!("{format}_ratio"),
            ]
            .map(|name| name.as_str()),
        );
    }
    assert_positive(
        &feeds,
        &[
            "deribit_fast_path_ns_per_line",
            "deribit_serde_path_ns_per_line",
            "deribit_fast_path_ratio",
        ],
    );
}

#[test]
fn a_bad_bench_flag_is_one_line_and_a_failure() {
    let output = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "apply", "--events", "0"])
        .output()
        .expect("keel runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
