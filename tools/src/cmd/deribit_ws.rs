//! `keel run --deribit-ws URL`: a live Deribit feed over the websocket JSON-RPC API.
//!
//! On every connection the client asks for heartbeats, authenticates when credentials
//! are in the environment (`KEEL_DERIBIT_CLIENT_ID`, `KEEL_DERIBIT_CLIENT_SECRET`: never
//! in a config file), requests the instrument definitions of the configured currencies,
//! and subscribes to the configured channels. Every text message goes through the same
//! decoder as a recorded file (`--format deribit`), and its events go to the engine in
//! arrival order; optionally each message is also appended to a recording that
//! `keel run --format deribit --input` replays. A dropped connection is retried with
//! exponential back-off; the run ends on SIGINT/SIGTERM.
//!
//! The engine's channel is bounded: a full channel blocks this thread (back-pressure
//! reaches the socket, and the venue sees a slow reader), never drops a message.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use crossbeam::channel::Sender;
use futures_util::{SinkExt, StreamExt};
use keel_engine::events::Event;
use keel_feeds::deribit::jsonrpc::MESSAGE_BYTES_MAX;
use keel_feeds::feed::{Dropped, FeedDecoder};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The `[deribit_ws]` section of the run configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// Channels to subscribe to, e.g. "ticker.BTC-PERPETUAL.100ms".
    pub channels: Vec<String>,
    /// Currencies whose instrument definitions are requested on connect.
    pub instrument_currencies: Vec<String>,
    /// Seconds between the venue's heartbeats (Deribit's minimum is 10).
    pub heartbeat_interval_s: u32,
    /// First reconnect delay; doubles on every failure up to `reconnect_max_ms`.
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
    /// Append every message received to this file (a replayable recording).
    pub record_to: Option<std::path::PathBuf>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            channels: vec![
                "deribit_price_index.btc_usd".into(),
                "ticker.BTC-PERPETUAL.100ms".into(),
            ],
            instrument_currencies: vec!["BTC".into()],
            heartbeat_interval_s: 10,
            reconnect_initial_ms: 100,
            reconnect_max_ms: 10_000,
            record_to: None,
        }
    }
}

/// What the client did, shared with the main thread (atomics: no lock per message).
#[derive(Default)]
pub struct WsProgress {
    pub connections: AtomicU64,
    pub messages: AtomicU64,
    pub refused: AtomicU64,
    pub heartbeats_answered: AtomicU64,
}

/// A connection ended: by a stop, or by the network (then reconnect).
enum Ended {
    Stop,
    Dropped(String),
}

/// Refuses, before anything starts, a URL that is not a websocket address (`ws://` or
/// `wss://`, with a host): retrying it with back-off would never succeed.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let request = url
        .into_client_request()
        .map_err(|error| anyhow::anyhow!("--deribit-ws {url:?} is not a websocket URL: {error}"))?;
    let uri = request.uri();
    anyhow::ensure!(
        matches!(uri.scheme_str(), Some("ws" | "wss")) && uri.host().is_some(),
        "--deribit-ws {url:?} is not a websocket URL (ws://host/… or wss://host/…)"
    );
    Ok(())
}

/// Runs the client until `stop` is set; returns the decoder (its counts, its venue view).
pub fn run_client(
    url: &str,
    config: &WsConfig,
    mut decoder: Box<dyn FeedDecoder>,
    sender: Sender<Event>,
    stop: Arc<AtomicBool>,
    progress: Arc<WsProgress>,
) -> anyhow::Result<Box<dyn FeedDecoder>> {
    // One crypto provider for every TLS connection of the process (ring: no C toolchain
    // beyond what Rust needs, no system OpenSSL).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the websocket runtime")?;
    let mut recording = match &config.record_to {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        )),
        None => None,
    };
    let initial_ms = config.reconnect_initial_ms.max(1);
    let mut delay_ms = initial_ms;
    runtime.block_on(async {
        loop {
            if stop.load(Ordering::Acquire) {
                break;
            }
            let session = Session {
                config,
                decoder: decoder.as_mut(),
                sender: &sender,
                stop: &stop,
                progress: &progress,
                recording: recording.as_mut(),
            };
            let messages_before = progress.messages.load(Ordering::Relaxed);
            let ended = session.run(url).await;
            // A connection that delivered messages was a good one: back-off starts over.
            if progress.messages.load(Ordering::Relaxed) > messages_before {
                delay_ms = initial_ms;
            }
            match ended {
                Ended::Stop => break,
                Ended::Dropped(why) => {
                    tracing::warn!(%why, delay_ms, "websocket connection lost; reconnecting");
                }
            }
            // Back off, but wake for a stop.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                () = wait_for(&stop) => {}
            }
            delay_ms = (delay_ms * 2).min(config.reconnect_max_ms.max(1));
        }
    });
    if let Some(recording) = recording.as_mut() {
        recording.flush().context("writing the recording")?;
    }
    Ok(decoder)
}

