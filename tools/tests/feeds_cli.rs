//! `keel run` on venue formats (docs/FEEDS.md): Deribit JSON-RPC from a file and from a
//! live websocket (a real server on 127.0.0.1 that drops the first connection), Tardis
//! CSV plain and gzip; instruments defined by name, skips and refusals reported.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use keel_feeds::deribit::session::{session, session_from};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::keel;

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("keel.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n{extra}\n[journal]\ndurability = \"none\"\nsegment_size_mib = 16\n",
            dir.join("data")
        ),
    )
    .expect("config");
    path
}

fn run_json(args: &[&str]) -> Value {
    let output = keel(args);
    assert!(
        output.status.success(),
        "keel {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON report")
}

/// `keel run --format FORMAT --input INPUT --json` on a configuration.
fn run_format(
    config: impl AsRef<Path>,
    format: &str,
    input: impl AsRef<Path>,
    extra: &[&str],
) -> Value {
    let config = config.as_ref().to_str().expect("utf-8");
    let input = input.as_ref().to_str().expect("utf-8");
    let mut args = vec![
        "run", "--config", config, "--format", format, "--input", input, "--json",
    ];
    args.extend_from_slice(extra);
    run_json(&args)
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut file = std::fs::File::create(path).expect("create");
    for line in lines {
        writeln!(file, "{line}").expect("write");
    }
}

#[test]
fn a_deribit_recording_defines_instruments_books_fills_and_names_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("session.jsonl");
    let mut lines = session(3, 4_000);
    lines.push("{not json".into());
    lines.push(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{}}}"#.into());
    write_lines(&input, &lines);
    let config = config(tmp.path(), "");
    let config = config.to_str().expect("utf-8");
    let input = input.to_str().expect("utf-8");
    let report = run_format(config, "deribit", input, &["--account", "desk-a"]);
    let feed = &report["feed"];
    assert_eq!(feed["format"], "deribit");
    assert_eq!(feed["lines"], 4_003);
    assert_eq!(feed["refused"]["malformed"], 1, "{feed}");
    assert_eq!(feed["skipped"]["unused_channel"], 1, "{feed}");
    assert_eq!(report["rejected"], serde_json::json!({}), "{report}");
    let account = &report["accounts"][0];
    assert_eq!(account["name"], "desk-a");
    // BTC's margin parameters came with its first instrument: margin is computed.
    assert_eq!(account["margin"][0]["complete"], true, "{account}");
    let positions = account["positions"].as_array().expect("positions");
    assert!(!positions.is_empty());
    assert!(
        positions.iter().all(|p| p["instrument_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("BTC-"))),
        "{positions:?}"
    );
    // Deribit's Greeks beside Keel's for the booked options: the session quotes plain
    // Black-76 Greeks, so the two agree to the quotes' rounding.
    let greeks = &report["venue"]["option_greeks"][0];
    let (keel_delta, venue_delta) = (
        greeks["keel_black_delta_coin"].as_f64().expect("number"),
        greeks["venue_delta_coin"].as_f64().expect("number"),
    );
    assert!(
        (keel_delta - venue_delta).abs() < 1e-2 * keel_delta.abs().max(1.0),
        "{greeks}"
    );
    // Continuing the journal with the same names defines nothing twice.
    let more = tmp.path().join("more.jsonl");
    // An hour later: the engine refuses marks older than the ones it holds.
    let later = keel_feeds::deribit::session::SESSION_START_MS + 3_600_000;
    write_lines(&more, &session_from(4, later, 500));
    let report = run_format(config, "deribit", &more, &["--account", "desk-a"]);
    assert_eq!(
        report["feed"]["skipped"]["known_definition"], 25,
        "{}",
        report["feed"]
    );
    assert_eq!(report["rejected"], serde_json::json!({}), "{report}");
}

#[test]
fn the_raw_deribit_messages_run_and_every_skip_is_reported() {
    let Some(data) = keel_tests::shared_data_dir("the_raw_deribit_messages_run") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path(), "");
    let input = data.join("deribit/tickers_raw.jsonl");
    let report = run_format(&config, "deribit", &input, &[]);
    let feed = &report["feed"];
    assert_eq!(feed["lines"], 12);
    assert_eq!(feed["skipped"]["closed_instrument"], 1, "{feed}");
    assert_eq!(feed["skipped"]["combo"], 3, "{feed}");
    // Public trades (2) and order books (2): Keel books its own fills, no order book.
    assert_eq!(feed["skipped"]["unused_channel"], 4, "{feed}");
    // The linear USDC option has no definition and its contract size is not in its name.
    assert_eq!(feed["refused"]["contract_size_unknown"], 1, "{feed}");
    // Three option tickers: definition, index and ticker each, and BTC's and ETH's
    // margin parameters. The messages span 2020-2024: the engine refuses those more than
    // a week after the clock (its clock rule), counted in `rejected`.
    assert_eq!(feed["events"], 11, "{feed}");
    assert!(
        report["rejected"]["timestamp_out_of_range"].as_u64() > Some(0),
        "{report}"
    );
}

