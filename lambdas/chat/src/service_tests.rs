//! The handlers through the Lambda transport with in-memory stores and a
//! recording `@connections` stand-in: every rule of the protocol without a
//! socket or a table.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use service_common::MetricsSink;

use crate::config::Limits;
use crate::fanout::{ApiTransport, Poster};
use crate::frames::{Action, ErrorCode};
use crate::service::{ChatService, Clock, Handled, token_from};
use crate::store::BoxFuture;
use crate::token::{self, SigningKey, TokenError};
use crate::transport::SendError;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, Value)>>,
    gone: Mutex<HashSet<String>>,
}

impl Poster for Recorder {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            if self.gone.lock().unwrap().contains(connection_id) {
                return Err(SendError::Gone);
            }
            let value: Value = serde_json::from_str(frame).expect("frames are JSON");
            self.sent
                .lock()
                .unwrap()
                .push((connection_id.to_owned(), value));
            Ok(())
        })
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

struct Fixture {
    service: ChatService,
    recorder: Arc<Recorder>,
    transport: ApiTransport,
    clock: Arc<TestClock>,
    key: SigningKey,
}

const T0: i64 = 1_700_000_000_000;

impl Fixture {
    fn new(limits: Limits) -> Self {
        let key = SigningKey::new(vec![9u8; 32]).unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
        let service = ChatService::new(
            limits,
            crate::memory::stores(),
            Some(key.clone()),
            MetricsSink::Off,
        )
        .with_clock(clock.clone());
        let recorder = Arc::new(Recorder::default());
        let transport = ApiTransport::new(recorder.clone());
        Fixture {
            service,
            recorder,
            transport,
            clock,
            key,
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    fn token(&self, user: &str, convs: &[&str]) -> String {
        let convs: Vec<String> = convs.iter().map(|c| c.to_string()).collect();
        token::sign(
            &self.key,
            &token::claims_for(user, &convs, None, T0 / 1000, 3600),
        )
    }

    async fn connect(&self, connection: &str, user: &str, convs: &[&str]) {
        let claims = self
            .service
            .verify_token(Some(&self.token(user, convs)))
            .unwrap();
        self.service
            .connect(&self.transport, connection, &claims)
            .await
            .unwrap();
    }

    async fn frame(&self, connection: &str, body: Value) -> Handled {
        self.service
            .handle_frame(
                &self.transport,
                connection,
                &body.to_string(),
                "req-1",
                None,
            )
            .await
    }

    /// The frames each connection got since the last call, by connection.
    fn got(&self, connection: &str, frames: &[(String, Value)]) -> Vec<Value> {
        frames
            .iter()
            .filter(|(c, _)| c == connection)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn limits() -> Limits {
    Limits {
        message_rate_per_minute: 5,
        ..Limits::default()
    }
}

#[tokio::test]
async fn messages_reach_every_device_of_every_member_but_the_sending_one() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.connect("a2", "alice", &["general"]).await;
    f.connect("b1", "bob", &["general", "random"]).await;
    f.connect("c1", "carol", &["random"]).await;
    f.recorder.take();

    let handled = f
        .frame("a1", json!({"action": "sendmessage", "conversation": "general", "text": "hi", "client_id": "c-1"}))
        .await;
    assert!(matches!(handled, Handled::Done(Some(r)) if r.deliveries == 2));
    let sent = f.recorder.take();
    let ack = f.got("a1", &sent);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["type"], "ack");
    assert_eq!(ack[0]["client_id"], "c-1");
    let message = ack[0]["message"].clone();
    assert_eq!(message["sender"], "alice");
    assert_eq!(message["text"], "hi");
    assert_eq!(message["conversation"], "general");
    for other in ["a2", "b1"] {
        assert_eq!(
            f.got(other, &sent),
            vec![json!({"type": "message", "message": message})]
        );
    }
    assert!(f.got("c1", &sent).is_empty(), "carol is not in general");
}

#[tokio::test]
async fn a_retried_client_id_gets_the_original_ack_and_no_second_delivery() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.connect("b1", "bob", &["general"]).await;
    f.recorder.take();
    let send = json!({"action": "sendmessage", "conversation": "general", "text": "once", "client_id": "retry-me"});
    f.frame("a1", send.clone()).await;
    let first = f.recorder.take();
    f.advance(1000);
    assert_eq!(f.frame("a1", send.clone()).await, Handled::Done(None));
    let second = f.recorder.take();
    assert_eq!(
        f.got("a1", &first),
        f.got("a1", &second),
        "same ack, same id and ts"
    );
    assert!(f.got("b1", &second).is_empty());
    // Bob using the same client id is another message.
    f.frame("b1", json!({"action": "sendmessage", "conversation": "general", "text": "mine", "client_id": "retry-me"})).await;
    let bobs = f.recorder.take();
    assert_eq!(f.got("a1", &bobs).len(), 1);
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general"}),
    )
    .await;
    let history = &f.got("a1", &f.recorder.take())[0];
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2,
        "{history}"
    );
}

