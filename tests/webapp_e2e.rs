//! The three-tier app end to end: the `three-tier` blueprint deployed to the
//! emulator with the real functions from lambdas/webapp (built with
//! ARCHFORM_BUILD_PROFILE=dev), run by `archform dev`: the public ALB's
//! listener in front of `web`, the internal ALB's in front of `app`, and
//! for the PostgreSQL variant a real local PostgreSQL that dev starts for
//! the stack's `rds.db_instance` (the app reads its credentials from the
//! stack's secret and verifies the server's certificate). Headless
//! Chromium creates a product and orders until the stock runs out, through
//! web -> app -> database; the DynamoDB variant is driven over HTTP. Both
//! are destroyed with nothing left behind.

mod support;

use archform_aws::{Clients, assert_no_leftovers};
use archform_testkit::browser::Browser;
use archform_testkit::{sdk_config, test_endpoint};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::{Dev, archform, text, workdir};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn deploy(dir: &Path, stack: &str, endpoint: &str, set: &[&str]) -> Value {
    let mut args = vec![
        "deploy",
        "three-tier",
        "--stack",
        stack,
        "--endpoint",
        endpoint,
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let out = archform(dir, &args);
    assert!(
        out.status.success(),
        "deploy: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let outputs = archform(
        dir,
        &[
            "--output",
            "json",
            "outputs",
            "--stack",
            stack,
            "--endpoint",
            endpoint,
        ],
    );
    serde_json::from_slice(&outputs.stdout).unwrap()
}

fn destroy(dir: &Path, stack: &str, endpoint: &str) {
    let out = archform(
        dir,
        &["destroy", "--stack", stack, "--yes", "--endpoint", endpoint],
    );
    assert!(out.status.success(), "destroy: {}", text(&out.stderr));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = sdk_config(endpoint).await;
        assert_no_leftovers(&Clients::new(&config), stack).await;
    });
    // The state, the function zips and dev's work folders of the run.
    let _ = std::fs::remove_dir_all(dir);
}

/// Sets a form field's value by id and submits its form with a click,
/// then waits for the next page.
fn submit_js(fields: &[(&str, &str)], button: &str) -> String {
    let mut js = String::new();
    for (id, value) in fields {
        js.push_str(&format!(
            "document.getElementById({}).value = {};",
            json!(id),
            json!(value)
        ));
    }
    js.push_str(&format!(
        "window.__before = location.href + '#' + performance.now(); \
         document.querySelector({}).click(); true",
        json!(button)
    ));
    js
}