fn tardis_chain(rows: usize) -> String {
    let mut text = String::from(
        "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n",
    );
    for i in 0..rows {
        let us = 1_767_600_000_000_000u64 + i as u64 * 1_000_000;
        let (symbol, kind, strike) = if i % 2 == 0 {
            ("BTC-27MAR26-90000-C", "call", 90_000)
        } else {
            ("BTC-27MAR26-90000-P", "put", 90_000)
        };
        text.push_str(&format!(
            "deribit,{symbol},{us},{},{kind},{strike},1774598400000000,10.5,0.07,0.069,5,0.49,0.071,5,0.51,0.0701,0.5,SYN.BTC-27MAR26,90500.5,0.52,0.00001,180.1,-40.2,60.1\n",
            us + 1_000
        ));
    }
    text.push_str("deribit,BTC-27MAR26-90000-C,1767600999000000,1767600999001000,call,90000,1774598400000000,10,,,,,,,,0.07,50,SYN.BTC-27MAR26,90500,,,,,\n");
    text.push_str("okex-options,BTC-USD-260327-90000-C,1767600999000000,1767600999001000,call,90000,1774598400000000,10,,,,,,,,0.07,0.5,BTC-USD,90500,,,,,\n");
    text
}

#[test]
fn tardis_options_chain_and_derivative_ticker_run_plain_and_gzip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path(), "");
    let config = config.to_str().expect("utf-8");
    let ticker = tmp.path().join("derivative_ticker.csv");
    let mut text = String::from(
        "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price\n",
    );
    for i in 0..100u64 {
        let us = 1_767_599_000_000_000u64 + i * 1_000_000;
        text.push_str(&format!(
            "deribit,BTC-PERPETUAL,{us},{us},,0.00001,,1000000,90400,{:.2},{:.2}\n",
            90_400.0 + i as f64,
            90_410.0 + i as f64
        ));
    }
    std::fs::write(&ticker, text).expect("write");
    let report = run_format(config, "tardis-derivative-ticker", &ticker, &[]);
    assert_eq!(report["feed"]["lines"], 100);
    assert_eq!(
        report["feed"]["events"], 202,
        "margin parameters, a definition, 100 indexes, 100 tickers"
    );
    assert_eq!(report["rejected"], serde_json::json!({}), "{report}");
    // The chain gzip-compressed, continuing the same journal.
    let chain = tmp.path().join("options_chain.csv.gz");
    let mut gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(&chain).expect("create"),
        flate2::Compression::fast(),
    );
    gzip.write_all(tardis_chain(50).as_bytes()).expect("write");
    gzip.finish().expect("gzip");
    let report = run_format(config, "tardis-options-chain", &chain, &[]);
    let feed = &report["feed"];
    assert_eq!(feed["lines"], 52);
    assert_eq!(feed["events"], 52, "two definitions, 50 tickers: {feed}");
    assert_eq!(feed["refused"]["mark_iv_wrong_unit"], 1, "{feed}");
    assert_eq!(feed["refused"]["unsupported_exchange"], 1, "{feed}");
    assert_eq!(report["rejected"], serde_json::json!({}), "{report}");
    // A header without a needed column refuses every row, never guesses.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "exchange,symbol\nderibit,BTC-PERPETUAL\n").expect("write");
    let output = keel(&[
        "run",
        "--config",
        config,
        "--format",
        "tardis-derivative-ticker",
        "--input",
        bad.to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tardis-derivative-ticker"), "{stderr}");
}

/// What the local venue saw.
#[derive(Debug, Default)]
struct Served {
    subscriptions: usize,
    messages_sent: usize,
}

/// A Deribit-like websocket server: answers requests (instruments from the recording),
/// sends the first `split` notifications and drops the connection without a close frame;
/// on the next connection sends the rest, then a heartbeat `test_request`, and reports
/// once the client has answered it (everything before was handed to the engine).
async fn venue(
    listener: tokio::net::TcpListener,
    messages: Vec<String>,
    split: usize,
    done: mpsc::Sender<Served>,
) {
    let mut served = Served::default();
    let (instruments, notifications) = messages.split_first().expect("messages");
    for connection in 0..2 {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut socket = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        // Requests until the subscription.
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let request: Value = serde_json::from_str(&text).expect("JSON-RPC request");
            let reply = match request["method"].as_str() {
                Some("public/get_instruments") => instruments.clone(),
                _ => format!(
                    r#"{{"jsonrpc":"2.0","id":{},"result":"ok"}}"#,
                    request["id"]
                ),
            };
            socket.send(Message::text(reply)).await.expect("reply");
            if request["method"] == "public/subscribe" {
                served.subscriptions += 1;
                break;
            }
        }
        let range = if connection == 0 {
            0..split
        } else {
            split..notifications.len()
        };
        for line in &notifications[range] {
            socket
                .send(Message::text(line.clone()))
                .await
                .expect("send");
            served.messages_sent += 1;
        }
        if connection == 0 {
            // Dropped: no close frame, as when a network path dies.
            drop(socket);
            continue;
        }
        let heartbeat =
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#;
        socket
            .send(Message::text(heartbeat))
            .await
            .expect("heartbeat");
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                if text.contains("public/test") {
                    break;
                }
            }
        }
        done.send(served).expect("report");
        // Keep the connection open until the client closes it on SIGTERM.
        while let Some(Ok(_)) = socket.next().await {}
        return;
    }
}

