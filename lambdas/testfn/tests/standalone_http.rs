//! `testfn-http` run standalone (no Lambda runtime): the real binary on an
//! ephemeral port, real HTTP requests to every route.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The binary running standalone; killed when dropped.
struct Standalone {
    child: Child,
    base: String,
}

impl Standalone {
    /// Starts `testfn-http --port 0` and waits for its `listening on` line.
    fn start() -> Standalone {
        let mut child = Command::new(env!("CARGO_BIN_EXE_testfn-http"))
            .args(["--port", "0"])
            // Standalone mode is chosen by this variable's absence.
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting testfn-http");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the listening line");
        let base = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(!base.ends_with(":0"), "the bound port, not 0: {base}");
        Standalone { child, base }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

async fn send(
    server: &Standalone,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(body.into())).unwrap())
        .await
        .expect("HTTP request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(server: &Standalone, path: &str) -> Answer {
    send(server, Method::GET, path, &[], Bytes::new()).await
}

#[tokio::test]
async fn hello_is_plain_text() {
    let server = Standalone::start();
    let answer = get(&server, "/hello").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        answer.headers
    );
    assert_eq!(answer.body, "hello from testfn-http");
}

#[tokio::test]
async fn echo_reports_method_path_query_headers_and_body() {
    let server = Standalone::start();
    let answer = send(
        &server,
        Method::PUT,
        "/echo/deeper/path?b=2&a=1&a=3",
        &[
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("content-type", "text/plain"),
        ],
        "the body ✓",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let echo = answer.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/echo/deeper/path");
    assert_eq!(echo["query"], "b=2&a=1&a=3", "the raw query string");
    assert_eq!(echo["headers"]["x-multi"], json!(["one", "two"]));
    assert_eq!(echo["headers"]["content-type"], json!(["text/plain"]));
    assert_eq!(echo["body"], "the body ✓");

    let bare = get(&server, "/echo").await.json();
    assert_eq!(bare["method"], "GET");
    assert_eq!(bare["path"], "/echo");
    assert_eq!(bare["query"], "");
    assert_eq!(bare["body"], "");
}

#[tokio::test]
async fn cookies_are_two_set_cookie_headers() {
    let server = Standalone::start();
    let answer = get(&server, "/cookies").await;
    assert_eq!(answer.status, StatusCode::OK);
    let cookies: Vec<&str> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn status_route_answers_the_code_with_an_empty_body() {
    let server = Standalone::start();
    for code in [200u16, 201, 302, 418, 503] {
        let answer = get(&server, &format!("/status/{code}")).await;
        assert_eq!(answer.status.as_u16(), code);
        assert!(answer.body.is_empty(), "{code}: {:?}", answer.body);
    }
    let bad = get(&server, "/status/nope").await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn binary_comes_back_byte_for_byte() {
    let server = Standalone::start();
    let bytes: Vec<u8> = (0..=255u8).rev().collect();
    let answer = send(&server, Method::POST, "/binary", &[], bytes.clone()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(answer.body.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn anything_else_is_a_json_404() {
    let server = Standalone::start();
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/missing"),
        (Method::GET, "/hello/extra"),
        // A known path with the wrong method is "anything else" too.
        (Method::POST, "/hello"),
        (Method::GET, "/binary"),
    ] {
        let answer = send(&server, method.clone(), path, &[], Bytes::new()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer.json(),
            json!({"error": "not found"}),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn port_comes_from_the_port_variable_when_no_flag_is_given() {
    // Ask the OS for a free port, release it, and hand it over through PORT.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_testfn-http"))
        .env("PORT", port.to_string())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line, format!("listening on http://127.0.0.1:{port}\n"));
}