async fn wait_loaded(browser: &mut Browser, marker: &str) {
    browser
        .wait_for(
            &format!("document.readyState === 'complete' && {marker}"),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
}

/// Chromium through the public ALB's listener: a bad product, a product
/// with 3 in stock, three orders, the fourth refused next to its field.
async fn drive_pages(base: &str) -> String {
    let mut browser = Browser::launch().await.expect("headless chromium");
    browser
        .navigate(&format!("{base}/products/new"))
        .await
        .unwrap();
    // Bad input: the error next to each field, nothing stored.
    browser
        .eval(&submit_js(
            &[
                ("sku", "TT-1"),
                ("name", ""),
                ("price", "12.50"),
                ("stock", "3"),
            ],
            "form[action='/products'] button[type=submit]",
        ))
        .await
        .unwrap();
    wait_loaded(&mut browser, "!!document.getElementById('name-error')").await;
    let errors = browser
        .eval("[document.getElementById('name-error').textContent, document.getElementById('sku').value, document.getElementById('name').getAttribute('aria-invalid')]")
        .await
        .unwrap();
    assert!(errors[0].as_str().unwrap().contains("name"), "{errors}");
    assert_eq!(errors[1], "TT-1", "what was typed is kept");
    assert_eq!(errors[2], "true", "the field is marked: {errors}");

    // A good product: its page.
    browser
        .eval(&submit_js(
            &[
                ("sku", "TT-1"),
                ("name", "Three-tier mug"),
                ("price", "12.50"),
                ("stock", "3"),
            ],
            "form[action='/products'] button[type=submit]",
        ))
        .await
        .unwrap();
    wait_loaded(
        &mut browser,
        "(document.getElementById('stock')||{}).textContent === '3 in stock'",
    )
    .await;
    let product_url = browser.eval("location.href").await.unwrap();
    let product_url = product_url.as_str().unwrap().to_owned();
    assert!(
        product_url.starts_with(&format!("{base}/products/prd_")),
        "{product_url}"
    );

    // Three orders of one: each lands on its order page.
    for n in 0..3 {
        browser.navigate(&product_url).await.unwrap();
        wait_loaded(
            &mut browser,
            &format!(
                "(document.getElementById('stock')||{{}}).textContent === '{} in stock'",
                3 - n
            ),
        )
        .await;
        browser
            .eval(&submit_js(
                &[("quantity", "1")],
                "form[action='/orders'] button[type=submit]",
            ))
            .await
            .unwrap();
        wait_loaded(&mut browser, "location.pathname.startsWith('/orders/ord_')").await;
    }
    // The fourth: refused, with the reason next to the quantity.
    browser.navigate(&product_url).await.unwrap();
    wait_loaded(
        &mut browser,
        "(document.getElementById('stock')||{}).textContent === 'Out of stock'",
    )
    .await;
    browser
        .eval(&submit_js(
            &[("quantity", "1")],
            "form[action='/orders'] button[type=submit]",
        ))
        .await
        .unwrap();
    wait_loaded(&mut browser, "!!document.getElementById('quantity-error')").await;
    let refusal = browser
        .eval("document.getElementById('quantity-error').textContent")
        .await
        .unwrap();
    assert!(
        refusal.as_str().unwrap().contains("stock"),
        "the refusal says why: {refusal}"
    );
    // The orders page lists the three.
    browser.navigate(&format!("{base}/orders")).await.unwrap();
    let rows = browser
        .eval("document.querySelectorAll('a[href^=\"/orders/ord_\"]').length")
        .await
        .unwrap();
    assert_eq!(rows, json!(3), "three orders listed");
    product_url.rsplit('/').next().unwrap().to_owned()
}

/// The web tier's own protections, over plain HTTP.
async fn check_web_protections(client: &HttpClient, base: &str) {
    let page = send(client, "GET", &format!("{base}/products/new"), &[], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for header in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
    ] {
        assert!(page.headers.contains_key(header), "{header} missing");
    }
    // A POST without a CSRF token is refused and stores nothing.
    let forged = send(
        client,
        "POST",
        &format!("{base}/products"),
        &[("content-type", "application/x-www-form-urlencoded")],
        "sku=FORGED&name=Forged&price=1&stock=1",
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

/// The app tier behind the internal ALB (dev's listener for it): the
/// product's stock and the orders as the database has them.
async fn check_app_tier(client: &HttpClient, app: &str, product_id: &str) {
    let product = send(
        client,
        "GET",
        &format!("{app}/api/products/{product_id}"),
        &[],
        "",
    )
    .await;
    assert_eq!(product.status, 200, "{}", product.body);
    let product: Value = serde_json::from_str(&product.body).unwrap();
    assert_eq!(product["stock"], 0);
    // Three reservations on top of version 1.
    assert_eq!(product["version"], 4);
    let orders = send(client, "GET", &format!("{app}/api/orders"), &[], "").await;
    let orders: Value = serde_json::from_str(&orders.body).unwrap();
    let placed: Vec<&Value> = orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["lines"][0]["product_id"] == product_id)
        .collect();
    assert_eq!(placed.len(), 3, "{orders}");
    // Malformed JSON: 400 with what is wrong.
    let bad = send(
        client,
        "POST",
        &format!("{app}/api/orders"),
        &[("content-type", "application/json")],
        "{\"lines\": [",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn three_tier_on_postgres_under_dev_in_chromium() {
    let dir = workdir("webapp-pg");
    let stack = format!("tt-pg-{}", std::process::id());
    let endpoint = test_endpoint();
    let outputs = deploy(&dir, &stack, &endpoint, &[]);
    assert!(outputs["db_secret_arn"].is_string(), "{outputs}");
    {
        let dev = Dev::start(&dir, &stack, &endpoint);
        let database = dev.url("postgres");
        assert!(database.starts_with("postgres://localhost:"), "{database}");
        let web = dev.url_of("public_alb_http");
        let app = dev.url_of("internal_alb_http");
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            check_web_protections(&client, &web).await;
            let product_id = drive_pages(&web).await;
            check_app_tier(&client, &app, &product_id).await;
        });
    }
    destroy(&dir, &stack, &endpoint);
}

/// Fetches a page for its CSRF cookie and form token.
async fn form_session(client: &HttpClient, url: &str) -> (String, String) {
    let page = send(client, "GET", url, &[], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.body.find(marker).unwrap() + marker.len();
    let token = page.body[start..].split('"').next().unwrap().to_owned();
    (cookie, token)
}

#[test]
fn three_tier_on_dynamodb_under_dev() {
    let dir = workdir("webapp-ddb");
    let stack = format!("tt-ddb-{}", std::process::id());
    let endpoint = test_endpoint();
    let outputs = deploy(
        &dir,
        &stack,
        &endpoint,
        &["data_store=dynamodb", "nat=none"],
    );
    let table = outputs["app_table"].as_str().unwrap().to_owned();
    {
        let dev = Dev::start(&dir, &stack, &endpoint);
        let web = dev.url_of("public_alb_http");
        let app = dev.url_of("internal_alb_http");
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            check_web_protections(&client, &web).await;
            let (cookie, token) = form_session(&client, &format!("{web}/products/new")).await;
            let form = |fields: &[(&str, &str)]| {
                let mut s = form_urlencoded::Serializer::new(String::new());
                s.append_pair("csrf_token", &token);
                for (k, v) in fields {
                    s.append_pair(k, v);
                }
                s.finish()
            };
            let headers = [
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", cookie.as_str()),
            ];
            let created = send(
                &client,
                "POST",
                &format!("{web}/products"),
                &headers,
                &form(&[
                    ("sku", "TT-D"),
                    ("name", "Dynamo mug"),
                    ("price", "3.00"),
                    ("stock", "3"),
                ]),
            )
            .await;
            assert_eq!(created.status, 303, "{}", created.body);
            let location = created.headers["location"].to_str().unwrap().to_owned();
            let product_id = location.rsplit('/').next().unwrap().to_owned();
            for _ in 0..3 {
                let order = send(
                    &client,
                    "POST",
                    &format!("{web}/orders"),
                    &headers,
                    &form(&[("product_id", &product_id), ("quantity", "1")]),
                )
                .await;
                assert_eq!(order.status, 303, "{}", order.body);
            }
            let refused = send(
                &client,
                "POST",
                &format!("{web}/orders"),
                &headers,
                &form(&[("product_id", &product_id), ("quantity", "1")]),
            )
            .await;
            assert_eq!(refused.status, 409, "{}", refused.body);
            assert!(refused.body.contains("quantity-error"), "{}", refused.body);
            check_app_tier(&client, &app, &product_id).await;

            // The records are in the stack's table.
            let config = sdk_config(&endpoint).await;
            let ddb = aws_sdk_dynamodb::Client::new(&config);
            let items = ddb
                .scan()
                .table_name(&table)
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default();
            let text = format!("{items:?}");
            assert!(text.contains(&product_id), "the product is in {table}");
        });
    }
    destroy(&dir, &stack, &endpoint);
}