/// A child process killed if the test fails before it ends.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
        }
    }
}

#[test]
fn the_websocket_client_reconnects_and_journals_what_it_received() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let messages = session(11, 3_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (done, served) = mpsc::channel();
    let venue_messages = messages.clone();
    let server = std::thread::spawn(move || {
        runtime.block_on(venue(listener, venue_messages, 1_200, done));
    });
    let recording = tmp.path().join("recorded.jsonl");
    let config = config(
        tmp.path(),
        &format!(
            "[deribit_ws]\nchannels = [\"ticker.BTC-PERPETUAL.100ms\", \"deribit_price_index.btc_usd\"]\ninstrument_currencies = [\"BTC\"]\nreconnect_initial_ms = 50\nrecord_to = {recording:?}\n"
        ),
    );
    let url = format!("ws://127.0.0.1:{port}/ws/api/v2");
    let mut engine = Running(Some(
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["run", "--config", config.to_str().expect("utf-8")])
            .args(["--deribit-ws", &url, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keel run starts"),
    ));
    let pid = engine.0.as_ref().map_or(0, Child::id);
    let served = served
        .recv_timeout(Duration::from_secs(120))
        .expect("the venue served both connections");
    assert_eq!(served.subscriptions, 2, "subscribed again after the drop");
    assert_eq!(served.messages_sent, messages.len() - 1);
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let child = engine.0.take().expect("running");
    let output = child.wait_with_output().expect("keel run ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.join().expect("server");
    let live: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let ws = &live["websocket"];
    assert_eq!(ws["connections"], 2, "{ws}");
    assert_eq!(ws["heartbeats_answered"], 1, "{ws}");
    // Everything the venue sent, plus the replies to the client's requests.
    assert!(
        ws["messages"].as_u64().expect("count") >= messages.len() as u64 - 1,
        "{ws}"
    );
    assert_eq!(
        live["feed"]["refused"],
        serde_json::json!({}),
        "{}",
        live["feed"]
    );
    assert_eq!(live["rejected"], serde_json::json!({}), "{live}");
    // The recording replays to the same state: the live journal holds what was received.
    let replay_dir = tempfile::tempdir().expect("tempdir");
    let replay_config = self::config(replay_dir.path(), "");
    let replayed = run_format(&replay_config, "deribit", &recording, &[]);
    // The same messages decode to the same events. The states agree in every position
    // and Greek; their hashes differ only by journal layout (the file run journals
    // input-position bookmarks; the live run ends batches when the socket is idle).
    assert_eq!(replayed["feed"]["events"], live["feed"]["events"]);
    assert_eq!(replayed["feed"]["lines"], live["feed"]["lines"]);
    let (live_account, replayed_account) = (&live["accounts"][0], &replayed["accounts"][0]);
    assert_eq!(live_account["positions"], replayed_account["positions"]);
    assert!(
        !live_account["positions"]
            .as_array()
            .expect("positions")
            .is_empty()
    );
    for greek in [
        "delta_coin",
        "gamma_coin_per_usd",
        "vega_usd_per_vol_point",
        "theta_usd_per_day",
    ] {
        let a = live_account["underlyings"][0][greek]
            .as_f64()
            .expect("number");
        let b = replayed_account["underlyings"][0][greek]
            .as_f64()
            .expect("number");
        // Batches end at different events, so an option may be revalued a few seconds
        // apart in model time: 1e-5 of the value is ample (6 s of decay is ~3e-6).
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1.0),
            "{greek}: {a} vs {b}"
        );
    }
    // And the live journal replays to its own state.
    let journal = tmp.path().join("data");
    let replay = run_json(&[
        "replay",
        journal.to_str().expect("utf-8"),
        "--check",
        "--json",
    ]);
    assert_eq!(replay["state_hash"], live["state_hash"]);
}

