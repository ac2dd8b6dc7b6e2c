//! JSON error responses of the app tier's API, and the middleware that
//! gives every request its id.
//!
//! A handler returns an [`ApiError`] without knowing the request id; the
//! [`request_id_layer`] middleware, which does, writes the final body
//! `{"error": "...", "request_id": "...", ...details}` and the
//! `x-request-id` header. Details are a few machine-readable fields next to
//! the message (`field`: which input is wrong; `product_id`, `requested`,
//! `available` for a stock refusal; `current_version` for a stale update),
//! so that a client (the web tier) can show the refusal where it belongs
//! without parsing English.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use service_common::RequestId;

use crate::validate::FieldError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest caller-supplied request id that is kept.
const MAX_INCOMING_REQUEST_ID: usize = 128;

/// An error answer of the JSON API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Shown to the client: says what is wrong and, where possible, what to do.
    pub message: String,
    /// Extra fields of the body, next to `error` and `request_id`.
    pub details: Map<String, Value>,
    /// Seconds for a `Retry-After` header (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 400 about one field of the input.
    pub fn field(err: FieldError) -> Self {
        Self::bad_request(err.message).with("field", err.field)
    }

    /// Adds a detail field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The data store is failing; the cause is logged where it happened.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the data store is unavailable; try again shortly",
            )
        }
    }
}

/// Marks a response as an API error whose body the middleware completes.
#[derive(Debug, Clone)]
struct PendingError(Map<String, Value>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message));
        body.extend(self.details);
        // A complete body without the id, in case the router is served
        // without its middleware; the middleware replaces it.
        let mut response = (self.status, axum::Json(Value::Object(body.clone()))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(PendingError(body));
        response
    }
}

/// The id of a request: Lambda's when it came through a Lambda runtime,
/// else the caller's `x-request-id` if it is a sane token (the web tier
/// sends its own, so one id follows a page view into the app tier's logs),
/// else a random one. Only the web tier can reach the app tier (the
/// blueprint's internal ALB and security groups), so a caller-chosen id
/// cannot come from the internet; the character check keeps it harmless in
/// logs regardless.
pub fn request_id(request: &Request) -> RequestId {
    if request
        .extensions()
        .get::<lambda_runtime::Context>()
        .is_none()
    {
        let incoming = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id));
        if let Some(id) = incoming {
            return RequestId(id.to_owned());
        }
    }
    RequestId::for_request(request.extensions())
}

/// 1 to 128 of `A-Z a-z 0-9 - _ . :`.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INCOMING_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Gives each request its [`RequestId`], puts it in API error bodies and
/// the `x-request-id` header, and logs one line per request.
pub async fn request_id_layer(mut request: Request, next: Next) -> Response {
    let request_id = request_id(&request);
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();

    let mut response = next.run(request).await;

    if let Some(PendingError(mut body)) = response.extensions_mut().remove::<PendingError>() {
        body.insert("request_id".into(), json!(request_id.0));
        let body = Value::Object(body).to_string();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        *response.body_mut() = Body::from(body);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = %request_id.0, %method, path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %request_id.0, %method, path, status, latency_ms, "request");
    }
    response
}
