//! The web tier's client of the app tier: HTTP/1.1 to `APP_URL` (the
//! internal ALB on AWS, a loopback port standalone), with a timeout on
//! every call, the page's request id passed along as `x-request-id`, and
//! the app tier's answers turned into [`AppError`]s the pages can show.
//!
//! No call is retried: an order that timed out may still have been placed,
//! and placing it again would reserve the stock twice. (hyper does resend a
//! request that a pooled connection closed before it was written, which
//! cannot have reached the app tier.)

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use service_common::RequestId;

use crate::api_error::REQUEST_ID_HEADER;
use crate::app_api::ListPage;
use crate::etag::etag;
use crate::ids::{is_order_id, is_product_id};
use crate::model::{Order, Product};

/// How long one call may take, connecting included, unless configured.
pub const DEFAULT_APP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from the app tier (a page of 100 products with
/// long descriptions is well under 1 MB).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Idle pooled connections are closed before the ALB's 60 s idle timeout
/// would close them under a request.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// An `APP_URL` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppUrlError {
    #[error("APP_URL {0:?} is not a URL like http://host:port")]
    NotAUrl(String),
    #[error(
        "APP_URL {0:?} is https, but the web tier's client speaks plain HTTP only so far \
         (the blueprint's internal ALB listens on HTTP inside the VPC)"
    )]
    Https(String),
    #[error("APP_URL {0:?} must not have a query or fragment")]
    QueryOrFragment(String),
}

/// Why a call to the app tier gave no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppError {
    /// The app tier refused the request (4xx): its message, the input field
    /// it is about, and the other details of its JSON error.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        message: String,
        field: Option<String>,
        details: Value,
    },
    /// The app tier failed (5xx); 503 means its data store is unavailable.
    #[error("the app tier answered {status}: {message}")]
    Failed { status: StatusCode, message: String },
    #[error("the app tier did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("cannot reach the app tier: {0}")]
    Unreachable(String),
    #[error("the app tier's answer could not be read: {0}")]
    BadAnswer(String),
}

