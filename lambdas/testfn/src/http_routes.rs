//! The routes of `testfn-http`: one axum [`Router`] that answers the same
//! whether it is served by a plain socket or fed Lambda events by
//! `lambda_http`, so a test can compare both paths byte for byte.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::json;

/// `GET /hello`, `ANY /echo[/..]`, `GET /cookies`, `GET /status/{code}`,
/// `POST /binary`; everything else (other paths and other methods on known
/// paths) is a 404 with `{"error":"not found"}`.
pub fn router() -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/cookies", get(cookies))
        .route("/status/{code}", get(status))
        .route("/binary", post(binary))
        .fallback(not_found)
        // A wrong method is "anything else" too: the local HTTP listener's
        // tests expect one uniform 404, not axum's bare 405.
        .method_not_allowed_fallback(not_found)
}

async fn hello() -> &'static str {
    "hello from testfn-http"
}

/// The request as the handler saw it, so tests can check what the event
/// adapter (or the socket) delivered: method, path, raw query, every header
/// value in order, and the body as text.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut header_values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        header_values
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    axum::Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query().unwrap_or(""),
        "headers": header_values,
        "body": String::from_utf8_lossy(&body),
    }))
    .into_response()
}

/// Two cookies in two `set-cookie` headers: ALB and function URL responses
/// carry repeated headers differently (`multiValueHeaders` vs `cookies`).
async fn cookies() -> Response {
    // AppendHeaders, not a plain array: that would insert, keeping only `b=2`.
    AppendHeaders([(header::SET_COOKIE, "a=1"), (header::SET_COOKIE, "b=2")]).into_response()
}

/// The status named in the path with an empty body; a code that is not an
/// HTTP status (`/status/abc`, `/status/42`) is a 404 like any unknown path.
async fn status(Path(code): Path<String>) -> Response {
    match code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(status) => status.into_response(),
        None => not_found().await,
    }
}

/// The request bytes back as `application/octet-stream`, which `lambda_http`
/// base64-encodes in a Lambda response (`isBase64Encoded: true`).
async fn binary(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not found"})),
    )
        .into_response()
}
