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

// SHA-256, HMAC and base64, enough to check a signature without a crypto
// crate among the dev-dependencies.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(data.iter().copied())
        .collect();
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= n {
                out.push(B64[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|b| *b == c).expect("base64") as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`.
fn signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64_decode(secret.strip_prefix("whsec_").unwrap());
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", base64_encode(&hmac_sha256(&key, &signed)))
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
