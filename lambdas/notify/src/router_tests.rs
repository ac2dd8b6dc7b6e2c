//! The API through the whole router (middleware included) on the
//! in-memory stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::{AppState, MAX_BODY_BYTES, router};
use crate::config::ServiceOptions;
use crate::memory::MemoryStores;
use crate::model::Channel;
use crate::store::{BoxFuture, DeliveryJob, DeliveryQueue, NotificationStore, StoreError};
use crate::webhook_signature::WebhookSecret;

/// 2024-06-12 12:00 in New York (EDT).
const NOON_NY_MS: i64 = 1_718_208_000_000;
/// 2024-06-12 23:30 in New York (EDT).
const LATE_NY_MS: i64 = 1_718_249_400_000;
/// 2024-06-13 07:00 in New York (EDT), when 22:00-07:00 quiet hours end.
const MORNING_NY_MS: i64 = 1_718_276_400_000;

struct Harness {
    app: Router,
    memory: MemoryStores,
    clock: Arc<AtomicI64>,
}

impl Harness {
    fn new() -> Self {
        Self::with(ServiceOptions::default(), MemoryStores::new(), None)
    }

    fn with(
        options: ServiceOptions,
        memory: MemoryStores,
        queue: Option<Arc<dyn DeliveryQueue>>,
    ) -> Self {
        let clock = Arc::new(AtomicI64::new(NOON_NY_MS));
        let mut stores = memory.stores();
        if let Some(queue) = queue {
            stores.queue = queue;
        }
        let time = clock.clone();
        let state = AppState::with_clock(
            options,
            stores,
            Arc::new(move || time.load(Ordering::SeqCst)),
        );
        Self {
            app: router(state),
            memory,
            clock,
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

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (Response<Body>, Value) {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(request(method, path, body)).await
    }

    async fn post(&self, body: Value) -> (Response<Body>, Value) {
        self.call(Method::POST, "/v1/notifications", Some(body))
            .await
    }

    async fn get(&self, path: &str) -> (Response<Body>, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn put(&self, path: &str, body: Value) -> (Response<Body>, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// The order-shipped template (email, sms, push, webhook; en and pt).
    async fn with_template(&self) {
        let (response, body) = self
            .put("/v1/templates/order-shipped", template_body())
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    }

    async fn with_user(&self, id: &str, prefs: Value) -> Value {
        let (response, body) = self
            .put(&format!("/v1/users/{id}/preferences"), prefs)
            .await;
        assert!(response.status().is_success(), "{body}");
        body
    }

    fn queued(&self, channel: Channel) -> Vec<DeliveryJob> {
        self.memory.queue.jobs(channel)
    }

    fn queued_total(&self) -> usize {
        self.memory.queue.len()
    }
}

fn request(method: Method, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

fn header_of<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn template_body() -> Value {
    json!({
        "default_locale": "en",
        "category": "orders",
        "locales": {
            "en": {
                "email": {
                    "subject": "Order {{order}} has shipped",
                    "html": "<p>Hi {{name}}, order <b>{{order}}</b> is on its way.</p>",
                    "text": "Hi {{name}}, order {{order}} is on its way."
                },
                "sms": {"text": "Hi {{name}}, order {{order}} shipped."},
                "push": {"title": "Shipped", "body": "Order {{order}} is on its way"},
                "webhook": {"body": {"event": "order.shipped", "order": "{{order}}"}}
            },
            "pt": {
                "sms": {"text": "Olá {{name}}, a encomenda {{order}} foi enviada."}
            }
        }
    })
}

fn ana() -> Value {
    json!({
        "email": "ana@example.com",
        "phone": "+14155550123",
        "push": {"platform": "apns", "token": "ab".repeat(32)},
        "webhook": {"url": "https://hooks.example.com/notify"},
        "locale": "pt-BR",
        "timezone": "America/New_York"
    })
}

fn shipped(user: &str) -> Value {
    json!({"user_id": user, "template": "order-shipped", "data": {"name": "Ana <3", "order": "A-17"}})
}

/// Asserts a JSON error: status, a fragment of the message, a request id.
fn assert_error(response: &Response<Body>, body: &Value, status: StatusCode, fragment: &str) {
    assert_eq!(response.status(), status, "{body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"));
    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    let request_id = body["request_id"].as_str().unwrap();
    assert_eq!(header_of(response, "x-request-id"), Some(request_id));
}

#[tokio::test]
async fn health_and_request_ids() {
    let h = Harness::new();
    let (response, body) = h.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
    let id = header_of(&response, "x-request-id").unwrap();
    assert_eq!(id.len(), 32);

    // A caller's sane id is kept; an odd one is replaced.
    let mut with_id = request(Method::GET, "/v1/templates/nope", Body::empty());
    with_id
        .headers_mut()
        .insert("x-request-id", "trace-42.a".parse().unwrap());
    let (response, body) = h.send(with_id).await;
    assert_error(
        &response,
        &body,
        StatusCode::NOT_FOUND,
        "no template \"nope\"",
    );
    assert_eq!(body["request_id"], "trace-42.a");
    let mut odd = request(Method::GET, "/health", Body::empty());
    odd.headers_mut()
        .insert("x-request-id", "has spaces in it".parse().unwrap());
    let (response, _) = h.send(odd).await;
    assert_eq!(header_of(&response, "x-request-id").unwrap().len(), 32);
}

#[tokio::test]
async fn with_an_api_key_every_v1_route_wants_it_and_nothing_is_stored_without() {
    const KEY: &str = "test-key-0123456789abcdefghij";
    let options = ServiceOptions {
        api_key: Some(crate::api_key::ApiKey::new(KEY).unwrap()),
        ..ServiceOptions::default()
    };
    let h = Harness::with(options, MemoryStores::new(), None);
    let authorized = |method: Method, path: &str, body: Option<Value>, key: &str| {
        let mut request = request(
            method,
            path,
            body.map_or_else(Body::empty, |b| Body::from(b.to_string())),
        );
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        request
    };
    for (method, path, body) in [
        (
            Method::PUT,
            "/v1/templates/order-shipped",
            Some(template_body()),
        ),
        (Method::GET, "/v1/templates/order-shipped", None),
        (Method::PUT, "/v1/users/ana/preferences", Some(ana())),
        (Method::GET, "/v1/users/ana/preferences", None),
        (Method::POST, "/v1/notifications", Some(shipped("ana"))),
        (
            Method::GET,
            "/v1/notifications/ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TX",
            None,
        ),
    ] {
        let (response, json) = h.call(method.clone(), path, body.clone()).await;
        assert_error(
            &response,
            &json,
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer",
        );
        assert_eq!(header_of(&response, "www-authenticate"), Some("Bearer"));
        let (response, json) = h
            .send(authorized(
                method,
                path,
                body,
                "test-key-0123456789abcdefghiX",
            ))
            .await;
        assert_error(
            &response,
            &json,
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer",
        );
    }
    assert_eq!(h.queued_total(), 0);
    let (response, _) = h.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);

    // With the key, the same requests work.
    let (response, json) = h
        .send(authorized(
            Method::PUT,
            "/v1/templates/order-shipped",
            Some(template_body()),
            KEY,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{json}");
    let (response, json) = h
        .send(authorized(
            Method::PUT,
            "/v1/users/ana/preferences",
            Some(ana()),
            KEY,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{json}");
    let (response, json) = h
        .send(authorized(
            Method::POST,
            "/v1/notifications",
            Some(shipped("ana")),
            KEY,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{json}");
    assert!(h.queued_total() > 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let h = Harness::new();
    let (response, body) = h.get("/v2/anything").await;
    assert_error(
        &response,
        &body,
        StatusCode::NOT_FOUND,
        "no API route GET /v2/anything",
    );
    let (response, body) = h.get("/v1/notifications").await;
    assert_error(&response, &body, StatusCode::METHOD_NOT_ALLOWED, "use POST");
    assert_eq!(header_of(&response, "allow"), Some("POST"));
    let (response, body) = h.call(Method::DELETE, "/v1/templates/t", None).await;
    assert_error(
        &response,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "use GET, PUT",
    );
}

#[tokio::test]
async fn templates_are_stored_checked_and_shown() {
    let h = Harness::new();
    let (response, body) = h.put("/v1/templates/order-shipped", template_body()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body["name"], "order-shipped");
    assert_eq!(body["updated_at"], NOON_NY_MS);
    let (response, shown) = h.get("/v1/templates/order-shipped").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(shown, body);
    assert_eq!(
        shown["locales"]["en"]["sms"]["text"],
        "Hi {{name}}, order {{order}} shipped."
    );
    // A second PUT replaces it.
    let mut changed = template_body();
    changed["locales"]["en"]["push"]["title"] = json!("On its way");
    let (response, body) = h.put("/v1/templates/order-shipped", changed).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body["locales"]["en"]["push"]["title"], "On its way");

    let cases = [
        ("/v1/templates/Order", template_body(), "lower-case letters"),
        (
            "/v1/templates/t",
            json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{oops"}}}}),
            "en sms.text does not compile",
        ),
        (
            "/v1/templates/t",
            json!({"default_locale": "en", "category": "promos", "locales": {"en": {"sms": {"text": "x"}}}}),
            "unknown category \"promos\"; the categories are account, billing",
        ),
        (
            "/v1/templates/t",
            json!({"default_locale": "en", "locales": {"en": {"fax": {"text": "x"}}}}),
            "unknown field `fax`",
        ),
        (
            "/v1/templates/t",
            json!({"locales": {}}),
            "missing field `default_locale`",
        ),
    ];
    for (path, body, fragment) in cases {
        let (response, answer) = h.put(path, body).await;
        assert_error(&response, &answer, StatusCode::BAD_REQUEST, fragment);
    }
    let (response, body) = h.call(Method::PUT, "/v1/templates/t", None).await;
    assert_error(&response, &body, StatusCode::BAD_REQUEST, "not JSON");
    let (response, body) = h.put("/v1/templates/t", json!([1])).await;
    assert_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "must be a JSON object",
    );
    let (response, body) = h.get("/v1/templates/t").await;
    assert_error(&response, &body, StatusCode::NOT_FOUND, "no template");
}

#[tokio::test]
async fn preferences_are_stored_checked_and_shown() {
    let h = Harness::new();
    let (response, body) = h.put("/v1/users/ana/preferences", ana()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    assert_eq!(body["locale"], "pt-BR");
    let secret = body["webhook"]["secret"].as_str().unwrap().to_owned();
    assert!(WebhookSecret::parse(&secret).is_ok());
    let (response, shown) = h.get("/v1/users/ana/preferences").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(shown, body);
    // Replacing keeps the secret of an unchanged webhook URL.
    let (response, body) = h.put("/v1/users/ana/preferences", ana()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body["webhook"]["secret"], secret);

    let cases = [
        (json!({"email": "ana@"}), "not a valid email address"),
        (
            json!({"phone": "0044 20 7946 0000"}),
            "not an E.164 phone number",
        ),
        (
            json!({"webhook": {"url": "https://127.0.0.1/hook"}}),
            "loopback",
        ),
        (
            json!({"webhook": {"url": "https://169.254.169.254/"}}),
            "link-local",
        ),
        (
            json!({"webhook": {"url": "http://hooks.example.com/"}}),
            "plain http",
        ),
        (
            json!({"opt_out": {"categories": ["promos"]}}),
            "unknown category",
        ),
        (
            json!({"opt_out": {"channels": ["fax"]}}),
            "unknown variant `fax`",
        ),
        (json!({"timezone": "Nowhere/Land"}), "not an IANA time zone"),
    ];
    for (prefs, fragment) in cases {
        let (response, body) = h.put("/v1/users/bob/preferences", prefs).await;
        assert_error(&response, &body, StatusCode::BAD_REQUEST, fragment);
    }
    let (response, body) = h.get("/v1/users/bob/preferences").await;
    assert_error(
        &response,
        &body,
        StatusCode::NOT_FOUND,
        "no preferences for the user \"bob\"",
    );
    let (response, body) = h.put("/v1/users/a%20b/preferences", json!({})).await;
    assert_error(&response, &body, StatusCode::BAD_REQUEST, "the user id");
}

#[tokio::test]
async fn a_notification_is_rendered_queued_per_channel_and_shown() {
    let h = Harness::new();
    h.with_template().await;
    h.with_user("ana", ana()).await;
    let (response, body) = h.post(shipped("ana")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ntf_"));
    assert_eq!(body["user_id"], "ana");
    assert_eq!(
        header_of(&response, "location"),
        Some(format!("/v1/notifications/{id}").as_str())
    );

    let (response, shown) = h.get(&format!("/v1/notifications/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(shown["template"], "order-shipped");
    assert_eq!(shown["category"], "orders");
    assert_eq!(shown["priority"], "transactional");
    assert_eq!(shown["locale"], "pt-BR");
    assert_eq!(shown["created_at"], NOON_NY_MS);
    assert_eq!(
        shown["channels"],
        json!({
            "email": {"status": "queued", "locale": "en", "updated_at": NOON_NY_MS},
            "sms": {"status": "queued", "locale": "pt", "updated_at": NOON_NY_MS},
            "push": {"status": "queued", "locale": "en", "updated_at": NOON_NY_MS},
            "webhook": {"status": "queued", "locale": "en", "updated_at": NOON_NY_MS},
        })
    );

    // One job per channel, rendered: HTML escaped for email only.
    assert_eq!(h.queued_total(), 4);
    let email = &h.queued(Channel::Email)[0];
    assert_eq!(email.notification_id, id);
    let content = serde_json::to_value(&email.rendered.content).unwrap();
    assert_eq!(
        content["html"],
        "<p>Hi Ana &lt;3, order <b>A-17</b> is on its way.</p>"
    );
    assert_eq!(content["text"], "Hi Ana <3, order A-17 is on its way.");
    let sms = serde_json::to_value(&h.queued(Channel::Sms)[0].rendered).unwrap();
    assert_eq!(
        sms,
        json!({"locale": "pt", "content": {"channel": "sms", "text": "Olá Ana <3, a encomenda A-17 foi enviada.", "segments": 1}})
    );
    let webhook = serde_json::to_value(&h.queued(Channel::Webhook)[0].rendered.content).unwrap();
    assert_eq!(
        webhook["body"],
        json!({"event": "order.shipped", "order": "A-17"})
    );

    let (response, body) = h
        .get("/v1/notifications/ntf_01ARYZ6S41TSV4RRFFQ69G5FAV")
        .await;
    assert_error(&response, &body, StatusCode::NOT_FOUND, "no notification");
    let (response, body) = h.get("/v1/notifications/not-an-id").await;
    assert_error(&response, &body, StatusCode::NOT_FOUND, "no notification");
}

#[tokio::test]
async fn channels_can_be_chosen_and_preferences_suppress_with_a_reason() {
    let h = Harness::new();
    h.with_template().await;
    let mut prefs = ana();
    prefs["opt_out"] = json!({"channels": ["push"], "category_channels": {"orders": ["email"]}});
    prefs.as_object_mut().unwrap().remove("phone");
    h.with_user("ana", prefs).await;

    let (_, body) = h.post(shipped("ana")).await;
    let (_, shown) = h
        .get(&format!(
            "/v1/notifications/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    let status = |c: &str| {
        (
            shown["channels"][c]["status"].clone(),
            shown["channels"][c]["reason"].clone(),
        )
    };
    assert_eq!(status("email"), (json!("suppressed"), json!("opted_out")));
    assert_eq!(status("push"), (json!("suppressed"), json!("opted_out")));
    assert_eq!(status("sms"), (json!("suppressed"), json!("no_contact")));
    assert_eq!(status("webhook"), (json!("queued"), Value::Null));
    assert_eq!(h.queued_total(), 1);

    // Critical passes the opt-outs (but still needs a phone for SMS).
    let mut critical = shipped("ana");
    critical["priority"] = json!("critical");
    critical["channels"] = json!(["email", "sms"]);
    let (_, body) = h.post(critical).await;
    let (_, shown) = h
        .get(&format!(
            "/v1/notifications/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown["priority"], "critical");
    assert_eq!(shown["channels"]["email"]["status"], "queued");
    assert_eq!(shown["channels"]["sms"]["reason"], "no_contact");
    assert!(
        shown["channels"].get("push").is_none(),
        "only the channels asked for"
    );

    // A global unsubscribe holds back even critical messages.
    let mut unsubscribed = ana();
    unsubscribed["unsubscribed"] = json!(true);
    h.with_user("ana", unsubscribed).await;
    let mut critical = shipped("ana");
    critical["priority"] = json!("critical");
    let (_, body) = h.post(critical).await;
    let (_, shown) = h
        .get(&format!(
            "/v1/notifications/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    for channel in ["email", "sms", "push", "webhook"] {
        assert_eq!(shown["channels"][channel]["reason"], "unsubscribed");
    }
    assert_eq!(h.queued_total(), 2);
}

#[tokio::test]
async fn quiet_hours_delay_bulk_until_morning_and_let_critical_through() {
    let h = Harness::new();
    h.with_template().await;
    let mut prefs = ana();
    prefs["quiet_hours"] = json!({"start": "22:00", "end": "07:00"});
    h.with_user("ana", prefs).await;
    h.clock.store(LATE_NY_MS, Ordering::SeqCst);

    let mut bulk = shipped("ana");
    bulk["priority"] = json!("bulk");
    bulk["channels"] = json!(["push"]);
    let (_, body) = h.post(bulk).await;
    let (_, shown) = h
        .get(&format!(
            "/v1/notifications/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        shown["channels"]["push"],
        json!({"status": "queued", "not_before": MORNING_NY_MS, "locale": "en", "updated_at": LATE_NY_MS})
    );
    let mut critical = shipped("ana");
    critical["priority"] = json!("critical");
    critical["channels"] = json!(["push"]);
    h.post(critical).await;

    // The critical job is ready now; the bulk one in the morning.
    let queue = &h.memory.queue;
    let first = queue.take_ready(Channel::Push, LATE_NY_MS).unwrap();
    assert_eq!(first.priority, crate::model::Priority::Critical);
    assert!(queue.take_ready(Channel::Push, MORNING_NY_MS - 1).is_none());
    let later = queue.take_ready(Channel::Push, MORNING_NY_MS).unwrap();
    assert_eq!(later.not_before, Some(MORNING_NY_MS));

    // A user who asked for quiet-hour messages to be dropped.
    let mut prefs = ana();
    prefs["quiet_hours"] = json!({"start": "22:00", "end": "07:00", "action": "drop"});
    h.with_user("ana", prefs).await;
    let (_, body) = h.post(shipped("ana")).await;
    let (_, shown) = h
        .get(&format!(
            "/v1/notifications/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown["channels"]["sms"]["reason"], "quiet_hours");
}

#[tokio::test]
async fn several_users_at_once() {
    let h = Harness::new();
    h.with_template().await;
    h.with_user("ana", ana()).await;
    let (response, body) = h
        .post(json!({"user_ids": ["ana", "nobody"], "template": "order-shipped", "data": {"name": "x", "order": "1"}, "channels": ["email"]}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    let list = body["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["user_id"], "ana");
    assert_eq!(list[1]["user_id"], "nobody");
    assert_ne!(list[0]["id"], list[1]["id"]);
    let (_, nobody) = h
        .get(&format!(
            "/v1/notifications/{}",
            list[1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(nobody["channels"]["email"]["reason"], "no_contact");
    assert_eq!(nobody["locale"], "en");
    assert_eq!(h.queued_total(), 1);
}

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_id_once() {
    let h = Harness::new();
    h.with_template().await;
    h.with_user("ana", ana()).await;
    let mut first = shipped("ana");
    first["idempotency_key"] = json!("order-A-17-shipped");
    let (response, body) = h.post(first).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(header_of(&response, "idempotent-replayed").is_none());
    let id = body["id"].clone();

    // The same request, keys in another order and the key in the header.
    let retry = r#"{"data": {"order": "A-17", "name": "Ana <3"}, "template": "order-shipped", "user_id": "ana"}"#;
    let mut request = request(Method::POST, "/v1/notifications", Body::from(retry));
    request
        .headers_mut()
        .insert("idempotency-key", "order-A-17-shipped".parse().unwrap());
    let (response, body) = h.send(request).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(header_of(&response, "idempotent-replayed"), Some("true"));
    assert_eq!(body["id"], id);
    assert_eq!(h.memory.notifications.len(), 1);
    assert_eq!(h.queued_total(), 4);

    // Another body with the same key is a conflict, and does nothing.
    let mut other = shipped("ana");
    other["data"]["order"] = json!("B-2");
    other["idempotency_key"] = json!("order-A-17-shipped");
    let (response, body) = h.post(other).await;
    assert_error(
        &response,
        &body,
        StatusCode::CONFLICT,
        "already used with a different request body",
    );
    assert_eq!(h.memory.notifications.len(), 1);
    assert_eq!(h.queued_total(), 4);

    // The key expires after a day.
    h.clock.store(NOON_NY_MS + 86_400_000, Ordering::SeqCst);
    let mut again = shipped("ana");
    again["idempotency_key"] = json!("order-A-17-shipped");
    let (response, body) = h.post(again).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_ne!(body["id"], id);
}

#[tokio::test]
async fn a_refused_request_frees_its_key() {
    let h = Harness::new();
    h.with_template().await;
    let bad = json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana"}, "idempotency_key": "k1"});
    let (response, body) = h.post(bad).await;
    assert_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "uses the variable \"order\"",
    );
    let mut fixed = shipped("ana");
    fixed["idempotency_key"] = json!("k1");
    let (response, body) = h.post(fixed).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    assert!(header_of(&response, "idempotent-replayed").is_none());

    let mut mismatch = request(
        Method::POST,
        "/v1/notifications",
        Body::from(
            json!({"user_id": "ana", "template": "order-shipped", "idempotency_key": "k2"})
                .to_string(),
        ),
    );
    mismatch
        .headers_mut()
        .insert("idempotency-key", "k3".parse().unwrap());
    let (response, body) = h.send(mismatch).await;
    assert_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "differs between the body",
    );
}

#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_stored_or_queued() {
    let h = Harness::new();
    h.with_template().await;
    h.with_user("ana", ana()).await;
    let base = shipped("ana");
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("template", json!("nope")),
            "unknown template \"nope\"; create it with PUT /v1/templates/nope",
        ),
        (with("template", json!("Nope")), "lower-case letters"),
        (
            with("data", json!({"name": "Ana"})),
            "(en email.subject) uses the variable \"order\", which \"data\" does not have",
        ),
        (with("data", json!(["a"])), "data must be a JSON object"),
        (
            with("channels", json!(["email", "fax"])),
            "unknown channel \"fax\"",
        ),
        (with("channels", json!([])), "channels is empty"),
        (with("channels", json!(["sms", "sms"])), "listed twice"),
        (
            with("category", json!("promos")),
            "unknown category \"promos\"",
        ),
        (with("category", json!("Promos")), "lower-case letters"),
        (
            with("priority", json!("urgent")),
            "unknown priority \"urgent\"",
        ),
        (with("user_ids", json!(["bob"])), "not both"),
        (with("user_id", json!("a b")), "the user id"),
        (
            with("idempotency_key", json!("has space")),
            "idempotency key",
        ),
        (with("extra", json!(1)), "unknown field `extra`"),
        (
            json!({"template": "order-shipped"}),
            "user_id (or user_ids, a list) is required",
        ),
        (
            json!({"user_ids": [], "template": "order-shipped"}),
            "user_ids is empty",
        ),
        (
            json!({"user_ids": ["a", "a"], "template": "order-shipped"}),
            "listed twice",
        ),
        (json!({"user_id": "ana"}), "missing field `template`"),
        (json!({"user_id": 5, "template": "t"}), "invalid type"),
    ];
    for (body, fragment) in cases {
        let (response, answer) = h.post(body.clone()).await;
        assert_error(&response, &answer, StatusCode::BAD_REQUEST, fragment);
    }
    let too_many: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let (response, body) = h
        .post(json!({"user_ids": too_many, "template": "order-shipped"}))
        .await;
    assert_error(&response, &body, StatusCode::BAD_REQUEST, "at most 10000");

    // A channel the template lacks.
    h.put(
        "/v1/templates/sms-only",
        json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{text}}"}}}}),
    )
    .await;
    let (response, body) = h
        .post(json!({"user_id": "ana", "template": "sms-only", "channels": ["email"], "data": {"text": "x"}}))
        .await;
    assert_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "has no email body (it has sms)",
    );
    // An SMS over the segment limit (3 by default), for this user or any.
    let (response, body) = h
        .post(json!({"user_id": "ana", "template": "sms-only", "data": {"text": "x".repeat(460)}}))
        .await;
    assert_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "renders to 4 SMS segments",
    );

    assert!(h.memory.notifications.is_empty());
    assert_eq!(h.queued_total(), 0);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let h = Harness::new();
    h.with_template().await;
    let mut body = shipped("ana");
    body["data"]["filler"] = json!("x".repeat(MAX_BODY_BYTES));
    let (response, answer) = h.post(body).await;
    assert_error(
        &response,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 262144 bytes",
    );
    assert!(h.memory.notifications.is_empty());
}

/// A queue that is down.
struct BrokenQueue;

impl DeliveryQueue for BrokenQueue {
    fn enqueue<'a>(&'a self, _jobs: &'a [DeliveryJob]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async {
            Err(StoreError::backend(
                "SendMessageBatch",
                "connection refused",
            ))
        })
    }
}

#[tokio::test]
async fn a_failing_queue_is_a_503_that_marks_the_channels_failed_and_frees_the_key() {
    let memory = MemoryStores::new();
    let h = Harness::with(
        ServiceOptions::default(),
        memory.clone(),
        Some(Arc::new(BrokenQueue)),
    );
    h.with_template().await;
    h.with_user("ana", ana()).await;
    let mut body = shipped("ana");
    body["idempotency_key"] = json!("k-broken");
    body["channels"] = json!(["email"]);
    let (response, answer) = h.post(body.clone()).await;
    assert_error(
        &response,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "try again shortly",
    );
    assert_eq!(header_of(&response, "retry-after"), Some("1"));
    // What was stored says it failed, not that it is queued.
    assert_eq!(memory.notifications.len(), 1);

    // Once the queue works, the same request with the same key goes through.
    let healthy = Harness::with(ServiceOptions::default(), memory.clone(), None);
    let (response, answer) = healthy.post(body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{answer}");
    assert!(header_of(&response, "idempotent-replayed").is_none());
    assert_eq!(memory.queue.len(), 1);
    let (_, shown) = healthy
        .get(&format!(
            "/v1/notifications/{}",
            answer["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown["channels"]["email"]["status"], "queued");
    let failed: Vec<_> = memory
        .notifications
        .all()
        .into_iter()
        .filter(|n| n.id != answer["id"])
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].channels[&Channel::Email].status,
        crate::model::ChannelStatus::Failed {
            reason: "the delivery queue was unavailable; nothing was sent".into()
        }
    );
}

#[tokio::test]
async fn a_request_for_many_users_is_accepted_at_once_and_expanded_in_chunks() {
    use crate::expander::Expander;
    use crate::templates::{RenderLimits, Renderer};

    let h = Harness::new();
    h.with_template().await;
    h.with_user("u7", ana()).await;
    let users: Vec<String> = (0..250).map(|i| format!("u{i}")).collect();
    let (response, body) = h
        .post(json!({"user_ids": users, "template": "order-shipped", "data": {"name": "x", "order": "A-1"}, "channels": ["sms", "email"], "idempotency_key": "big-1"}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    let batch_id = body["batch_id"].as_str().unwrap().to_owned();
    assert!(crate::ids::is_batch_id(&batch_id), "{body}");
    assert_eq!(body["user_count"], 250);
    assert_eq!(
        body["users_url"],
        format!("/v1/batches/{batch_id}/users/{{user_id}}")
    );
    // Nothing is planned yet: three chunks wait for the expander.
    assert_eq!(h.memory.expansions.len(), 3);
    assert!(h.memory.notifications.is_empty());
    assert_eq!(h.queued_total(), 0);
    let (response, _) = h.get(&format!("/v1/batches/{batch_id}/users/u7")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A replay answers with the batch.
    let (response, replay) = h
        .post(json!({"user_ids": (0..250).map(|i| format!("u{i}")).collect::<Vec<_>>(), "template": "order-shipped", "data": {"name": "x", "order": "A-1"}, "channels": ["sms", "email"], "idempotency_key": "big-1"}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(replay, body);
    assert_eq!(h.memory.expansions.len(), 3);

    let expander = Expander::new(
        h.memory.stores(),
        Renderer::new(RenderLimits {
            max_sms_segments: 3,
        }),
    );
    let mut chunks = Vec::new();
    while let Some(chunk) = h.memory.expansions.take() {
        chunks.push(chunk);
    }
    assert_eq!(
        chunks.iter().map(|c| c.users.len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let mut created = 0;
    for chunk in &chunks {
        created += expander.expand(chunk).await.unwrap().created;
    }
    assert_eq!(created, 250);
    // u7 has preferences: both channels queued; the others have none.
    assert_eq!(h.queued_total(), 2);
    let (response, shown) = h.get(&format!("/v1/batches/{batch_id}/users/u7")).await;
    assert_eq!(response.status(), StatusCode::OK, "{shown}");
    assert_eq!(shown["user_id"], "u7");
    assert_eq!(shown["locale"], "pt-BR");
    assert_eq!(shown["channels"]["sms"]["status"], "queued");
    assert_eq!(shown["channels"]["sms"]["locale"], "pt");
    let (_, other) = h.get(&format!("/v1/batches/{batch_id}/users/u8")).await;
    assert_eq!(other["channels"]["email"]["reason"], "no_contact");
    let (response, _) = h
        .get(&format!(
            "/v1/notifications/{}",
            shown["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A chunk delivered twice stores nothing new and resets nothing.
    let sms = h.queued(Channel::Sms);
    h.memory
        .notifications
        .set_channel_status(
            &sms[0].notification_id,
            Channel::Sms,
            crate::model::ChannelDelivery {
                status: crate::model::ChannelStatus::Sent { provider_id: None },
                locale: Some("pt".into()),
                updated_at: 1,
            },
        )
        .await
        .unwrap();
    let again = expander.expand(&chunks[0]).await.unwrap();
    assert_eq!((again.created, again.existing), (0, 100));
    let (_, shown) = h.get(&format!("/v1/batches/{batch_id}/users/u7")).await;
    assert_eq!(shown["channels"]["sms"]["status"], "sent");
}

#[tokio::test]
async fn a_fanned_out_request_is_checked_in_every_locale_before_it_is_accepted() {
    let h = Harness::new();
    h.with_template().await;
    let users: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    // `name` is missing: every locale's SMS uses it.
    let (response, body) = h
        .post(json!({"user_ids": users, "template": "order-shipped", "data": {"order": "A-1"}}))
        .await;
    assert_error(&response, &body, StatusCode::BAD_REQUEST, "\"name\"");
    assert!(h.memory.expansions.is_empty());
    let (response, body) = h
        .get("/v1/batches/bat_01ARYZ6S41TSV4RRFFQ69G5FAV/users/nobody")
        .await;
    assert_error(&response, &body, StatusCode::NOT_FOUND, "expander");
    let (response, body) = h.get("/v1/batches/nope/users/nobody").await;
    assert_error(&response, &body, StatusCode::NOT_FOUND, "no notification");
}

#[tokio::test]
async fn without_the_expanders_queue_a_request_addresses_at_most_max_recipients() {
    let memory = MemoryStores::new();
    let clock = Arc::new(AtomicI64::new(NOON_NY_MS));
    let mut stores = memory.stores();
    stores.expansions = None;
    let time = clock.clone();
    let app = router(AppState::with_clock(
        ServiceOptions::default(),
        stores,
        Arc::new(move || time.load(Ordering::SeqCst)),
    ));
    let h = Harness { app, memory, clock };
    let users: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let (response, body) = h
        .post(json!({"user_ids": users, "template": "order-shipped"}))
        .await;
    assert_error(&response, &body, StatusCode::BAD_REQUEST, "at most 100");
}
