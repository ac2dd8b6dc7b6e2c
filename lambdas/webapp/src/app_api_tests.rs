//! The app tier through its whole router (middleware included), on the
//! in-memory store, without a socket: what does not depend on the store.
//! The scenarios every store must pass are `tests/support/api_suite.rs`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app_api::{AppState, router};
use crate::memory::MemoryStore;
use crate::model::{Order, OrderRequest, Product, ProductChanges};
use crate::store::{
    BoxFuture, CancelOutcome, DataStore, Page, PageRequest, ProductQuery, StoreError,
};

struct Harness {
    app: Router,
}

/// One answer: status, headers and the body as JSON (or a JSON string of
/// the text when it is not JSON).
struct Answer {
    status: StatusCode,
    response: Response<Body>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_store(Arc::new(MemoryStore::new()))
    }

    fn with_store(store: Arc<dyn DataStore>) -> Self {
        Self {
            app: router(AppState::new(store)),
        }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        send(&self.app, request).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(request(Method::GET, path, &[], Body::empty()))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(json_request(Method::POST, path, &[], body)).await
    }

    async fn order(&self, lines: Value) -> Answer {
        self.post("/api/orders", json!({"lines": lines})).await
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status: parts.status,
        response: Response::from_parts(parts, Body::empty()),
        body,
    }
}

fn request(method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

fn json_request(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Request<Body> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request(method, path, &all, Body::from(body.to_string()))
}

/// An error body: the message, the request id (also in the header).
fn assert_error(answer: &Answer, status: StatusCode, contains: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let message = answer.body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", answer.body));
    assert!(message.contains(contains), "{message:?} lacks {contains:?}");
    let id = answer.body["request_id"].as_str().expect("request_id");
    assert_eq!(answer.header("x-request-id"), Some(id));
}

#[tokio::test]
async fn the_callers_request_id_is_kept_when_sane() {
    let h = Harness::new();
    let answer = h
        .send(request(
            Method::GET,
            "/api/products/nope",
            &[("x-request-id", "web-abc.123")],
            Body::empty(),
        ))
        .await;
    assert_eq!(answer.header("x-request-id"), Some("web-abc.123"));
    assert_eq!(answer.body["request_id"], "web-abc.123");
    let answer = h
        .send(request(
            Method::GET,
            "/health",
            &[("x-request-id", "bad id with spaces")],
            Body::empty(),
        ))
        .await;
    assert_eq!(answer.header("x-request-id").map(str::len), Some(32));
}

#[tokio::test]
async fn routes_methods_and_health() {
    let h = Harness::new();
    let health = h.get("/health").await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert!(health.header("x-request-id").is_some());
    assert_error(
        &h.get("/api/nothing").await,
        StatusCode::NOT_FOUND,
        "no route GET /api/nothing",
    );
    let delete = h
        .send(request(Method::DELETE, "/api/products", &[], Body::empty()))
        .await;
    assert_error(
        &delete,
        StatusCode::METHOD_NOT_ALLOWED,
        "DELETE is not allowed",
    );
}

/// A store whose every call fails, as an unreachable database would.
struct DownStore;

fn down<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(Err(StoreError::backend(
        "connect",
        "connection refused",
    ))))
}

impl DataStore for DownStore {
    fn create_product<'a>(&'a self, _: &'a Product) -> BoxFuture<'a, Result<(), StoreError>> {
        down()
    }
    fn get_product<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Product>, StoreError>> {
        down()
    }
    fn update_product<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: &'a ProductChanges,
        _: i64,
    ) -> BoxFuture<'a, Result<Product, StoreError>> {
        down()
    }
    fn list_products<'a>(
        &'a self,
        _: &'a ProductQuery,
    ) -> BoxFuture<'a, Result<Page<Product>, StoreError>> {
        down()
    }
    fn place_order<'a>(
        &'a self,
        _: &'a str,
        _: &'a OrderRequest,
        _: i64,
    ) -> BoxFuture<'a, Result<Order, StoreError>> {
        down()
    }
    fn cancel_order<'a>(
        &'a self,
        _: &'a str,
        _: Option<u64>,
        _: i64,
    ) -> BoxFuture<'a, Result<CancelOutcome, StoreError>> {
        down()
    }
    fn get_order<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Order>, StoreError>> {
        down()
    }
    fn list_orders<'a>(
        &'a self,
        _: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Order>, StoreError>> {
        down()
    }
}

#[tokio::test]
async fn a_failing_store_is_503_without_its_details() {
    let h = Harness::with_store(Arc::new(DownStore));
    let answer = h.get("/api/products").await;
    assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "data store is unavailable",
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(!answer.body.to_string().contains("connection refused"));
    let order = h
        .order(json!([{"product_id": "prd_01ARYZ6S41TSV4RRFFQ69G5FAV", "quantity": 1}]))
        .await;
    assert_eq!(order.status, StatusCode::SERVICE_UNAVAILABLE);
}
