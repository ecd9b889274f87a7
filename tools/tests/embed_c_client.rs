//! The C side of embedding (docs/EMBEDDING.md): `include/keel.h` is generated from the
//! Rust layout and current; the C example, built here with the system `cc`, attaches to a
//! running `keel run`, asks a what-if, pushes a fill, and reads a snapshot — the answer
//! equals what applying the fill gives, the snapshot equals the report, and the journal
//! replays to the run's state hash. `keel what-if` answers the same question by name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_engine::events::Event;
use keel_engine::state::ShardState;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use std::mem::offset_of;
use std::sync::atomic::Ordering;

use keel_runtime::embed::region::Region;
use keel_runtime::embed::wire::{CLIENTS_MAX, ClientArea, ClientControl};
use keel_runtime::embed::{Client, EmbedConfig, EmbedServer, client_path};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `include/keel.h` and the layout section of docs/EMBEDDING.md are the Rust layout;
/// `KEEL_UPDATE_HEADER=1` rewrites both.
#[test]
fn keel_h_and_the_layout_doc_are_generated_from_the_rust_layout() {
    let update = std::env::var_os("KEEL_UPDATE_HEADER").is_some();
    let header = repo().join("include/keel.h");
    let generated = keel_runtime::embed::wire::c_header();
    if update {
        std::fs::write(&header, &generated).expect("header written");
    }
    let committed = std::fs::read_to_string(&header).expect("include/keel.h exists");
    assert!(
        committed == generated,
        "include/keel.h is not the layout in runtime/src/embed/wire.rs; rerun with KEEL_UPDATE_HEADER=1"
    );

    let doc = repo().join("docs/EMBEDDING.md");
    let text = std::fs::read_to_string(&doc).expect("docs/EMBEDDING.md exists");
    let (begin, end) = ("<!-- layout:begin -->\n", "<!-- layout:end -->");
    let start = text.find(begin).expect("layout begin marker") + begin.len();
    let stop = text.find(end).expect("layout end marker");
    let tables = keel_runtime::embed::wire::markdown_layout();
    if update {
        let rewritten = format!("{}{tables}{}", &text[..start], &text[stop..]);
        std::fs::write(&doc, rewritten).expect("doc written");
    } else {
        assert!(
            text[start..stop] == tables,
            "docs/EMBEDDING.md's layout is not runtime/src/embed/wire.rs's; rerun with KEEL_UPDATE_HEADER=1"
        );
    }
}

/// JSON lines of a synthetic market (the events that survive a JSON round trip).
fn market(count: usize) -> Vec<Event> {
    SyntheticMarket::new(SyntheticConfig {
        seed: 21,
        accounts: 3,
        bad_event_rate: 0.0,
        ..SyntheticConfig::default()
    })
    .take(count)
    .filter(|event| {
        let text = serde_json::to_string(event).expect("serialize");
        serde_json::from_str::<Event>(&text).is_ok_and(|back| back == *event)
    })
    .collect()
}

/// The in-process sizing (buy, lots of 0.1) on the state after `events`.
fn expected_sizing(
    events: &[Event],
    account: u32,
    instrument: u32,
) -> keel_engine::state::sizing::Sizing {
    let mut state = ShardState::new(0, 1);
    for (offset, event) in events.iter().enumerate() {
        state.step(offset as u64 + 1, event);
    }
    state.finish_batch();
    let query = keel_engine::state::sizing::SizingQuery {
        account: keel_engine::events::AccountId(account),
        instrument: keel_engine::events::InstrumentId(instrument),
        side: keel_engine::events::Side::Buy,
        lot: rust_decimal::Decimal::new(1, 1),
        stress: None,
    };
    state
        .max_quantity(&query, &mut Default::default())
        .expect("sizes")
}