#[tokio::test]
async fn refusals_go_to_the_sender_only_and_store_nothing() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general", "random"]).await;
    f.connect("b1", "bob", &["general"]).await;
    f.recorder.take();
    let cases = [
        (json!("not json").to_string(), ErrorCode::BadJson),
        (
            r#"{"action":"shout","conversation":"general"}"#.to_string(),
            ErrorCode::UnknownAction,
        ),
        (
            r#"{"action":"sendmessage","conversation":"general"}"#.to_string(),
            ErrorCode::Invalid,
        ),
        (
            json!({"action":"sendmessage","conversation":"general","text":"x".repeat(4001)})
                .to_string(),
            ErrorCode::TooLarge,
        ),
        (
            r#"{"action":"sendmessage","conversation":"secret","text":"hi"}"#.to_string(),
            ErrorCode::Forbidden,
        ),
        (
            r#"{"action":"join","conversation":"secret"}"#.to_string(),
            ErrorCode::Forbidden,
        ),
    ];
    for (body, code) in cases {
        let handled = f
            .service
            .handle_frame(&f.transport, "a1", &body, "req-9", None)
            .await;
        assert_eq!(handled, Handled::Refused(code), "{body}");
        let sent = f.recorder.take();
        assert_eq!(sent.len(), 1, "{body}: {sent:?}");
        assert_eq!(sent[0].0, "a1");
        assert_eq!(sent[0].1["type"], "error");
        assert_eq!(sent[0].1["code"], code.as_str());
        assert_eq!(sent[0].1["request_id"], "req-9");
        assert!(!sent[0].1["message"].as_str().unwrap().is_empty());
    }
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general"}),
    )
    .await;
    assert_eq!(f.got("a1", &f.recorder.take())[0]["messages"], json!([]));
}

#[tokio::test]
async fn leave_and_join_change_what_a_connection_receives() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general", "random"]).await;
    f.connect("b1", "bob", &["random"]).await;
    f.recorder.take();
    f.frame("a1", json!({"action": "leave", "conversation": "random"}))
        .await;
    assert_eq!(
        f.got("a1", &f.recorder.take()),
        vec![json!({"type": "left", "conversation": "random"})]
    );
    f.frame(
        "b1",
        json!({"action": "sendmessage", "conversation": "random", "text": "anyone?"}),
    )
    .await;
    assert!(f.got("a1", &f.recorder.take()).is_empty());
    assert_eq!(
        f.frame(
            "a1",
            json!({"action": "sendmessage", "conversation": "random", "text": "x"})
        )
        .await,
        Handled::Refused(ErrorCode::Forbidden)
    );
    f.recorder.take();
    f.frame("a1", json!({"action": "join", "conversation": "random"}))
        .await;
    assert_eq!(
        f.got("a1", &f.recorder.take()),
        vec![json!({"type": "joined", "conversation": "random"})]
    );
    f.frame(
        "b1",
        json!({"action": "sendmessage", "conversation": "random", "text": "welcome back"}),
    )
    .await;
    assert_eq!(
        f.got("a1", &f.recorder.take())[0]["message"]["text"],
        "welcome back"
    );
}

