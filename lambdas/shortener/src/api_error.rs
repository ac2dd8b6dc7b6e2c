//! JSON error responses of the API, and the middleware that stamps every
//! response with its request id.
//!
//! A handler returns an [`ApiError`] without knowing the request id; the
//! [`request_id_layer`] middleware, which does, writes the final body
//! `{"error": "...", "request_id": "..."}` and the `x-request-id` header.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::request_meta::RequestId;

/// An error answer of the JSON API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Shown to the client: says what is wrong and, where possible, what to do.
    pub message: String,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Storage is failing; the cause is logged where it happened.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the link store is unavailable; try again shortly",
            )
        }
    }
}

/// Marks a response as an API error whose body the middleware completes.
#[derive(Debug, Clone)]
struct PendingError(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A complete body without the id, in case the router is served
        // without its middleware; the middleware replaces it.
        let mut response =
            (self.status, axum::Json(json!({"error": self.message}))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(PendingError(self.message));
        response
    }
}

/// Gives each request its [`RequestId`] (Lambda's, or a random one), puts it
/// in API error bodies and the `x-request-id` header, and logs one line per
/// request.
pub async fn request_id_layer(mut request: Request, next: Next) -> Response {
    let request_id = RequestId::for_request(request.extensions());
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();

    let mut response = next.run(request).await;

    if let Some(PendingError(message)) = response.extensions_mut().remove::<PendingError>() {
        let body = json!({"error": message, "request_id": request_id.0}).to_string();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        *response.body_mut() = Body::from(body);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert("x-request-id", value);
    }

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = %request_id.0, %method, path, status, latency_ms, "request");
    } else if status == 301 || status == 302 {
        // Redirects are the hot path: a log line each would cost ~40% of
        // the throughput (bench_shortener_redirect); clicks are counted by
        // the click pipeline and the EMF metric lines instead.
        tracing::debug!(request_id = %request_id.0, %method, path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %request_id.0, %method, path, status, latency_ms, "request");
    }
    response
}
