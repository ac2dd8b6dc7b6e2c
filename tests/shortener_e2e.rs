//! The URL shortener end to end: the `url-shortener` blueprint deployed to
//! the emulator with the real functions from lambdas/shortener (built with
//! ARCHFORM_BUILD_PROFILE=dev), run by `archform dev` behind its ALB
//! listener and its SQS event source mapping, exercised over real HTTP and
//! in headless Chromium, then destroyed with nothing left behind.

mod support;

use archform_aws::{Clients, assert_no_leftovers};
use archform_testkit::browser::Browser;
use archform_testkit::{sdk_config, test_endpoint};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Dev, archform, text, workdir};

struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&self.body)))
    }
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

impl Http {
    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(body.unwrap_or_default().to_string()));
        let resp = self
            .client
            .request(req.body(body).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn create(&self, body: Value) -> Answer {
        self.send("POST", "/api/links", Some(&body.to_string()))
            .await
    }
}

/// Every refusal is a 400 with a JSON error that says what is wrong and a
/// request id.
async fn check_refusals(http: &Http) {
    let cases: &[(&str, &str)] = &[
        (r#"{"url": "javascript:alert(1)"}"#, "javascript"),
        (r#"{"url": "data:text/html,hi"}"#, "data"),
        (r#"{"url": "file:///etc/passwd"}"#, "file"),
        (r#"{"url": "ftp://example.com/x"}"#, "http"),
        (
            r#"{"url": "https://user:pass@example.com/"}"#,
            "credentials",
        ),
        (r#"{"url": "https:///nohost"}"#, "host"),
        (r#"{"url": "http://127.0.0.1/loop"}"#, "itself"),
        (
            r#"{"url": "https://example.com/ok", "alias": "x"}"#,
            "alias",
        ),
        (
            r#"{"url": "https://example.com/ok", "alias": "api"}"#,
            "reserved",
        ),
        (
            r#"{"url": "https://example.com/ok", "alias": "bad alias!"}"#,
            "alias",
        ),
        (
            r#"{"url": "https://example.com/ok", "expires_in_seconds": 0}"#,
            "expires_in_seconds",
        ),
        (r#"{"alias": "nourl"}"#, "url"),
        (r#"not json"#, "JSON"),
    ];
    for (body, mentions) in cases {
        let a = http.send("POST", "/api/links", Some(body)).await;
        assert_eq!(a.status, 400, "{body}: {}", text(&a.body));
        let e = a.json();
        let msg = e["error"].as_str().unwrap_or_default();
        assert!(
            msg.to_lowercase().contains(&mentions.to_lowercase()),
            "{body}: the error should mention {mentions:?}: {e}"
        );
        assert!(
            e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
    }
    let long = format!(r#"{{"url": "https://example.com/{}"}}"#, "a".repeat(2100));
    let a = http.send("POST", "/api/links", Some(&long)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"].as_str().unwrap().contains("2048"),
        "{}",
        text(&a.body)
    );
}

async fn check_api(http: &Http, sqs: &aws_sdk_sqs::Client, queues: &(String, String)) {
    // Create and redirect.
    let created = http
        .create(json!({"url": "https://example.com/some/long/path?x=1"}))
        .await;
    assert_eq!(created.status, 201, "{}", text(&created.body));
    let link = created.json();
    let code = link["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 7, "{link}");
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{link}");
    assert_eq!(link["short_url"], format!("{}/{code}", http.base), "{link}");
    let redirect = http.send("GET", &format!("/{code}"), None).await;
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.header("location"),
        "https://example.com/some/long/path?x=1"
    );
    assert!(!redirect.header("x-request-id").is_empty());

    // Aliases: taken is 409.
    let alias = format!("my-link-{}", std::process::id());
    let a = http
        .create(json!({"url": "https://example.com/a", "alias": alias}))
        .await;
    assert_eq!(a.status, 201, "{}", text(&a.body));
    assert_eq!(a.json()["code"], alias.as_str());
    let again = http
        .create(json!({"url": "https://example.com/b", "alias": alias}))
        .await;
    assert_eq!(again.status, 409, "{}", text(&again.body));
    assert!(again.json()["request_id"].is_string());
    assert_eq!(
        http.send("GET", &format!("/{alias}"), None)
            .await
            .header("location"),
        "https://example.com/a"
    );

    // Unknown codes and expired links are 404 pages.
    let unknown = http.send("GET", "/zzzzzzz", None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.header("content-type").starts_with("text/html"));
    // `expires_at` is floor(now) + the seconds asked for, and a link is gone
    // at `expires_at`: with 3 s it lives at least 2 s, and the GET right
    // after the create is well inside that.
    let short = http
        .create(json!({"url": "https://example.com/brief", "expires_in_seconds": 3}))
        .await;
    assert_eq!(short.status, 201, "{}", text(&short.body));
    let expires_at = short.json()["expires_at"].as_i64().expect("expires_at");
    let short_code = short.json()["code"].as_str().unwrap().to_string();
    assert_eq!(
        http.send("GET", &format!("/{short_code}"), None)
            .await
            .status,
        302
    );
    // Past `expires_at` by the clock the service reads (this machine's).
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let wait = (expires_at as f64 - now()).max(0.0) + 0.2;
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert_eq!(
        http.send("GET", &format!("/{short_code}"), None)
            .await
            .status,
        404,
        "expired links are gone before TTL deletes them"
    );

    check_refusals(http).await;

    // Clicks: two more redirects, then the aggregator (batching window 5 s)
    // counts them.
    for _ in 0..2 {
        assert_eq!(
            http.send("GET", &format!("/{code}"), None).await.status,
            302
        );
    }
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let info = http.send("GET", &format!("/api/links/{code}"), None).await;
        assert_eq!(info.status, 200, "{}", text(&info.body));
        let clicks = info.json()["clicks"].as_u64().unwrap_or(0);
        if clicks >= 3 {
            assert_eq!(clicks, 3, "{}", text(&info.body));
            assert_eq!(info.json()["url"], "https://example.com/some/long/path?x=1");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clicks stayed at {clicks}, expected 3"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A poison click event fails in the aggregator, is retried, and the
    // queue's redrive moves it to the DLQ.
    let (clicks_queue, dlq) = queues;
    sqs.send_message()
        .queue_url(clicks_queue)
        .message_body("not a click event")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            assert_eq!(m.body(), Some("not a click event"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the poison click event never reached the DLQ"
        );
    }
}

/// Rate limit: link creation per client address in fixed one-minute
/// windows, counted in the links table. Exact: the creations this test
/// made earlier in the same window are read from the table, and exactly
/// the rest of the 20 succeed before a 429.
async fn check_rate_limit(http: &Http, ddb: &aws_sdk_dynamodb::Client, links_table: &str) {
    const LIMIT: i64 = 20;
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    // Far enough from the end of a window that all creations land in one.
    let into_minute = epoch() % 60.0;
    if into_minute > 45.0 {
        tokio::time::sleep(Duration::from_secs_f64(60.5 - into_minute)).await;
    }
    let minute = (epoch() as i64).div_euclid(60);
    let used: i64 = ddb
        .scan()
        .table_name(links_table)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|i| {
            i.get("code")
                .and_then(|c| c.as_s().ok())
                .is_some_and(|c| c.starts_with("!rate#") && c.ends_with(&format!("#{minute}")))
        })
        .map(|i| i["n"].as_n().unwrap().parse::<i64>().unwrap())
        .sum();
    assert!(used < LIMIT, "the window is already full ({used})");
    for i in 0..(LIMIT - used) {
        let a = http
            .create(json!({"url": format!("https://example.com/n/{i}")}))
            .await;
        assert_eq!(
            a.status,
            201,
            "creation {} of {LIMIT}: {}",
            used + i + 1,
            text(&a.body)
        );
    }
    let limited = http
        .create(json!({"url": "https://example.com/n/over"}))
        .await;
    assert_eq!(limited.status, 429, "creation {} of {LIMIT}", LIMIT + 1);
    let retry: i64 = limited
        .header("retry-after")
        .parse()
        .expect("Retry-After in seconds");
    let until_next = (minute + 1) * 60 - epoch() as i64;
    assert!(
        (retry - until_next).abs() <= 1,
        "Retry-After {retry}, the window ends in {until_next} s"
    );
    assert!(limited.json()["request_id"].is_string());
}

/// A landing page on `localhost` (the service refuses links to its own
/// host, 127.0.0.1): what the short link should lead the browser to.
async fn landing_server() -> String {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "text/html")
                            .body(Full::new(Bytes::from_static(
                                b"<html><body><h1 id=landed>landed</h1></body></html>",
                            )))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://localhost:{port}/landing?from=browser")
}

async fn check_page(base: &str) {
    let landing = landing_server().await;
    let mut browser = Browser::launch().await.expect("headless chromium");
    browser.navigate(&format!("{base}/")).await.unwrap();
    // An error from the API is shown on the page.
    browser
        .eval("document.getElementById('url').value = 'javascript:alert(1)'; document.getElementById('shorten').click(); true")
        .await
        .unwrap();
    browser
        .wait_for("!document.getElementById('error').hidden && document.getElementById('error').textContent.length > 0", Duration::from_secs(10))
        .await
        .unwrap();
    // Shorten through the form, then follow the result.
    browser
        .eval(&format!(
            "document.getElementById('url').value = {}; document.getElementById('shorten').click(); true",
            json!(landing)
        ))
        .await
        .unwrap();
    browser
        .wait_for(
            "document.getElementById('result').textContent.startsWith('http')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let short = browser
        .eval("document.getElementById('result').textContent")
        .await
        .unwrap();
    let short = short.as_str().unwrap().to_string();
    assert!(short.starts_with(base), "{short}");
    let error_hidden = browser
        .eval("document.getElementById('error').hidden")
        .await
        .unwrap();
    assert_eq!(
        error_hidden,
        Value::Bool(true),
        "a success clears the error"
    );
    browser.navigate(&short).await.unwrap();
    browser
        .wait_for(
            "!!document.getElementById('landed')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(
        browser.eval("location.href").await.unwrap(),
        Value::String(landing)
    );
}

#[test]
fn url_shortener_end_to_end() {
    let dir = workdir("e2e");
    let stack = format!("short-{}", std::process::id());
    let endpoint = test_endpoint();
    let target = ["--endpoint", endpoint.as_str()];
    let deploy = archform(
        &dir,
        &[
            &[
                "deploy",
                "url-shortener",
                "--stack",
                &stack,
                "--set",
                "create_rate_per_minute=20",
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
    let outputs = archform(
        &dir,
        &[
            &["--output", "json", "outputs", "--stack", &stack][..],
            &target,
        ]
        .concat(),
    );
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    let queues = (
        outputs["clicks_queue"].as_str().unwrap().to_string(),
        outputs["clicks_dlq"].as_str().unwrap().to_string(),
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(&endpoint));
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let links_table = outputs["links_table"].as_str().unwrap().to_string();
    // The blueprint's 180 s visibility and 5 receives would take 15 minutes
    // to redrive a poison event; shorten both on the emulator for the test
    // (the visibility stays above the mapping's 5 s batching window, else
    // messages would come back before their batch is done).
    rt.block_on(async {
        let dlq_arn = format!(
            "arn:aws:sqs:us-east-1:123456789012:{}",
            queues.1.rsplit('/').next().unwrap()
        );
        sqs.set_queue_attributes()
            .queue_url(&queues.0)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "8",
            )
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string(),
            )
            .send()
            .await
            .unwrap();
    });

    {
        let dev = Dev::start(&dir, &stack, &endpoint);
        let http = Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: dev.url("alb"),
        };
        rt.block_on(async {
            assert_eq!(http.send("GET", "/", None).await.status, 200);
            check_api(&http, &sqs, &queues).await;
            check_page(&dev.url("alb")).await;
            check_rate_limit(&http, &ddb, &links_table).await;
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
