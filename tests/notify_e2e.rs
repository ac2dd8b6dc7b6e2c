//! The notification service end to end: the `notifications` blueprint with
//! the webhook channel deployed to the emulator with the real functions from
//! lambdas/notify (built with ARCHFORM_BUILD_PROFILE=dev), run by `archform
//! dev` behind its ALB listener and the SQS event source mappings. A
//! template and a user's preferences pointing at a local receiver are
//! stored over HTTP, a notification is sent and followed to `sent`, and the
//! receiver checks the Standard Webhooks signature of what it got; then the
//! stack is destroyed with nothing left behind.

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
    headers: http::HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 that records what it gets and answers
/// 200; returns its URL.
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
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        got.lock().unwrap().push(Delivery { headers, body });
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/hook")
}

struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
        let resp = self
            .client
            .request(req.body(body).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", text(&body)));
        (status, json)
    }
}

async fn send_and_follow(http: &Http, got: &Arc<Mutex<Vec<Delivery>>>, hook: &str) {
    let (status, health) = http.send("GET", "/health", None).await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
    let (status, template) = http
        .send(
            "PUT",
            "/v1/templates/order-shipped",
            Some(json!({
                "default_locale": "en",
                "category": "orders",
                "locales": {"en": {"webhook": {"body": {"event": "order.shipped", "order": "{{order}}"}}}}
            })),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let (status, prefs) = http
        .send(
            "PUT",
            "/v1/users/ana/preferences",
            Some(json!({"webhook": {"url": hook, "secret": SECRET}})),
        )
        .await;
    assert_eq!(status, 201, "{prefs}");
    let (status, accepted) = http
        .send(
            "POST",
            "/v1/notifications",
            Some(json!({
                "user_id": "ana",
                "template": "order-shipped",
                "data": {"order": "A-17"},
                "idempotency_key": "order-A-17-shipped"
            })),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ntf_"), "{accepted}");

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, n) = http
            .send("GET", &format!("/v1/notifications/{id}"), None)
            .await;
        assert_eq!(status, 200, "{n}");
        let webhook = &n["channels"]["webhook"];
        match webhook["status"].as_str() {
            Some("sent") => break,
            Some("queued" | "sending" | "retrying") => {}
            _ => panic!("the webhook channel went wrong: {n}"),
        }
        assert!(Instant::now() < deadline, "not sent in 90 s: {n}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1, "one delivery");
    let d = &got[0];
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
    let body: Value = serde_json::from_slice(&d.body).unwrap();
    assert!(
        body.to_string().contains("A-17") && body.to_string().contains("order.shipped"),
        "{body}"
    );
}

#[test]
fn notifications_end_to_end_over_a_webhook() {
    let dir = workdir("notify-e2e");
    let stack = format!("ntf-{}", std::process::id());
    let endpoint = test_endpoint();
    let target = ["--endpoint", endpoint.as_str()];
    let deploy = archform(
        &dir,
        &[
            &[
                "deploy",
                "notifications",
                "--stack",
                &stack,
                "--set",
                "channels=webhook",
                "--set",
                "allow_http_webhooks=true",
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

    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(&endpoint));
    {
        let dev = Dev::start(&dir, &stack, &endpoint);
        let http = Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: dev.url("alb"),
        };
        rt.block_on(async {
            let got = Arc::new(Mutex::new(Vec::new()));
            let hook = receiver(got.clone()).await;
            send_and_follow(&http, &got, &hook).await;
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
    rt.block_on(assert_no_leftovers(&Clients::new(&config), &stack));
}