#[tokio::test]
async fn the_message_rate_is_per_connection_per_minute() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.connect("a2", "alice", &["general"]).await;
    let send = |n: u32| json!({"action": "sendmessage", "conversation": "general", "text": format!("m{n}")});
    // Start at a minute boundary so the window does not roll mid-test.
    f.advance(60_000 - T0.rem_euclid(60_000));
    for n in 0..5 {
        assert!(matches!(f.frame("a1", send(n)).await, Handled::Done(_)));
    }
    assert_eq!(
        f.frame("a1", send(5)).await,
        Handled::Refused(ErrorCode::RateLimited)
    );
    // Another connection of the same user has its own budget.
    assert!(matches!(f.frame("a2", send(6)).await, Handled::Done(_)));
    f.advance(60_000);
    assert!(matches!(f.frame("a1", send(7)).await, Handled::Done(_)));
}

#[tokio::test]
async fn typing_goes_to_other_users_and_is_throttled_silently() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.connect("a2", "alice", &["general"]).await;
    f.connect("b1", "bob", &["general"]).await;
    f.recorder.take();
    let typing = json!({"action": "typing", "conversation": "general"});
    f.frame("a1", typing.clone()).await;
    let sent = f.recorder.take();
    assert_eq!(
        f.got("b1", &sent),
        vec![json!({"type": "typing", "conversation": "general", "user": "alice"})]
    );
    assert!(f.got("a2", &sent).is_empty() && f.got("a1", &sent).is_empty());
    f.advance(1999);
    assert_eq!(f.frame("a1", typing.clone()).await, Handled::Dropped);
    assert!(f.recorder.take().is_empty(), "dropped without an error");
    f.advance(1);
    f.frame("a1", typing).await;
    assert_eq!(f.got("b1", &f.recorder.take()).len(), 1);
}

#[tokio::test]
async fn history_pages_newest_first_with_a_cursor_and_since() {
    let f = Fixture::new(Limits {
        history_page_size: 3,
        message_rate_per_minute: 0,
        ..Limits::default()
    });
    f.connect("a1", "alice", &["general"]).await;
    let mut ids = Vec::new();
    for n in 0..7 {
        f.advance(10);
        f.frame(
            "a1",
            json!({"action": "sendmessage", "conversation": "general", "text": format!("m{n}")}),
        )
        .await;
        ids.push(
            f.got("a1", &f.recorder.take())[0]["message"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let page = |v: &Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general"}),
    )
    .await;
    let first = f.got("a1", &f.recorder.take()).remove(0);
    assert_eq!(first["type"], "history");
    assert_eq!(page(&first), ["m6", "m5", "m4"]);
    assert_eq!(first["next_cursor"], ids[4]);
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general", "before": ids[4], "limit": 10}),
    )
    .await;
    let rest = f.got("a1", &f.recorder.take()).remove(0);
    assert_eq!(page(&rest), ["m3", "m2", "m1", "m0"]);
    assert!(rest.get("next_cursor").is_none());
    // Catching up: newer than m4.
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general", "after": ids[4]}),
    )
    .await;
    assert_eq!(page(&f.got("a1", &f.recorder.take())[0]), ["m6", "m5"]);
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general", "since": ids[5]}),
    )
    .await;
    assert_eq!(page(&f.got("a1", &f.recorder.take())[0]), ["m6"]);
    let ts5 = crate::ids::message_id_millis(&ids[5]).unwrap();
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general", "since": ts5}),
    )
    .await;
    assert_eq!(page(&f.got("a1", &f.recorder.take())[0]), ["m6", "m5"]);
}

#[tokio::test]
async fn history_pages_stay_under_the_message_limit() {
    let f = Fixture::new(Limits {
        max_message_chars: 7000,
        message_rate_per_minute: 0,
        ..Limits::default()
    });
    f.connect("a1", "alice", &["general"]).await;
    for n in 0..30 {
        f.advance(1);
        f.frame("a1", json!({"action": "sendmessage", "conversation": "general", "text": format!("{n}{}", "x".repeat(6990))})).await;
    }
    f.recorder.take();
    f.frame(
        "a1",
        json!({"action": "history", "conversation": "general", "limit": 30}),
    )
    .await;
    let sent = f.recorder.take();
    let text = sent[0].1.to_string();
    assert!(text.len() < 128 * 1024, "{} bytes", text.len());
    let kept = sent[0].1["messages"].as_array().unwrap().len();
    assert!(kept < 30 && kept > 10, "{kept}");
    assert!(sent[0].1["next_cursor"].is_string());
}

