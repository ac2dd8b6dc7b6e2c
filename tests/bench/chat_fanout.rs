//! Chat fan-out: one conversation with 50 receivers and one sender sending
//! at a steady rate, over real WebSocket connections, on three sides in the
//! same run:
//!
//! - baseline: a minimal tokio-tungstenite broadcast server (this binary
//!   re-executed with `--baseline-server`): every frame goes to every other
//!   connection, nothing stored, nothing checked;
//! - `chat serve` on the blueprint's DynamoDB tables in the emulator (its
//!   DynamoDB calls through a counting proxy);
//! - the deployed `chat` blueprint's `router` function under `archform dev`
//!   (a Lambda process per concurrent invocation behind dev's WebSocket API
//!   stand-in, posting through its @connections endpoint).
//!
//! Rounds alternate (baseline, serve, dev, baseline, ...) after a warm-up
//! of each. Prints per side the delivery latency p50/p99 (send to receipt,
//! every receiver) at the steady rate, the messages/s delivered to every
//! receiver in bursts of 100 messages sent back to back, and the ratios to
//! the baseline. Then the DynamoDB calls per message of `chat serve`, with the
//! conversation alone and with 1,000 more connections in 50 other
//! conversations: fan-out reads one conversation's members from the
//! `by_conversation` index, so the figure must not move. Asserts nothing.
//!
//!     cargo build --workspace --bins && cargo run --example bench_chat_fanout
//!
//! With ARCHFORM_TEST_ENDPOINT unset it starts its own moto.
//! ARCHFORM_BENCH_RATE overrides the messages per second (default 20),
//! ARCHFORM_BENCH_ONLY=baseline|serve|dev measures one side.

#[path = "common/processes.rs"]
#[allow(dead_code)]
mod processes;
use processes::{Process, binary, first_line};

#[path = "../../lambdas/chat/tests/support/tables.rs"]
mod tables;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as Frame;

const RECEIVERS: usize = 50;
const ROUND: Duration = Duration::from_secs(5);
const ROUNDS: usize = 3;
const OTHER_CONNECTIONS: usize = 1000;
/// Messages of a burst round: sent back to back, to find the most a side
/// delivers per second.
const BURST: u64 = 100;
const OTHER_CONVERSATIONS: usize = 50;
const KEY: &str = "the signing key of the chat benchmark, long enough";

fn rate() -> u32 {
    std::env::var("ARCHFORM_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(20)
}

/// `--baseline-server`: a WebSocket server that sends every text frame it
/// gets to every other connection. Exits when its stdin closes.
fn baseline_server() {
    processes::exit_when_stdin_closes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "listening on ws://{}",
                listener.local_addr().unwrap()
            )
            .unwrap();
            stdout.flush().unwrap();
        }
        let (tx, _) = tokio::sync::broadcast::channel::<(u64, String)>(4096);
        let mut next_id = 0u64;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            next_id += 1;
            let id = next_id;
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut source) = ws.split();
                let mut rx = tx.subscribe();
                let forward = tokio::spawn(async move {
                    while let Ok((from, text)) = rx.recv().await {
                        if from != id && sink.send(Frame::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                });
                while let Some(Ok(frame)) = source.next().await {
                    if let Frame::Text(t) = frame {
                        let _ = tx.send((id, t.to_string()));
                    }
                }
                forward.abort();
            });
        }
    });
}

/// Where tokens come from: `chat token` with a key file (chat serve) or
/// with the deployed stack's Secrets Manager key (dev), as users mint them.
#[derive(Clone)]
struct Minter {
    args: Vec<String>,
    endpoint: String,
}

