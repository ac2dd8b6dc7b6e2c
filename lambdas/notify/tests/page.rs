//! The operator's page (`GET /`) of the built `notify serve`, driven in
//! headless Chromium as an operator uses it: preferences saved (once
//! refused, with the API's message next to the field), a template loaded,
//! a notification sent from it and its channels watched until final, the
//! webhook receiver on 127.0.0.1 really reached. Assertions are on what the
//! page shows. Plus the page's security headers.
//!
//! The service runs with `NOTIFY_API_KEY` set and every API call of the
//! test carries the key: the page sends it from its "API key" field.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::http::{HeaderMap, Method, StatusCode};
use archform_testkit::browser::Browser;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use notify::webhook_signature::{self, WebhookSecret};
use serde_json::{Value, json};
use support::http;

const API_KEY: &str = "page-test-key-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// A running `notify serve --store memory`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start() -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_notify"));
        command.args(["serve", "--port", "0", "--store", "memory"]);
        for (name, _) in std::env::vars() {
            if name.starts_with("NOTIFY_") || name.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("NOTIFY_ALLOW_HTTP_WEBHOOKS", "true")
            .env("NOTIFY_API_KEY", API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("notify serve printed {line:?}, not `listening on URL`"))
            .to_string();
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An API call with the key.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> http::Answer {
        let auth = format!("Bearer {API_KEY}");
        http::call(
            method,
            &self.url(path),
            &[("authorization", auth.as_str())],
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the webhook receiver got: headers and body, checked later with the
/// secret the page shows.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    /// Listens on 127.0.0.1, answers 200; returns the hook URL.
    async fn start(&self) -> String {
        async fn hook(
            State(receiver): State<Receiver>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            receiver.got.lock().unwrap().push((headers, body));
            StatusCode::OK
        }
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        format!("http://127.0.0.1:{port}/hook")
    }
}

async fn wait(browser: &mut Browser, condition: &str, what: &str) {
    if let Err(e) = browser.wait_for(condition, WAIT).await {
        let body = browser
            .eval("document.body.innerText")
            .await
            .unwrap_or(Value::Null);
        panic!(
            "{what}: {e:?}; the page shows:\n{}",
            body.as_str().unwrap_or_default()
        );
    }
}

async fn text(browser: &mut Browser, selector: &str) -> String {
    let value = browser
        .eval(&format!(
            "(document.querySelector({}) || {{}}).textContent",
            json!(selector)
        ))
        .await
        .unwrap();
    value.as_str().unwrap_or_default().to_owned()
}

/// Sets an input's value as typing would (with an `input` event).
async fn type_into(browser: &mut Browser, id: &str, value: &str) {
    browser
        .eval(&format!(
            "(() => {{ const e = document.getElementById({}); e.value = {}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()",
            json!(id),
            json!(value)
        ))
        .await
        .unwrap();
}

async fn click(browser: &mut Browser, id: &str) {
    browser
        .eval(&format!(
            "document.getElementById({}).click(); true",
            json!(id)
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_operator_saves_preferences_and_sends_from_a_template_in_the_page() {
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let server = Server::start();
    let template = json!({
        "default_locale": "en",
        "category": "orders",
        "locales": {
            "en": {
                "webhook": {"body": {"event": "order.shipped", "order": "{{order}}", "name": "{{name}}"}},
                "email": {"subject": "Order {{order}}", "text": "Hi {{name}}"}
            },
            "pt": {"webhook": {"body": {"evento": "encomenda.enviada", "order": "{{order}}"}}}
        }
    });
    let answer = server
        .call(Method::PUT, "/v1/templates/order-shipped", Some(&template))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());

    let mut page = Browser::launch().await.expect("headless chromium");
    page.navigate(&server.url("/")).await.unwrap();
    // The inline style applies under the policy (its hash is allowed).
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('header')).backgroundColor")
            .await
            .unwrap(),
        json!("rgb(29, 35, 48)")
    );
    // Every call of the page is recorded with its authorization header.
    page.eval(
        "window.__auth = []; const f = window.fetch; \
         window.fetch = (u, i) => { window.__auth.push((i && i.headers && i.headers.authorization) || null); return f(u, i); }; true",
    )
    .await
    .unwrap();
    type_into(&mut page, "api-key", API_KEY).await;

    // Preferences with an invalid email: the API's message next to the
    // field, shown as text, and nothing stored.
    type_into(&mut page, "prefs-user", "ana").await;
    type_into(&mut page, "pref-email", "<b>ana</b>@example").await;
    type_into(&mut page, "pref-webhook-url", &hook).await;
    click(&mut page, "prefs-save").await;
    wait(
        &mut page,
        "document.getElementById('prefs-error').textContent.length > 0",
        "the refusal is shown",
    )
    .await;
    let error = text(&mut page, "#prefs-error").await;
    assert!(
        error.starts_with("\"<b>ana</b>@example\" is not a valid email address"),
        "{error}"
    );
    assert_eq!(text(&mut page, "#pref-email-error").await, error);
    assert_eq!(
        page.eval("document.getElementById('pref-email').getAttribute('aria-invalid')")
            .await
            .unwrap(),
        json!("true")
    );
    assert_eq!(
        page.eval("document.querySelectorAll('b').length")
            .await
            .unwrap(),
        json!(0),
        "the message is text, never markup"
    );
    click(&mut page, "prefs-load").await;
    wait(
        &mut page,
        "document.getElementById('prefs-result').textContent === 'no preferences stored yet for this user'",
        "nothing was stored",
    )
    .await;

    // Corrected: created; the error is gone and the secret is shown.
    type_into(&mut page, "pref-email", "ana@example.com").await;
    type_into(&mut page, "pref-webhook-url", &hook).await;
    type_into(&mut page, "pref-locale", "pt-br").await;
    click(&mut page, "prefs-save").await;
    wait(
        &mut page,
        "document.getElementById('prefs-result').textContent === 'created'",
        "the preferences are saved",
    )
    .await;
    assert_eq!(text(&mut page, "#prefs-error").await, "");
    assert_eq!(text(&mut page, "#pref-email-error").await, "");
    let secret = text(&mut page, "#pref-webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        page.eval("document.getElementById('pref-locale').value")
            .await
            .unwrap(),
        json!("pt-BR"),
        "the form shows what was stored"
    );

    // The template: its locales and channels.
    type_into(&mut page, "template-name", "order-shipped").await;
    click(&mut page, "load-template").await;
    wait(
        &mut page,
        "!document.getElementById('template-info').hidden",
        "the template is shown",
    )
    .await;
    assert_eq!(
        text(&mut page, "#template-locales tr[data-locale=en] .channels").await,
        "email, webhook"
    );
    assert_eq!(
        text(&mut page, "#template-locales tr[data-locale=pt] .channels").await,
        "webhook"
    );
    assert_eq!(text(&mut page, "#template-category").await, "orders");
    assert_eq!(
        page.eval(
            "['email', 'sms', 'push', 'webhook'].map(c => document.getElementById('send-channel-' + c).checked)"
        )
        .await
        .unwrap(),
        json!([true, false, false, true])
    );

    // Send to ana on email (no provider under `serve --store memory`: it
    // fails) and webhook, and watch both become final.
    type_into(&mut page, "send-users", "ana").await;
    type_into(
        &mut page,
        "send-data",
        r#"{"name": "<i>Ana</i>", "order": "A-17"}"#,
    )
    .await;
    type_into(&mut page, "send-idempotency-key", "page-A-17").await;
    click(&mut page, "send").await;
    let webhook_status = "#notifications [data-channel=webhook] .status";
    wait(
        &mut page,
        &format!(
            "(document.querySelector({}) || {{}}).textContent === 'sent'",
            json!(webhook_status)
        ),
        "the page shows the webhook sent",
    )
    .await;
    wait(
        &mut page,
        "(document.querySelector('#notifications .watch-state') || {}).textContent === 'final'",
        "the page stops watching once every channel is final",
    )
    .await;
    assert_eq!(
        text(&mut page, "#notifications [data-channel=email] .status").await,
        "failed"
    );
    let reason = text(&mut page, "#notifications [data-channel=email] .reason").await;
    assert!(reason.contains("no email provider"), "{reason}");
    assert_eq!(text(&mut page, "#send-error").await, "");
    let head = text(&mut page, "#notifications .notification-head").await;
    let (id, user) = head.split_once(" for ").unwrap();
    assert!(id.starts_with("ntf_"), "{head}");
    assert_eq!(user, "ana");

    // The receiver got it once, signed with the secret the page showed,
    // rendered in ana's pt locale.
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header(webhook_signature::HEADER_ID), id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    webhook_signature::verify(
        &WebhookSecret::parse(&secret).unwrap(),
        &header(webhook_signature::HEADER_ID),
        &header(webhook_signature::HEADER_TIMESTAMP),
        &header(webhook_signature::HEADER_SIGNATURE),
        body,
        now,
        webhook_signature::DEFAULT_TOLERANCE_SECS,
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(body).unwrap(),
        json!({"evento": "encomenda.enviada", "order": "A-17"})
    );

    // Every call carried the key; it survives a reload (sessionStorage).
    let auth = page.eval("window.__auth").await.unwrap();
    let auth = auth.as_array().unwrap();
    assert!(auth.len() >= 5, "{auth:?}");
    assert!(
        auth.iter()
            .all(|a| a == &json!(format!("Bearer {API_KEY}"))),
        "{auth:?}"
    );
    page.navigate(&server.url("/")).await.unwrap();
    assert_eq!(
        page.eval("document.getElementById('api-key').value")
            .await
            .unwrap(),
        json!(API_KEY)
    );

    // Without a key no header is sent.
    page.eval(
        "window.__auth = []; const g = window.fetch; \
         window.fetch = (u, i) => { window.__auth.push((i && i.headers && i.headers.authorization) || null); return g(u, i); }; true",
    )
    .await
    .unwrap();
    type_into(&mut page, "api-key", "").await;
    type_into(&mut page, "template-name", "order-shipped").await;
    click(&mut page, "load-template").await;
    wait(
        &mut page,
        "window.__auth.length === 1 && (!document.getElementById('template-info').hidden || document.getElementById('template-error').textContent.length > 0)",
        "the template request without a key",
    )
    .await;
    assert_eq!(page.eval("window.__auth").await.unwrap(), json!([null]));
}

#[tokio::test]
async fn the_page_is_served_open_with_its_security_headers() {
    let server = Server::start();
    let answer = http::get(&server.url("/")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = answer.header("content-security-policy").unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    for part in [
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(part), "{part} not in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(policy, notify::page::content_security_policy());
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.header("x-request-id").is_some());
    let html = String::from_utf8(answer.body.to_vec()).unwrap();
    assert_eq!(html, notify::page::HTML);

    // Other methods: a JSON 405 naming what is allowed.
    let answer = http::call(Method::POST, &server.url("/"), &[], Some(b"{}".to_vec())).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("POST is not allowed on /")
    );
    // The health check stays open too.
    assert_eq!(
        http::get(&server.url("/health")).await.json(),
        json!({"status": "ok"})
    );
}
