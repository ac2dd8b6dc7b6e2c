//! The notification service (lambdas/notify), three figures in one run,
//! each beside a baseline measured in the same run:
//!
//! 1. accepted POST /v1/notifications per second of `notify serve --store
//!    memory` (webhook channel, to a receiver in this process that answers
//!    200) at 32 keep-alive connections, against a minimal hyper server
//!    that answers every request with a fixed 202 JSON body (this binary
//!    re-executed with `--baseline-server`), driven by the same client.
//!    Rounds alternate (baseline, serve, ...) after a warm-up of each;
//!    requests/s, p50 and p99 per side and the ratio. Every accepted
//!    notification must then reach the receiver (else the run fails).
//! 2. POST to `sent` under `archform dev` on the emulator, with the
//!    `notifications` blueprint deployed (channels [webhook],
//!    allow_http_webhooks true, as tests/notify_e2e.rs does): 50 sequential
//!    notifications, p50/p99 from the POST to the receiver getting the
//!    webhook and to GET showing `sent`; beside, in the same iterations,
//!    GET /health through dev's ALB listener (one function invocation) and
//!    an SQS send + receive on the same emulator, and the ratios.
//! 3. fan-out: one POST with 10,000 `user_ids` (their preferences stored
//!    first through PUT) to `notify serve --store memory`: recipients/s
//!    until all 10,000 notifications are planned (the expander's last
//!    user visible) and until all 10,000 webhooks reached the receiver,
//!    against part 1's single-user notifications/s. Then, on the stack
//!    of part 2, one POST with 200 `user_ids` (their preferences written
//!    to the table), expanded by the `expander` function under dev.
//!
//!     cargo build -p notify --bins && cargo build --bin archform && cargo run --example bench_notify
//!
//! With ARCHFORM_TEST_ENDPOINT unset it starts its own moto.
//! ARCHFORM_BENCH_CLIENTS overrides the connections of part 1,
//! ARCHFORM_BENCH_RUST_LOG the RUST_LOG of `notify serve` (default `info`,
//! the service's default), ARCHFORM_BENCH_ONLY=serve|dev|fanout runs one
//! part, ARCHFORM_BENCH_DEV_FANOUT the recipients of the fan-out under dev
//! (default 200, 0 for none), ARCHFORM_BENCH_KEEP_LOGS keeps the logs of
//! `notify serve` and `archform dev`. Asserts nothing about speed; fails if
//! a notification is refused or not delivered.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/processes.rs"]
#[allow(dead_code)]
mod processes;
use processes::{Process, binary, first_line, listening_url};

#[path = "common/load.rs"]
#[allow(dead_code)]
mod load;