impl Minter {
    fn token(&self, user: &str, conversation: &str) -> String {
        let out = Command::new(binary("chat", "chat"))
            .args(["token", "--user", user, "--conversation", conversation])
            .args(&self.args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("chat token");
        assert!(
            out.status.success(),
            "chat token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connections refused with a 5xx and tried again (printed at the end: a
/// function that failed or timed out under dev's load).
static RETRIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn open(url: &str, token: Option<&str>) -> Socket {
    let url = match token {
        Some(t) => format!("{url}?token={t}"),
        None => url.to_string(),
    };
    let mut attempt = 0;
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => return socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(r))
                if r.status().is_server_error() && attempt < 3 =>
            {
                attempt += 1;
                RETRIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{url}: {e}"),
        }
    }
}

/// The sequence number and send time (µs since `epoch`) a frame carries,
/// whether bare (baseline) or in a chat message's text.
fn stamp(frame: &str) -> Option<(u64, u64)> {
    let v: Value = serde_json::from_str(frame).ok()?;
    let text = if v["type"] == "message" {
        v["message"]["text"].as_str()?.to_string()
    } else {
        v["text"].as_str()?.to_string()
    };
    let (seq, sent) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

struct Sample {
    latencies_us: Vec<u64>,
    delivered: usize,
    sent: usize,
    elapsed: Duration,
}

/// Everyone connected for one side: the sender and the receivers.
struct Room {
    sender: Socket,
    receivers: Vec<Socket>,
    chat: bool,
}

impl Room {
    /// `minter` is `None` for the baseline (no tokens).
    async fn join(url: &str, minter: Option<&Minter>, conversation: &str) -> Room {
        let chat = minter.is_some();
        let tok = |u: &str| minter.map(|m| m.token(u, conversation));
        let sender = open(url, tok("sender").as_deref()).await;
        let mut receivers = Vec::with_capacity(RECEIVERS);
        for i in 0..RECEIVERS {
            receivers.push(open(url, tok(&format!("receiver{i}")).as_deref()).await);
        }
        // Let presence announcements of the joins pass.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Room {
            sender,
            receivers,
            chat,
        }
    }

    /// Sends at `rate` for `ROUND` (or, with `None`, `BURST` messages as
    /// fast as the socket takes them), then waits up to 5 s for stragglers.
    async fn round(&mut self, conversation: &str, rate: Option<u32>) -> Sample {
        let epoch = Instant::now();
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let last_receipt = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let total = match rate {
            Some(rate) => (rate as f64 * ROUND.as_secs_f64()) as u64,
            None => BURST,
        };
        let mut readers = Vec::new();
        for r in std::mem::take(&mut self.receivers) {
            let latencies = latencies.clone();
            let last_receipt = last_receipt.clone();
            readers.push(tokio::spawn(async move {
                let mut r = r;
                let mut got = 0u64;
                let deadline = tokio::time::Instant::now() + ROUND + Duration::from_secs(5);
                while got < total {
                    let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, r.next()).await
                    else {
                        break;
                    };
                    if let Frame::Text(t) = frame
                        && let Some((_, sent)) = stamp(&t)
                    {
                        let now = epoch.elapsed().as_micros() as u64;
                        latencies.lock().await.push(now.saturating_sub(sent));
                        last_receipt.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                        got += 1;
                    }
                }
                r
            }));
        }
        let mut ticker =
            rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r as f64)));
        for seq in 0..total {
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            let text = format!("{seq} {}", epoch.elapsed().as_micros());
            let frame = if self.chat {
                json!({"action": "sendmessage", "conversation": conversation, "text": text})
            } else {
                json!({"text": text})
            };
            self.sender
                .send(Frame::Text(frame.to_string().into()))
                .await
                .expect("send");
        }
        let sent_until = epoch.elapsed();
        for r in readers {
            self.receivers.push(r.await.expect("reader"));
        }
        // Drain the sender's acks (chat) so they do not pile up.
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(50), self.sender.next()).await
        {}
        let latencies_us = std::mem::take(&mut *latencies.lock().await);
        // The round lasts until the last receipt (or the sending, if later).
        let last = Duration::from_micros(last_receipt.load(std::sync::atomic::Ordering::Relaxed));
        Sample {
            delivered: latencies_us.len(),
            latencies_us,
            sent: total as usize,
            elapsed: sent_until.max(last),
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// (p50 ms, p99 ms, messages/s delivered to every receiver)
fn summarize(name: &str, samples: &[Sample]) -> (f64, f64, f64) {
    let mut all: Vec<u64> = samples
        .iter()
        .flat_map(|s| s.latencies_us.clone())
        .collect();
    all.sort_unstable();
    let delivered: usize = samples.iter().map(|s| s.delivered).sum();
    let sent: usize = samples.iter().map(|s| s.sent).sum();
    let secs: f64 = samples.iter().map(|s| s.elapsed.as_secs_f64()).sum();
    let per_second = delivered as f64 / RECEIVERS as f64 / secs;
    let (p50, p99) = (percentile(&all, 0.5), percentile(&all, 0.99));
    println!(
        "  {name:<9} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  {per_second:>6.1} messages/s delivered to all {RECEIVERS} ({delivered} of {} deliveries)",
        sent * RECEIVERS
    );
    (p50, p99, per_second)
}

/// The blueprint's three tables, created directly (the chat tests' module:
/// one copy of the schema).
async fn create_tables(endpoint: &str, prefix: &str) -> HashMap<&'static str, String> {
    let names: HashMap<&str, String> = tables::TABLES
        .iter()
        .map(|t| (*t, format!("{prefix}-{t}")))
        .collect();
    let sdk = archform_testkit::sdk_config(endpoint).await;
    tables::create(&aws_sdk_dynamodb::Client::new(&sdk), &names).await;
    names
}

