//! The web tier's router driven like a browser (cookies kept, CSRF tokens
//! read from the pages), against the app tier's router served on a local
//! port with the in-memory store: every page view is a real HTTP call from
//! the web tier to the app tier.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app_api::{self, AppState};
use crate::app_client::AppClient;
use crate::csrf::CsrfKey;
use crate::memory::MemoryStore;
use crate::web::{self, WebState};

const HOST: &str = "shop.test";

/// The app tier on a free loopback port; it stops when the test's runtime
/// ends.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn app_tier() -> (SocketAddr, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let addr = serve(app_api::router(AppState::new(store.clone()))).await;
    (addr, store)
}

fn web_tier(app_url: &str, timeout: Duration) -> Router {
    let client = AppClient::new(app_url, timeout).unwrap();
    web::router(WebState::new(client, CsrfKey::random()))
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn location(&self) -> &str {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.text);
        self.header("location").unwrap()
    }

    /// The value of the page's CSRF field.
    fn token(&self) -> String {
        between(&self.text, "name=\"csrf_token\" value=\"", "\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.text))
    }

    /// The error shown next to field `name`.
    fn field_error(&self, name: &str) -> Option<String> {
        between(
            &self.text,
            &format!("id=\"{name}-error\" role=\"alert\">"),
            "</p>",
        )
    }

    fn notice(&self) -> Option<String> {
        between(&self.text, "id=\"form-error\" role=\"alert\">", "</p>")
    }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_owned())
}

/// A browser: one cookie jar (the CSRF cookie is the only cookie).
struct Browser {
    web: Router,
    cookie: Option<String>,
    extra: Vec<(&'static str, String)>,
}

impl Browser {
    fn new(web: Router) -> Self {
        Self {
            web,
            cookie: None,
            extra: Vec::new(),
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<String>) -> Page {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        for (name, value) in &self.extra {
            builder = builder.header(*name, value);
        }
        let body = match form {
            Some(form) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form)
            }
            None => Body::empty(),
        };
        let response = self
            .web
            .clone()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        if let Some(set) = parts
            .headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        Page {
            status: parts.status,
            headers: parts.headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    /// Submits a form of the page at `form_page`, with its CSRF token.
    async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(form_page).await.token();
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        pairs.push(("csrf_token", &token));
        self.post(action, &pairs).await
    }

    async fn post(&mut self, action: &str, fields: &[(&str, &str)]) -> Page {
        let body = crate::html::query(fields);
        self.send(Method::POST, action, Some(body)).await
    }
}

/// Creates a product through the form; its page path.
async fn create(browser: &mut Browser, sku: &str, name: &str, price: &str, stock: &str) -> String {
    let created = browser
        .submit(
            "/products/new",
            "/products",
            &[
                ("sku", sku),
                ("name", name),
                ("description", ""),
                ("price", price),
                ("stock", stock),
            ],
        )
        .await;
    created.location().to_owned()
}

#[tokio::test]
async fn create_a_product_and_order_until_the_stock_runs_out() {
    let (addr, store) = app_tier().await;
    let mut browser = Browser::new(web_tier(&format!("http://{addr}"), Duration::from_secs(5)));

    let home = browser.get("/").await;
    assert_eq!(home.location(), "/products");
    let empty = browser.get("/products").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text.contains("No products yet"));

    let product_path = create(&mut browser, "TEA-1", "Green tea", "4.50", "3").await;
    assert!(product_path.starts_with("/products/prd_"), "{product_path}");
    let product = browser.get(&product_path).await;
    assert_eq!(product.status, StatusCode::OK);
    assert!(product.text.contains("<h1>Green tea</h1>"));
    assert!(product.text.contains("4.50") && product.text.contains("3 in stock"));
    let product_id = product_path.trim_start_matches("/products/").to_owned();

