//! The `webapp` binary as a user runs it: `serve` (both tiers in one
//! process), and `serve-app` plus `serve-web` as two processes, on free
//! ports, driven over real HTTP connections.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// A running `webapp` command, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
}

fn command(args: &[&str]) -> Command {
    command_of(env!("CARGO_BIN_EXE_webapp"), args)
}

/// `program` (`webapp`, or the `app` / `web` function binaries) with none
/// of the settings' variables inherited from the test's environment.
fn command_of(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("DATA_STORE")
        .env_remove("APP_URL")
        .env_remove("PORT")
        .env_remove("BIND_ADDRESS")
        .env_remove("CSRF_KEY_FILE")
        .env_remove("CSRF_KEY_SECRET_ARN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_TIMEOUT_MS")
        .env_remove("TABLE_NAME");
    for name in [
        "DATABASE_URL",
        "DATABASE_SECRET_ARN",
        "DB_SECRET_ARN",
        "DATABASE_SSLMODE",
        "DATABASE_CA_BUNDLE",
    ] {
        command.env_remove(name);
    }
    command
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Self::start_of(env!("CARGO_BIN_EXE_webapp"), args)
    }

    fn start_of(program: &str, args: &[&str]) -> Server {
        let mut child = command_of(program, args)
            .args(["--port", "0"])
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
            .unwrap_or_else(|| panic!("webapp {args:?} printed {line:?}, not `listening on URL`"))
            .to_owned();
        Server { child, base }
    }

    /// SIGTERM, and the exit status once it has stopped.
    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("answer within 10 s")
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    text[from..from + len].to_owned()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// A browser session against the web tier: the CSRF cookie and a token.
struct Session {
    cookie: String,
    token: String,
}

async fn open_session(client: &HttpClient, web: &str) -> Session {
    let page = call(client, Method::GET, &format!("{web}/products/new"), &[], "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Session {
        cookie,
        token: between(&page.text, "name=\"csrf_token\" value=\"", "\""),
    }
}

async fn submit(
    client: &HttpClient,
    session: &Session,
    url: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let mut all = fields.to_vec();
    all.push(("csrf_token", &session.token));
    call(
        client,
        Method::POST,
        url,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &session.cookie),
        ],
        &form(&all),
    )
    .await
}