#[tokio::test]
async fn presence_events_on_connect_disconnect_and_expiry() {
    let f = Fixture::new(Limits {
        presence_ttl: Duration::from_secs(30),
        ..limits()
    });
    f.connect("b1", "bob", &["general"]).await;
    f.recorder.take();
    f.connect("a1", "alice", &["general"]).await;
    assert_eq!(
        f.got("b1", &f.recorder.take()),
        vec![
            json!({"type": "presence", "conversation": "general", "user": "alice", "status": "online"})
        ]
    );
    // A second device of an online user announces nothing.
    f.connect("a2", "alice", &["general"]).await;
    assert!(f.recorder.take().is_empty());
    f.frame(
        "b1",
        json!({"action": "presence", "conversation": "general"}),
    )
    .await;
    assert_eq!(
        f.got("b1", &f.recorder.take()),
        vec![json!({"type": "presence", "conversation": "general", "online": ["alice", "bob"]})]
    );
    // Alice's first device closes: she is still online on the second.
    f.service.disconnect(&f.transport, "a1").await.unwrap();
    assert!(f.recorder.take().is_empty());
    f.service.disconnect(&f.transport, "a2").await.unwrap();
    assert_eq!(
        f.got("b1", &f.recorder.take()),
        vec![
            json!({"type": "presence", "conversation": "general", "user": "alice", "status": "offline"})
        ]
    );

    // Carol stops sending heartbeats without disconnecting: her presence
    // expires and the next presence query notices it, once.
    f.connect("c1", "carol", &["general"]).await;
    f.recorder.take();
    f.advance(31_000);
    f.frame(
        "b1",
        json!({"action": "presence", "conversation": "general"}),
    )
    .await;
    let sent = f.recorder.take();
    assert_eq!(
        f.got("b1", &sent),
        vec![
            json!({"type": "presence", "conversation": "general", "user": "carol", "status": "offline"}),
            json!({"type": "presence", "conversation": "general", "online": ["bob"]}),
        ]
    );
    // (Bob's own heartbeat had lapsed as well: this frame brings him back.)
    assert!(
        f.got("c1", &sent)
            .iter()
            .all(|frame| frame["user"] != "carol"),
        "carol is not told about herself: {sent:?}"
    );
    f.frame(
        "b1",
        json!({"action": "presence", "conversation": "general"}),
    )
    .await;
    assert_eq!(
        f.got("b1", &f.recorder.take()).len(),
        1,
        "the expiry was announced once"
    );
    // Carol's next frame is a heartbeat: she is back, and announced.
    f.frame("c1", json!({"action": "typing", "conversation": "general"}))
        .await;
    let sent = f.recorder.take();
    assert!(f.got("b1", &sent).contains(&json!({"type": "presence", "conversation": "general", "user": "carol", "status": "online"})), "{sent:?}");
}

