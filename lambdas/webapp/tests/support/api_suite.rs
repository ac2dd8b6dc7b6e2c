//! The app tier's API scenarios, run through the whole router (no socket)
//! on every store: `tests/api_memory.rs` runs them on the in-memory store,
//! `tests/postgres.rs` on a real PostgreSQL server. [`api_suite!`] makes
//! one `#[tokio::test]` per scenario from a fixture function.

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use webapp::DataStore;
use webapp::app_api::{AppState, MAX_BODY_BYTES, router};

/// A store for one scenario, and whatever must live as long as it (a
/// database server).
pub struct Fixture {
    pub store: Arc<dyn DataStore>,
    pub guard: Box<dyn Any + Send>,
}

/// One `#[tokio::test]` per scenario, each on a store from `$fixture`
/// (an `async fn() -> Fixture`).
macro_rules! api_suite {
    ($fixture:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn create_then_read_a_product() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::create_then_read_a_product(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn bad_input_is_refused_and_nothing_is_stored() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::bad_input_is_refused_and_nothing_is_stored(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn skus_are_unique() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::skus_are_unique(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn updates_use_optimistic_concurrency() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::updates_use_optimistic_concurrency(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn product_pages_and_search() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::product_pages_and_search(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn orders_reserve_stock_or_are_refused() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::orders_reserve_stock_or_are_refused(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn fifty_concurrent_orders_through_the_router() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::fifty_concurrent_orders_through_the_router(&h).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn cancel_returns_stock_once() {
            let fixture = $fixture().await;
            let h = $crate::support::api_suite::Harness::with_store(fixture.store.clone());
            $crate::support::api_suite::cancel_returns_stock_once(&h).await;
        }
    };
}

pub struct Harness {
    pub app: Router,
}

/// One answer: status, headers and the body as JSON (or a JSON string of
/// the text when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub response: Response<Body>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    pub fn with_store(store: Arc<dyn DataStore>) -> Self {
        Self {
            app: router(AppState::new(store)),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        send(&self.app, request).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(request(Method::GET, path, &[], Body::empty()))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(json_request(Method::POST, path, &[], body)).await
    }

    pub async fn patch(&self, path: &str, if_match: Option<&str>, body: Value) -> Answer {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        self.send(json_request(Method::PATCH, path, &headers, body))
            .await
    }

    pub async fn create(&self, sku: &str, price_cents: i64, stock: i64) -> Value {
        let answer = self
            .post(
                "/api/products",
                json!({"sku": sku, "name": format!("The {sku}"), "price_cents": price_cents, "stock": stock}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    pub async fn order(&self, lines: Value) -> Answer {
        self.post("/api/orders", json!({"lines": lines})).await
    }

    pub async fn stock(&self, id: &str) -> i64 {
        self.get(&format!("/api/products/{id}")).await.body["stock"]
            .as_i64()
            .unwrap()
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
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

pub fn request(method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

pub fn json_request(
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
pub fn assert_error(answer: &Answer, status: StatusCode, contains: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let message = answer.body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", answer.body));
    assert!(message.contains(contains), "{message:?} lacks {contains:?}");
    let id = answer.body["request_id"].as_str().expect("request_id");
    assert_eq!(answer.header("x-request-id"), Some(id));
}

pub async fn create_then_read_a_product(h: &Harness) {
    let answer = h
        .post(
            "/api/products",
            json!({"sku": "W-1", "name": "Widget", "description": "A <b>fine</b> widget", "price_cents": 1999, "stock": 10}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prd_"));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(
        answer.header("location"),
        Some(format!("/api/products/{id}").as_str())
    );
    assert_eq!(answer.header("x-request-id").map(str::len), Some(32));
    assert_eq!(answer.body["version"], 1);
    assert_eq!(answer.body["description"], "A <b>fine</b> widget");

    let read = h.get(&format!("/api/products/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, answer.body);
    assert_eq!(read.header("etag"), Some("\"1\""));

    // A client whose copy is current gets 304.
    let cached = h
        .send(request(
            Method::GET,
            &format!("/api/products/{id}"),
            &[("if-none-match", "\"1\"")],
            Body::empty(),
        ))
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);

    let missing = h.get("/api/products/prd_01ARYZ6S41TSV4RRFFQ69G5FAV").await;
    assert_error(&missing, StatusCode::NOT_FOUND, "no product");
    let not_an_id = h.get("/api/products/..%2F..%2Fetc").await;
    assert_error(&not_an_id, StatusCode::NOT_FOUND, "no product");
}

pub async fn bad_input_is_refused_and_nothing_is_stored(h: &Harness) {
    let long = "n".repeat(201);
    for (body, field) in [
        (
            json!({"sku": "W", "name": long, "price_cents": 1, "stock": 1}),
            "name",
        ),
        (
            json!({"sku": "W", "name": "x", "price_cents": -5, "stock": 1}),
            "price_cents",
        ),
        (
            json!({"sku": "W", "name": "x", "price_cents": 5, "stock": 1.5}),
            "stock",
        ),
        (json!({"sku": "W", "name": "x", "price_cents": 5}), "stock"),
        (
            json!({"sku": "W W", "name": "x", "price_cents": 5, "stock": 1}),
            "sku",
        ),
        (
            json!({"sku": "W", "name": "x", "price_cents": 5, "stock": 1, "id": "prd_x"}),
            "id",
        ),
        (json!("text"), "body"),
    ] {
        let answer = h.post("/api/products", body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
        assert!(answer.body["request_id"].is_string());
    }

    let malformed = h
        .send(request(
            Method::POST,
            "/api/products",
            &[("content-type", "application/json")],
            Body::from("{\"sku\": "),
        ))
        .await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "not valid JSON");
    assert_eq!(malformed.body["field"], "body");

    let form = h
        .send(request(
            Method::POST,
            "/api/products",
            &[("content-type", "application/x-www-form-urlencoded")],
            Body::from("sku=W&name=x&price_cents=1&stock=1"),
        ))
        .await;
    assert_error(
        &form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    );

    let huge = json!({"sku": "W", "name": "x", "price_cents": 1, "stock": 1, "description": "d".repeat(MAX_BODY_BYTES)});
    let too_large = h.post("/api/products", huge).await;
    assert_error(&too_large, StatusCode::PAYLOAD_TOO_LARGE, "larger than");

    let listed = h.get("/api/products").await;
    assert_eq!(listed.body, json!({"items": [], "next_cursor": null}));
}

pub async fn skus_are_unique(h: &Harness) {
    let first = h.create("DUP", 100, 1).await;
    let answer = h
        .post(
            "/api/products",
            json!({"sku": "DUP", "name": "x", "price_cents": 1, "stock": 1}),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "SKU DUP is already used");
    assert_eq!(answer.body["field"], "sku");
    assert_eq!(answer.body["product_id"], first["id"]);
}

pub async fn updates_use_optimistic_concurrency(h: &Harness) {
    let id = h.create("U-1", 100, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/products/{id}");

    let blind = h.patch(&path, None, json!({"price_cents": 150})).await;
    assert_error(&blind, StatusCode::PRECONDITION_REQUIRED, "If-Match");
    let star = h.patch(&path, Some("*"), json!({"price_cents": 150})).await;
    assert_eq!(star.status, StatusCode::PRECONDITION_REQUIRED);
    let weak = h
        .patch(&path, Some("W/\"1\""), json!({"price_cents": 150}))
        .await;
    assert_eq!(weak.status, StatusCode::PRECONDITION_FAILED);
    let garbled = h.patch(&path, Some("1"), json!({"price_cents": 150})).await;
    assert_error(&garbled, StatusCode::BAD_REQUEST, "not an ETag");

    let updated = h
        .patch(
            &path,
            Some("\"1\""),
            json!({"price_cents": 150, "name": "Renamed"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(
        (
            updated.body["price_cents"].as_i64(),
            updated.body["name"].as_str()
        ),
        (Some(150), Some("Renamed"))
    );

    // Someone still holding version 1 is told, and nothing changes.
    let stale = h
        .patch(&path, Some("\"1\""), json!({"price_cents": 1}))
        .await;
    assert_error(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "changed since you read it",
    );
    assert_eq!(stale.body["current_version"], 2);
    assert_eq!(h.get(&path).await.body["price_cents"], 150);

    let invalid = h.patch(&path, Some("\"2\""), json!({"stock": -1})).await;
    assert_eq!(
        (invalid.status, invalid.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("stock"))
    );
    let empty = h.patch(&path, Some("\"2\""), json!({})).await;
    assert_error(&empty, StatusCode::BAD_REQUEST, "nothing to change");
    let missing = h
        .patch(
            "/api/products/prd_01ARYZ6S41TSV4RRFFQ69G5FAV",
            Some("\"1\""),
            json!({"stock": 1}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

pub async fn product_pages_and_search(h: &Harness) {
    for i in 0..5 {
        h.create(&format!("BOLT-{i}"), 10, 1).await;
        h.create(&format!("NUT-{i}"), 10, 1).await;
    }
    let first = h.get("/api/products?limit=4").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 4);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    seen.extend(
        first.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned()),
    );
    while let Some(c) = cursor {
        let page = h.get(&format!("/api/products?limit=4&cursor={c}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted), (10, seen.clone()));

    let bolts = h.get("/api/products?q=bolt&limit=100").await;
    let skus: Vec<&str> = bolts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["BOLT-0", "BOLT-1", "BOLT-2", "BOLT-3", "BOLT-4"]);
    // Percent-encoded spaces and case: "the nut-3" matches the name "The NUT-3".
    let named = h.get("/api/products?q=the%20nut-3").await;
    assert_eq!(named.body["items"][0]["sku"], "NUT-3");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("cursor=xyz", "cursor"),
    ] {
        let answer = h.get(&format!("/api/products?{query}")).await;
        assert_eq!(
            (answer.status, answer.body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}"
        );
    }
    // An order cursor is not a product cursor.
    let long_q = format!("/api/products?q={}", "q".repeat(101));
    assert_eq!(h.get(&long_q).await.body["field"], "q");
}

pub async fn orders_reserve_stock_or_are_refused(h: &Harness) {
    let a = h.create("A", 250, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = h.create("B", 1000, 1).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let placed = h
        .order(json!([{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}]))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order_id = placed.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        placed.header("location"),
        Some(format!("/api/orders/{order_id}").as_str())
    );
    assert_eq!(placed.body["status"], "placed");
    assert_eq!(placed.body["total_cents"], 1500);
    assert_eq!(placed.body["lines"][0]["unit_price_cents"], 250);
    assert_eq!(placed.body["lines"][1]["sku"], "B");
    assert_eq!((h.stock(&a).await, h.stock(&b).await), (3, 0));

    // Short of B: a clear 409 naming the line and the product; A untouched.
    let short = h
        .order(json!([{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 1}]))
        .await;
    assert_error(&short, StatusCode::CONFLICT, "not enough stock of B");
    assert_eq!(short.body["field"], "lines[1].quantity");
    assert_eq!(short.body["product_id"], b.as_str());
    assert_eq!(
        (
            short.body["requested"].as_i64(),
            short.body["available"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(h.stock(&a).await, 3);

    let unknown = h
        .order(json!([{"product_id": "prd_01ARYZ6S41TSV4RRFFQ69G5FAV", "quantity": 1}]))
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "there is no product");
    assert_eq!(unknown.body["field"], "lines[0].product_id");
    for (lines, field) in [
        (
            json!([{"product_id": a, "quantity": 0}]),
            "lines[0].quantity",
        ),
        (
            json!([{"product_id": a, "quantity": "2"}]),
            "lines[0].quantity",
        ),
        (
            json!([{"product_id": "nope", "quantity": 1}]),
            "lines[0].product_id",
        ),
        (json!([]), "lines"),
    ] {
        let answer = h.order(lines.clone()).await;
        assert_eq!(
            (answer.status, answer.body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{lines}"
        );
    }
    assert_eq!(h.stock(&a).await, 3);
    let orders = h.get("/api/orders").await;
    assert_eq!(orders.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.get(&format!("/api/orders/{order_id}")).await.body,
        placed.body
    );
    assert_eq!(
        h.get("/api/orders/ord_01ARYZ6S41TSV4RRFFQ69G5FAV")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

pub async fn fifty_concurrent_orders_through_the_router(h: &Harness) {
    let id = h.create("HOT", 500, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, id) = (h.app.clone(), id.clone());
        tasks.spawn(async move {
            let body = json!({"lines": [{"product_id": id, "quantity": 1}]});
            send(&app, json_request(Method::POST, "/api/orders", &[], body)).await
        });
    }
    let (mut created, mut conflicts) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        match answer.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(answer.body["available"], 0);
                assert!(
                    answer.body["error"]
                        .as_str()
                        .unwrap()
                        .contains("not enough stock of HOT")
                );
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert_eq!((created, conflicts), (10, 40));
    assert_eq!(h.stock(&id).await, 0);
    let orders = h.get("/api/orders?limit=100").await;
    assert_eq!(orders.body["items"].as_array().unwrap().len(), 10);
}

pub async fn cancel_returns_stock_once(h: &Harness) {
    let id = h.create("C", 100, 4).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = h
        .order(json!([{"product_id": id, "quantity": 3}]))
        .await
        .body;
    let cancel_path = format!("/api/orders/{}/cancel", order["id"].as_str().unwrap());
    assert_eq!(h.stock(&id).await, 1);

    let stale = h
        .send(request(
            Method::POST,
            &cancel_path,
            &[("if-match", "\"9\"")],
            Body::empty(),
        ))
        .await;
    assert_error(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "changed since you read it",
    );
    assert_eq!(h.stock(&id).await, 1);

    let cancelled = h
        .send(request(
            Method::POST,
            &cancel_path,
            &[("if-match", "\"1\"")],
            Body::empty(),
        ))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(
        (
            cancelled.body["status"].as_str(),
            cancelled.body["version"].as_u64()
        ),
        (Some("cancelled"), Some(2))
    );
    assert_eq!(h.stock(&id).await, 4);
    let again = h
        .send(request(Method::POST, &cancel_path, &[], Body::empty()))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, cancelled.body);
    assert_eq!(h.stock(&id).await, 4);

    let unknown = h
        .send(request(
            Method::POST,
            "/api/orders/ord_01ARYZ6S41TSV4RRFFQ69G5FAV/cancel",
            &[],
            Body::empty(),
        ))
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "no order");
}