#[tokio::test]
async fn serve_runs_both_tiers() {
    let mut server = Server::start(&["serve"]);
    let web = server.base.clone();
    let client = client();

    let health = call(&client, Method::GET, &format!("{web}/health"), &[], "").await;
    assert_eq!(health.status, StatusCode::OK);
    let session = open_session(&client, &web).await;

    let created = submit(
        &client,
        &session,
        &format!("{web}/products"),
        &[
            ("sku", "MUG-1"),
            ("name", "Mug"),
            ("description", "Holds tea"),
            ("price", "7.25"),
            ("stock", "2"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    let product_path = created.header("location").unwrap().to_owned();
    let product_id = product_path.trim_start_matches("/products/").to_owned();
    let page = call(
        &client,
        Method::GET,
        &format!("{web}{product_path}"),
        &[("cookie", &session.cookie)],
        "",
    )
    .await;
    assert!(page.text.contains("<h1>Mug</h1>") && page.text.contains("2 in stock"));

    let order_url = format!("{web}/orders");
    let placed = submit(
        &client,
        &session,
        &order_url,
        &[("product_id", &product_id), ("quantity", "2")],
    )
    .await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER);
    let order = call(
        &client,
        Method::GET,
        &format!("{web}{}", placed.header("location").unwrap()),
        &[],
        "",
    )
    .await;
    assert!(order.text.contains("id=\"total\">14.50<"), "{}", order.text);
    let refused = submit(
        &client,
        &session,
        &order_url,
        &[("product_id", &product_id), ("quantity", "1")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text.contains(
        "id=\"quantity-error\" role=\"alert\">Out of stock: none left, you asked for 1.</p>"
    ));

    // Without the token: 403, nothing placed.
    let forged = call(
        &client,
        Method::POST,
        &order_url,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &session.cookie),
        ],
        &form(&[("product_id", &product_id), ("quantity", "1")]),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let orders = call(&client, Method::GET, &order_url, &[], "").await;
    assert_eq!(orders.text.matches("<tr><td><a href=\"/orders/").count(), 1);

    assert!(
        server.terminate().success(),
        "serve should exit 0 on SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_app_and_serve_web_as_two_processes() {
    let app = Server::start(&["serve-app", "--store", "memory"]);
    let web = Server::start(&[
        "serve-web",
        "--app-url",
        &app.base,
        "--app-timeout-ms",
        "3000",
    ]);
    let client = client();
    let json = [("content-type", "application/json")];

    let created = call(
        &client,
        Method::POST,
        &format!("{}/api/products", app.base),
        &json,
        &json!({"sku": "HOT", "name": "Hot item", "price_cents": 999, "stock": 10}).to_string(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.json()["id"].as_str().unwrap().to_owned();

    // 50 orders at once over real connections: exactly 10 get the stock.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url, id) = (
            client.clone(),
            format!("{}/api/orders", app.base),
            id.clone(),
        );
        tasks.spawn(async move {
            let body = json!({"lines": [{"product_id": id, "quantity": 1}]}).to_string();
            call(
                &client,
                Method::POST,
                &url,
                &[("content-type", "application/json")],
                &body,
            )
            .await
        });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        match answer.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let body = answer.json();
                assert!(
                    body["error"]
                        .as_str()
                        .unwrap()
                        .contains("not enough stock of HOT")
                );
                assert!(body["request_id"].is_string());
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!((created, refused), (10, 40));

    // A stale update through the API; the web tier shows the product sold out.
    let product_url = format!("{}/api/products/{id}", app.base);
    let stale = call(
        &client,
        Method::PATCH,
        &product_url,
        &[json[0], ("if-match", "\"1\"")],
        "{\"stock\": 5}",
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.json()["current_version"], 11);
    let blind = call(
        &client,
        Method::PATCH,
        &product_url,
        &json,
        "{\"stock\": 5}",
    )
    .await;
    assert_eq!(blind.status, StatusCode::PRECONDITION_REQUIRED);
    let page = call(
        &client,
        Method::GET,
        &format!("{}/products/{id}", web.base),
        &[],
        "",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Out of stock</p>"));
    // The web tier's request id reached the app tier (and came back in the page).
    let request_id = page.header("x-request-id").unwrap();
    assert!(page.text.contains(&format!("<code>{request_id}</code>")));
}

#[test]
fn configuration_errors_exit_2_with_the_setting_named() {
    for (args, expected) in [
        (
            &["serve-app"][..],
            "pass --store memory|postgres|dynamodb or set DATA_STORE",
        ),
        (
            &["serve-app", "--store", "postgres"][..],
            "needs a database: pass --database-url (DATABASE_URL)",
        ),
        (
            &["serve-app", "--store", "dynamodb"][..],
            "needs its table: pass --table-name or set TABLE_NAME",
        ),
        (&["serve-web"][..], "APP_URL is not set"),
        (
            &["serve-web", "--app-url", "https://app.internal"][..],
            "speaks plain HTTP only",
        ),
        (&["serve-web", "--app-url", "app:8081"][..], "is not a URL"),
        (
            &[
                "serve-web",
                "--app-url",
                "http://a",
                "--csrf-key-file",
                "/nonexistent/key",
            ][..],
            "cannot read the CSRF key file",
        ),
        (&["serve", "--app-timeout-ms", "0"][..], "app-timeout-ms"),
    ] {
        let output = command(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// Outside Lambda the function binaries are the standalone commands:
/// `app` is `webapp serve-app`, `web` is `webapp serve-web`, flags and
/// refusals alike.
#[tokio::test]
async fn the_function_binaries_run_standalone_as_the_commands() {
    let app = Server::start_of(env!("CARGO_BIN_EXE_app"), &["--store", "memory"]);
    let web = Server::start_of(env!("CARGO_BIN_EXE_web"), &["--app-url", app.base.as_str()]);
    let client = client();
    let health = call(
        &client,
        Method::GET,
        &format!("{}/health", app.base),
        &[],
        "",
    )
    .await;
    assert_eq!(health.status, StatusCode::OK);
    let page = call(
        &client,
        Method::GET,
        &format!("{}/products", web.base),
        &[],
        "",
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the web tier reached the app tier: {}",
        page.text
    );

    for (program, args, named) in [
        (env!("CARGO_BIN_EXE_app"), &[][..], "DATA_STORE"),
        (env!("CARGO_BIN_EXE_web"), &[][..], "APP_URL"),
        (
            env!("CARGO_BIN_EXE_app"),
            &["--store", "sqlite"][..],
            "sqlite",
        ),
    ] {
        let out = command_of(program, args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{program} {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{program} {args:?}: {stderr}");
    }
}
