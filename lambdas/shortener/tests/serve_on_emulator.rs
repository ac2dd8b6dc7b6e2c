//! `shortener serve` against the AWS emulator: real tables and queue, the
//! real binary on an ephemeral port, real HTTP requests; then the click
//! events taken off the queue and fed to the aggregator.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use shortener::aggregator::aggregate;
use shortener::aws::DynamoClicks;
use shortener::clicks::ClickEvent;
use support::{Resources, receive, sqs_event};

/// Link creations per minute the server allows; every request outside the
/// rate-limit check sends a fresh X-Forwarded-For address so that only that
/// check comes near the limit.
const RATE: u32 = 5;

/// `shortener serve --port 0`; killed when dropped, its log shown if the
/// test failed.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn start(endpoint: &str, resources: &Resources) -> Server {
        let log = std::env::temp_dir().join(format!(
            "shortener-serve-{}-{}.log",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_shortener"))
            .args(["serve", "--port", "0", "--trust-forwarded-for"])
            .args(["--links-table", &resources.links_table])
            .args(["--clicks-table", &resources.clicks_table])
            .args(["--clicks-queue-url", &resources.queue_url])
            .args(["--create-rate-per-minute", &RATE.to_string()])
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            // Nothing of the developer's may redirect the server elsewhere.
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("PUBLIC_BASE_URL")
            .env_remove("PORT")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("creating the server log"))
            .spawn()
            .expect("starting shortener serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the listening line");
        let base = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(!base.ends_with(":0"), "the bound port, not 0: {base}");
        Server { child, base, log }
    }

    /// Asks the server to stop (SIGTERM) and returns whether it exited 0.
    fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- shortener serve log ---\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A fresh client address for X-Forwarded-For.
fn fresh_client() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("198.18.{}.{}", n / 250, n % 250 + 1)
}