    // Two, then two more (only one left: refused next to the quantity).
    let placed = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "2")],
        )
        .await;
    let order_path = placed.location().to_owned();
    let order = browser.get(&order_path).await;
    assert!(order.text.contains("<strong id=\"status\">placed</strong>"));
    assert!(order.text.contains("id=\"total\">9.00<"), "{}", order.text);

    let refused = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "2")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(
        refused.field_error("quantity").as_deref(),
        Some("Not enough stock: only 1 left, you asked for 2.")
    );
    // The form keeps what was typed, marked invalid; the page shows the stock now.
    assert!(
        refused
            .text
            .contains("name=\"quantity\" type=\"number\" value=\"2\"")
    );
    assert!(
        refused
            .text
            .contains("aria-invalid=\"true\" aria-describedby=\"quantity-error\"")
    );
    assert!(refused.text.contains("1 in stock"));

    let last = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "1")],
        )
        .await;
    assert_eq!(last.status, StatusCode::SEE_OTHER);
    let sold_out = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "1")],
        )
        .await;
    assert_eq!(sold_out.status, StatusCode::CONFLICT);
    assert_eq!(
        sold_out.field_error("quantity").as_deref(),
        Some("Out of stock: none left, you asked for 1.")
    );
    assert!(sold_out.text.contains("Out of stock</p>"));

    // A quantity that is no number is refused by the web tier itself.
    let typo = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "two")],
        )
        .await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(
        typo.field_error("quantity")
            .unwrap()
            .contains("whole number")
    );
    let zero = browser
        .submit(
            &product_path,
            "/orders",
            &[("product_id", &product_id), ("quantity", "0")],
        )
        .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        zero.field_error("quantity").as_deref(),
        Some("quantity must be a whole number from 1 to 10000")
    );

    // Two orders listed; cancelling the first gives its two back.
    let orders = browser.get("/orders").await;
    assert_eq!(orders.text.matches("<tr><td><a href=\"/orders/").count(), 2);
    let cancelled = browser
        .submit(&order_path, &format!("{order_path}/cancel"), &[])
        .await;
    assert_eq!(cancelled.location(), order_path);
    let order = browser.get(&order_path).await;
    assert!(
        order
            .text
            .contains("<strong id=\"status\">cancelled</strong>")
    );
    assert!(!order.text.contains("Cancel order"));
    assert!(browser.get(&product_path).await.text.contains("2 in stock"));
    use crate::store::DataStore;
    assert_eq!(
        store.get_product(&product_id).await.unwrap().unwrap().stock,
        2
    );
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let (addr, store) = app_tier().await;
    let web = web_tier(&format!("http://{addr}"), Duration::from_secs(5));
    let fields = [
        ("sku", "X-1"),
        ("name", "X"),
        ("price", "1"),
        ("stock", "1"),
    ];

    // No cookie, no token.
    let mut stranger = Browser::new(web.clone());
    let page = stranger.post("/products", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text.contains("did not come from this site"));

    // A cookie but no token, a wrong token, another browser's token.
    let mut browser = Browser::new(web.clone());
    let token = browser.get("/products/new").await.token();
    assert_eq!(
        browser.post("/products", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(
        browser.post("/products", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    let mut other = Browser::new(web.clone());
    let mut theirs = fields.to_vec();
    theirs.push(("csrf_token", &token));
    assert_eq!(
        other.post("/products", &theirs).await.status,
        StatusCode::FORBIDDEN
    );
    // The token without its cookie (an attacker who saw a token).
    let mut cookieless = Browser::new(web.clone());
    assert_eq!(
        cookieless.post("/products", &theirs).await.status,
        StatusCode::FORBIDDEN
    );

    // The right token, but sent from another site.
    browser.extra = vec![("origin", "https://evil.example".into())];
    assert_eq!(
        browser.post("/products", &theirs).await.status,
        StatusCode::FORBIDDEN
    );
    browser.extra = vec![("sec-fetch-site", "cross-site".into())];
    assert_eq!(
        browser.post("/products", &theirs).await.status,
        StatusCode::FORBIDDEN
    );
    // Every POST route checks (order and cancel too).
    browser.extra.clear();
    for path in [
        "/orders",
        "/orders/ord_01ARYZ6S41TSV4RRFFQ69G5FAV/cancel",
        "/products/prd_01ARYZ6S41TSV4RRFFQ69G5FAV/edit",
    ] {
        assert_eq!(
            browser.post(path, &[("quantity", "1")]).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    use crate::store::{DataStore, PageRequest, ProductQuery};
    let listed = store
        .list_products(&ProductQuery {
            page: PageRequest {
                limit: 10,
                after: None,
            },
            search: None,
        })
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "a refused form stored something");

    // Same origin with the right token: accepted.
    browser.extra = vec![("origin", format!("http://{HOST}"))];
    assert_eq!(
        browser.post("/products", &theirs).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn security_headers_and_the_csrf_cookie() {
    let (addr, _) = app_tier().await;
    let web = web_tier(&format!("http://{addr}"), Duration::from_secs(5));
    let mut browser = Browser::new(web.clone());
    let page = browser.get("/products").await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("form-action 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("strict-transport-security"), None);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("x-request-id").map(str::len), Some(32));
    let cookie = page.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("csrf=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
    );
    assert!(!cookie.contains("Secure"));
    // The cookie is set once, then kept.
    assert_eq!(browser.get("/products").await.header("set-cookie"), None);
    // Errors and 404s get the headers too.
    let missing = browser.get("/nowhere").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("x-frame-options"), Some("DENY"));

    // Behind an HTTPS proxy: HSTS, and the __Host- cookie with Secure.
    let mut secure = Browser::new(web.clone());
    secure.extra = vec![("x-forwarded-proto", "https".into())];
    let page = secure.get("/products").await;
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-csrf=") && cookie.contains("; Secure"));
    let created = secure
        .submit(
            "/products/new",
            "/products",
            &[
                ("sku", "S-1"),
                ("name", "S"),
                ("price", "1"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    // The style sheet is cacheable (no token in it).
    let css = browser.get("/static/style.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("public, max-age=3600"));
}

#[tokio::test]
async fn what_users_type_is_escaped() {
    let (addr, _) = app_tier().await;
    let mut browser = Browser::new(web_tier(&format!("http://{addr}"), Duration::from_secs(5)));
    let path = create(
        &mut browser,
        "XSS-1",
        "<script>alert(\"x\")</script>",
        "1",
        "1",
    )
    .await;
    let page = browser.get(&path).await;
    assert!(!page.text.contains("<script>"));
    assert!(
        page.text
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
    );
    let list = browser.get("/products?q=%3Cscript").await;
    assert!(!list.text.contains("<script>"));
    assert!(list.text.contains("value=\"&lt;script\""));
    assert!(list.text.contains("&lt;script&gt;alert"));
}

/// Fields of a form, the field whose error is expected, and its start.
type FormCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[tokio::test]
async fn form_errors_are_shown_next_to_their_fields_and_nothing_is_stored() {
    let (addr, store) = app_tier().await;
    let mut browser = Browser::new(web_tier(&format!("http://{addr}"), Duration::from_secs(5)));
    let long_name = "n".repeat(201);
    let cases: [FormCase<'_>; 5] = [
        (
            &[
                ("sku", "A-1"),
                ("name", "A"),
                ("price", "12.345"),
                ("stock", "1"),
            ],
            "price",
            "price must be an amount like 12.50",
        ),
        (
            &[
                ("sku", "A-1"),
                ("name", "A"),
                ("price", "1"),
                ("stock", "lots"),
            ],
            "stock",
            "stock must be a whole number",
        ),
        (
            &[
                ("sku", "A-1"),
                ("name", &long_name),
                ("price", "1"),
                ("stock", "1"),
            ],
            "name",
            "name is longer than 200 characters",
        ),
        (
            &[
                ("sku", "A 1"),
                ("name", "A"),
                ("price", "1"),
                ("stock", "1"),
            ],
            "sku",
            "sku may only hold",
        ),
        (
            &[
                ("sku", "A-1"),
                ("name", ""),
                ("price", "1"),
                ("stock", "-2"),
            ],
            "name",
            "name is required",
        ),
    ];
    for (fields, field, message) in cases {
        let page = browser.submit("/products/new", "/products", fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{field}");
        let shown = page
            .field_error(field)
            .unwrap_or_else(|| panic!("no {field} error in {}", page.text));
        assert!(shown.starts_with(message), "{shown:?}");
        // What was typed is kept.
        assert!(page.text.contains(&format!("value=\"{}\"", fields[0].1)));
    }
    use crate::store::{DataStore, PageRequest, ProductQuery};
    let query = ProductQuery {
        page: PageRequest {
            limit: 10,
            after: None,
        },
        search: None,
    };
    assert!(store.list_products(&query).await.unwrap().items.is_empty());

    // The longest name and description, in characters that take 4 bytes
    // (12 once percent-encoded), fit.
    let (name, description) = ("😀".repeat(200), "😀".repeat(2000));
    let page = browser
        .submit(
            "/products/new",
            "/products",
            &[
                ("sku", "EMOJI"),
                ("name", &name),
                ("description", &description),
                ("price", "1"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let shown = browser.get(page.location()).await;
    assert!(shown.text.contains(&description));
    let mut too_long = description.clone();
    too_long.push('😀');
    let page = browser
        .submit(
            "/products/new",
            "/products",
            &[
                ("sku", "EMOJI-2"),
                ("name", "x"),
                ("description", &too_long),
                ("price", "1"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.field_error("description")
            .unwrap()
            .contains("longer than 2000")
    );
    assert_eq!(store.list_products(&query).await.unwrap().items.len(), 1);

    // A taken SKU is the app tier's refusal, shown at the SKU.
    create(&mut browser, "DUP", "One", "1", "1").await;
    let page = browser
        .submit(
            "/products/new",
            "/products",
            &[
                ("sku", "DUP"),
                ("name", "Two"),
                ("price", "1"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.field_error("sku").unwrap().contains("already used"));
    assert_eq!(store.list_products(&query).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn a_stale_edit_is_shown_and_not_saved() {
    let (addr, _) = app_tier().await;
    let web = web_tier(&format!("http://{addr}"), Duration::from_secs(5));
    let mut alice = Browser::new(web.clone());
    let mut bob = Browser::new(web.clone());
    let path = create(&mut alice, "E-1", "Lamp", "10", "5").await;
    let edit = format!("{path}/edit");

    // Both open the edit form at version 1.
    let alice_form = alice.get(&edit).await;
    let bob_form = bob.get(&edit).await;
    assert!(alice_form.text.contains("name=\"version\" value=\"1\""));
    let fields = |name: &'static str, price: &'static str| {
        vec![
            ("sku", "E-1"),
            ("name", name),
            ("description", ""),
            ("price", price),
            ("stock", "5"),
            ("version", "1"),
        ]
    };
    let mut alice_fields = fields("Desk lamp", "12.00");
    let alice_token = alice_form.token();
    alice_fields.push(("csrf_token", &alice_token));
    assert_eq!(alice.post(&edit, &alice_fields).await.location(), path);

    let mut bob_fields = fields("Lamp", "9.00");
    let bob_token = bob_form.token();
    bob_fields.push(("csrf_token", &bob_token));
    let stale = bob.post(&edit, &bob_fields).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let notice = stale.notice().unwrap();
    assert!(notice.contains("Someone changed this product"), "{notice}");
    assert!(
        notice.contains("&quot;Desk lamp&quot;, price 12.00"),
        "{notice}"
    );
    // Bob's text is kept, and saving again is based on the current version.
    assert!(stale.text.contains("value=\"9.00\""));
    assert!(stale.text.contains("name=\"version\" value=\"2\""));
    assert!(bob.get(&path).await.text.contains("<h1>Desk lamp</h1>"));

    let mut again = fields("Lamp", "9.00");
    again[5] = ("version", "2");
    again.push(("csrf_token", &bob_token));
    assert_eq!(bob.post(&edit, &again).await.status, StatusCode::SEE_OTHER);
    assert!(bob.get(&path).await.text.contains("<h1>Lamp</h1>"));
}

#[tokio::test]
async fn product_pages_and_search() {
    let (addr, _) = app_tier().await;
    let mut browser = Browser::new(web_tier(&format!("http://{addr}"), Duration::from_secs(5)));
    let client = AppClient::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let id = service_common::RequestId::random();
    for i in 0..25 {
        let sku = format!("{}-{i:02}", if i % 5 == 0 { "RED" } else { "BLUE" });
        client
            .create_product(
                &id,
                &json!({"sku": sku, "name": format!("Item {i}"), "price_cents": 100, "stock": 1}),
            )
            .await
            .unwrap();
    }
    let first = browser.get("/products").await;
    assert_eq!(first.text.matches("<tr><td>").count(), 20);
    assert!(!first.text.contains("rel=\"first\""));
    let next = {
        let end = first
            .text
            .find("\" rel=\"next\"")
            .expect("a next page link");
        let start = first.text[..end].rfind("href=\"").unwrap() + "href=\"".len();
        first.text[start..end].replace("&amp;", "&")
    };
    assert!(next.starts_with("/products?cursor="), "{next}");
    let second = browser.get(&next).await;
    assert_eq!(second.text.matches("<tr><td>").count(), 5);
    assert!(second.text.contains("rel=\"first\"") && !second.text.contains("rel=\"next\""));
    assert!(second.text.contains("BLUE-24"));

    let reds = browser.get("/products?q=red").await;
    assert_eq!(reds.text.matches("<tr><td>RED-").count(), 5);
    assert_eq!(reds.text.matches("<tr><td>").count(), 5);
    let long = browser
        .get(&format!("/products?q={}", "x".repeat(101)))
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.field_error("q").unwrap().contains("longer than 100"));
    let garbled = browser.get("/products?cursor=nonsense").await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    assert!(
        browser
            .get("/products/prd_01ARYZ6S41TSV4RRFFQ69G5FAV")
            .await
            .status
            == StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser.get("/products/..%2Fapi").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_app_tier_that_is_down_or_slow() {
    // Nothing listens on a port just released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut browser = Browser::new(web_tier(
        &format!("http://{closed}"),
        Duration::from_secs(2),
    ));
    let page = browser.get("/products").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.text.contains("could not be reached"));

    // One that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut browser = Browser::new(web_tier(
        &format!("http://{silent_addr}"),
        Duration::from_millis(300),
    ));
    let started = Instant::now();
    let page = browser.get("/products").await;
    assert_eq!(page.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A form is shown again with the reason, not lost.
    let created = browser
        .submit_with_token_of_a_form_page_that_is_local(&[
            ("sku", "T-1"),
            ("name", "T"),
            ("price", "1"),
            ("stock", "1"),
        ])
        .await;
    assert_eq!(created.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(created.notice().unwrap().contains("may have been created"));
    assert!(created.text.contains("value=\"T-1\""));
}

impl Browser {
    /// `/products/new` needs no app tier, so its token is available even
    /// when the app tier is not.
    async fn submit_with_token_of_a_form_page_that_is_local(
        &mut self,
        fields: &[(&str, &str)],
    ) -> Page {
        self.submit("/products/new", "/products", fields).await
    }
}

#[tokio::test]
async fn the_request_id_goes_to_the_app_tier() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = seen.clone();
    let fake_app = Router::new().route(
        "/api/products",
        axum::routing::get(move |headers: HeaderMap| {
            let recorder = recorder.clone();
            async move {
                let id = headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                recorder.lock().unwrap().push(id);
                axum::Json(json!({"items": [], "next_cursor": Value::Null}))
            }
        }),
    );
    let addr = serve(fake_app).await;
    let mut browser = Browser::new(web_tier(&format!("http://{addr}"), Duration::from_secs(5)));
    // An id a client sends is not adopted by the public web tier.
    browser.extra = vec![("x-request-id", "client-chosen".into())];
    let page = browser.get("/products").await;
    assert_eq!(page.status, StatusCode::OK);
    let id = page.header("x-request-id").unwrap().to_owned();
    assert_ne!(id, "client-chosen");
    assert_eq!(*seen.lock().unwrap(), vec![id.clone()]);
    assert!(page.text.contains(&format!("<code>{id}</code>")));
}
