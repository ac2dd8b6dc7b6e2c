//! The handlers through the whole router (middleware included) with the
//! in-memory stores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::alb::AlbTargetGroupRequestContext;
use aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Method, Request, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app::{AppState, Stores, router};
use crate::clicks::{BatcherConfig, ClickBatcher, ClickEvent};
use crate::config::{RedirectStatus, ServiceOptions};
use crate::link::{Link, now_epoch_seconds};
use crate::memory::{MemoryClicks, MemoryLinks, MemoryQueue};
use crate::metrics::MetricsSink;
use crate::store::{BoxFuture, LinkStore, PutOutcome, StoreError};

const HOST: &str = "sho.rt";
const PEER: &str = "192.0.2.10:40000";

struct Harness {
    app: Router,
    links: Arc<MemoryLinks>,
    clicks: Arc<MemoryClicks>,
    queue: Arc<MemoryQueue>,
    batcher: Option<ClickBatcher>,
}

impl Harness {
    fn new(options: ServiceOptions) -> Self {
        let links = Arc::new(MemoryLinks::new());
        Self::with_link_store(options, links.clone(), links)
    }

    fn with_link_store(
        options: ServiceOptions,
        store: Arc<dyn LinkStore>,
        links: Arc<MemoryLinks>,
    ) -> Self {
        let clicks = Arc::new(MemoryClicks::new());
        let queue = Arc::new(MemoryQueue::new());
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), BatcherConfig::default());
        let stores = Stores {
            links: store,
            rate: links.clone(),
            clicks: clicks.clone(),
        };
        let state = AppState::new(options, stores, sender, MetricsSink::Off);
        Self {
            app: router(state),
            links,
            clicks,
            queue,
            batcher: Some(batcher),
        }
    }

    async fn send(&self, request: Request<Body>) -> (Response<Body>, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (Response::from_parts(parts, Body::empty()), json)
    }

    async fn create(&self, body: Value) -> (Response<Body>, Value) {
        self.send(post(body)).await
    }

    async fn get(&self, path: &str) -> (Response<Body>, Value) {
        self.send(request(Method::GET, path, Body::empty())).await
    }

    /// Flushes the click batcher and returns the events it sent.
    async fn sent_clicks(&mut self) -> Vec<ClickEvent> {
        self.batcher.take().unwrap().shutdown().await;
        self.queue
            .messages()
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    }
}

fn request(method: Method, path: &str, body: Body) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo::<SocketAddr>(PEER.parse().unwrap()));
    request
}

fn post(body: Value) -> Request<Body> {
    request(Method::POST, "/api/links", Body::from(body.to_string()))
}

fn header_of<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn link(code: &str, expires_at: Option<i64>) -> Link {
    Link {
        code: code.into(),
        url: format!("https://example.com/{code}"),
        created_at: 1,
        expires_at,
    }
}

fn no_limit() -> ServiceOptions {
    ServiceOptions {
        create_rate_per_minute: 0,
        ..ServiceOptions::default()
    }
}

#[tokio::test]
async fn create_then_redirect() {
    let mut h = Harness::new(no_limit());
    let (response, body) = h
        .create(json!({"url": "https://example.com/page?q=1"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 7);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["short_url"], format!("http://{HOST}/{code}"));
    assert_eq!(body["url"], "https://example.com/page?q=1");
    assert!(body.get("expires_at").is_none());
    assert!(header_of(&response, "x-request-id").is_some());

    let (response, _) = h.get(&format!("/{code}")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        header_of(&response, "location"),
        Some("https://example.com/page?q=1")
    );
    assert_eq!(header_of(&response, "cache-control"), Some("no-store"));

    let clicks = h.sent_clicks().await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].code, code);
}

#[tokio::test]
async fn redirect_status_301_when_configured() {
    let h = Harness::new(ServiceOptions {
        redirect_status: RedirectStatus::MovedPermanently,
        ..no_limit()
    });
    h.links.insert(link("perm123", None));
    let (response, _) = h.get("/perm123").await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        header_of(&response, "location"),
        Some("https://example.com/perm123")
    );
}