#[tokio::test]
async fn read_receipts_move_forward_only_and_reach_the_others() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.connect("b1", "bob", &["general"]).await;
    f.recorder.take();
    let mut ids = Vec::new();
    for text in ["one", "two"] {
        f.advance(5);
        f.frame(
            "a1",
            json!({"action": "sendmessage", "conversation": "general", "text": text}),
        )
        .await;
        ids.push(
            f.got("a1", &f.recorder.take())[0]["message"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    f.frame(
        "b1",
        json!({"action": "read", "conversation": "general", "message_id": ids[1]}),
    )
    .await;
    let sent = f.recorder.take();
    assert_eq!(
        f.got("a1", &sent),
        vec![
            json!({"type": "read", "conversation": "general", "user": "bob", "message_id": ids[1]})
        ]
    );
    assert!(f.got("b1", &sent).is_empty());
    // Older than the marker: nothing happens.
    f.frame(
        "b1",
        json!({"action": "read", "conversation": "general", "message_id": ids[0]}),
    )
    .await;
    assert!(f.recorder.take().is_empty());
    // A message id that is not in the conversation.
    let (unknown, _) = crate::ids::MessageIds::new().next(T0);
    assert_eq!(
        f.frame(
            "b1",
            json!({"action": "read", "conversation": "general", "message_id": unknown})
        )
        .await,
        Handled::Refused(ErrorCode::Invalid)
    );
}

#[tokio::test]
async fn gone_and_expired_connections_are_removed_and_delivery_goes_on() {
    let f = Fixture::new(Limits {
        connection_ttl: Duration::from_secs(600),
        ..limits()
    });
    f.connect("old", "dave", &["general"]).await;
    f.advance(300_000);
    f.connect("a1", "alice", &["general"]).await;
    f.connect("b1", "bob", &["general"]).await;
    f.connect("b2", "bob", &["general"]).await;
    f.recorder.gone.lock().unwrap().insert("b2".into());
    f.advance(301_000); // "old" expired, the others not
    f.recorder.take();
    let handled = f
        .frame(
            "a1",
            json!({"action": "sendmessage", "conversation": "general", "text": "hi"}),
        )
        .await;
    let Handled::Done(Some(report)) = handled else {
        panic!("{handled:?}")
    };
    assert_eq!((report.deliveries, report.gone, report.expired), (1, 1, 1));
    let sent = f.recorder.take();
    // (Alice's heartbeat had lapsed too, so b1 also hears she is back.)
    let messages: Vec<Value> = f
        .got("b1", &sent)
        .into_iter()
        .filter(|v| v["type"] == "message")
        .collect();
    assert_eq!(messages.len(), 1);
    let members = f
        .service
        .stores()
        .connections
        .members("general")
        .await
        .unwrap();
    let left: Vec<&str> = members.iter().map(|m| m.connection_id.as_str()).collect();
    assert!(left.contains(&"a1") && left.contains(&"b1"));
    assert!(!left.contains(&"b2") && !left.contains(&"old"), "{left:?}");
    assert!(
        f.service
            .stores()
            .connections
            .get("a1", f.clock.now_ms())
            .await
            .unwrap()
            .is_some(),
        "the sender stays"
    );
}

#[tokio::test]
async fn per_route_functions_serve_their_route_only() {
    let f = Fixture::new(limits());
    f.connect("a1", "alice", &["general"]).await;
    f.recorder.take();
    let body = json!({"action": "typing", "conversation": "general"}).to_string();
    let handled = f
        .service
        .handle_frame(&f.transport, "a1", &body, "r", Some(Action::SendMessage))
        .await;
    assert_eq!(handled, Handled::Refused(ErrorCode::UnknownAction));
    assert!(
        f.recorder.take()[0].1["message"]
            .as_str()
            .unwrap()
            .contains("only the sendmessage route")
    );
}

#[tokio::test]
async fn unknown_connections_are_refused() {
    let f = Fixture::new(limits());
    assert_eq!(
        f.frame(
            "nobody",
            json!({"action": "history", "conversation": "general"})
        )
        .await,
        Handled::Refused(ErrorCode::Forbidden)
    );
}

#[test]
fn connect_tokens_come_from_the_query_or_a_bearer_header() {
    assert_eq!(
        token_from(Some("abc"), Some("Bearer zzz")).as_deref(),
        Some("abc")
    );
    assert_eq!(token_from(None, Some("Bearer zzz")).as_deref(), Some("zzz"));
    assert_eq!(
        token_from(Some(""), Some("bearer  zzz ")).as_deref(),
        Some("zzz")
    );
    assert_eq!(token_from(None, Some("Basic zzz")), None);
    assert_eq!(token_from(None, None), None);
}

#[test]
fn connect_refusals_are_401_or_403() {
    let f = Fixture::new(limits());
    assert_eq!(
        f.service.verify_token(None).unwrap_err(),
        TokenError::Missing
    );
    assert_eq!(
        f.service.verify_token(Some("x.y.z")).unwrap_err().status(),
        401
    );
    let expired = token::sign(&f.key, &token::claims_for("a", &["g".into()], None, 0, 10));
    assert!(matches!(
        f.service.verify_token(Some(&expired)),
        Err(TokenError::Expired { .. })
    ));
    let nothing = token::sign(&f.key, &token::claims_for("a", &[], None, T0 / 1000, 10));
    assert_eq!(
        f.service.verify_token(Some(&nothing)).unwrap_err().status(),
        403
    );
}
