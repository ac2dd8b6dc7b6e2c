//! `notify serve` as a user runs it: the built binary on a free port, a
//! real HTTP client, and a webhook receiver on 127.0.0.1 that checks every
//! request's Standard Webhooks signature. On the in-memory store, and on
//! the emulator's DynamoDB tables and SQS queues.

mod support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::http::{HeaderMap, Method, StatusCode};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use notify::webhook_signature::{self, WebhookSecret};
use serde_json::{Value, json};
use support::http;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A running `notify serve`, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, String)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_notify"));
        command.args(["serve", "--port", "0"]).args(args);
        // Nothing of the caller's environment picks the tables or queues.
        for (name, _) in std::env::vars() {
            if name.starts_with("NOTIFY_") || name.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("NOTIFY_ALLOW_HTTP_WEBHOOKS", "true")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("notify serve printed {line:?}, not `listening on URL`"))
            .to_string();
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, body: Value) -> http::Answer {
        http::post_json(&self.url("/v1/notifications"), &body).await
    }

    async fn put(&self, path: &str, body: Value) -> http::Answer {
        http::put_json(&self.url(path), &body).await
    }

    async fn get(&self, path: &str) -> http::Answer {
        http::get(&self.url(path)).await
    }

    /// Waits until the notification's `channel` leaves `queued`/`sending`
    /// (or `retrying`, unless `settle_on_retrying`), and returns it.
    async fn settled(&self, id: &str, channel: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shown = self.get(&format!("/v1/notifications/{id}")).await.json();
            let status = shown["channels"][channel]["status"].as_str().unwrap_or("");
            if !matches!(status, "queued" | "sending" | "retrying" | "") {
                return shown;
            }
            assert!(Instant::now() < deadline, "still {status}: {shown}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the expander has stored `user`'s notification of
    /// `batch`, and returns it.
    async fn expanded(&self, batch: &str, user: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self.get(&format!("/v1/batches/{batch}/users/{user}")).await;
            if answer.status == StatusCode::OK {
                return answer.json();
            }
            assert!(Instant::now() < deadline, "{user} of {batch} not expanded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn setup(&self, hook: &str) {
        let answer = self
            .put(
                "/v1/templates/order-shipped",
                json!({
                    "default_locale": "en",
                    "category": "orders",
                    "locales": {"en": {
                        "webhook": {"body": {"event": "order.shipped", "order": "{{order}}", "name": "{{name}}"}},
                        "email": {"subject": "Order {{order}}", "text": "Hi {{name}}"},
                        "sms": {"text": "Hi {{name}}, order {{order}} shipped."}
                    }}
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
        self.user(
            "ana",
            json!({"webhook": {"url": hook, "secret": SECRET}, "email": "ana@example.com"}),
        )
        .await;
    }

    async fn user(&self, id: &str, prefs: Value) {
        let answer = self
            .put(&format!("/v1/users/{id}/preferences"), prefs)
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.json());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the receiver got, after its signature checked out.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Delivery>>>,
    /// Statuses to answer with, in order, then 200.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
    bad_signatures: Arc<Mutex<usize>>,
}

impl Receiver {
    /// Listens on 127.0.0.1; returns the hook URL.
    async fn start(&self) -> String {
        async fn hook(
            State(receiver): State<Receiver>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let header = |name| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            };
            let secret = WebhookSecret::parse(SECRET).unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let checked = webhook_signature::verify(
                &secret,
                header(webhook_signature::HEADER_ID),
                header(webhook_signature::HEADER_TIMESTAMP),
                header(webhook_signature::HEADER_SIGNATURE),
                &body,
                now,
                webhook_signature::DEFAULT_TOLERANCE_SECS,
            );
            if checked.is_err() {
                *receiver.bad_signatures.lock().unwrap() += 1;
                return StatusCode::UNAUTHORIZED;
            }
            receiver.got.lock().unwrap().push(Delivery {
                id: header(webhook_signature::HEADER_ID).to_owned(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            receiver
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(StatusCode::OK)
        }
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        format!("http://127.0.0.1:{port}/hook")
    }

    fn got(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    fn of(&self, id: &str) -> Vec<Delivery> {
        self.got().into_iter().filter(|d| d.id == id).collect()
    }
}

#[tokio::test]
async fn a_notification_is_delivered_to_a_webhook_and_shown_sent() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start(&["--store", "memory"], &[]);
    assert_eq!(server.get("/health").await.json(), json!({"status": "ok"}));
    server.setup(&hook).await;

    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-17"}, "channels": ["webhook"]}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json());
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        answer.header("location"),
        Some(format!("/v1/notifications/{id}").as_str())
    );

    let shown = server.settled(&id, "webhook").await;
    assert_eq!(shown["channels"]["webhook"]["status"], "sent", "{shown}");
    assert_eq!(shown["channels"]["webhook"]["provider_id"], id.as_str());
    let got = receiver.of(&id);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body,
        json!({"event": "order.shipped", "order": "A-17", "name": "Ana"})
    );
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_accepts() {
    let receiver = Receiver::default();
    receiver
        .script
        .lock()
        .unwrap()
        .extend([StatusCode::SERVICE_UNAVAILABLE, StatusCode::BAD_GATEWAY]);
    let hook = receiver.start().await;
    let server = Server::start(&["--store", "memory"], &[]);
    server.setup(&hook).await;
    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-18"}, "channels": ["webhook"]}))
        .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "webhook").await;
    assert_eq!(shown["channels"]["webhook"]["status"], "sent", "{shown}");
    // Three tries, one webhook-id: a receiver can drop repeats by it.
    assert_eq!(receiver.of(&id).len(), 3);
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_ends_dead_lettered_and_a_refusal_fails_at_once() {
    let receiver = Receiver::default();
    receiver.script.lock().unwrap().extend([
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::GONE,
    ]);
    let hook = receiver.start().await;
    let server = Server::start(
        &["--store", "memory"],
        &[("NOTIFY_MAX_RECEIVE_COUNT", "2".into())],
    );
    server.setup(&hook).await;
    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-19"}, "channels": ["webhook"]}))
        .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "webhook").await;
    assert_eq!(
        shown["channels"]["webhook"]["status"], "dead_lettered",
        "{shown}"
    );
    assert_eq!(shown["channels"]["webhook"]["attempts"], 2);
    assert!(
        shown["channels"]["webhook"]["reason"]
            .as_str()
            .unwrap()
            .contains("503")
    );

    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-20"}, "channels": ["webhook"]}))
        .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "webhook").await;
    assert_eq!(shown["channels"]["webhook"]["status"], "failed", "{shown}");
    assert!(
        shown["channels"]["webhook"]["reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    assert_eq!(receiver.of(&id).len(), 1);
}

#[tokio::test]
async fn an_idempotent_retry_is_answered_the_same_and_sends_once() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start(&["--store", "memory"], &[]);
    server.setup(&hook).await;
    let body = json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-21"}, "channels": ["webhook"]});
    let first = http::call(
        Method::POST,
        &server.url("/v1/notifications"),
        &[("idempotency-key", "order-A-21-shipped")],
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    server.settled(&id, "webhook").await;
    // The same request again, the key moved into the body and the keys
    // reordered: replayed, nothing sent again.
    let again = server
        .post(json!({"channels": ["webhook"], "idempotency_key": "order-A-21-shipped", "data": {"order": "A-21", "name": "Ana"}, "template": "order-shipped", "user_id": "ana"}))
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], id.as_str());
    // The key with another body is a conflict.
    let conflict = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-22"}, "channels": ["webhook"], "idempotency_key": "order-A-21-shipped"}))
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(
        conflict.json()["error"]
            .as_str()
            .unwrap()
            .contains("different request body")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.of(&id).len(), 1);
    assert_eq!(receiver.got().len(), 1);
}

#[tokio::test]
async fn opt_outs_and_missing_providers_are_shown_and_nothing_is_sent() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start(&["--store", "memory"], &[]);
    server.setup(&hook).await;
    server
        .user(
            "bob",
            json!({"webhook": {"url": hook, "secret": SECRET}, "opt_out": {"channels": ["webhook"]}}),
        )
        .await;
    server
        .user(
            "eve",
            json!({"webhook": {"url": hook, "secret": SECRET}, "opt_out": {"categories": ["orders"]}}),
        )
        .await;
    let answer = server
        .post(json!({"user_ids": ["bob", "eve"], "template": "order-shipped", "data": {"name": "x", "order": "A-23"}, "channels": ["webhook"]}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    for notification in answer.json()["notifications"].as_array().unwrap() {
        let shown = server
            .get(&format!(
                "/v1/notifications/{}",
                notification["id"].as_str().unwrap()
            ))
            .await
            .json();
        assert_eq!(shown["channels"]["webhook"]["status"], "suppressed");
        assert_eq!(shown["channels"]["webhook"]["reason"], "opted_out");
    }
    // Email has no provider in this build: it fails, saying so.
    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-24"}, "channels": ["email"]}))
        .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "email").await;
    assert_eq!(shown["channels"]["email"]["status"], "failed");
    assert_eq!(
        shown["channels"]["email"]["reason"],
        "no email provider is configured for this deployment"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn bad_input_is_a_400_naming_what_is_wrong() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start(&["--store", "memory"], &[]);
    server.setup(&hook).await;
    let raw = http::call(
        Method::POST,
        &server.url("/v1/notifications"),
        &[("x-request-id", "req-123")],
        Some(b"{not json".to_vec()),
    )
    .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    assert_eq!(raw.json()["request_id"], "req-123");
    assert!(raw.json()["error"].as_str().unwrap().contains("not JSON"));
    let cases = [
        (
            json!({"user_id": "ana", "template": "nope"}),
            "unknown template",
        ),
        (
            json!({"user_id": "ana", "template": "order-shipped", "data": {"order": "1"}, "channels": ["webhook"]}),
            "\"name\"",
        ),
        (
            json!({"user_id": "ana", "template": "order-shipped", "channels": ["fax"]}),
            "unknown channel",
        ),
        (
            json!({"user_id": "ana", "template": "order-shipped", "emial": "x"}),
            "unknown field",
        ),
        (json!({"template": "order-shipped"}), "user_id"),
        (
            json!({"user_id": "ana", "template": "order-shipped", "priority": "urgent"}),
            "unknown priority",
        ),
    ];
    for (body, fragment) in cases {
        let answer = server.post(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(fragment), "{body}: {error}");
    }
    let answer = server
        .put(
            "/v1/users/zed/preferences",
            json!({"email": "not an address"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = server
        .put(
            "/v1/users/zed/preferences",
            json!({"webhook": {"url": "https://10.0.0.1/hook"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.get("/v1/users/zed/preferences").await.status,
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn a_request_for_more_users_than_inline_is_fanned_out_and_delivered() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start(
        &["--store", "memory"],
        &[("NOTIFY_MAX_RECIPIENTS", "2".into())],
    );
    server.setup(&hook).await;
    for user in ["bob", "eve"] {
        server
            .user(user, json!({"webhook": {"url": hook, "secret": SECRET}}))
            .await;
    }
    let users: Vec<String> = ["ana", "bob", "eve"]
        .into_iter()
        .map(String::from)
        .chain((0..200).map(|i| format!("u{i}")))
        .collect();
    let answer = server
        .post(json!({"user_ids": users, "template": "order-shipped", "data": {"name": "all", "order": "A-25"}, "channels": ["webhook"]}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json());
    let batch = answer.json()["batch_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for user in ["ana", "bob", "eve"] {
        let shown = server.expanded(&batch, user).await;
        let id = shown["id"].as_str().unwrap().to_owned();
        let shown = server.settled(&id, "webhook").await;
        assert_eq!(shown["channels"]["webhook"]["status"], "sent");
        ids.push(id);
    }
    for id in &ids {
        assert_eq!(receiver.of(id).len(), 1);
    }
    assert_eq!(receiver.got().len(), 3);
    let nobody = server.expanded(&batch, "u199").await;
    assert_eq!(nobody["channels"]["webhook"]["reason"], "no_contact");
}

#[tokio::test]
async fn on_the_emulators_tables_and_queues_it_delivers_too() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let endpoint = archform_testkit::test_endpoint();
    let sdk = archform_testkit::sdk_config(&endpoint).await;
    let names = support::tables::TableNames::new("notify-serve");
    support::tables::create(&aws_sdk_dynamodb::Client::new(&sdk), &names).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let unique = names
        .notifications
        .trim_end_matches("-notifications")
        .to_owned();
    let mut queues = Vec::new();
    for name in ["webhook", "expand", "sms", "email"] {
        queues.push(
            sqs.create_queue()
                .queue_name(format!("{unique}-{name}"))
                .attributes(QueueAttributeName::VisibilityTimeout, "2")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap(),
        );
    }
    let receiver = Receiver::default();
    receiver
        .script
        .lock()
        .unwrap()
        .push_back(StatusCode::SERVICE_UNAVAILABLE);
    let hook = receiver.start().await;
    let env = vec![
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("NOTIFY_NOTIFICATIONS_TABLE", names.notifications.clone()),
        ("NOTIFY_TEMPLATES_TABLE", names.templates.clone()),
        ("NOTIFY_PREFERENCES_TABLE", names.preferences.clone()),
        ("NOTIFY_IDEMPOTENCY_TABLE", names.idempotency.clone()),
        ("NOTIFY_RATE_LIMIT_TABLE", names.rate_limits.clone()),
        ("NOTIFY_RATE_WEBHOOK_PER_SECOND", "50".into()),
        ("NOTIFY_WEBHOOK_QUEUE_URL", queues[0].clone()),
        ("NOTIFY_EXPANSION_QUEUE_URL", queues[1].clone()),
        ("NOTIFY_MAX_RECIPIENTS", "1".into()),
        ("NOTIFY_SMS_QUEUE_URL", queues[2].clone()),
        ("NOTIFY_EMAIL_QUEUE_URL", queues[3].clone()),
        ("NOTIFY_EMAIL_FROM", format!("orders-{unique}@example.com")),
    ];
    // The sender identity, as SES needs it.
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity(format!("orders-{unique}@example.com"))
        .send()
        .await
        .expect("the sender identity");
    let server = Server::start(&["--store", "dynamodb"], &env);
    server.setup(&hook).await;
    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-26"}, "channels": ["webhook"], "idempotency_key": "dyn-1"}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json());
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "webhook").await;
    // The 503 came back through SQS after the visibility timeout.
    assert_eq!(shown["channels"]["webhook"]["status"], "sent", "{shown}");
    assert_eq!(receiver.of(&id).len(), 2);
    let again = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-26"}, "channels": ["webhook"], "idempotency_key": "dyn-1"}))
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // SMS through SNS and email through SES, from their queues.
    server
        .user(
            "ana",
            json!({"webhook": {"url": hook, "secret": SECRET}, "email": "ana@example.com", "phone": "+14155550123"}),
        )
        .await;
    let answer = server
        .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-28"}, "channels": ["sms", "email"]}))
        .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    for channel in ["sms", "email"] {
        let shown = server.settled(&id, channel).await;
        assert_eq!(shown["channels"][channel]["status"], "sent", "{shown}");
        assert!(
            shown["channels"][channel]["provider_id"].is_string(),
            "{shown}"
        );
    }

    // Through the expander's queue.
    let answer = server
        .post(json!({"user_ids": ["ana", "nobody"], "template": "order-shipped", "data": {"name": "Ana", "order": "A-27"}, "channels": ["webhook"]}))
        .await;
    let batch = answer.json()["batch_id"].as_str().unwrap().to_owned();
    let shown = server.expanded(&batch, "ana").await;
    let id = shown["id"].as_str().unwrap().to_owned();
    let shown = server.settled(&id, "webhook").await;
    assert_eq!(shown["channels"]["webhook"]["status"], "sent", "{shown}");
    assert_eq!(receiver.of(&id).len(), 1);
}

/// `notify serve` on the emulator's tables and queue, killed (SIGKILL)
/// while a batch is half sent, then started again: every notification
/// ends `sent`; those already `sent` before the kill (their SQS messages
/// not yet deleted, so delivered again) are not sent twice; a repeat is
/// possible only for a send in flight at the kill, and carries the same
/// `webhook-id` for the receiver to drop.
#[tokio::test]
async fn a_server_killed_mid_batch_sends_nothing_twice_that_it_had_recorded() {
    use aws_sdk_sqs::types::QueueAttributeName;
    const JOBS: usize = 20;
    let endpoint = archform_testkit::test_endpoint();
    let sdk = archform_testkit::sdk_config(&endpoint).await;
    let names = support::tables::TableNames::new("notify-kill");
    support::tables::create(&aws_sdk_dynamodb::Client::new(&sdk), &names).await;
    let unique = names
        .notifications
        .trim_end_matches("-notifications")
        .to_owned();
    let queue = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(format!("{unique}-webhook"))
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    // A receiver that answers even orders at once and odd ones after 3 s,
    // recording (webhook-id, order, answered) per request.
    #[derive(Clone, Default)]
    struct Slow(Arc<Mutex<Vec<(String, String, bool)>>>);
    async fn hook(State(slow): State<Slow>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let id = headers
            .get(webhook_signature::HEADER_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let order = body["order"].as_str().unwrap_or("").to_owned();
        let index = {
            let mut got = slow.0.lock().unwrap();
            got.push((id, order.clone(), false));
            got.len() - 1
        };
        let odd = order
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n % 2 == 1);
        if odd {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        slow.0.lock().unwrap()[index].2 = true;
        StatusCode::OK
    }
    let slow = Slow::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(slow.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env = vec![
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("NOTIFY_NOTIFICATIONS_TABLE", names.notifications.clone()),
        ("NOTIFY_TEMPLATES_TABLE", names.templates.clone()),
        ("NOTIFY_PREFERENCES_TABLE", names.preferences.clone()),
        ("NOTIFY_IDEMPOTENCY_TABLE", names.idempotency.clone()),
        ("NOTIFY_WEBHOOK_QUEUE_URL", queue.clone()),
        // A claim of the killed server is taken over after a second.
        ("NOTIFY_SEND_LEASE_SECONDS", "1".into()),
    ];
    let mut first = Server::start(&["--store", "dynamodb"], &env);
    first.setup(&hook_url).await;
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let answer = first
            .post(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": format!("K-{i}")}, "channels": ["webhook"]}))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json());
        ids.push(answer.json()["id"].as_str().unwrap().to_owned());
    }
    // Half a batch answered, the other half waiting on the receiver.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (answered, waiting) = {
            let got = slow.0.lock().unwrap();
            (
                got.iter().filter(|d| d.2).count(),
                got.iter().filter(|d| !d.2).count(),
            )
        };
        if answered >= 3 && waiting >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no batch in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent_before = Vec::new();
    for id in &ids {
        let shown = first.get(&format!("/v1/notifications/{id}")).await.json();
        if shown["channels"]["webhook"]["status"] == "sent" {
            sent_before.push(id.clone());
        }
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(
        !sent_before.is_empty(),
        "nothing was recorded sent before the kill"
    );

    let second = Server::start(&["--store", "dynamodb"], &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let shown = second.get(&format!("/v1/notifications/{id}")).await.json();
            if shown["channels"]["webhook"]["status"] == "sent" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not sent after the restart: {shown}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Let any late redelivery arrive before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = slow.0.lock().unwrap().clone();
    let times = |id: &str| got.iter().filter(|d| d.0 == id).count();
    for id in &ids {
        assert!(times(id) >= 1, "{id} never arrived");
    }
    for id in &sent_before {
        assert_eq!(times(id), 1, "{id} was recorded sent, then sent again");
    }
    // Repeats only for sends in flight at the kill: at most one batch's
    // worth (NOTIFY_WORKER_CONCURRENCY, 10).
    let repeated = ids.iter().filter(|id| times(id) > 1).count();
    assert!(repeated <= 10, "{repeated} notifications sent twice");
    drop(second);
}
