//! Redirect throughput of the URL shortener (`shortener serve`, standalone)
//! with a warm cache, against a minimal hyper server that answers every GET
//! with a fixed 302 (the physical limit of this machine for this load), in
//! the same run, at 64 concurrent keep-alive connections. Rounds alternate
//! (baseline, shortener, baseline, ...) after a warm-up round of each, so
//! drift in the machine's load hits both alike. Prints requests/s, p50 and
//! p99 per side, the throughput ratio shortener/baseline (target >= 0.5), the
//! cache hit ratio (the service's own EMF metric lines, and derived from the
//! DynamoDB GetItem calls), DynamoDB calls per 1000 redirects and, as a side
//! figure, SQS SendMessageBatch calls per 1000 redirects (the click events).
//! Asserts nothing.
//!
//!     cargo build -p shortener && cargo run --example bench_shortener_redirect
//!
//! (With ARCHFORM_TEST_ENDPOINT unset it starts its own moto. The shortener's
//! DynamoDB and SQS calls go through the fault proxy, with no faults, which
//! counts them per operation.) ARCHFORM_BENCH_CLIENTS overrides the number of
//! connections; ARCHFORM_BENCH_RUST_LOG the shortener's RUST_LOG (default
//! `info`, the service's default: one JSON log line per request).
//!
//! Both servers are separate processes and dev builds (the shortener from
//! target/debug, the baseline this very binary re-executed with
//! `--baseline-server`); the workspace's dev profile optimizes the HTTP,
//! JSON and tokio crates ([profile.dev.package] in Cargo.toml) for both
//! alike, so the ratio compares like with like: the shortener's own work
//! (routing, cache lookup, click hand-off, request log) against none. The
//! load generator, the proxy and the emulator share the machine with them.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/processes.rs"]
#[allow(dead_code)]
mod processes;
use processes::{Process, binary, listening_url};

#[path = "common/load.rs"]
mod load;
use load::{Sample, closed_loop, summarize};

const CLIENTS_DEFAULT: usize = 64;
fn clients() -> usize {
    load::clients(CLIENTS_DEFAULT)
}
const LINKS: usize = 100;
const ROUND: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

/// `--baseline-server`: every GET answered 302 with a fixed Location, empty
/// body, nothing else (see [`processes::serve_fixed_answer`]).
fn baseline_server() {
    processes::serve_fixed_answer(
        StatusCode::FOUND,
        &[("location", "https://example.com/")],
        b"",
    );
}

/// A round of GET requests going round the `paths`; a 302 counts.
async fn load(base: &str, paths: &[String], duration: Duration) -> Sample {
    let uris = paths
        .iter()
        .map(|p| format!("{base}{p}").parse().unwrap())
        .collect();
    closed_loop(uris, clients(), duration, StatusCode::FOUND).await
}

/// Waits until the proxy has seen no call for 500 ms (the click batcher
/// sends a partial batch 200 ms after its first event), so that calls are
/// counted against the rounds that caused them; at most 2 s (when the
/// emulator cannot keep up, the batcher's backlog would take far longer and
/// the calls counted are simply those made during the measured rounds).
async fn settle(proxy: &archform_testkit::FaultProxy) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = proxy.stats().total();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = proxy.stats().total();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(500) {
            return;
        }
    }
}

/// Sums of the EMF metric lines whose start lies in `from..to` of the
/// shortener's stderr log, and the last such line's hit ratio.
#[derive(Debug, Default)]
struct Emf {
    lines: usize,
    hits: f64,
    misses: f64,
    last_hit_ratio: Option<f64>,
    clicks_sent: f64,
    clicks_dropped: f64,
    clicks_failed: f64,
}