struct Session<'a> {
    config: &'a WsConfig,
    decoder: &'a mut dyn FeedDecoder,
    sender: &'a Sender<Event>,
    stop: &'a AtomicBool,
    progress: &'a WsProgress,
    recording: Option<&'a mut std::io::BufWriter<std::fs::File>>,
}

/// The credentials from the environment, when both are set.
fn credentials() -> Option<(String, String)> {
    let id = std::env::var("KEEL_DERIBIT_CLIENT_ID").ok()?;
    let secret = std::env::var("KEEL_DERIBIT_CLIENT_SECRET").ok()?;
    Some((id, secret))
}

fn request(id: u64, method: &str, params: serde_json::Value) -> Message {
    let text = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    Message::text(text.to_string())
}

/// Whether a message is the venue's heartbeat asking for an answer.
fn is_test_request(text: &str) -> bool {
    text.contains("\"heartbeat\"") && text.contains("\"test_request\"")
}

impl Session<'_> {
    async fn run(mut self, url: &str) -> Ended {
        let ws_config = WebSocketConfig::default().max_message_size(Some(MESSAGE_BYTES_MAX));
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true);
        let socket = tokio::select! {
            result = connect => match result {
                Ok((socket, _)) => socket,
                Err(error) => return Ended::Dropped(format!("connecting: {error}")),
            },
            () = wait_for(self.stop) => return Ended::Stop,
        };
        self.progress.connections.fetch_add(1, Ordering::Relaxed);
        let (mut write, mut read) = socket.split();
        let private = self.config.channels.iter().any(|c| c.starts_with("user."));
        let mut opening = vec![request(
            1,
            "public/set_heartbeat",
            json!({ "interval": self.config.heartbeat_interval_s }),
        )];
        if let Some((id, secret)) = credentials() {
            opening.push(request(
                2,
                "public/auth",
                json!({ "grant_type": "client_credentials", "client_id": id, "client_secret": secret }),
            ));
        }
        for (i, currency) in self.config.instrument_currencies.iter().enumerate() {
            for kind in ["future", "option"] {
                opening.push(request(
                    10 + 2 * i as u64 + u64::from(kind == "option"),
                    "public/get_instruments",
                    json!({ "currency": currency, "kind": kind, "expired": false }),
                ));
            }
        }
        let subscribe = if private {
            "private/subscribe"
        } else {
            "public/subscribe"
        };
        opening.push(request(
            3,
            subscribe,
            json!({ "channels": self.config.channels }),
        ));
        for message in opening {
            if let Err(error) = write.send(message).await {
                return Ended::Dropped(format!("subscribing: {error}"));
            }
        }
        let mut events = Vec::new();
        loop {
            let next = tokio::select! {
                next = read.next() => next,
                () = wait_for(self.stop) => {
                    let _ = write.send(Message::Close(None)).await;
                    return Ended::Stop;
                }
            };
            let text = match next {
                None => return Ended::Dropped("closed by the venue".into()),
                Some(Err(error)) => return Ended::Dropped(error.to_string()),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => {
                    self.progress.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(Ok(Message::Close(_))) => {
                    return Ended::Dropped("the venue closed the connection".into());
                }
            };
            self.progress.messages.fetch_add(1, Ordering::Relaxed);
            if let Some(recording) = self.recording.as_mut() {
                let written = recording
                    .write_all(text.as_bytes())
                    .and_then(|()| recording.write_all(b"\n"));
                if let Err(error) = written {
                    tracing::error!(%error, "the recording failed; recording stops");
                    self.recording = None;
                }
            }
            events.clear();
            if let Err(Dropped::Refused(reason)) = self.decoder.decode(text.as_bytes(), &mut events)
            {
                self.progress.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = reason.name(), "websocket message refused");
            }
            for event in events.drain(..) {
                if self.sender.send(event).is_err() {
                    return Ended::Stop; // the engine is gone
                }
            }
            // Answered after this message's predecessors are with the engine: a venue
            // (or a test) that sees the answer knows everything before it was handed over.
            if is_test_request(&text) {
                if let Err(error) = write.send(request(4, "public/test", json!({}))).await {
                    return Ended::Dropped(format!("answering a heartbeat: {error}"));
                }
                self.progress
                    .heartbeats_answered
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Resolves once `stop` is set (polled: the flag is set by a signal handler).
async fn wait_for(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