#[test]
fn keel_import_turns_a_real_chain_into_a_replayable_journal() {
    let Some(data) = keel_tests::shared_data_dir("keel_import_deribit_chain") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let journal = tmp.path().join("imported");
    let journal = journal.to_str().expect("utf-8");
    let chain = data.join("deribit/deribit_options_snapshot_20260302T093957Z.csv");
    let chain = chain.to_str().expect("utf-8");
    let imported = run_json(&[
        "import",
        "deribit-chain",
        chain,
        "--journal",
        journal,
        "--json",
    ]);
    assert_eq!(
        imported["feed"]["refused"],
        serde_json::json!({}),
        "{}",
        imported["feed"]
    );
    assert_eq!(imported["rejected"], serde_json::json!({}), "{imported}");
    assert!(imported["feed"]["lines"].as_u64() > Some(1_500));
    let replayed = run_json(&["replay", journal, "--check", "--json"]);
    assert_eq!(replayed["state_hash"], imported["state_hash"]);
    // The same directory again: refused, nothing appended.
    let again = keel(&["import", "deribit-chain", chain, "--journal", journal]);
    assert!(!again.status.success());
    // Snapshots two months apart cannot share one journal: the engine's clock would
    // refuse the later one; refused before anything is written.
    let other = data.join("deribit/deribit_options_snapshot_20251230T173115Z.csv");
    let apart = tmp.path().join("apart");
    let output = keel(&[
        "import",
        "deribit-chain",
        chain,
        other.to_str().expect("utf-8"),
        "--journal",
        apart.to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("separate journals"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!apart.exists(), "nothing written");
}

#[test]
fn websocket_mode_refuses_bad_urls_and_conflicting_flags_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path(), "");
    let config = config.to_str().expect("utf-8");
    for args in [
        vec!["--deribit-ws", "not a url"],
        vec!["--deribit-ws", "https://www.deribit.com/api/v2"],
        vec![
            "--deribit-ws",
            "ws://127.0.0.1:1/x",
            "--input",
            "file.jsonl",
        ],
        vec![
            "--deribit-ws",
            "ws://127.0.0.1:1/x",
            "--format",
            "tardis-options-chain",
        ],
        vec!["--deribit-ws", "ws://127.0.0.1:1/x", "--resume"],
    ] {
        let mut all = vec!["run", "--config", config];
        all.extend_from_slice(&args);
        let output = keel(&all);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    assert!(
        !tmp.path().join("data").exists(),
        "refused before the journal opens"
    );
}
