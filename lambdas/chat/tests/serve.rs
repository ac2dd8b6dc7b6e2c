//! `chat serve`, the standalone WebSocket server, as a user runs it: the
//! built binary on a free port, real WebSocket clients, on the in-memory
//! store, on the blueprint's DynamoDB tables in the emulator, and as two
//! instances that share conversations through a real Redis server.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use archform_testkit::test_endpoint;
use chat::token::{self, SigningKey};
use support::scenario::{self, Client};
use support::tables;

const KEY: &[u8] = b"the signing key of the serve tests, long enough";

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("key");
    std::fs::write(&path, KEY).unwrap();
    path
}

fn mint(user: &str, conversations: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let convs: Vec<String> = conversations.iter().map(|c| c.to_string()).collect();
    token::sign(
        &SigningKey::new(KEY.to_vec()).unwrap(),
        &token::claims_for(user, &convs, None, now, 600),
    )
}

/// The emulator's credentials and endpoint, as a user exports them.
fn emulator_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// A running `chat serve`, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, String)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["serve", "--port", "0"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("CONNECTIONS_TABLE")
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("chat serve printed {line:?}, not `listening on URL`"))
            .to_string();
        Server { child, base }
    }

    fn ws(&self) -> String {
        format!("{}/ws", self.base.replacen("http://", "ws://", 1))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tables_args(names: &HashMap<&str, String>) -> Vec<String> {
    vec![
        "--store".into(),
        "dynamodb".into(),
        "--connections-table".into(),
        names["connections"].clone(),
        "--messages-table".into(),
        names["messages"].clone(),
        "--presence-table".into(),
        names["presence"].clone(),
    ]
}

async fn emulator_tables(endpoint: &str, prefix: &str) -> HashMap<&'static str, String> {
    let names: HashMap<&str, String> = tables::TABLES
        .iter()
        .map(|t| (*t, format!("{prefix}-{t}")))
        .collect();
    let sdk = archform_testkit::sdk_config(endpoint).await;
    tables::create(&aws_sdk_dynamodb::Client::new(&sdk), &names).await;
    names
}

#[tokio::test]
async fn on_the_memory_store_it_speaks_the_protocol() {
    let dir = workdir("memory");
    let key = key_file(&dir);
    let server = Server::start(
        &[
            "--store",
            "memory",
            "--signing-secret-file",
            key.to_str().unwrap(),
        ],
        &[],
    );
    scenario::protocol(&server.ws(), &mint, "mem").await;
}

