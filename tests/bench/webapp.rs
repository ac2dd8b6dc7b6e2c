//! Order throughput of the three-tier app, standalone: a browser's form
//! POST to the web tier (`webapp serve-web`), which calls the app tier
//! (`webapp serve-app --store postgres`) over HTTP, which reserves stock and
//! records the order in one PostgreSQL transaction over TLS, against a
//! minimal hyper server that answers every POST with the same 303 the web
//! tier sends (the physical limit of this machine for this load), in the
//! same run. A third line loads the app tier's JSON API directly (`POST
//! /api/orders`), which shows what the web tier's hop adds.
//!
//! Rounds alternate (baseline, web, app, baseline, ...) after a warm-up
//! round of each, so drift in the machine's load hits every side alike.
//! Prints orders/s, p50 and p99 per side and the ratios to the baseline,
//! and checks the books: the stock taken from the products equals the
//! orders answered 303/201 (every counted order really is in the database).
//!
//!     cargo build -p webapp && cargo run --example bench_webapp
//!
//! ARCHFORM_BENCH_CLIENTS overrides the number of connections (default 16:
//! the app tier's pool holds 16 connections, the database's work is the
//! limit). The PostgreSQL server is Debian's (tests/run installs it),
//! started for this run with `fsync=off` like the webapp's tests: the
//! figure is the tiers' and the database's CPU work, not this machine's
//! disk flushes.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[path = "common/processes.rs"]
#[allow(dead_code)]
mod processes;
use processes::{Process, binary, listening_url};

#[path = "common/load.rs"]
#[allow(dead_code)]
mod load;
use load::{Sample, closed_loop_requests, summarize};

#[path = "../../lambdas/webapp/tests/support/pg.rs"]
#[allow(dead_code)]
mod pg;

const CLIENTS_DEFAULT: usize = 16;
const PRODUCTS: usize = 16;
const STOCK: i64 = 1_000_000_000;
const ROUND: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

/// `--baseline-server`: every request answered 303 to a fixed order page,
/// empty body, nothing else (see [`processes::serve_fixed_answer`]).
fn baseline_server() {
    processes::serve_fixed_answer(
        StatusCode::SEE_OTHER,
        &[("location", "/orders/ord_00000000000000000000000000")],
        b"",
    );
}