#[tokio::test]
async fn expires_in_seconds_sets_expires_at() {
    let h = Harness::new(no_limit());
    let before = now_epoch_seconds();
    let (response, body) = h
        .create(json!({"url": "https://example.com/", "expires_in_seconds": 3600}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let expires_at = body["expires_at"].as_i64().unwrap();
    assert!((before + 3600..=now_epoch_seconds() + 3600).contains(&expires_at));
}

#[tokio::test]
async fn alias_is_used_and_a_taken_alias_conflicts() {
    let h = Harness::new(no_limit());
    let (response, body) = h
        .create(json!({"url": "https://example.com/a", "alias": "my-link"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body["code"], "my-link");
    assert_eq!(body["short_url"], "http://sho.rt/my-link");

    let (response, body) = h
        .create(json!({"url": "https://example.com/b", "alias": "my-link"}))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "alias 'my-link' is already taken; choose another"
    );
    assert_eq!(
        body["request_id"].as_str(),
        header_of(&response, "x-request-id")
    );
    // The first link is untouched.
    let (response, _) = h.get("/my-link").await;
    assert_eq!(
        header_of(&response, "location"),
        Some("https://example.com/a")
    );
}

#[tokio::test]
async fn every_refusal_is_a_400_with_a_json_error_and_request_id() {
    let h = Harness::new(ServiceOptions {
        public_base_url: Some("https://public.example".into()),
        ..no_limit()
    });
    let long = format!("https://example.com/{}", "a".repeat(2100));
    let cases: Vec<(Body, &str)> = vec![
        (Body::empty(), "request body must be a JSON object"),
        (Body::from("{not json"), "request body is not valid JSON"),
        (Body::from("[1]"), "request body must be a JSON object"),
        (Body::from("{}"), "url is required"),
        (Body::from(r#"{"url": 5}"#), "url must be a string"),
        (Body::from(r#"{"url": ""}"#), "url is empty"),
        (
            Body::from(json!({"url": "javascript:alert(1)"}).to_string()),
            "javascript: URLs are not allowed",
        ),
        (
            Body::from(json!({"url": "data:text/html,hi"}).to_string()),
            "data: URLs are not allowed",
        ),
        (
            Body::from(json!({"url": "file:///etc/passwd"}).to_string()),
            "file: URLs are not allowed",
        ),
        (
            Body::from(json!({"url": "ftp://example.com/"}).to_string()),
            "only http and https",
        ),
        (
            Body::from(json!({"url": "example.com"}).to_string()),
            "must start with http:// or https://",
        ),
        (
            Body::from(json!({"url": "https://user:pass@example.com/"}).to_string()),
            "must not contain credentials",
        ),
        (
            Body::from(json!({"url": "https:///nohost"}).to_string()),
            "must have a host",
        ),
        (
            Body::from(json!({"url": long}).to_string()),
            "longer than 2048 characters",
        ),
        (
            Body::from(json!({"url": "http://sho.rt/abc1234"}).to_string()),
            "points to this service itself",
        ),
        (
            Body::from(json!({"url": "https://PUBLIC.example/x"}).to_string()),
            "points to this service itself",
        ),
        (
            Body::from(json!({"url": "https://example.com/", "alias": "api"}).to_string()),
            "alias 'api' is reserved",
        ),
        (
            Body::from(json!({"url": "https://example.com/", "alias": "ab"}).to_string()),
            "alias must be 3 to 32 characters",
        ),
        (
            Body::from(json!({"url": "https://example.com/", "alias": "a/b/c"}).to_string()),
            "alias may only contain",
        ),
        (
            Body::from(json!({"url": "https://example.com/", "alias": 7}).to_string()),
            "alias must be a string",
        ),
        (
            Body::from(json!({"url": "https://example.com/", "expires_in_seconds": 0}).to_string()),
            "expires_in_seconds must be positive",
        ),
        (
            Body::from(
                json!({"url": "https://example.com/", "expires_in_seconds": -3}).to_string(),
            ),
            "expires_in_seconds must be positive",
        ),
        (
            Body::from(
                json!({"url": "https://example.com/", "expires_in_seconds": 2.5}).to_string(),
            ),
            "whole number",
        ),
        (
            Body::from(
                json!({"url": "https://example.com/", "expires_in_seconds": "60"}).to_string(),
            ),
            "whole number",
        ),
        (
            Body::from(
                json!({"url": "https://example.com/", "expires_in_seconds": 400_000_000u64})
                    .to_string(),
            ),
            "at most",
        ),
    ];
    for (body, expected) in cases {
        let (response, json) = h.send(request(Method::POST, "/api/links", body)).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{expected}: {json}"
        );
        let error = json["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected),
            "expected {expected:?} in {error:?}"
        );
        assert_eq!(
            header_of(&response, "content-type"),
            Some("application/json")
        );
        let id = json["request_id"].as_str().unwrap();
        assert_eq!(Some(id), header_of(&response, "x-request-id"));
    }
    assert_eq!(h.links.reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_and_malformed_codes_are_404_pages() {
    let h = Harness::new(no_limit());
    let (response, body) = h.get("/nosuch1").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        header_of(&response, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.as_str().unwrap().contains("Link not found"));
    // Not code-shaped: answered without a table read.
    let reads = h.links.reads.load(Ordering::SeqCst);
    for path in [
        "/a.b",
        "/x",
        "/%21rate%23x%231",
        "/this-is-far-too-long-to-be-any-alias-at-all",
    ] {
        let (response, _) = h.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(h.links.reads.load(Ordering::SeqCst), reads);
}

#[tokio::test]
async fn expired_links_are_gone_before_ttl_deletes_them() {
    let mut h = Harness::new(no_limit());
    h.links
        .insert(link("old1234", Some(now_epoch_seconds() - 1)));
    h.links.insert(link("now1234", Some(now_epoch_seconds())));
    h.links
        .insert(link("new1234", Some(now_epoch_seconds() + 600)));
    for code in ["old1234", "now1234"] {
        let (response, _) = h.get(&format!("/{code}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{code}");
        let (response, _) = h.get(&format!("/api/links/{code}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{code}");
    }
    let (response, _) = h.get("/new1234").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let codes: Vec<String> = h.sent_clicks().await.into_iter().map(|c| c.code).collect();
    assert_eq!(codes, vec!["new1234"]);
}

#[tokio::test]
async fn the_cache_spares_table_reads_for_hot_and_unknown_links() {
    let h = Harness::new(no_limit());
    h.links.insert(link("hot1234", None));
    for _ in 0..5 {
        let (response, _) = h.get("/hot1234").await;
        assert_eq!(response.status(), StatusCode::FOUND);
        h.get("/unknown").await;
    }
    assert_eq!(h.links.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_cache_every_redirect_reads_the_table() {
    let h = Harness::new(ServiceOptions {
        cache_ttl: Duration::ZERO,
        ..no_limit()
    });
    h.links.insert(link("hot1234", None));
    for _ in 0..3 {
        h.get("/hot1234").await;
    }
    assert_eq!(h.links.reads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_created_link_is_cached_for_its_first_redirect() {
    let h = Harness::new(no_limit());
    let (_, body) = h.create(json!({"url": "https://example.com/"})).await;
    let (response, _) = h.get(&format!("/{}", body["code"].as_str().unwrap())).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(h.links.reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn head_redirects_without_counting_a_click() {
    let mut h = Harness::new(no_limit());
    h.links.insert(link("head123", None));
    let (response, _) = h
        .send(request(Method::HEAD, "/head123", Body::empty()))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(h.sent_clicks().await.is_empty());
}

#[tokio::test]
async fn clicks_carry_referer_and_user_agent() {
    let mut h = Harness::new(no_limit());
    h.links.insert(link("ref1234", None));
    let mut req = request(Method::GET, "/ref1234", Body::empty());
    req.headers_mut()
        .insert(header::REFERER, "https://from.example/".parse().unwrap());
    req.headers_mut()
        .insert(header::USER_AGENT, "test-agent/1".parse().unwrap());
    h.send(req).await;
    let clicks = h.sent_clicks().await;
    assert_eq!(clicks[0].referer.as_deref(), Some("https://from.example/"));
    assert_eq!(clicks[0].user_agent.as_deref(), Some("test-agent/1"));
    assert!(clicks[0].at > 1_600_000_000_000);
}

#[tokio::test]
async fn link_metadata_with_click_count() {
    let h = Harness::new(no_limit());
    h.links
        .insert(link("meta123", Some(now_epoch_seconds() + 60)));
    let (response, body) = h.get("/api/links/meta123").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body["code"], "meta123");
    assert_eq!(body["url"], "https://example.com/meta123");
    assert_eq!(body["created_at"], 1);
    assert!(body["expires_at"].is_i64());
    assert_eq!(body["clicks"], 0);
    assert_eq!(body["short_url"], "http://sho.rt/meta123");

    use crate::store::ClickCounter;
    h.clicks.add_clicks("meta123", 5).await.unwrap();
    let (_, body) = h.get("/api/links/meta123").await;
    assert_eq!(body["clicks"], 5);

    let (response, body) = h.get("/api/links/nosuch1").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("no such link"));
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn creation_is_rate_limited_per_client_with_retry_after() {
    let h = Harness::new(ServiceOptions {
        create_rate_per_minute: 2,
        ..ServiceOptions::default()
    });
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let (response, body) = h.create(json!({"url": "https://example.com/"})).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS && limited.is_none() {
            limited = Some((header_of(&response, "retry-after").map(str::to_owned), body));
        }
    }
    assert_eq!(&statuses[..2], &[StatusCode::CREATED, StatusCode::CREATED]);
    // Five requests cannot all fit in two windows of two.
    let (retry_after, body) = limited.expect("a 429 among the last three");
    let seconds: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds));
    assert!(body["error"].as_str().unwrap().contains("too many links"));
    assert!(body["request_id"].is_string());

    // Another address has its own window.
    let mut other = post(json!({"url": "https://example.com/"}));
    other
        .extensions_mut()
        .insert(ConnectInfo::<SocketAddr>("198.51.100.1:1".parse().unwrap()));
    let (response, _) = h.send(other).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn forwarded_for_counts_only_when_trusted() {
    let h = Harness::new(ServiceOptions {
        create_rate_per_minute: 100,
        trust_forwarded_for: true,
        ..ServiceOptions::default()
    });
    let mut req = post(json!({"url": "https://example.com/"}));
    req.headers_mut()
        .insert("x-forwarded-for", "6.6.6.6, 203.0.113.77".parse().unwrap());
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let (response, body) = h.send(req).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        body["short_url"]
            .as_str()
            .unwrap()
            .starts_with("https://sho.rt/")
    );
    let window = crate::rate_limit::Window::at("203.0.113.77", now_epoch_seconds());
    assert!(h.links.window(&window.key).is_some(), "{}", window.key);
}

#[tokio::test]
async fn on_an_alb_the_last_forwarded_for_and_proto_count() {
    let h = Harness::new(ServiceOptions {
        create_rate_per_minute: 100,
        ..ServiceOptions::default()
    });
    let mut req = post(json!({"url": "https://example.com/"}));
    req.extensions_mut().remove::<ConnectInfo<SocketAddr>>();
    req.extensions_mut()
        .insert(RequestContext::Alb(AlbTargetGroupRequestContext::default()));
    req.headers_mut()
        .insert("x-forwarded-for", "6.6.6.6, 198.51.100.23".parse().unwrap());
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let (response, body) = h.send(req).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        body["short_url"]
            .as_str()
            .unwrap()
            .starts_with("https://sho.rt/")
    );
    let window = crate::rate_limit::Window::at("198.51.100.23", now_epoch_seconds());
    assert!(h.links.window(&window.key).is_some());
}

#[tokio::test]
async fn behind_a_function_url_the_source_ip_counts_and_the_scheme_is_https() {
    let h = Harness::new(ServiceOptions {
        create_rate_per_minute: 100,
        ..ServiceOptions::default()
    });
    let mut req = post(json!({"url": "https://example.com/"}));
    req.extensions_mut().remove::<ConnectInfo<SocketAddr>>();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some("203.0.113.9".into());
    req.extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    let (response, body) = h.send(req).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        body["short_url"]
            .as_str()
            .unwrap()
            .starts_with("https://sho.rt/")
    );
    let window = crate::rate_limit::Window::at("203.0.113.9", now_epoch_seconds());
    assert!(h.links.window(&window.key).is_some());
}

#[tokio::test]
async fn public_base_url_wins_over_the_host_header() {
    let h = Harness::new(ServiceOptions {
        public_base_url: Some("https://go.example/s".into()),
        ..no_limit()
    });
    let (_, body) = h.create(json!({"url": "https://example.com/"})).await;
    let code = body["code"].as_str().unwrap();
    assert_eq!(body["short_url"], format!("https://go.example/s/{code}"));
}

#[tokio::test]
async fn lambda_request_id_is_used_when_present() {
    let h = Harness::new(no_limit());
    let mut req = post(json!({"url": "nope"}));
    let mut context = lambda_http::Context::default();
    context.request_id = "c0ffee00-1111-2222-3333-444455556666".into();
    req.extensions_mut().insert(context);
    let (response, body) = h.send(req).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        header_of(&response, "x-request-id"),
        Some("c0ffee00-1111-2222-3333-444455556666")
    );
    assert_eq!(body["request_id"], "c0ffee00-1111-2222-3333-444455556666");
}

#[tokio::test]
async fn storage_failures_are_503s() {
    let h = Harness::new(ServiceOptions {
        create_rate_per_minute: 10,
        ..ServiceOptions::default()
    });
    h.links.insert(link("down123", None));
    h.links.fail.store(true, Ordering::SeqCst);
    let (response, body) = h.create(json!({"url": "https://example.com/"})).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].as_str().unwrap().contains("unavailable"));
    assert!(header_of(&response, "retry-after").is_some());
    let (response, body) = h.get("/down123").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.as_str().unwrap().contains("Temporarily unavailable"));
    // Failures are not cached: once the table is back, so is the link.
    h.links.fail.store(false, Ordering::SeqCst);
    let (response, _) = h.get("/down123").await;
    assert_eq!(response.status(), StatusCode::FOUND);
}

/// Answers "taken" to the first `taken` puts, then stores.
struct TakenAtFirst {
    inner: MemoryLinks,
    taken: usize,
    puts: AtomicUsize,
}

impl LinkStore for TakenAtFirst {
    fn get_link<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<Option<Link>, StoreError>> {
        self.inner.get_link(code)
    }

    fn put_link_if_absent<'a>(
        &'a self,
        link: &'a Link,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        if self.puts.fetch_add(1, Ordering::SeqCst) < self.taken {
            return Box::pin(async { Ok(PutOutcome::AlreadyExists) });
        }
        self.inner.put_link_if_absent(link)
    }
}

#[tokio::test]
async fn code_collisions_are_retried_then_503() {
    for (taken, expected) in [
        (2, StatusCode::CREATED),
        (crate::handlers::MAX_CODE_ATTEMPTS - 1, StatusCode::CREATED),
        (
            crate::handlers::MAX_CODE_ATTEMPTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        let store = Arc::new(TakenAtFirst {
            inner: MemoryLinks::new(),
            taken,
            puts: AtomicUsize::new(0),
        });
        let h = Harness::with_link_store(no_limit(), store.clone(), Arc::new(MemoryLinks::new()));
        let (response, body) = h.create(json!({"url": "https://example.com/"})).await;
        assert_eq!(response.status(), expected, "{taken}: {body}");
        assert_eq!(
            store.puts.load(Ordering::SeqCst),
            (taken + 1).min(crate::handlers::MAX_CODE_ATTEMPTS)
        );
        if expected == StatusCode::SERVICE_UNAVAILABLE {
            assert!(body["error"].as_str().unwrap().contains("unique code"));
        }
    }
}

#[tokio::test]
async fn page_health_and_other_routes() {
    let h = Harness::new(no_limit());
    let (response, body) = h.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        header_of(&response, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.as_str().unwrap().contains("id=\"shorten\""));
    assert!(header_of(&response, "content-security-policy").is_some());

    let (response, body) = h.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));

    let (response, _) = h.get("/favicon.ico").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (response, body) = h.get("/api/nothing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("no API route"));

    let (response, body) = h.get("/api/links").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].as_str().unwrap().contains("POST /api/links"));
    assert_eq!(header_of(&response, "allow"), Some("POST"));

    let (response, _) = h.get("/some/deep/path").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.links.reads.load(Ordering::SeqCst), 0);
}
