//! The notification service end to end: the `notifications` blueprint with
//! every channel deployed to the shared emulator with the real functions
//! from lambdas/notify (built with ARCHFORM_BUILD_PROFILE=dev), run by
//! `archform dev` behind its ALB listener and the SQS event source
//! mappings (priority and bulk queues). Through the API, with the key the
//! stack generated: one notification sent on every channel and checked
//! where it landed (SES v2 SendEmail, SNS Publish to a number and to a
//! platform endpoint, as moto's request recorder saw them; the webhook
//! receiver checks the Standard Webhooks signature); opt-outs, quiet
//! hours, idempotent replay; a receiver failing once (retried after the
//! worker's backoff) and one failing always (`dead_lettered`, then in the
//! DLQ); a poison message moved to the DLQ; a 10,000-user request fanned
//! out by the expander. Then the stack is destroyed with nothing left.

mod support;

use archform_aws::{Clients, assert_no_leftovers};
use archform_testkit::{sdk_config, test_endpoint};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Dev, archform, text, workdir};

/// The Standard Webhooks test secret (`whsec_` + base64 of the key).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The signature the Standard Webhooks spec defines, computed here with
/// the HMAC and SHA-256 crates (independently of lambdas/notify's own).
fn signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{KeyInit as _, Mac as _};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2_digest011::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[test]
fn the_signature_check_matches_the_spec_vector() {
    assert_eq!(
        signature(
            SECRET,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

struct Delivery {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 that records every request; `/hook`
/// answers 200, `/flaky` 503 the first time and 200 after, `/down` always
/// 503. Returns its base URL.
async fn receiver(got: Arc<Mutex<Vec<Delivery>>>) -> String {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let got = got.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let got = got.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let status = {
                            let mut got = got.lock().unwrap();
                            let earlier = got.iter().filter(|d| d.path == path).count();
                            got.push(Delivery {
                                path: path.clone(),
                                headers,
                                body,
                            });
                            match path.as_str() {
                                "/flaky" if earlier == 0 => 503,
                                "/down" => 503,
                                _ => 200,
                            }
                        };
                        let mut response =
                            hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Checks one received webhook's Standard Webhooks headers and signature.
fn assert_signed(d: &Delivery) {
    let header = |name: &str| {
        d.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (msg_id, timestamp, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    assert!(
        !msg_id.is_empty() && !timestamp.is_empty(),
        "{:?}",
        d.headers
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ts: i64 = timestamp.parse().unwrap();
    assert!((now - ts).abs() <= 300, "timestamp {ts}, now {now}");
    let expected = signature(SECRET, &msg_id, &timestamp, &d.body);
    assert!(
        sig.split(' ').any(|s| s == expected),
        "signature {sig:?}, expected {expected:?}"
    );
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Http {
    client: HttpClient,
    base: String,
    key: Option<String>,
}

impl Http {
    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, http::HeaderMap, Value) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if let Some(key) = &self.key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let body = Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
        let resp = self
            .client
            .request(req.body(body).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", text(&body)));
        (status, headers, json)
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, json) = self.raw(method, path, body).await;
        (status, json)
    }

    /// Polls a notification until every channel in `expected` has that
    /// status (a final status other than the expected one fails at once).
    async fn follow(&self, path: &str, expected: &[(&str, &str)], within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, n) = self.send("GET", path, None).await;
            if status == 200 {
                let mut done = true;
                for (channel, want) in expected {
                    let got = n["channels"][channel]["status"].as_str().unwrap_or("");
                    if got != *want {
                        done = false;
                        assert!(
                            matches!(got, "queued" | "sending" | "retrying" | ""),
                            "{channel}: {got}, expected {want}: {n}"
                        );
                    }
                }
                if done {
                    return n;
                }
            } else if status != 503 {
                // A fanned-out user's notification: 404 until expanded.
                // (503 asks the client to retry: moto, not thread-safe,
                // sometimes fails a Query while the fan-out writes.)
                assert_eq!(status, 404, "{n}");
            }
            assert!(
                Instant::now() < deadline,
                "{path}: not {expected:?} within {within:?}: {n}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// moto's request recorder, on for the sends whose arrival the test
/// checks (moto's model dump cannot be read once the emulator holds a
/// Lambda function). Off again when dropped, also on a failure.
struct Recorder {
    endpoint: String,
}

impl Recorder {
    fn call(endpoint: &str, action: &str) -> Vec<u8> {
        use std::io::{Read as _, Write as _};
        let url = endpoint.trim_end_matches('/');
        let host = url.strip_prefix("http://").expect("an http:// emulator");
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        let method = if action == "download-recording" {
            "GET"
        } else {
            "POST"
        };
        write!(
            stream,
            "{method} /moto-api/recorder/{action} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{action}: {head}"
        );
        let body = response[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(&body)
        } else {
            body
        }
    }

    fn start(endpoint: &str) -> Recorder {
        Self::call(endpoint, "reset-recording");
        Self::call(endpoint, "start-recording");
        Recorder {
            endpoint: endpoint.to_string(),
        }
    }

    /// Every recorded request's decoded body.
    fn bodies(&self) -> Vec<String> {
        use base64::Engine as _;
        let recording = Self::call(&self.endpoint, "download-recording");
        String::from_utf8_lossy(&recording)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|r| {
                let body = r["body"].as_str()?;
                if r["body_encoded"] == json!(true) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .ok()?;
                    Some(String::from_utf8_lossy(&bytes).to_string())
                } else {
                    Some(body.to_string())
                }
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        Self::call(&self.endpoint, "stop-recording");
        Self::call(&self.endpoint, "reset-recording");
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// A form-encoded (SNS query protocol) parameter of a recorded body.
fn form_value(body: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn api_key(clients: &Clients, outputs: &Value) -> String {
    let arn = outputs["api_key_secret"]
        .as_str()
        .expect("api_key_secret output");
    clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap()
        .secret_string
        .expect("a text secret")
}

/// Waits until `url` (a DLQ) holds a message whose body contains `needle`.
async fn wait_in_dlq(sqs: &aws_sdk_sqs::Client, url: &str, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out
            .messages
            .unwrap_or_default()
            .iter()
            .any(|m| m.body.as_deref().unwrap_or("").contains(needle))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} not in the dead-letter queue {url} within {within:?}"
        );
    }
}

const FANOUT_USERS: usize = 10_000;
/// Fanned-out users with a webhook address (the rest have no contact
/// point, so the expander plans and stores them as suppressed).
const FANOUT_REACHABLE: usize = 20;

fn template() -> Value {
    json!({
        "default_locale": "en",
        "category": "orders",
        "locales": {"en": {
            "email": {"subject": "Order {{order}} shipped", "html": "<p>Hi {{name}}, order {{order}}</p>", "text": "Hi {{name}}, order {{order}}"},
            "sms": {"text": "Hi {{name}}, order {{order}} shipped"},
            "push": {"title": "Shipped", "body": "Order {{order}} is on its way"},
            "webhook": {"body": {"event": "order.shipped", "order": "{{order}}"}}
        }}
    })
}

async fn scenario(
    http: &Http,
    clients: &Clients,
    outputs: &Value,
    endpoint: &str,
    hook: &str,
    got: &Arc<Mutex<Vec<Delivery>>>,
    unique: &str,
) {
    let (status, health) = http.send("GET", "/health", None).await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
    // Without the key: 401 and nothing stored.
    let anonymous = Http {
        client: http.client.clone(),
        base: http.base.clone(),
        key: None,
    };
    let (status, body) = anonymous
        .send("PUT", "/v1/templates/order-shipped", Some(template()))
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let (status, _) = http.send("GET", "/v1/templates/order-shipped", None).await;
    assert_eq!(status, 404);

    let (status, stored) = http
        .send("PUT", "/v1/templates/order-shipped", Some(template()))
        .await;
    assert_eq!(status, 201, "{stored}");
    let email = format!("ana-{unique}@example.com");
    let phone = "+14155550123";
    let token = format!("{unique:0>64}");
    let ana = json!({
        "email": email,
        "phone": phone,
        "push": {"platform": "apns", "token": token},
        "webhook": {"url": format!("{hook}/hook"), "secret": SECRET},
    });
    let (status, prefs) = http
        .send("PUT", "/v1/users/ana/preferences", Some(ana))
        .await;
    assert_eq!(status, 201, "{prefs}");

    // Every channel, checked where it landed.
    let recorder = Recorder::start(endpoint);
    let request = json!({
        "user_id": "ana",
        "template": "order-shipped",
        "data": {"name": "Ana", "order": format!("A-{unique}")},
        "idempotency_key": format!("order-{unique}-shipped"),
    });
    let (status, accepted) = http
        .send("POST", "/v1/notifications", Some(request.clone()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let shown = http
        .follow(
            &format!("/v1/notifications/{id}"),
            &[
                ("email", "sent"),
                ("sms", "sent"),
                ("push", "sent"),
                ("webhook", "sent"),
            ],
            Duration::from_secs(90),
        )
        .await;
    for channel in ["email", "sms", "push", "webhook"] {
        assert!(
            shown["channels"][channel]["provider_id"].is_string(),
            "{channel}: {shown}"
        );
    }
    let bodies = recorder.bodies();
    drop(recorder);
    let order = format!("A-{unique}");
    let mail = bodies
        .iter()
        .filter_map(|b| serde_json::from_str::<Value>(b).ok())
        .find(|b| b["Destination"]["ToAddresses"] == json!([email]))
        .unwrap_or_else(|| panic!("no SendEmail to {email} recorded"));
    assert_eq!(
        mail["Content"]["Simple"]["Subject"]["Data"],
        json!(format!("Order {order} shipped")),
        "{mail}"
    );
    assert_eq!(
        mail["Content"]["Simple"]["Body"]["Html"]["Data"],
        json!(format!("<p>Hi Ana, order {order}</p>"))
    );
    assert_eq!(
        mail["FromEmailAddress"],
        json!(outputs["email_identity"].as_str().unwrap())
    );
    let sms: Vec<&String> = bodies
        .iter()
        .filter(|b| form_value(b, "Action").as_deref() == Some("Publish"))
        .filter(|b| form_value(b, "PhoneNumber").as_deref() == Some(phone))
        .filter(|b| form_value(b, "Message").is_some_and(|m| m.contains(&order)))
        .collect();
    assert_eq!(sms.len(), 1, "one SMS to {phone}");
    assert_eq!(
        form_value(sms[0], "Message").unwrap(),
        format!("Hi Ana, order {order} shipped")
    );
    let pushes: Vec<String> = bodies
        .iter()
        .filter(|b| form_value(b, "Action").as_deref() == Some("Publish"))
        .filter(|b| form_value(b, "TargetArn").is_some_and(|a| a.contains(":endpoint/")))
        .filter_map(|b| form_value(b, "Message"))
        .filter(|m| m.contains(&format!("Order {order} is on its way")))
        .collect();
    assert_eq!(pushes.len(), 1, "one push: {pushes:?}");
    let push: Value = serde_json::from_str(&pushes[0]).unwrap();
    let apns: Value = serde_json::from_str(push["APNS"].as_str().unwrap()).unwrap();
    assert_eq!(apns["aps"]["alert"]["title"], "Shipped");
    {
        let got = got.lock().unwrap();
        let hooks: Vec<&Delivery> = got.iter().filter(|d| d.path == "/hook").collect();
        assert_eq!(hooks.len(), 1, "one webhook");
        assert_signed(hooks[0]);
        let body: Value = serde_json::from_slice(&hooks[0].body).unwrap();
        assert_eq!(body, json!({"event": "order.shipped", "order": order}));
    }

    // The same key and body: the same id, nothing sent again.
    let (status, headers, again) = http
        .raw("POST", "/v1/notifications", Some(request.clone()))
        .await;
    assert_eq!((status, &again["id"]), (202, &json!(id)), "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    let mut other = request.clone();
    other["data"]["order"] = json!("B-1");
    let (status, conflict) = http.send("POST", "/v1/notifications", Some(other)).await;
    assert_eq!(status, 409, "{conflict}");

    // Preferences decide: an opt-out of SMS, and quiet hours around now
    // (held with not_before). The window spans 6 hours before to 1 after
    // now in UTC, which holds New York's now in either DST offset.
    let utc_hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600)
        % 24;
    let quiet_start = format!("{:02}:00", (utc_hour + 24 - 6) % 24);
    let quiet_end = format!("{:02}:00", (utc_hour + 1) % 24);
    let bob = json!({
        "phone": "+14155550124",
        "webhook": {"url": format!("{hook}/hook"), "secret": SECRET},
        "timezone": "America/New_York",
        "quiet_hours": {"start": quiet_start, "end": quiet_end, "action": "delay"},
        "opt_out": {"channels": ["sms"]},
    });
    let (status, prefs) = http
        .send("PUT", "/v1/users/bob/preferences", Some(bob))
        .await;
    assert_eq!(status, 201, "{prefs}");
    let (status, accepted) = http
        .send(
            "POST",
            "/v1/notifications",
            Some(json!({"user_id": "bob", "template": "order-shipped", "data": {"name": "Bob", "order": "B-2"}, "channels": ["sms", "webhook"]})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let (_, shown) = http
        .send(
            "GET",
            &format!("/v1/notifications/{}", accepted["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(shown["channels"]["sms"]["status"], "suppressed", "{shown}");
    assert_eq!(shown["channels"]["sms"]["reason"], "opted_out", "{shown}");
    assert_eq!(shown["channels"]["webhook"]["status"], "queued", "{shown}");
    assert!(
        shown["channels"]["webhook"]["not_before"].is_i64(),
        "{shown}"
    );

    // A receiver failing once: retrying, then sent after the backoff; one
    // failing always: dead_lettered on the last receive (max_receive_count
    // 2), and the job moved to the channel's DLQ by the redrive policy.
    for (user, path) in [("flaky", "/flaky"), ("down", "/down")] {
        let (status, prefs) = http
            .send(
                "PUT",
                &format!("/v1/users/{user}/preferences"),
                Some(json!({"webhook": {"url": format!("{hook}{path}"), "secret": SECRET}})),
            )
            .await;
        assert_eq!(status, 201, "{prefs}");
    }
    let send_webhook = |user: &'static str| json!({"user_id": user, "template": "order-shipped", "data": {"order": format!("W-{user}")}, "channels": ["webhook"]});
    let (_, flaky) = http
        .send("POST", "/v1/notifications", Some(send_webhook("flaky")))
        .await;
    let (_, down) = http
        .send("POST", "/v1/notifications", Some(send_webhook("down")))
        .await;
    let flaky_id = flaky["id"].as_str().unwrap().to_string();
    let down_id = down["id"].as_str().unwrap().to_string();
    // A poison message straight onto the webhook queue.
    let poison = format!("not a delivery job {unique}");
    clients
        .sqs
        .send_message()
        .queue_url(outputs["webhook_queue"].as_str().unwrap())
        .message_body(&poison)
        .send()
        .await
        .unwrap();
    let shown = http
        .follow(
            &format!("/v1/notifications/{flaky_id}"),
            &[("webhook", "sent")],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(shown["channels"]["webhook"]["status"], "sent");
    let shown = http
        .follow(
            &format!("/v1/notifications/{down_id}"),
            &[("webhook", "dead_lettered")],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(shown["channels"]["webhook"]["attempts"], 2, "{shown}");
    let dlq = outputs["webhook_dlq"].as_str().unwrap();
    wait_in_dlq(&clients.sqs, dlq, &down_id, Duration::from_secs(60)).await;
    wait_in_dlq(&clients.sqs, dlq, &poison, Duration::from_secs(60)).await;
    {
        let got = got.lock().unwrap();
        let count = |p: &str| got.iter().filter(|d| d.path == p).count();
        assert_eq!(count("/flaky"), 2, "one failure, one success");
        assert_eq!(count("/down"), 2, "two attempts, then the DLQ");
        // A retry carries the same webhook-id (receivers drop repeats).
        let ids: Vec<_> = got
            .iter()
            .filter(|d| d.path == "/flaky")
            .map(|d| d.headers["webhook-id"].clone())
            .collect();
        assert_eq!(ids[0], ids[1]);
    }

    fanout(http, clients, outputs, hook, got).await;
}

/// 10,000 users in one request: accepted at once, expanded by the
/// expander function in chunks, every user's notification stored; the
/// reachable ones delivered through the bulk queue.
async fn fanout(
    http: &Http,
    clients: &Clients,
    outputs: &Value,
    hook: &str,
    got: &Arc<Mutex<Vec<Delivery>>>,
) {
    let users: Vec<String> = (0..FANOUT_USERS).map(|i| format!("fan-{i:05}")).collect();
    // Every 500th user can be reached by webhook.
    let reachable: Vec<&String> = users
        .iter()
        .step_by(FANOUT_USERS / FANOUT_REACHABLE)
        .collect();
    for user in &reachable {
        let (status, prefs) = http
            .send(
                "PUT",
                &format!("/v1/users/{user}/preferences"),
                Some(json!({"webhook": {"url": format!("{hook}/fan"), "secret": SECRET}})),
            )
            .await;
        assert_eq!(status, 201, "{prefs}");
    }
    let started = Instant::now();
    let (status, accepted) = http
        .send(
            "POST",
            "/v1/notifications",
            Some(json!({"user_ids": users, "template": "order-shipped", "data": {"order": "F-1"}, "channels": ["webhook"], "priority": "bulk", "category": "marketing"})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["user_count"], FANOUT_USERS);
    let batch = accepted["batch_id"].as_str().unwrap().to_string();
    // Accepted at once: the expander plans the users afterwards.
    assert!(started.elapsed() < Duration::from_secs(20));
    for user in &reachable {
        http.follow(
            &format!("/v1/batches/{batch}/users/{user}"),
            &[("webhook", "sent")],
            Duration::from_secs(300),
        )
        .await;
    }
    let last = users.last().unwrap();
    let shown = http
        .follow(
            &format!("/v1/batches/{batch}/users/{last}"),
            &[("webhook", "suppressed")],
            Duration::from_secs(300),
        )
        .await;
    assert_eq!(shown["channels"]["webhook"]["reason"], "no_contact");
    // Every user's notification, once.
    let table = outputs["notifications_table"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = clients
                .dynamodb
                .scan()
                .table_name(table)
                .filter_expression("sk = :n AND begins_with(user_id, :fan)")
                .expression_attribute_values(
                    ":n",
                    aws_sdk_dynamodb::types::AttributeValue::S("notification".into()),
                )
                .expression_attribute_values(
                    ":fan",
                    aws_sdk_dynamodb::types::AttributeValue::S("fan-".into()),
                )
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            count += page.count as usize;
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if count == FANOUT_USERS {
            break;
        }
        assert!(
            count < FANOUT_USERS,
            "{count} notifications for {FANOUT_USERS} users"
        );
        assert!(
            Instant::now() < deadline,
            "{count} of {FANOUT_USERS} fanned-out notifications stored"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let fan = got
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.path == "/fan")
        .count();
    assert_eq!(fan, FANOUT_REACHABLE, "each reachable user notified once");
    eprintln!(
        "{FANOUT_USERS} users fanned out, stored and the reachable ones sent in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn notifications_end_to_end_on_every_channel() {
    let dir = workdir("notify-e2e");
    let unique = std::process::id().to_string();
    let stack = format!("ntf-{unique}");
    let endpoint = test_endpoint();
    let target = ["--endpoint", endpoint.as_str()];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(&endpoint));
    let clients = Clients::new(&config);
    // The APNS platform application the push worker publishes through
    // (made outside the stack, as a user's would be).
    let app_arn = rt.block_on(async {
        clients
            .sns
            .create_platform_application()
            .name(format!("ntf-e2e-{unique}"))
            .platform("APNS")
            .attributes("PlatformCredential", "test-credential")
            .attributes("PlatformPrincipal", "test-principal")
            .send()
            .await
            .unwrap()
            .platform_application_arn
            .unwrap()
    });
    let email_from = format!("ntf-{unique}@example.com");
    let deploy = archform(
        &dir,
        &[
            &[
                "deploy",
                "notifications",
                "--stack",
                &stack,
                "--set",
                "channels=email,sms,push,webhook",
                "--set",
                "allow_http_webhooks=true",
                "--set",
                "max_receive_count=2",
                "--set",
                &format!("email_from={email_from}"),
                "--set",
                &format!("apns_platform_application_arn={app_arn}"),
            ][..],
            &target,
        ]
        .concat(),
    );
    assert!(
        deploy.status.success(),
        "deploy: {}\n{}",
        text(&deploy.stdout),
        text(&deploy.stderr)
    );
    let outputs = archform(&dir, &["--output", "json", "outputs", "--stack", &stack]);
    assert!(outputs.status.success(), "{}", text(&outputs.stderr));
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    let key = rt.block_on(api_key(&clients, &outputs));
    assert!(key.len() >= 24, "a generated key");
    {
        let dev = Dev::start(&dir, &stack, &endpoint);
        let http = Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: dev.url("alb"),
            key: Some(key),
        };
        rt.block_on(async {
            let got = Arc::new(Mutex::new(Vec::new()));
            let hook = receiver(got.clone()).await;
            scenario(&http, &clients, &outputs, &endpoint, &hook, &got, &unique).await;
        });
    }

    let destroy = archform(
        &dir,
        &[&["destroy", "--stack", &stack, "--yes"][..], &target].concat(),
    );
    assert!(
        destroy.status.success(),
        "destroy: {}",
        text(&destroy.stderr)
    );
    rt.block_on(async {
        clients
            .sns
            .delete_platform_application()
            .platform_application_arn(&app_arn)
            .send()
            .await
            .unwrap();
        assert_no_leftovers(&clients, &stack).await;
    });
}