impl AppError {
    /// The status a page showing this error should have.
    pub fn page_status(&self) -> StatusCode {
        match self {
            Self::Refused { status, .. } => *status,
            Self::Failed { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Failed { .. } | Self::Unreachable(_) | Self::BadAnswer(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }
}

/// The client; cheap to share (one connection pool).
#[derive(Clone)]
pub struct AppClient {
    /// `http://host:port` plus any path prefix, without a trailing slash.
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `APP_URL` checked: `http://host[:port][/prefix]`.
pub fn parse_app_url(url: &str) -> Result<String, AppUrlError> {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.contains(['?', '#']) {
        return Err(AppUrlError::QueryOrFragment(url.to_owned()));
    }
    let uri: Uri = trimmed
        .parse()
        .map_err(|_| AppUrlError::NotAUrl(url.to_owned()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(AppUrlError::Https(url.to_owned())),
        _ => return Err(AppUrlError::NotAUrl(url.to_owned())),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(AppUrlError::NotAUrl(url.to_owned()));
    }
    Ok(trimmed.to_owned())
}

impl AppClient {
    pub fn new(app_url: &str, timeout: Duration) -> Result<Self, AppUrlError> {
        let base = parse_app_url(app_url)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(Self {
            base,
            client,
            timeout,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One call: `path_and_query` below the base URL, an optional JSON body
    /// and `If-Match` version. The answer's body on 2xx, else an error.
    async fn call(
        &self,
        request_id: &RequestId,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Result<Bytes, AppError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base))
            .header(header::ACCEPT, "application/json");
        if let Ok(id) = HeaderValue::from_str(request_id.as_str()) {
            builder = builder.header(REQUEST_ID_HEADER, id);
        }
        if let Some(version) = if_match {
            builder = builder.header(header::IF_MATCH, etag(version));
        }
        let payload = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|err| AppError::Unreachable(format!("cannot build the request: {err}")))?;

        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| AppError::Unreachable(error_chain(&err)))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|err| AppError::BadAnswer(format!("reading the body: {err}")))?
                .to_bytes();
            Ok::<_, AppError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| AppError::Timeout(self.timeout))??;
        if status.is_success() {
            return Ok(bytes);
        }
        let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = error["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        if status.is_client_error() {
            Err(AppError::Refused {
                status,
                message,
                field: error["field"].as_str().map(str::to_owned),
                details: error,
            })
        } else {
            Err(AppError::Failed { status, message })
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        request_id: &RequestId,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Result<T, AppError> {
        let bytes = self
            .call(request_id, method, path_and_query, body, if_match)
            .await?;
        serde_json::from_slice(&bytes).map_err(|err| AppError::BadAnswer(err.to_string()))
    }

    /// `GET /api/products`; `q` and `cursor` as the user gave them.
    pub async fn list_products(
        &self,
        request_id: &RequestId,
        q: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<ListPage<Product>, AppError> {
        // Built in a block: the serializer is not `Send` and must not live
        // across the await below.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(q) = q {
                query.append_pair("q", q);
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            query.finish()
        };
        let path = if query.is_empty() {
            "/api/products".to_owned()
        } else {
            format!("/api/products?{query}")
        };
        self.call_json(request_id, Method::GET, &path, None, None)
            .await
    }

    /// `POST /api/products` with the product's fields.
    pub async fn create_product(
        &self,
        request_id: &RequestId,
        fields: &Value,
    ) -> Result<Product, AppError> {
        self.call_json(
            request_id,
            Method::POST,
            "/api/products",
            Some(fields),
            None,
        )
        .await
    }

    pub async fn get_product(&self, request_id: &RequestId, id: &str) -> Result<Product, AppError> {
        check_id(id, is_product_id)?;
        self.call_json(
            request_id,
            Method::GET,
            &format!("/api/products/{id}"),
            None,
            None,
        )
        .await
    }

    /// `PATCH /api/products/{id}` with `If-Match` of `version`.
    pub async fn update_product(
        &self,
        request_id: &RequestId,
        id: &str,
        version: u64,
        changes: &Value,
    ) -> Result<Product, AppError> {
        check_id(id, is_product_id)?;
        let path = format!("/api/products/{id}");
        self.call_json(
            request_id,
            Method::PATCH,
            &path,
            Some(changes),
            Some(version),
        )
        .await
    }

    /// `POST /api/orders` of one line.
    pub async fn place_order(
        &self,
        request_id: &RequestId,
        product_id: &str,
        quantity: i64,
    ) -> Result<Order, AppError> {
        let body = json!({"lines": [{"product_id": product_id, "quantity": quantity}]});
        self.call_json(request_id, Method::POST, "/api/orders", Some(&body), None)
            .await
    }

    pub async fn list_orders(
        &self,
        request_id: &RequestId,
        cursor: Option<&str>,
    ) -> Result<ListPage<Order>, AppError> {
        let path = match cursor {
            Some(cursor) => format!(
                "/api/orders?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("cursor", cursor)
                    .finish()
            ),
            None => "/api/orders".to_owned(),
        };
        self.call_json(request_id, Method::GET, &path, None, None)
            .await
    }

    pub async fn get_order(&self, request_id: &RequestId, id: &str) -> Result<Order, AppError> {
        check_id(id, is_order_id)?;
        self.call_json(
            request_id,
            Method::GET,
            &format!("/api/orders/{id}"),
            None,
            None,
        )
        .await
    }

    pub async fn cancel_order(&self, request_id: &RequestId, id: &str) -> Result<Order, AppError> {
        check_id(id, is_order_id)?;
        let path = format!("/api/orders/{id}/cancel");
        self.call_json(request_id, Method::POST, &path, None, None)
            .await
    }
}

/// Ids go into the app tier's URL paths only if they have the shape of an
/// id, so nothing a user typed can change the path (`../`, `?`, `#`).
fn check_id(id: &str, is_id: fn(&str) -> bool) -> Result<(), AppError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(AppError::Refused {
            status: StatusCode::NOT_FOUND,
            message: format!("there is nothing with the id {id:?}"),
            field: None,
            details: Value::Null,
        })
    }
}

/// An error and its causes, "a: b: c" (hyper's top-level message alone is
/// often just "client error (Connect)").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_urls() {
        assert_eq!(
            parse_app_url("http://10.0.0.5:8081/").unwrap(),
            "http://10.0.0.5:8081"
        );
        assert_eq!(
            parse_app_url("http://internal-app-123.eu-west-1.elb.amazonaws.com").unwrap(),
            "http://internal-app-123.eu-west-1.elb.amazonaws.com"
        );
        assert_eq!(parse_app_url("http://h/prefix").unwrap(), "http://h/prefix");
        assert!(matches!(
            parse_app_url("https://h"),
            Err(AppUrlError::Https(_))
        ));
        assert!(matches!(
            parse_app_url("http://h/?x=1"),
            Err(AppUrlError::QueryOrFragment(_))
        ));
        for bad in ["", "h:80", "ftp://h", "http://", "not a url"] {
            assert!(
                matches!(parse_app_url(bad), Err(AppUrlError::NotAUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_status_of_failures() {
        let refused = AppError::Refused {
            status: StatusCode::CONFLICT,
            message: "x".into(),
            field: None,
            details: Value::Null,
        };
        assert_eq!(refused.page_status(), StatusCode::CONFLICT);
        assert_eq!(
            AppError::Timeout(Duration::from_secs(1)).page_status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            AppError::Unreachable("x".into()).page_status(),
            StatusCode::BAD_GATEWAY
        );
        let down = AppError::Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "x".into(),
        };
        assert_eq!(down.page_status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