const CLIENTS_DEFAULT: usize = 32;
const ROUND: Duration = Duration::from_secs(3);
const WARM_UP: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;
/// Users the single-user POSTs of part 1 go round (one per connection).
const USERS: usize = 32;
/// Sequential notifications of part 2.
const SEQUENTIAL: usize = 50;
/// Recipients of part 3's one request (NOTIFY_MAX_FANOUT_RECIPIENTS'
/// default).
const FANOUT: usize = 10_000;
/// The Standard Webhooks test secret (every user's webhook secret).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEMPLATE: &str = "bench";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// `archform dev`: interrupted when dropped (so that it stops its function
/// processes), killed if it has not exited within 20 s.
struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--baseline-server`: every request's body read, then a fixed 202 with a
/// JSON body of the size `notify serve` answers; nothing stored, nothing
/// checked (see [`processes::serve_fixed_answer`]).
fn baseline_server() {
    processes::serve_fixed_answer(
        StatusCode::ACCEPTED,
        &[("content-type", "application/json")],
        br#"{"id":"ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TX","user_id":"u0"}"#,
    );
}

/// The webhook receiver: answers 200 to everything, counts the requests and
/// keeps when each `webhook-id` (the notification id) arrived.
#[derive(Clone)]
struct Receiver {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Receiver {
    /// Listens on 127.0.0.1; returns the receiver and its hook URL.
    async fn start() -> (Receiver, String) {
        let receiver = Receiver {
            arrivals: Arc::default(),
            count: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let r = r.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let r = r.clone();
                            async move {
                                let at = Instant::now();
                                let id = req
                                    .headers()
                                    .get("webhook-id")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string();
                                let _ = req.into_body().collect().await;
                                r.arrivals.lock().unwrap().insert(id, at);
                                r.count.send_modify(|n| *n += 1);
                                Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                    Bytes::from_static(b"ok"),
                                )))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (receiver, url)
    }

    fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// When the webhook of notification `id` arrived (waits up to `within`).
    async fn arrival(&self, id: &str, within: Duration) -> Option<Instant> {
        let mut changes = self.count.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.arrivals.lock().unwrap().get(id) {
                return Some(*at);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Waits until `n` requests arrived (up to `within`); when the last did.
    async fn reach(&self, n: usize, within: Duration) -> Result<Instant, usize> {
        let mut changes = self.count.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if *changes.borrow_and_update() >= n {
                return Ok(self
                    .arrivals
                    .lock()
                    .unwrap()
                    .values()
                    .max()
                    .copied()
                    .unwrap_or_else(Instant::now));
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(self.count());
            }
        }
    }
}

/// One request; the status and the body as JSON (or as a string).
async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method.clone()).uri(url);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(key) = auth {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let body = Full::new(Bytes::from(body.map(Value::to_string).unwrap_or_default()));
    let resp = client
        .request(req.body(body).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

/// The template every part sends (webhook only), and `users` whose webhook
/// points at `hook`, stored through the API (`concurrency` at a time).
async fn setup(base: &str, hook: &str, users: &[String], concurrency: usize, auth: Option<&str>) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (status, answer) = call(
        &client,
        Method::PUT,
        &format!("{base}/v1/templates/{TEMPLATE}"),
        Some(&json!({
            "default_locale": "en",
            "locales": {"en": {"webhook": {"body": {"event": "bench", "seq": "{{seq}}"}}}}
        })),
        auth,
    )
    .await;
    assert!(status.is_success(), "PUT template: {status} {answer}");
    let users = Arc::new(users.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, users, next) = (client.clone(), users.clone(), next.clone());
        let (base, hook, auth) = (base.to_string(), hook.to_string(), auth.map(str::to_string));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(user) = users.get(i) else { break };
                let (status, answer) = call(
                    &client,
                    Method::PUT,
                    &format!("{base}/v1/users/{user}/preferences"),
                    Some(&json!({"webhook": {"url": hook, "secret": SECRET}})),
                    auth.as_deref(),
                )
                .await;
                assert!(
                    status.is_success(),
                    "PUT preferences of {user}: {status} {answer}"
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("preferences task");
    }
}

fn notification(user: &str, seq: usize) -> Value {
    json!({"user_id": user, "template": TEMPLATE, "data": {"seq": seq.to_string()}, "channels": ["webhook"]})
}

/// A round of POST /v1/notifications from `clients` keep-alive connections
/// for `duration`, each going round the users from its own; a 202 counts.
async fn post_round(base: &str, clients: usize, duration: Duration) -> load::Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let uri: hyper::Uri = format!("{base}/v1/notifications").parse().unwrap();
    let mut tasks = Vec::new();
    for task in 0..clients {
        let (stop, uri) = (stop.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            let client: HttpClient = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http();
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let mut i = task;
            while !stop.load(Ordering::Relaxed) {
                let body = notification(&format!("u{}", i % USERS), i).to_string();
                i += clients;
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let ok = resp.status() == StatusCode::ACCEPTED;
                        let _ = resp.into_body().collect().await;
                        if ok {
                            lat.push(t.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut sample = load::Sample {
        requests: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, errors) = t.await.expect("load task");
        sample.requests += lat.len();
        sample.errors += errors;
        sample.latencies_us.extend(lat);
    }
    sample.elapsed = started.elapsed();
    sample
}

/// `notify serve --store memory` on a free port, its log to `log`.
fn notify_serve(log: &Path) -> (Process, String) {
    let mut command = Command::new(binary("notify", "notify"));
    command.args(["serve", "--store", "memory", "--port", "0"]);
    // Nothing of the caller's environment picks tables, queues or a key.
    for (name, _) in std::env::vars() {
        if name.starts_with("NOTIFY_") || name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .env("NOTIFY_ALLOW_HTTP_WEBHOOKS", "true")
        .env(
            "RUST_LOG",
            std::env::var("ARCHFORM_BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .env_remove("PORT")
        .env_remove("BIND_ADDRESS")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("notify serve log"))
        .spawn()
        .expect("notify serve");
    let url = listening_url(&mut child, "notify serve");
    (Process(child), url)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Part 1; returns notify serve's accepted notifications/s.
async fn serve_throughput(work: &Path) -> f64 {
    let clients = load::clients(CLIENTS_DEFAULT);
    let (receiver, hook) = Receiver::start().await;
    let mut baseline = Process(
        Command::new(std::env::current_exe().unwrap())
            .arg("--baseline-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("baseline server"),
    );
    let baseline_url = listening_url(&mut baseline.0, "baseline server");
    let (serve, serve_url) = notify_serve(&work.join("serve.log"));
    let users: Vec<String> = (0..USERS).map(|i| format!("u{i}")).collect();
    setup(&serve_url, &hook, &users, 8, None).await;

    post_round(&baseline_url, clients, WARM_UP).await;
    let mut accepted = post_round(&serve_url, clients, WARM_UP).await.requests;
    let (mut base, mut serve_samples) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base.push(post_round(&baseline_url, clients, ROUND).await);
        let s = post_round(&serve_url, clients, ROUND).await;
        accepted += s.requests;
        serve_samples.push(s);
    }
    println!(
        "POST /v1/notifications (one user, webhook channel), {clients} concurrent keep-alive connections, {ROUNDS} alternating rounds of {} s:",
        ROUND.as_secs()
    );
    let (base_rps, _) = load::summarize("fixed 202", &base);
    let (serve_rps, _) = load::summarize("notify", &serve_samples);
    let lat = |samples: &[load::Sample], p| {
        let mut all: Vec<u64> = samples
            .iter()
            .flat_map(|s| s.latencies_us.iter().copied())
            .collect();
        all.sort_unstable();
        percentile(&all, p)
    };
    println!(
        "  ratio notify/fixed-202: throughput {:.3}, p50 x{:.1}, p99 x{:.1}",
        serve_rps / base_rps,
        lat(&serve_samples, 0.5) / lat(&base, 0.5),
        lat(&serve_samples, 0.99) / lat(&base, 0.99)
    );
    let errors: usize = serve_samples.iter().map(|s| s.errors).sum();
    assert_eq!(errors, 0, "notify serve refused or failed requests");
    // Every accepted notification must reach the receiver.
    let behind = receiver.count();
    let started = Instant::now();
    match receiver.reach(accepted, Duration::from_secs(60)).await {
        Ok(_) => println!(
            "  every one of the {accepted} accepted notifications reached the receiver ({behind} by the end of the last round, the rest in {:.1} s)",
            started.elapsed().as_secs_f64()
        ),
        Err(got) => panic!("only {got} of {accepted} accepted notifications reached the receiver"),
    }
    drop(serve);
    serve_rps
}

/// Part 3, on `notify serve --store memory`.
async fn fanout(work: &Path, single_rps: Option<f64>) {
    let (receiver, hook) = Receiver::start().await;
    let (serve, base) = notify_serve(&work.join("fanout.log"));
    let users: Vec<String> = (0..FANOUT).map(|i| format!("f{i}")).collect();
    let started = Instant::now();
    setup(&base, &hook, &users, 16, None).await;
    let stored = started.elapsed();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let body = json!({"user_ids": users, "template": TEMPLATE, "data": {"seq": "fan"}, "channels": ["webhook"]});
    let t0 = Instant::now();
    let (status, answer) = call(
        &client,
        Method::POST,
        &format!("{base}/v1/notifications"),
        Some(&body),
        None,
    )
    .await;
    let answered = t0.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let batch = answer["batch_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no batch_id: {answer}"))
        .to_string();
    // The in-process expander takes the chunks in order: the last user is
    // planned last.
    let last = users.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let planned = loop {
        let (status, _) = call(
            &client,
            Method::GET,
            &format!("{base}/v1/batches/{batch}/users/{last}"),
            None,
            None,
        )
        .await;
        if status == StatusCode::OK {
            break t0.elapsed();
        }
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            Instant::now() < deadline,
            "{last} not planned in 120 s ({} webhooks arrived)",
            receiver.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let sent = match receiver.reach(FANOUT, Duration::from_secs(120)).await {
        Ok(at) => at.duration_since(t0),
        Err(got) => panic!("only {got} of {FANOUT} fanned-out webhooks reached the receiver"),
    };
    let per_s = |d: Duration| FANOUT as f64 / d.as_secs_f64();
    println!(
        "Fan-out, one POST with {FANOUT} user_ids (notify serve, memory store, webhook channel; preferences stored first through PUT, {:.0}/s):",
        FANOUT as f64 / stored.as_secs_f64()
    );
    println!(
        "  202 in {:.0} ms; all planned in {:.2} s: {:>7.0} recipients/s; all {FANOUT} webhooks received in {:.2} s: {:>7.0} recipients/s",
        answered.as_secs_f64() * 1000.0,
        planned.as_secs_f64(),
        per_s(planned),
        sent.as_secs_f64(),
        per_s(sent)
    );
    if let Some(single) = single_rps {
        println!(
            "  ratio to single-user POSTs ({single:.0} notifications/s accepted above): planned x{:.2}, received x{:.2}",
            per_s(planned) / single,
            per_s(sent) / single
        );
    }
    drop(serve);
}

/// The API key for the deployed stack's API, if the stack has one: the
/// Secrets Manager secret named by the `api_key_secret` output (its value
/// as it is, or the `api_key`/`key` field of a JSON value).
async fn api_key(outputs: &Value, endpoint: &str) -> Option<String> {
    let arn = outputs.get("api_key_secret")?.as_str()?;
    let sdk = archform_testkit::sdk_config(endpoint).await;
    let value = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading the API key secret {arn}: {e:?}"))
        .secret_string
        .unwrap_or_else(|| panic!("the API key secret {arn} has no string value"));
    let from_json = serde_json::from_str::<Value>(&value).ok().and_then(|v| {
        ["api_key", "key"]
            .iter()
            .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_string))
    });
    Some(from_json.unwrap_or(value))
}

/// Part 2: deploys the notifications blueprint, runs `archform dev` on it.
fn dev_latency(rt: &tokio::runtime::Runtime, work: &Path) {
    let endpoint = archform_testkit::test_endpoint();
    let archform = binary("archform", "archform");
    let stack = format!("bench-ntf-{}", std::process::id());
    let run = |args: &[&str]| {
        Command::new(&archform)
            .current_dir(work)
            .env("ARCHFORM_BUILD_PROFILE", "dev")
            .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .args(["--endpoint", &endpoint])
            .output()
            .expect("archform")
    };
    let started = Instant::now();
    let out = run(&[
        "deploy",
        "notifications",
        "--stack",
        &stack,
        "--set",
        "channels=webhook",
        "--set",
        "allow_http_webhooks=true",
    ]);
    assert!(
        out.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployed = started.elapsed();
    let out = run(&["--output", "json", "outputs", "--stack", &stack]);
    let outputs: Value = serde_json::from_slice(&out.stdout).expect("outputs");
    let key = rt.block_on(api_key(&outputs, &endpoint));

    let mut child = Command::new(&archform)
        .current_dir(work)
        .env("ARCHFORM_BUILD_PROFILE", "dev")
        .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .args(["--output", "json", "dev", "--port", "0", "--stack", &stack])
        .args(["--endpoint", &endpoint])
        .stdout(Stdio::piped())
        // Kept for a failed run: dev prints each invocation and the
        // functions' logs.
        .stderr(std::fs::File::create(work.join("dev.log")).expect("dev log"))
        .spawn()
        .expect("archform dev");
    let ready: Value = serde_json::from_str(&first_line(&mut child)).expect("dev's ready line");
    let dev = Dev(child);
    let base = ready["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "alb"))
        .and_then(|e| e["url"].as_str())
        .unwrap_or_else(|| panic!("no alb endpoint in {ready}"))
        .trim_end_matches('/')
        .to_string();

    rt.block_on(async {
        let auth = key.as_deref();
        let sdk = archform_testkit::sdk_config(&endpoint).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = sqs
            .create_queue()
            .queue_name(format!("{stack}-rtt"))
            .send()
            .await
            .expect("creating the round-trip queue")
            .queue_url
            .expect("queue URL");
        let (receiver, hook) = Receiver::start().await;
        setup(&base, &hook, &["ana".to_string()], 1, auth).await;
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build_http();

        let health = || async {
            let t = Instant::now();
            let (status, body) =
                call(&client, Method::GET, &format!("{base}/health"), None, auth).await;
            assert_eq!(status, StatusCode::OK, "GET /health: {body}");
            t.elapsed()
        };
        let sqs_rtt = || async {
            let t = Instant::now();
            sqs.send_message()
                .queue_url(&queue)
                .message_body("ping")
                .send()
                .await
                .expect("SendMessage");
            loop {
                let got = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .wait_time_seconds(5)
                    .send()
                    .await
                    .expect("ReceiveMessage");
                if let Some(m) = got.messages.unwrap_or_default().into_iter().next() {
                    let elapsed = t.elapsed();
                    sqs.delete_message()
                        .queue_url(&queue)
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .send()
                        .await
                        .expect("DeleteMessage");
                    return elapsed;
                }
            }
        };
        // POST, then (the receiver's clock) the webhook, then GET showing
        // `sent` (polled every 10 ms).
        let send = |seq: usize| {
            let (client, receiver, base) = (&client, &receiver, &base);
            async move {
                let t = Instant::now();
                let (status, answer) = call(
                    client,
                    Method::POST,
                    &format!("{base}/v1/notifications"),
                    Some(&notification("ana", seq)),
                    auth,
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "POST: {answer}");
                let id = answer["id"].as_str().expect("id").to_string();
                let arrived = receiver
                    .arrival(&id, Duration::from_secs(60))
                    .await
                    .unwrap_or_else(|| panic!("{id}: no webhook within 60 s"));
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let (status, shown) = call(
                        client,
                        Method::GET,
                        &format!("{base}/v1/notifications/{id}"),
                        None,
                        auth,
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK, "GET {id}: {shown}");
                    match shown["channels"]["webhook"]["status"].as_str() {
                        Some("sent") => break,
                        Some("queued" | "sending") => {}
                        _ => panic!("the webhook channel went wrong: {shown}"),
                    }
                    assert!(Instant::now() < deadline, "{id} not shown sent: {shown}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (arrived.duration_since(t), t.elapsed())
            }
        };

        // Warm-up: the functions' first (cold) invocations.
        for i in 0..3 {
            health().await;
            sqs_rtt().await;
            send(i).await;
        }
        let (mut h, mut q, mut received, mut shown) = (vec![], vec![], vec![], vec![]);
        for seq in 0..SEQUENTIAL {
            h.push(health().await.as_micros() as u64);
            q.push(sqs_rtt().await.as_micros() as u64);
            let (r, s) = send(1000 + seq).await;
            received.push(r.as_micros() as u64);
            shown.push(s.as_micros() as u64);
        }
        for v in [&mut h, &mut q, &mut received, &mut shown] {
            v.sort_unstable();
        }
        let line = |name: &str, v: &[u64]| {
            println!(
                "  {name:<40} p50 {:>8.2} ms   p99 {:>8.2} ms",
                percentile(v, 0.5),
                percentile(v, 0.99)
            )
        };
        println!(
            "Under archform dev on the emulator (notifications blueprint, webhook channel, deployed in {:.1} s{}), {SEQUENTIAL} sequential, interleaved:",
            deployed.as_secs_f64(),
            if auth.is_some() { ", with its API key" } else { "" }
        );
        line("GET /health through dev's ALB", &h);
        line("SQS send + receive on the emulator", &q);
        line("POST to webhook received", &received);
        line("POST to GET showing sent", &shown);
        let ratio = |v: &[u64], b: &[u64]| {
            format!(
                "p50 x{:.1}, p99 x{:.1}",
                percentile(v, 0.5) / percentile(b, 0.5),
                percentile(v, 0.99) / percentile(b, 0.99)
            )
        };
        println!(
            "  POST to webhook received / GET /health: {}; / SQS send + receive: {}",
            ratio(&received, &h),
            ratio(&received, &q)
        );
        let _ = sqs.delete_queue().queue_url(&queue).send().await;

        let n = dev_fanout_size();
        if n > 0 {
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            dev_fanout(&base, auth, &outputs, &dynamodb, &sqs, &hook, &receiver, n).await;
        }
    });

    drop(dev);
    let out = run(&["destroy", "--yes", "--stack", &stack]);
    if !out.status.success() {
        eprintln!("destroy: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Recipients of the fan-out under dev: `ARCHFORM_BENCH_DEV_FANOUT` (0 for
/// none), else 200: two of the expander's chunks of 100. On moto the
/// expander plans ~9 users/s (1,000 took 117 s), so 10,000 would take
/// some 20 minutes.
fn dev_fanout_size() -> usize {
    std::env::var("ARCHFORM_BENCH_DEV_FANOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Part 3 under dev: `n` users' preferences written straight to the
/// preferences table (copies of one stored through the API, 25 a
/// BatchWriteItem), then one POST with their ids; the expander (an SQS
/// event source mapping of dev) plans them in chunks of 100, the webhook
/// worker sends. "Planned" is when the expansion queue has nothing left,
/// visible or in flight; "received" when the receiver has every webhook.
#[allow(clippy::too_many_arguments)]
async fn dev_fanout(
    base: &str,
    auth: Option<&str>,
    outputs: &Value,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    hook: &str,
    receiver: &Receiver,
    n: usize,
) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use aws_sdk_sqs::types::QueueAttributeName;
    let table = outputs["preferences_table"]
        .as_str()
        .expect("preferences_table output");
    let expansion = outputs["expansion_queue"]
        .as_str()
        .expect("expansion_queue output");
    let template = dynamodb
        .get_item()
        .table_name(table)
        .key("user_id", AttributeValue::S("ana".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem of ana's preferences")
        .item
        .expect("ana's preferences stored");
    let doc: Value =
        serde_json::from_str(template["doc"].as_s().expect("the preferences item's doc"))
            .expect("doc is JSON");
    assert_eq!(doc["webhook"]["url"], hook, "{doc}");
    let users: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let started = Instant::now();
    for chunk in users.chunks(25) {
        let mut writes: Vec<WriteRequest> = chunk
            .iter()
            .map(|user| {
                let mut item = template.clone();
                let mut doc = doc.clone();
                doc["user_id"] = json!(user);
                item.insert("user_id".into(), AttributeValue::S(user.clone()));
                item.insert("doc".into(), AttributeValue::S(doc.to_string()));
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        while !writes.is_empty() {
            let out = dynamodb
                .batch_write_item()
                .request_items(table, writes)
                .send()
                .await
                .expect("BatchWriteItem of preferences");
            writes = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
        }
    }
    let stored = started.elapsed();
    let before = receiver.count();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let t0 = Instant::now();
    let (status, answer) = call(
        &client,
        Method::POST,
        &format!("{base}/v1/notifications"),
        Some(&json!({"user_ids": users, "template": TEMPLATE, "data": {"seq": "fan"}, "channels": ["webhook"]})),
        auth,
    )
    .await;
    let answered = t0.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(300);
    let planned = loop {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(expansion)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        let left: u64 = attributes
            .values()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .sum();
        if left == 0 {
            break t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{left} chunks still on the expansion queue after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent = match receiver
        .reach(
            before + n,
            Duration::from_secs(300).saturating_sub(t0.elapsed()),
        )
        .await
    {
        Ok(at) => at.duration_since(t0),
        Err(got) => panic!(
            "only {} of {n} fanned-out webhooks reached the receiver under dev",
            got - before
        ),
    };
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "Fan-out under dev, one POST with {n} user_ids (preferences written with BatchWriteItem, {:.0}/s):",
        n as f64 / stored.as_secs_f64()
    );
    println!(
        "  202 in {:.0} ms; all planned in {:.2} s: {:>7.0} recipients/s; all {n} webhooks received in {:.2} s: {:>7.0} recipients/s",
        answered.as_secs_f64() * 1000.0,
        planned.as_secs_f64(),
        per_s(planned),
        sent.as_secs_f64(),
        per_s(sent)
    );
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--baseline-server") {
        return baseline_server();
    }
    let only = std::env::var("ARCHFORM_BENCH_ONLY").ok();
    let wants = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let work = std::env::temp_dir().join(format!("archform-bench-notify-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let single = wants("serve").then(|| rt.block_on(serve_throughput(&work)));
    if wants("fanout") {
        rt.block_on(fanout(&work, single));
    }
    if wants("dev") {
        dev_latency(&rt, &work);
    }
    if std::env::var_os("ARCHFORM_BENCH_KEEP_LOGS").is_some() {
        println!("logs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
}