/// Deploys the chat blueprint (real functions, dev profile) and starts
/// `archform dev` on it: (dev process, WebSocket URL, stack, token minter).
///
/// dev (and so its functions) talks to the emulator through `proxy`, which
/// counts the functions' DynamoDB calls.
fn deploy_and_dev(
    endpoint: &str,
    proxy: &str,
    work: &std::path::Path,
) -> (Process, String, String, Minter) {
    let archform = binary("archform", "archform");
    let stack = format!("bench-chat-{}", std::process::id());
    let run = |args: &[&str]| {
        Command::new(&archform)
            .current_dir(work)
            .env("ARCHFORM_BUILD_PROFILE", "dev")
            .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .args(["--endpoint", endpoint])
            .output()
            .expect("archform")
    };
    let out = run(&[
        "deploy",
        "chat",
        "--stack",
        &stack,
        "--set",
        "message_rate_per_minute=0",
    ]);
    assert!(
        out.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outputs = run(&["--output", "json", "outputs", "--stack", &stack]);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).expect("outputs");
    let secret = outputs["signing_secret_arn"]
        .as_str()
        .expect("secret")
        .to_string();
    let mut child = Command::new(&archform)
        .current_dir(work)
        .env("ARCHFORM_BUILD_PROFILE", "dev")
        .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .args([
            "--output",
            "json",
            "dev",
            "--port",
            "0",
            "--stack",
            &stack,
            "--endpoint",
            proxy,
        ])
        .stdout(Stdio::piped())
        // Kept for a failed run: dev prints each invocation and the
        // functions' logs.
        .stderr(std::fs::File::create(work.join("dev.log")).expect("dev log"))
        .spawn()
        .expect("archform dev");
    let ready: Value = serde_json::from_str(&first_line(&mut child)).expect("dev's ready line");
    let url = ready["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "websocket")
        .and_then(|e| e["url"].as_str())
        .expect("websocket endpoint")
        .to_string();
    let minter = Minter {
        args: vec!["--signing-secret-arn".into(), secret],
        endpoint: endpoint.to_string(),
    };
    (Process(child), url, stack, minter)
}

/// DynamoDB calls through `proxy` during one round (every call: the
/// message's store, the fan-out's member query, rate and presence updates).
fn dynamodb_calls(proxy: &archform_testkit::FaultProxy) -> u64 {
    proxy
        .stats()
        .calls
        .iter()
        .filter(|(op, _)| op.starts_with("dynamodb:"))
        .map(|(_, n)| n)
        .sum()
}

/// Calls per message for one side, alone, then beside 1,000 connections of
/// 50 users (20 devices each, one conversation per user).
fn flat(
    rt: &tokio::runtime::Runtime,
    side: &str,
    url: &str,
    minter: &Minter,
    proxy: &archform_testkit::FaultProxy,
    rate: u32,
) {
    let per_message = |conversation: &str| {
        rt.block_on(async {
            let mut room = Room::join(url, Some(minter), conversation).await;
            room.round(conversation, Some(rate)).await;
            proxy.reset();
            let sample = room.round(conversation, Some(rate)).await;
            dynamodb_calls(proxy) as f64 / sample.sent as f64
        })
    };
    let alone = per_message(&format!("{side}-alone"));
    let tokens: Vec<String> = (0..OTHER_CONVERSATIONS)
        .map(|i| minter.token(&format!("{side}-idle{i}"), &format!("{side}-other{i}")))
        .collect();
    let others = rt.block_on(async {
        let mut others = Vec::with_capacity(OTHER_CONNECTIONS);
        for i in 0..OTHER_CONNECTIONS {
            others.push(open(url, Some(&tokens[i % OTHER_CONVERSATIONS])).await);
        }
        others
    });
    let beside = per_message(&format!("{side}-beside"));
    println!(
        "  {side:<9} {alone:.2} alone, {beside:.2} beside {OTHER_CONNECTIONS} connections: x{:.2}",
        beside / alone
    );
    drop(others);
    // 1,000 disconnects are 1,000 rounds of DynamoDB calls: wait for the
    // emulator to be done with them, so that the next side is not measured
    // (or timed out) behind them.
    rt.block_on(settle(proxy));
}

/// Waits until `proxy` has seen no call for a second (at most 2 minutes).
async fn settle(proxy: &archform_testkit::FaultProxy) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = proxy.stats().total();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = proxy.stats().total();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--baseline-server") {
        baseline_server();
        return;
    }
    let only = std::env::var("ARCHFORM_BENCH_ONLY").ok();
    let wants = |side: &str| only.as_deref().is_none_or(|o| o == side);
    let rate = rate();
    let endpoint = archform_testkit::test_endpoint();
    let work = std::env::temp_dir().join(format!("archform-bench-chat-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Baseline.
    let mut baseline = Process(
        Command::new(std::env::current_exe().unwrap())
            .arg("--baseline-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("baseline server"),
    );
    let baseline_url = first_line(&mut baseline.0)
        .strip_prefix("listening on ")
        .expect("baseline listening line")
        .to_string();

    // chat serve on DynamoDB, through a counting proxy.
    let proxy = rt
        .block_on(archform_testkit::FaultProxy::start(
            &endpoint,
            Default::default(),
        ))
        .expect("proxy");
    let tables = rt.block_on(create_tables(
        &endpoint,
        &format!("bench-chat-{}", std::process::id()),
    ));
    let key_file = work.join("key");
    std::fs::write(&key_file, KEY).unwrap();
    let serve_minter = Minter {
        args: vec![
            "--signing-secret-file".into(),
            key_file.display().to_string(),
        ],
        endpoint: endpoint.clone(),
    };
    let mut serve = Process(
        Command::new(binary("chat", "chat"))
            .args([
                "serve",
                "--port",
                "0",
                "--store",
                "dynamodb",
                "--message-rate-per-minute",
                "0",
            ])
            .args(["--signing-secret-file", key_file.to_str().unwrap()])
            .args(["--connections-table", &tables["connections"]])
            .args(["--messages-table", &tables["messages"]])
            .args(["--presence-table", &tables["presence"]])
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chat serve"),
    );
    let serve_url = format!(
        "{}/ws",
        first_line(&mut serve.0)
            .strip_prefix("listening on ")
            .expect("chat serve listening line")
            .replacen("http://", "ws://", 1)
    );

    let dev_proxy = rt
        .block_on(archform_testkit::FaultProxy::start(
            &endpoint,
            Default::default(),
        ))
        .expect("proxy");
    let dev = wants("dev").then(|| deploy_and_dev(&endpoint, &dev_proxy.endpoint, &work));

    println!(
        "Chat fan-out: 1 sender, {RECEIVERS} receivers in one conversation, {rate} messages/s for {} s, {ROUNDS} alternating rounds after a warm-up:",
        ROUND.as_secs()
    );
    let results = rt.block_on(async {
        let mut rooms: Vec<(&str, Room)> = Vec::new();
        if wants("baseline") {
            rooms.push(("baseline", Room::join(&baseline_url, None, "bench").await));
        }
        if wants("serve") {
            rooms.push((
                "serve",
                Room::join(&serve_url, Some(&serve_minter), "bench").await,
            ));
        }
        if let Some((_, url, _, minter)) = &dev {
            rooms.push(("dev", Room::join(url, Some(minter), "bench").await));
        }
        for (_, room) in rooms.iter_mut() {
            room.round("bench", Some(rate)).await;
        }
        let mut samples: HashMap<&str, Vec<Sample>> = HashMap::new();
        let mut bursts: HashMap<&str, Vec<Sample>> = HashMap::new();
        for _ in 0..ROUNDS {
            for (name, room) in rooms.iter_mut() {
                let sample = room.round("bench", Some(rate)).await;
                samples.entry(name).or_default().push(sample);
            }
        }
        for _ in 0..ROUNDS {
            for (name, room) in rooms.iter_mut() {
                let sample = room.round("bench", None).await;
                bursts.entry(name).or_default().push(sample);
            }
        }
        let mut results = HashMap::new();
        for (name, _) in &rooms {
            let (p50, p99, _) = summarize(name, &samples[name]);
            results.insert(*name, (p50, p99, 0.0));
        }
        println!("Bursts of {BURST} messages sent back to back ({ROUNDS} alternating rounds):");
        for (name, _) in &rooms {
            let (_, _, per_second) = summarize(name, &bursts[name]);
            if let Some(r) = results.get_mut(name) {
                r.2 = per_second;
            }
        }
        results
    });
    if let Some(base) = results.get("baseline") {
        for side in ["serve", "dev"] {
            if let Some(r) = results.get(side) {
                println!(
                    "  {side}/baseline: steady p50 x{:.1}, p99 x{:.1}; burst messages/s x{:.3}",
                    r.0 / base.0,
                    r.1 / base.1,
                    r.2 / base.2
                );
            }
        }
    }

    println!(
        "DynamoDB calls per message, counted by a proxy in front of the emulator, with the conversation alone and with {OTHER_CONNECTIONS} more connections in {OTHER_CONVERSATIONS} other conversations (flat is x1.00):"
    );
    if wants("serve") {
        flat(&rt, "serve", &serve_url, &serve_minter, &proxy, rate);
    }
    if let Some((_, url, _, minter)) = &dev {
        flat(&rt, "dev", url, minter, &dev_proxy, rate);
    }

    if let Some((dev_process, _, stack, _)) = dev {
        drop(dev_process);
        let _ = Command::new(binary("archform", "archform"))
            .current_dir(&work)
            .args([
                "destroy",
                "--yes",
                "--stack",
                &stack,
                "--endpoint",
                &endpoint,
            ])
            .output();
    }
    let retried = RETRIED.load(std::sync::atomic::Ordering::Relaxed);
    if retried > 0 {
        println!("({retried} connection attempts answered 5xx and tried again)");
    }
    let _ = std::fs::remove_dir_all(&work);
}