#[tokio::test]
async fn on_the_dynamodb_tables_it_speaks_the_protocol() {
    let endpoint = test_endpoint();
    let names = emulator_tables(&endpoint, &format!("chat-serve-{}", std::process::id())).await;
    let dir = workdir("dynamodb");
    let key = key_file(&dir);
    let mut args = tables_args(&names);
    args.extend(["--signing-secret-file".into(), key.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args, &emulator_env(&endpoint));
    scenario::protocol(&server.ws(), &mint, "ddb").await;
}

/// A real Redis server on a free port, stopped when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required (tests/run installs Debian's redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_instances_share_conversations_through_redis() {
    let endpoint = test_endpoint();
    let names = emulator_tables(&endpoint, &format!("chat-redis-{}", std::process::id())).await;
    let redis = Redis::start();
    let dir = workdir("redis");
    let key = key_file(&dir);
    let mut args = tables_args(&names);
    args.extend([
        "--signing-secret-file".into(),
        key.display().to_string(),
        "--redis-url".into(),
        redis.url.clone(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = emulator_env(&endpoint);
    let (a, b) = (Server::start(&args, &env), Server::start(&args, &env));
    let mut alice = Client::open(&a.ws(), &mint("alice", &["team"]), "alice@a").await;
    let mut bob = Client::open(&b.ws(), &mint("bob", &["team"]), "bob@b").await;
    let mut bob_phone = Client::open(&a.ws(), &mint("bob", &["team"]), "bob@a").await;
    alice
        .send(
            serde_json::json!({"action": "sendmessage", "conversation": "team", "text": "across"}),
        )
        .await;
    let id = alice.next_of("ack").await["message"]["id"].clone();
    for c in [&mut bob, &mut bob_phone] {
        let m = c.next_of("message").await;
        assert_eq!(m["message"]["id"], id, "{}", c.name);
    }
    bob.send(serde_json::json!({"action": "typing", "conversation": "team"}))
        .await;
    assert_eq!(alice.next_of("typing").await["user"], "bob");
    bob_phone.nothing_more().await;
    // Each instance delivers once: no copy comes back through Redis.
    alice.nothing_more().await;
}

#[tokio::test]
async fn the_page_and_dev_tokens() {
    let dir = workdir("page");
    let key = key_file(&dir);
    let plain = Server::start(
        &[
            "--store",
            "memory",
            "--signing-secret-file",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let dev = Server::start(&["--store", "memory", "--dev-tokens"], &[]);
    let get = |url: String| async move {
        let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = client.get(url.parse().unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, headers, String::from_utf8_lossy(&body).to_string())
    };
    let (status, _, body) = get(format!("{}/", plain.base)).await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"composer\""), "the page");
    // Without --dev-tokens nobody can mint a token from the server.
    let (status, _, _) = get(format!(
        "{}/dev/token?user=eve&conversation=general",
        plain.base
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = get(format!(
        "{}/dev/token?user=dana&conversation=lobby",
        dev.base
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut dana = Client::open(&dev.ws(), token["token"].as_str().unwrap(), "dana").await;
    dana.send(serde_json::json!({"action": "sendmessage", "conversation": "lobby", "text": "hi"}))
        .await;
    assert_eq!(dana.next_of("ack").await["message"]["sender"], "dana");
    let (status, _, body) = get(format!(
        "{}/dev/token?user=bad%20user&conversation=lobby",
        dev.base
    ))
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn two_users_use_the_page_in_chromium() {
    let server = Server::start(&["--store", "memory", "--dev-tokens"], &[]);
    let url = format!("{}/", server.base);
    support::pages::two_users_in_two_pages(
        support::pages::SignIn::DevPanel {
            url: &url,
            user: "alice",
            conversations: "lobby, random",
        },
        support::pages::SignIn::DevPanel {
            url: &url,
            user: "bob",
            conversations: "lobby",
        },
        ("alice", "bob"),
    )
    .await;
}

/// The per-connection message rate and the 32 KB frame limit, over the
/// wire: refused to the sender alone, nothing stored or delivered.
#[tokio::test]
async fn rate_and_frame_limits_refuse_to_the_sender_alone() {
    let dir = workdir("limits");
    let key = key_file(&dir);
    let server = Server::start(
        &[
            "--store",
            "memory",
            "--signing-secret-file",
            key.to_str().unwrap(),
            "--message-rate-per-minute",
            "3",
        ],
        &[],
    );
    let mut eve = Client::open(&server.ws(), &mint("eve", &["limits"]), "eve").await;
    let mut finn = Client::open(&server.ws(), &mint("finn", &["limits"]), "finn").await;
    for i in 0..3 {
        eve.send(serde_json::json!({"action": "sendmessage", "conversation": "limits", "text": format!("m{i}")}))
            .await;
        eve.next_of("ack").await;
        finn.next_of("message").await;
    }
    eve.send(serde_json::json!({"action": "sendmessage", "conversation": "limits", "text": "one too many"}))
        .await;
    let e = eve.next_of("error").await;
    assert_eq!(e["code"], "rate_limited", "{e}");
    assert!(e["message"].as_str().unwrap().contains('3'), "{e}");
    finn.nothing_more().await;
    // A frame over API Gateway's 32 KB: refused whatever the action.
    eve.send_text(&format!(
        r#"{{"action":"typing","conversation":"limits","pad":"{}"}}"#,
        "x".repeat(33 * 1024)
    ))
    .await;
    assert_eq!(eve.next_of("error").await["code"], "too_large");
    finn.nothing_more().await;
    // Nothing of the refused ones was stored.
    finn.send(serde_json::json!({"action": "history", "conversation": "limits"}))
        .await;
    let h = finn.next_of("history").await;
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m2", "m1", "m0"], "{h}");
}

/// Bad flags and settings: a clear error and exit 2, before listening.
#[test]
fn bad_settings_are_refused_with_what_to_fix() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(args)
            .env_remove("CONNECTIONS_TABLE")
            .env_remove("SIGNING_SECRET_ARN")
            .env_remove("REDIS_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&[
        "serve",
        "--port",
        "0",
        "--store",
        "dynamodb",
        "--dev-tokens",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("CONNECTIONS_TABLE") || err.contains("--connections-table"),
        "{err}"
    );
    let (code, err) = run(&["serve", "--port", "0", "--store", "memory"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--signing-secret-arn"), "{err}");
    let (code, err) = run(&[
        "serve",
        "--port",
        "0",
        "--store",
        "memory",
        "--dev-tokens",
        "--max-message-chars",
        "lots",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("MAX_MESSAGE_CHARS") || err.contains("max-message-chars"),
        "{err}"
    );
    let (code, err) = run(&["token", "--user", "alice", "--conversation", "general"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--signing-secret-arn"), "{err}");
    let (code, err) = run(&[
        "token",
        "--user",
        "not a user!",
        "--conversation",
        "general",
        "--signing-secret-file",
        "/dev/null",
    ]);
    assert_eq!(code, Some(2), "{err}");
    // Redis that is not there: an error, not a hang.
    let (code, err) = run(&[
        "serve",
        "--port",
        "0",
        "--store",
        "memory",
        "--dev-tokens",
        "--redis-url",
        "redis://127.0.0.1:1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Redis"), "{err}");
}