fn emf_between(log: &Path, from: u64, to: u64) -> Emf {
    let text = std::fs::read(log).unwrap_or_default();
    let mut emf = Emf::default();
    let mut offset = 0u64;
    for line in text.split(|b| *b == b'\n') {
        let start = offset;
        offset += line.len() as u64 + 1;
        if start < from || start >= to {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if v.get("_aws").is_none() {
            continue;
        }
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        emf.lines += 1;
        emf.hits += f("CacheHits");
        emf.misses += f("CacheMisses");
        emf.last_hit_ratio = v["CacheHitRatio"].as_f64();
        emf.clicks_sent += f("ClicksSent");
        emf.clicks_dropped += f("ClicksDropped");
        emf.clicks_failed += f("ClicksFailed");
    }
    emf
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Calls per operation in `after` minus `before`, for operations of `service`.
fn delta(
    before: &archform_testkit::ProxyStats,
    after: &archform_testkit::ProxyStats,
    service: &str,
) -> Vec<(String, u64)> {
    after
        .calls
        .iter()
        .filter(|(op, _)| op.starts_with(&format!("{service}:")))
        .map(|(op, n)| (op.clone(), n - before.calls.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--baseline-server") {
        return baseline_server();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

async fn bench() {
    let binary = binary("shortener", "shortener");
    let upstream = archform_testkit::test_endpoint();
    let proxy = archform_testkit::FaultProxy::start(&upstream, Default::default())
        .await
        .expect("fault proxy");

    // Tables and queue, unique to this run, created directly on the emulator.
    let sdk = archform_testkit::sdk_config(&upstream).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let suffix = format!("{}-{nanos}", std::process::id());
    let links_table = format!("bench-links-{suffix}");
    let clicks_table = format!("bench-clicks-{suffix}");
    {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        for table in [&links_table, &clicks_table] {
            dynamodb
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("code")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("code")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("creating {table}: {e:?}"));
        }
        dynamodb
            .update_time_to_live()
            .table_name(&links_table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enabling TTL on the links table");
    }
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("bench-clicks-{suffix}"))
        .send()
        .await
        .expect("creating the clicks queue")
        .queue_url
        .expect("queue URL");

    // The shortener, its stderr (logs and EMF lines) to a file: cheaper than
    // a pipe drained by a thread of this process, which runs the load.
    let log = std::env::temp_dir().join(format!("bench-shortener-{suffix}.log"));
    let mut shortener = Process(
        Command::new(&binary)
            .args(["serve", "--port", "0"])
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("LINKS_TABLE", &links_table)
            .env("CLICKS_TABLE", &clicks_table)
            .env("CLICKS_QUEUE_URL", &queue_url)
            .env("CACHE_TTL_SECONDS", "300")
            .env("CACHE_MAX_ENTRIES", "10000")
            .env("CREATE_RATE_PER_MINUTE", "1000000")
            .env(
                "RUST_LOG",
                std::env::var("ARCHFORM_BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Nothing of the developer's may redirect the server elsewhere.
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("AWS_ENDPOINT_URL_SQS")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("PUBLIC_BASE_URL")
            .env_remove("PORT")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("creating the shortener log"))
            .spawn()
            .expect("starting shortener serve"),
    );
    let shortener_url = listening_url(&mut shortener.0, "shortener serve");

    // The baseline: this binary again, as a separate process like the
    // shortener (not a task on this process's runtime, which runs the load
    // generator and the proxy, nor a thread sharing its scheduling).
    let mut baseline = Process(
        Command::new(std::env::current_exe().expect("own path"))
            .arg("--baseline-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the baseline server"),
    );
    let baseline_url = listening_url(&mut baseline.0, "baseline server");

    // The links, created through the API (8 at a time).
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let create = |i: usize| {
        let (client, base) = (client.clone(), shortener_url.clone());
        async move {
            let body = json!({"url": format!("https://example.com/articles/{i}?ref=bench")});
            let request = Request::builder()
                .method(Method::POST)
                .uri(format!("{base}/api/links"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap();
            let resp = client.request(request).await.expect("POST /api/links");
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(status, StatusCode::CREATED, "{body:?}");
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["code"].as_str().expect("code").to_string()
        }
    };
    let codes: Vec<String> = futures_util::stream::iter(0..LINKS)
        .map(create)
        .buffer_unordered(8)
        .collect()
        .await;
    let paths: Vec<String> = codes.iter().map(|c| format!("/{c}")).collect();

    // Warm the cache: one GET of each (creation already cached them).
    let get: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut warm_errors = 0;
    for path in &paths {
        let resp = get
            .get(format!("{shortener_url}{path}").parse().unwrap())
            .await
            .expect("GET");
        let ok = resp.status() == StatusCode::FOUND
            && resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("https://example.com/articles/"));
        let _ = resp.into_body().collect().await;
        warm_errors += usize::from(!ok);
    }
    if warm_errors > 0 {
        println!("warning: {warm_errors} of {LINKS} warm-up redirects were not 302 to the link");
    }

    // Warm-up round of each side, then alternating measured rounds.
    let _ = load(&baseline_url, &paths, WARM_UP).await;
    let _ = load(&shortener_url, &paths, WARM_UP).await;
    settle(&proxy).await;
    let stats_before = proxy.stats();
    let log_before = log_len(&log);
    let (mut base_samples, mut short_samples) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base_samples.push(load(&baseline_url, &paths, ROUND).await);
        short_samples.push(load(&shortener_url, &paths, ROUND).await);
    }
    settle(&proxy).await;
    let stats_after = proxy.stats();
    let log_after = log_len(&log);

    println!(
        "Redirect GET /{{code}} ({LINKS} links, warm cache), {} concurrent keep-alive connections, {ROUNDS} alternating rounds of {} s:",
        clients(),
        ROUND.as_secs()
    );
    let (base_rps, _) = summarize("baseline", &base_samples);
    let (short_rps, redirects) = summarize("shortener", &short_samples);
    println!(
        "  ratio shortener/baseline throughput: {:.2} (target >= 0.5)",
        short_rps / base_rps
    );

    let emf = emf_between(&log, log_before, log_after);
    let dynamodb_calls = delta(&stats_before, &stats_after, "dynamodb");
    let sqs_calls = delta(&stats_before, &stats_after, "sqs");
    let per_1000 = |n: u64| n as f64 * 1000.0 / redirects.max(1) as f64;
    let get_items: u64 = dynamodb_calls
        .iter()
        .filter(|(op, _)| op.ends_with(":GetItem"))
        .map(|(_, n)| n)
        .sum();
    let emf_lookups = emf.hits + emf.misses;
    println!(
        "  cache hit ratio (service's EMF lines): last line {}, measured rounds {} ({} hits, {} misses in {} lines)",
        emf.last_hit_ratio
            .map_or("none".into(), |r| format!("{r:.1} %")),
        if emf_lookups > 0.0 {
            format!("{:.3} %", emf.hits * 100.0 / emf_lookups)
        } else {
            "n/a".into()
        },
        emf.hits,
        emf.misses,
        emf.lines
    );
    println!(
        "  cache hit ratio (proxy: 1 - GetItem/redirects): {:.3} % ({get_items} GetItem for {redirects} redirects)",
        100.0 * (1.0 - get_items as f64 / redirects.max(1) as f64)
    );
    let dynamodb_total: u64 = dynamodb_calls.iter().map(|(_, n)| n).sum();
    println!(
        "  DynamoDB calls per 1000 redirects: {:.3} ({dynamodb_total} calls{})",
        per_1000(dynamodb_total),
        if dynamodb_calls.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                dynamodb_calls
                    .iter()
                    .map(|(op, n)| format!("{op} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let batches: u64 = sqs_calls
        .iter()
        .filter(|(op, _)| op.ends_with(":SendMessageBatch"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "  SQS SendMessageBatch calls per 1000 redirects: {:.1} ({batches} calls); clicks sent {}, dropped {}, failed {} (EMF)",
        per_1000(batches),
        emf.clicks_sent,
        emf.clicks_dropped,
        emf.clicks_failed
    );

    drop(baseline);
    drop(shortener);
    for table in [&links_table, &clicks_table] {
        if let Err(e) = dynamodb.delete_table().table_name(table).send().await {
            eprintln!("deleting {table}: {e:?}");
        }
    }
    if let Err(e) = sqs.delete_queue().queue_url(&queue_url).send().await {
        eprintln!("deleting {queue_url}: {e:?}");
    }
    let _ = std::fs::remove_file(&log);
}
