//! The chat protocol as a user meets it, over real WebSocket connections:
//! the same checks run against `chat serve` (lambdas/chat/tests/serve.rs)
//! and against the deployed blueprint's functions under `archform dev`
//! (tests/chat_e2e.rs), so both speak one protocol.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a frame that should come may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long to listen for a frame that must not come.
const QUIET: Duration = Duration::from_millis(600);

pub struct Client {
    pub name: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// `url` with `token` as its `token` query parameter.
pub fn with_token(url: &str, token: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}token={token}")
}

impl Client {
    pub async fn open(url: &str, token: &str, name: &str) -> Client {
        let (ws, _) = connect_async(with_token(url, token))
            .await
            .unwrap_or_else(|e| panic!("{name} could not connect: {e}"));
        Client {
            name: name.into(),
            ws,
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Frame::Text(text.to_string().into()))
            .await
            .unwrap_or_else(|e| panic!("{}: send: {e}", self.name));
    }

    /// The next JSON frame, within `WAIT`.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no frame within {WAIT:?}", self.name))
                .unwrap_or_else(|| panic!("{}: the connection closed", self.name))
                .unwrap_or_else(|e| panic!("{}: {e}", self.name));
            match frame {
                Frame::Text(t) => {
                    return serde_json::from_str(&t)
                        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {t}", self.name));
                }
                Frame::Close(c) => panic!("{}: closed by the server: {c:?}", self.name),
                _ => continue,
            }
        }
    }

    /// The next frame of `kind` (`type`), skipping presence announcements
    /// (which connects elsewhere cause at any time).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
            assert!(
                frame["type"] == "presence",
                "{}: wanted a {kind} frame, got {frame}",
                self.name
            );
        }
    }

    /// Asserts no frame but presence comes within `QUIET`.
    pub async fn nothing_more(&mut self) {
        let until = tokio::time::Instant::now() + QUIET;
        while let Ok(frame) = tokio::time::timeout_at(until, self.ws.next()).await {
            match frame {
                Some(Ok(Frame::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_eq!(v["type"], "presence", "{}: unexpected {v}", self.name);
                }
                Some(Ok(_)) => {}
                other => panic!("{}: {other:?}", self.name),
            }
        }
    }

    /// Drops the connection without a close frame, as a phone losing its
    /// network does.
    pub fn kill(self) {
        drop(self.ws);
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Read until the server's close answer, so it has run $disconnect.
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// The HTTP status of a refused upgrade, or `None` when it was accepted.
pub async fn refused_status(url: &str) -> Option<u16> {
    match connect_async(url).await {
        Ok(_) => None,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        Err(e) => panic!("{url}: neither accepted nor refused with a status: {e}"),
    }
}

/// Mints tokens the server accepts: (user, conversations) -> token.
pub type Mint<'a> = &'a dyn Fn(&str, &[&str]) -> String;

/// Every rule of the protocol the README documents, over `url` (the
/// WebSocket URL without a token). Users and conversations are prefixed
/// with `tag` so that runs sharing tables do not meet.
pub async fn protocol(url: &str, mint: Mint<'_>, tag: &str) {
    let general = format!("{tag}-general");
    let random = format!("{tag}-random");
    let (alice, bob) = (format!("{tag}-alice"), format!("{tag}-bob"));

    // Identity: no token, a forged one and one for nothing are refused at
    // the upgrade.
    assert_eq!(refused_status(url).await, Some(401), "no token");
    let forged = mint(&alice, &[&general]);
    let forged = format!("{}x", &forged[..forged.len() - 1]);
    assert!(
        matches!(
            refused_status(&with_token(url, &forged)).await,
            Some(401 | 403)
        ),
        "a token with a wrong signature"
    );

    let mut alice1 = Client::open(url, &mint(&alice, &[&general, &random]), "alice1").await;
    let mut alice2 = Client::open(url, &mint(&alice, &[&general, &random]), "alice2").await;
    let mut bob1 = Client::open(url, &mint(&bob, &[&general]), "bob1").await;

    // A message: acknowledged to the sender with its id, delivered to
    // every connection of every member (both of alice's), once.
    alice1
        .send(json!({"action": "sendmessage", "conversation": general, "text": "hello", "client_id": "c-1"}))
        .await;
    let ack = alice1.next_of("ack").await;
    assert_eq!(ack["client_id"], "c-1");
    let first = ack["message"].clone();
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 26, "a sortable id: {first}");
    assert_eq!(first["sender"], alice.as_str());
    assert_eq!(first["text"], "hello");
    assert!(first["ts"].as_i64().unwrap() > 1_600_000_000_000, "{first}");
    for c in [&mut alice2, &mut bob1] {
        let m = c.next_of("message").await;
        assert_eq!(m["message"], first, "{}", c.name);
    }
    // The retry of a send (same client id) is acknowledged with the same
    // message and neither stored nor delivered again.
    alice1
        .send(json!({"action": "sendmessage", "conversation": general, "text": "hello", "client_id": "c-1"}))
        .await;
    assert_eq!(alice1.next_of("ack").await["message"]["id"], id.as_str());
    bob1.nothing_more().await;

    // Nobody posts as another or where the token does not reach.
    bob1.send(json!({"action": "sendmessage", "conversation": random, "text": "let me in"}))
        .await;
    let e = bob1.next_of("error").await;
    assert_eq!(e["code"], "forbidden", "{e}");
    assert!(
        e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{e}"
    );
    bob1.send(json!({"action": "sendmessage", "conversation": general, "text": "as alice", "sender": alice}))
        .await;
    let m = bob1.next_of("ack").await;
    assert_eq!(
        m["message"]["sender"],
        bob.as_str(),
        "the sender is the token's subject"
    );
    for c in [&mut alice1, &mut alice2] {
        let m = c.next_of("message").await;
        assert_eq!(m["message"]["sender"], bob.as_str());
    }
    let second = m["message"]["id"].as_str().unwrap().to_string();
    assert!(second > id, "ids sort in sending order: {id} then {second}");

    // Bad frames get an error frame that says what is wrong.
    bob1.send_text("not json").await;
    assert_eq!(bob1.next_of("error").await["code"], "bad_json");
    bob1.send(json!({"action": "dance", "conversation": general}))
        .await;
    let e = bob1.next_of("error").await;
    assert_eq!(e["code"], "unknown_action", "{e}");
    bob1.send(json!({"action": "sendmessage", "conversation": general, "text": "x".repeat(4001)}))
        .await;
    assert_eq!(bob1.next_of("error").await["code"], "too_large");
    bob1.send(json!({"action": "sendmessage", "conversation": general}))
        .await;
    let e = bob1.next_of("error").await;
    assert_eq!(e["code"], "invalid");
    assert!(e["message"].as_str().unwrap().contains("text"), "{e}");

    // Typing: to the other members only, never stored.
    bob1.send(json!({"action": "typing", "conversation": general}))
        .await;
    for c in [&mut alice1, &mut alice2] {
        let t = c.next_of("typing").await;
        assert_eq!(t["user"], bob.as_str());
    }
    bob1.nothing_more().await;

    // History: newest first, paged with a cursor; since an id for catching up.
    bob1.send(json!({"action": "history", "conversation": general, "limit": 1}))
        .await;
    let h = bob1.next_of("history").await;
    let page: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [second.as_str()], "{h}");
    let cursor = h["next_cursor"]
        .as_str()
        .expect("a cursor to the next page");
    bob1.send(json!({"action": "history", "conversation": general, "before": cursor}))
        .await;
    let h = bob1.next_of("history").await;
    let page: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [id.as_str()], "the duplicate was not stored: {h}");
    bob1.send(json!({"action": "history", "conversation": general, "since": id}))
        .await;
    let h = bob1.next_of("history").await;
    let since: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(since, [second.as_str()], "{h}");

    // Read receipts: the others see how far a member has read.
    bob1.send(json!({"action": "read", "conversation": general, "message_id": second}))
        .await;
    for c in [&mut alice1, &mut alice2] {
        let r = c.next_of("read").await;
        assert_eq!(r["user"], bob.as_str());
        assert_eq!(r["message_id"], second.as_str());
    }

    // Leave and join again; joining what the token does not grant fails.
    alice1
        .send(json!({"action": "leave", "conversation": random}))
        .await;
    assert_eq!(
        alice1.next_of("left").await["conversation"],
        random.as_str()
    );
    alice1
        .send(json!({"action": "sendmessage", "conversation": random, "text": "gone?"}))
        .await;
    assert_eq!(alice1.next_of("error").await["code"], "forbidden");
    alice1
        .send(json!({"action": "join", "conversation": random}))
        .await;
    assert_eq!(
        alice1.next_of("joined").await["conversation"],
        random.as_str()
    );
    bob1.send(json!({"action": "join", "conversation": random}))
        .await;
    assert_eq!(bob1.next_of("error").await["code"], "forbidden");

    // Presence: who is online now; offline once a user's last connection
    // closes, announced to the others.
    bob1.send(json!({"action": "presence", "conversation": general}))
        .await;
    let p = loop {
        let p = bob1.next_of("presence").await;
        if p.get("online").is_some() {
            break p;
        }
    };
    let mut online: Vec<&str> = p["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    online.sort();
    assert_eq!(online, [alice.as_str(), bob.as_str()], "{p}");
    alice2.close().await;
    alice1
        .send(json!({"action": "sendmessage", "conversation": general, "text": "one device left"}))
        .await;
    alice1.next_of("ack").await;
    assert_eq!(
        bob1.next_of("message").await["message"]["text"],
        "one device left",
        "a closed device is no longer a recipient, and the others still are"
    );
    alice1.close().await;
    let offline = loop {
        let p = bob1.next_of("presence").await;
        if p["user"] == alice.as_str() && p["status"] == "offline" {
            break p;
        }
    };
    assert_eq!(offline["conversation"], general.as_str());
    bob1.close().await;
}