async fn send(server: &Server, method: Method, path: &str, client: &str, body: Bytes) -> Answer {
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body(Full::new(body))
        .unwrap();
    let response = http.request(request).await.expect("HTTP request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn create_from(server: &Server, client: &str, body: Value) -> Answer {
    send(
        server,
        Method::POST,
        "/api/links",
        client,
        Bytes::from(body.to_string()),
    )
    .await
}

async fn create(server: &Server, body: Value) -> Answer {
    create_from(server, &fresh_client(), body).await
}

async fn get(server: &Server, path: &str) -> Answer {
    send(server, Method::GET, path, &fresh_client(), Bytes::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_against_the_emulator() {
    let endpoint = archform_testkit::test_endpoint();
    let resources = Arc::new(Resources::create(&endpoint).await);
    // The checks run in a task so that a failing assertion still lets the
    // tables and queue be deleted.
    let outcome = tokio::spawn(checks(endpoint, resources.clone())).await;
    resources.delete().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn checks(endpoint: String, resources: Arc<Resources>) {
    let mut server = Server::start(&endpoint, &resources);

    // The page.
    let page = get(&server, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page.body).contains("id=\"shorten\""));

    // Create -> 201, short URL from the Host header.
    let target = "https://example.com/some/long/path?x=1";
    let created = create(&server, json!({"url": target})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let body = created.json();
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 7);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
    assert_eq!(body["short_url"], format!("{}/{code}", server.base));
    assert!(created.header("x-request-id").is_some());

    // The item is really in the links table.
    let item = resources
        .dynamodb
        .get_item()
        .table_name(&resources.links_table)
        .key(
            "code",
            aws_sdk_dynamodb::types::AttributeValue::S(code.clone()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the link item");
    assert_eq!(item["url"].as_s().unwrap(), target);

    // Redirects: 302 + Location, three clicks.
    for _ in 0..3 {
        let redirect = get(&server, &format!("/{code}")).await;
        assert_eq!(redirect.status, StatusCode::FOUND);
        assert_eq!(redirect.header("location"), Some(target));
    }

    // Unknown code -> 404 page.
    let missing = get(&server, "/zzzzzzz").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    // Alias, then the same alias again -> 409.
    let alias = format!("emu-{}", std::process::id());
    let first = create(
        &server,
        json!({"url": "https://example.com/a", "alias": alias}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.json()["code"], alias.as_str());
    let again = create(
        &server,
        json!({"url": "https://example.com/b", "alias": alias}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let error = again.json();
    assert!(
        error["error"].as_str().unwrap().contains("already taken"),
        "{error}"
    );
    assert_eq!(error["request_id"].as_str(), again.header("x-request-id"));
    let redirect = get(&server, &format!("/{alias}")).await;
    assert_eq!(redirect.header("location"), Some("https://example.com/a"));

    // Bad URLs -> 400 with a JSON error saying what is wrong.
    let own = format!("{}/loop", server.base);
    for (url, expected) in [
        ("javascript:alert(1)", "javascript: URLs are not allowed"),
        ("ftp://example.com/file", "only http and https"),
        ("https://user:pw@example.com/", "credentials"),
        ("not a url", "spaces"),
        (own.as_str(), "this service itself"),
    ] {
        let refused = create(&server, json!({"url": url})).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{url}");
        let error = refused.json();
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{url}: {error}"
        );
        assert_eq!(error["request_id"].as_str(), refused.header("x-request-id"));
    }

    // Link metadata: nothing counted yet.
    let info = get(&server, &format!("/api/links/{code}")).await;
    assert_eq!(info.status, StatusCode::OK);
    let info = info.json();
    assert_eq!(info["url"], target);
    assert_eq!(info["clicks"], 0);
    assert!(info["created_at"].as_i64().unwrap() > 1_600_000_000);

    // Rate limit: RATE creations per minute from one address, then 429.
    // Start well inside a minute so the window cannot roll over mid-check.
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let client = fresh_client();
    for i in 0..RATE {
        let ok = create_from(&server, &client, json!({"url": "https://example.com/r"})).await;
        assert_eq!(
            ok.status,
            StatusCode::CREATED,
            "creation {i}: {:?}",
            ok.body
        );
    }
    let limited = create_from(&server, &client, json!({"url": "https://example.com/r"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(
        limited.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many links")
    );
    // Another address is not affected.
    let other = create(&server, json!({"url": "https://example.com/r"})).await;
    assert_eq!(other.status, StatusCode::CREATED);

    // An expiring link redirects, then is gone.
    let short_lived = create(
        &server,
        json!({"url": "https://example.com/brief", "expires_in_seconds": 1}),
    )
    .await;
    assert_eq!(short_lived.status, StatusCode::CREATED);
    let brief = short_lived.json()["code"].as_str().unwrap().to_owned();
    assert!(short_lived.json()["expires_at"].is_i64());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let gone = get(&server, &format!("/{brief}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let gone = get(&server, &format!("/api/links/{brief}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // The click events reached the queue: three for `code`, one for the alias.
    let messages = receive(&resources, 4, Duration::from_secs(15)).await;
    let events: Vec<ClickEvent> = messages
        .iter()
        .map(|(_, _, body)| serde_json::from_str(body).expect("a click event"))
        .collect();
    let for_code = events.iter().filter(|e| e.code == code).count();
    let for_alias = events.iter().filter(|e| e.code == alias).count();
    assert_eq!((for_code, for_alias), (3, 1), "{events:?}");

    // The aggregator counts them; a poison message is reported as failed.
    let mut batch = messages.clone();
    batch.push(("poison-1".into(), "r".into(), "not a click".into()));
    let counter = Arc::new(DynamoClicks::new(
        resources.dynamodb.clone(),
        &resources.clicks_table,
    ));
    let response = aggregate(sqs_event(&batch), counter.clone()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["poison-1"]);
    let info = get(&server, &format!("/api/links/{code}")).await.json();
    assert_eq!(info["clicks"], 3);
    // Counts keep rising with the next batch.
    aggregate(sqs_event(&messages), counter).await;
    assert_eq!(
        get(&server, &format!("/api/links/{code}")).await.json()["clicks"],
        6
    );
    assert_eq!(
        get(&server, &format!("/api/links/{alias}")).await.json()["clicks"],
        2
    );

    // SIGTERM: the server stops cleanly (pending clicks are flushed first).
    assert!(
        server.terminate(),
        "shortener serve did not exit 0 on SIGTERM"
    );
}