/// An account and a marked option it does not hold, from the state after `events`.
fn target(events: &[Event]) -> (u32, String, u32, String, f64) {
    let mut state = ShardState::new(0, 1);
    for (offset, event) in events.iter().enumerate() {
        state.step(offset as u64 + 1, event);
    }
    state.finish_batch();
    let target = keel_tests::what_if_target(&state);
    (
        target.account,
        target.account_name,
        target.instrument,
        target.instrument_name,
        target.mark_price,
    )
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn numbers(value: &Value, fields: &[&str]) -> Vec<f64> {
    fields
        .iter()
        .map(|f| {
            value[*f]
                .as_f64()
                .unwrap_or_else(|| panic!("{f} in {value}"))
        })
        .collect()
}

/// Builds the C example into `dir`; `None` (after one line) where there is no `cc`.
fn build_c_client(dir: &Path) -> Option<PathBuf> {
    if Command::new("cc").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have a C compiler (cc)"
        );
        eprintln!("skipped: no C compiler (cc) on this machine");
        return None;
    }
    let binary = dir.join("keel_client");
    let built = Command::new("cc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo().join("include"))
        .arg(repo().join("examples/c/keel_client.c"))
        .arg("-o")
        .arg(&binary)
        .output()
        .expect("cc runs");
    assert!(
        built.status.success(),
        "the C client does not build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some(binary)
}

/// A client process killed (SIGKILL) while it holds a slot: the kernel drops its lock,
/// and every slot can be attached again.
#[test]
fn a_killed_client_process_frees_its_slot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(binary) = build_c_client(tmp.path()) else {
        return;
    };
    let shm = tmp.path().join("shm");
    let _server = EmbedServer::start(&EmbedConfig {
        name: "crash".into(),
        dir: shm.clone(),
        accounts_max: 1024,
        clients_max: CLIENTS_MAX,
    })
    .expect("serves");
    // Account 999 is never published: the client attaches, then waits (holding its slot).
    let child = Command::new(&binary)
        .arg(&shm)
        .args(["crash", "999", "1", "1", "1", "1", "1"])
        .stderr(Stdio::null())
        .spawn()
        .expect("the C client starts");
    let mut child = Running(child);
    let pid = u64::from(child.0.id());
    let pid_word = offset_of!(ClientArea, control) / 8 + offset_of!(ClientControl, client_pid) / 8;
    let deadline = Instant::now() + Duration::from_secs(10);
    let held_slot = loop {
        let held = (0..CLIENTS_MAX).find(|slot| {
            Region::open(&client_path(&shm, "crash", *slot), false)
                .is_ok_and(|region| region.words()[pid_word].load(Ordering::Acquire) == pid)
        });
        if let Some(slot) = held {
            break slot;
        }
        assert!(Instant::now() < deadline, "the C client never attached");
        std::thread::sleep(Duration::from_millis(2));
    };
    // While it lives, its slot is taken.
    let others: Vec<Client> = (1..CLIENTS_MAX)
        .map(|_| Client::attach(&shm, "crash").expect("a free slot"))
        .collect();
    assert!(others.iter().all(|c| c.slot() != held_slot));
    assert!(Client::attach(&shm, "crash").is_err(), "all slots taken");
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");
    let reclaimed = Client::attach(&shm, "crash").expect("the dead client's slot");
    assert_eq!(reclaimed.slot(), held_slot);
}