fn spawn(program: &std::path::Path, args: &[&str], what: &str) -> (Process, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    let url = listening_url(&mut child, what);
    (Process(child), url)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn call(
    client: &HttpClient,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, hyper::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap_or_else(|err| panic!("{uri}: {err}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

/// Creates the products (through the app tier's API); their ids.
async fn create_products(client: &HttpClient, app: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..PRODUCTS {
        let body = json!({
            "sku": format!("BENCH-{n:03}"),
            "name": format!("Bench item {n}"),
            "price_cents": 1000 + n as i64,
            "stock": STOCK,
        });
        let (status, _, body) = call(
            client,
            Method::POST,
            &format!("{app}/api/products"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let product: Value = serde_json::from_slice(&body).unwrap();
        ids.push(product["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Stock taken from every product so far.
async fn stock_taken(client: &HttpClient, app: &str, ids: &[String]) -> i64 {
    let mut taken = 0;
    for id in ids {
        let (status, _, body) = call(
            client,
            Method::GET,
            &format!("{app}/api/products/{id}"),
            &[],
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let product: Value = serde_json::from_slice(&body).unwrap();
        taken += STOCK - product["stock"].as_i64().unwrap();
    }
    taken
}

/// One browser's session with the web tier: the CSRF cookie and the form
/// token of a product page, as a browser gets them before its first order.
async fn session(client: &HttpClient, web: &str, product: &str) -> (String, String) {
    let (status, headers, body) = call(
        client,
        Method::GET,
        &format!("{web}/products/{product}"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the page sets the CSRF cookie")
        .to_owned();
    let page = String::from_utf8(body).unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("the page has a form token") + marker.len();
    let token = page[start..].split('"').next().unwrap().to_owned();
    (cookie, token)
}

/// A round of form POSTs of one order (quantity 1) each; client `task`
/// orders the products in turn with its own session. 303 counts.
async fn web_round(
    web: &str,
    ids: &Arc<Vec<String>>,
    sessions: &Arc<Vec<(String, String)>>,
    clients: usize,
    duration: Duration,
) -> Sample {
    let (web, ids, sessions) = (web.to_owned(), ids.clone(), sessions.clone());
    closed_loop_requests(clients, duration, StatusCode::SEE_OTHER, move |task, i| {
        let (cookie, token) = &sessions[task];
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf_token", token)
            .append_pair("product_id", &ids[(task + i) % ids.len()])
            .append_pair("quantity", "1")
            .finish();
        Request::post(format!("{web}/orders"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie.as_str())
            .body(Full::new(Bytes::from(form)))
            .unwrap()
    })
    .await
}

/// A round of JSON orders straight to the app tier. 201 counts.
async fn app_round(
    app: &str,
    ids: &Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
) -> Sample {
    let (app, ids) = (app.to_owned(), ids.clone());
    closed_loop_requests(clients, duration, StatusCode::CREATED, move |task, i| {
        let body = json!({"lines": [{"product_id": ids[(task + i) % ids.len()], "quantity": 1}]});
        Request::post(format!("{app}/api/orders"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
            .unwrap()
    })
    .await
}

async fn baseline_round(base: &str, clients: usize, duration: Duration) -> Sample {
    let base = base.to_owned();
    closed_loop_requests(clients, duration, StatusCode::SEE_OTHER, move |_, _| {
        Request::post(format!("{base}/orders"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(
                b"csrf_token=x&product_id=prd_00000000000000000000000000&quantity=1",
            )))
            .unwrap()
    })
    .await
}

fn main() {
    if std::env::args().any(|a| a == "--baseline-server") {
        baseline_server();
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

async fn bench() {
    let clients = load::clients(CLIENTS_DEFAULT);
    let webapp = binary("webapp", "webapp");
    let database = tokio::task::spawn_blocking(pg::TestPg::start)
        .await
        .expect("PostgreSQL");
    let pool = clients.to_string();
    let (_app, app) = spawn(
        &webapp,
        &[
            "serve-app",
            "--store",
            "postgres",
            "--database-url",
            &database.url(),
            "--database-sslmode",
            "verify-full",
            "--database-ca-bundle",
            database.ca_bundle().to_str().unwrap(),
            "--database-pool-size",
            &pool,
            "--port",
            "0",
        ],
        "webapp serve-app",
    );
    let key_file = std::env::temp_dir().join(format!("bench-webapp-csrf-{}", std::process::id()));
    std::fs::write(
        &key_file,
        "0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    let (_web, web) = spawn(
        &webapp,
        &[
            "serve-web",
            "--app-url",
            &app,
            "--csrf-key-file",
            key_file.to_str().unwrap(),
            "--port",
            "0",
        ],
        "webapp serve-web",
    );
    let own = std::env::current_exe().expect("own path");
    let (_baseline, base) = spawn(&own, &["--baseline-server"], "baseline server");

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let ids = Arc::new(create_products(&client, &app).await);
    let mut sessions = Vec::new();
    for task in 0..clients {
        sessions.push(session(&client, &web, &ids[task % ids.len()]).await);
    }
    let sessions = Arc::new(sessions);

    println!(
        "bench_webapp: {clients} clients, {PRODUCTS} products, rounds of {} s (PostgreSQL over TLS, verify-full)",
        ROUND.as_secs()
    );
    baseline_round(&base, clients, WARM_UP).await;
    let warm_web = web_round(&web, &ids, &sessions, clients, WARM_UP).await;
    let warm_app = app_round(&app, &ids, clients, WARM_UP).await;
    let (mut base_samples, mut web_samples, mut app_samples) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base_samples.push(baseline_round(&base, clients, ROUND).await);
        web_samples.push(web_round(&web, &ids, &sessions, clients, ROUND).await);
        app_samples.push(app_round(&app, &ids, clients, ROUND).await);
    }
    let (base_rps, _) = summarize("fixed-303", &base_samples);
    let (web_rps, web_orders) = summarize("web->app->pg", &web_samples);
    let (app_rps, app_orders) = summarize("app->pg", &app_samples);
    println!(
        "  orders through web -> app -> PostgreSQL: {web_rps:.0}/s, x{:.3} of the fixed-303 server; \
         app tier alone: {app_rps:.0}/s (x{:.3}); the web hop keeps x{:.2} of the app tier's rate",
        web_rps / base_rps,
        app_rps / base_rps,
        web_rps / app_rps
    );

    // The books: every order counted (plus the warm-up's) took one unit.
    let counted = (web_orders + app_orders + warm_web.requests + warm_app.requests) as i64;
    let taken = stock_taken(&client, &app, &ids).await;
    let errors: usize = web_samples
        .iter()
        .chain(&app_samples)
        .chain([&warm_web, &warm_app])
        .map(|s| s.errors)
        .sum();
    println!(
        "  stock taken {taken}, orders answered {counted}, other answers {errors}{}",
        if taken == counted {
            " (the books balance)"
        } else {
            ""
        }
    );
    let _ = std::fs::remove_file(&key_file);
    if taken != counted && errors == 0 {
        eprintln!("bench_webapp: stock taken {taken} != orders answered {counted}");
        std::process::exit(1);
    }
}