#[test]
fn the_c_client_gets_an_answer_equal_to_the_fill_and_a_snapshot_equal_to_the_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(binary) = build_c_client(tmp.path()) else {
        return;
    };

    let events = market(3_000);
    let (account, account_name, instrument, instrument_name, mark) = target(&events);
    let input = tmp.path().join("events.jsonl");
    let mut file = std::fs::File::create(&input).expect("create");
    for event in &events {
        serde_json::to_writer(&mut file, event).expect("serialize");
        file.write_all(b"\n").expect("write");
    }
    drop(file);
    let shm = tmp.path().join("shm");
    let data = tmp.path().join("data");
    let config = tmp.path().join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nshards = 2\nwait = \"yield\"\n[embed]\nname = \"ctest\"\ndir = {:?}\naccounts_max = 16\n",
            data, shm
        ),
    )
    .expect("config");
    let engine = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["run", "--json", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keel run starts");
    let mut engine = Running(engine);

    // Ready once the whole input (and its end-of-input bookmark) is published.
    let deadline = Instant::now() + Duration::from_secs(30);
    let input_seq = events.len() as u64 + 1;
    loop {
        if let Ok(client) = Client::attach(&shm, "ctest") {
            if client.published_seq() >= input_seq {
                break;
            }
        }
        assert!(Instant::now() < deadline, "keel run never served its input");
        std::thread::sleep(Duration::from_millis(5));
    }

    // keel what-if, by names, at an explicit price: the same question as the C client's.
    let price = format!("{:.8}", mark);
    let price_e8 = (mark * 1e8).round() as i64;
    let names = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["what-if", "--engine", "ctest", "--json", "--shm-dir"])
        .arg(&shm)
        .args(["--account-id", &account.to_string()])
        .args([
            "--instrument",
            &instrument_name,
            "--side",
            "buy",
            "--quantity",
            "2.5",
        ])
        .args(["--price", &price])
        .output()
        .expect("keel what-if runs");
    assert!(
        names.status.success(),
        "{}",
        String::from_utf8_lossy(&names.stderr)
    );
    let cli: Value = serde_json::from_slice(&names.stdout).expect("JSON answer");

    // keel size over the same engine: the in-process answer on the same state.
    // The account by name, then by id (as `keel size --journal` takes either).
    let expected = expected_sizing(&events, account, instrument);
    for account_text in [account_name.clone(), account.to_string()] {
        let sized = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["size", "--engine", "ctest", "--json", "--shm-dir"])
            .arg(&shm)
            .args(["--account", &account_text, "--instrument", &instrument_name])
            .args(["--side", "buy", "--lot", "0.1"])
            .output()
            .expect("keel size runs");
        assert!(
            sized.status.success(),
            "{account_text}: {}",
            String::from_utf8_lossy(&sized.stderr)
        );
        let sized: Value = serde_json::from_slice(&sized.stdout).expect("JSON answer");
        assert_eq!(sized["max_quantity"], expected.max_quantity.to_string());
        assert_eq!(sized["binding"], expected.binding.name());
        assert_eq!(sized["as_of_seq"], input_seq);
    }

    let timestamp = events.last().expect("events").timestamp_ns + 1;
    let ran = Command::new(&binary)
        .arg(&shm)
        .args(["ctest", &account.to_string(), &instrument.to_string(), "25"])
        .args([
            price_e8.to_string(),
            "7000001".into(),
            timestamp.to_string(),
        ])
        .output()
        .expect("the C client runs");
    assert!(
        ran.status.success(),
        "C client: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let c: Value = serde_json::from_slice(&ran.stdout).expect("the C client prints JSON");

    terminate(&engine.0);
    let finished = std::mem::replace(
        &mut engine.0,
        Command::new("true").spawn().expect("placeholder"),
    )
    .wait_with_output()
    .expect("keel run ends");
    assert!(
        finished.status.success(),
        "keel run exits 0 on SIGTERM: {}",
        String::from_utf8_lossy(&finished.stderr)
    );
    let report: Value = serde_json::from_slice(&finished.stdout).expect("JSON report");

    // The what-if answer = the fill applied, bit for bit (%.17g and JSON round-trip f64).
    let margin_fields = ["equity", "im", "mm"];
    let answered = c["what_if"]["after"].as_array().expect("currencies");
    let published = c["snapshot"]["currencies"].as_array().expect("currencies");
    assert!(!published.is_empty());
    assert_eq!(answered.len(), published.len());
    for (a, p) in answered.iter().zip(published) {
        assert_eq!(a["currency"], p["currency"]);
        assert_eq!(numbers(a, &margin_fields), numbers(p, &margin_fields));
    }
    let greek_fields = [
        "delta_coin",
        "black_delta_coin",
        "gamma_coin_per_usd",
        "vega_usd_per_vol_point",
        "theta_usd_per_day",
    ];
    let answered = c["what_if"]["greeks_after"].as_array().expect("greeks");
    let published = c["snapshot"]["underlyings"].as_array().expect("greeks");
    assert_eq!(answered, published, "Greeks after = the what-if's");
    // keel what-if by name gave the same figures.
    let by_name = cli["after"].as_array().expect("currencies");
    for (n, p) in by_name
        .iter()
        .zip(c["what_if"]["after"].as_array().expect("currencies"))
    {
        assert_eq!(
            numbers(n, &["equity", "initial_margin", "maintenance_margin"]),
            numbers(p, &margin_fields)
        );
    }

    // The snapshot = the report's account, and the fill is in the journal.
    let account_row = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["account"] == account)
        .expect("the account in the report");
    let report_margin = account_row["margin"].as_array().expect("margin");
    let snapshot_margin = c["snapshot"]["currencies"].as_array().expect("currencies");
    assert_eq!(report_margin.len(), snapshot_margin.len());
    for (r, s) in report_margin.iter().zip(snapshot_margin) {
        assert_eq!(numbers(r, &margin_fields), numbers(s, &margin_fields));
    }
    let report_greeks = account_row["underlyings"].as_array().expect("greeks");
    for (r, s) in report_greeks.iter().zip(published) {
        assert_eq!(numbers(r, &greek_fields), numbers(s, &greek_fields));
    }
    assert_eq!(report["last_seq"], input_seq + 1);
    assert_eq!(c["snapshot"]["seq"], input_seq + 1);
    // keel what-if, keel size by name, by id (a refusal, then the answer), and the C
    // client's what-if and size query.
    assert_eq!(report["what_ifs_answered"], 6);
    // The C client's size answer: the same in-process sizing.
    let quantity = expected.max_quantity.normalize();
    assert_eq!(
        c["size"]["max_quantity_mantissa"],
        i64::try_from(quantity.mantissa()).expect("fits")
    );
    assert_eq!(c["size"]["max_quantity_scale"], quantity.scale());
    assert_eq!(c["size"]["lots"], expected.lots);
    let client_row = &report["embed"]["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .find(|row| row["events_journaled"] == 1)
        .expect("the C client's slot");
    assert_eq!(client_row["records_rejected"], 0);

    // The journal, with the client's fill in it, replays to the run's state hash.
    let replayed = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["replay", "--json", "--shards", "2"])
        .arg(&data)
        .output()
        .expect("keel replay runs");
    assert!(replayed.status.success());
    let replayed: Value = serde_json::from_slice(&replayed.stdout).expect("JSON");
    assert_eq!(replayed["state_hash"], report["state_hash"]);
}

/// `keel what-if` given a bad flag or no engine: one line on stderr, a failure.
#[test]
fn what_if_errors_are_one_line_and_a_failure() {
    let shm = tempfile::tempdir().expect("tempdir");
    let shm = shm.path().display().to_string();
    let base = [
        "what-if",
        "--engine",
        "nobody",
        "--shm-dir",
        &shm,
        "--account",
        "a",
    ];
    for extra in [
        vec!["--instrument", "X", "--side", "buy", "--quantity", "1"],
        vec!["--instrument", "X", "--side", "hold", "--quantity", "1"],
        vec!["--instrument", "X", "--side", "buy", "--quantity", "-1"],
        vec!["--instrument", "X", "--side", "buy", "--quantity", "one"],
        vec!["--side", "buy", "--quantity", "1"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(base)
            .args(&extra)
            .output()
            .expect("keel runs");
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{extra:?}: {stderr}");
    }
}
