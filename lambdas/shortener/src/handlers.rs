//! The HTTP handlers.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::alias::{could_be_link_code, is_reserved, validate_alias};
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::base62::random_code;
use crate::cache::Lookup;
use crate::clicks::ClickEvent;
use crate::link::{Link, now_epoch_millis, now_epoch_seconds, parse_expires_in};
use crate::page;
use crate::rate_limit::RateDecision;
use crate::request_meta::RequestMeta;
use crate::store::{PutOutcome, StoreError};
use crate::target_url::validate_target_url;

/// Fresh codes tried before giving up with 503. With 62^7 codes a second
/// collision in a row needs a table holding a sizeable share of the space.
pub const MAX_CODE_ATTEMPTS: usize = 5;

/// Rate-limit key for requests whose address cannot be determined (only
/// possible when the router is served without connect info): they share
/// one window rather than going unlimited.
const UNKNOWN_CLIENT: &str = "unknown";

/// A create request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CreateRequest {
    url: String,
    alias: Option<String>,
    expires_in_seconds: Option<u64>,
}

/// The body of a 201 from `POST /api/links`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub code: String,
    pub short_url: String,
    /// The URL as stored (normalised).
    pub url: String,
    /// Unix epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The body of `GET /api/links/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub code: String,
    pub url: String,
    /// Unix epoch seconds.
    pub created_at: i64,
    /// Unix epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Clicks the aggregator has counted so far.
    pub clicks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_url: Option<String>,
}

pub async fn index() -> Response {
    page::html(StatusCode::OK, page::INDEX_HTML)
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Browsers ask for it on every page; an empty answer keeps it out of the
/// link lookups and the logs' 404s.
pub async fn favicon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
        .into_response()
}

pub async fn robots() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "User-agent: *\nDisallow: /api/\n",
    )
        .into_response()
}

/// Unknown routes: a JSON error under `/api`, the HTML 404 page elsewhere.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        ApiError::not_found(format!("no API route {method} {}", uri.path())).into_response()
    } else {
        page::html(StatusCode::NOT_FOUND, page::NOT_FOUND_HTML)
    }
}

/// Other methods on `/api/links`.
pub async fn api_method_not_allowed(method: Method) -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here; create links with POST /api/links"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `POST /api/links`
pub async fn create_link(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_create_request(&body)?;
    let own_hosts: Vec<&str> = meta.own_hosts.iter().map(String::as_str).collect();
    let url = validate_target_url(&request.url, &own_hosts)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    if let Some(alias) = &request.alias {
        validate_alias(alias).map_err(|err| ApiError::bad_request(err.to_string()))?;
    }
    let base_url = meta.base_url.clone().ok_or_else(|| {
        ApiError::bad_request(
            "cannot tell this service's own URL: send a Host header (or configure PUBLIC_BASE_URL)",
        )
    })?;

    let client = meta.client.as_deref().unwrap_or(UNKNOWN_CLIENT);
    match state.0.limiter.check(client, now_epoch_seconds()).await {
        Ok(RateDecision::Allowed) => {}
        Ok(RateDecision::Limited { retry_after_secs }) => {
            return Err(ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many links created from your address (limit {} per minute); \
                         try again in {retry_after_secs} seconds",
                        state.0.limiter.per_minute()
                    ),
                )
            });
        }
        Err(err) => return Err(unavailable(&meta, "rate limit window", &err)),
    }

    let created_at = now_epoch_seconds();
    let expires_at = request
        .expires_in_seconds
        .map(|seconds| created_at + seconds as i64);
    let link = match request.alias {
        Some(alias) => {
            let link = Link {
                code: alias,
                url,
                created_at,
                expires_at,
            };
            match state.0.links.put_link_if_absent(&link).await {
                Ok(PutOutcome::Created) => link,
                Ok(PutOutcome::AlreadyExists) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!("alias '{}' is already taken; choose another", link.code),
                    ));
                }
                Err(err) => return Err(unavailable(&meta, "PutItem", &err)),
            }
        }
        None => create_with_random_code(&state, &meta, url, created_at, expires_at).await?,
    };

    // The creator usually follows the link right away; spare that read.
    state
        .0
        .cache
        .insert(&link.code, Some(link.clone()), Instant::now());
    tracing::info!(request_id = %meta.request_id.0, code = %link.code, "link created");
    let body = Created {
        short_url: format!("{base_url}/{}", link.code),
        code: link.code,
        url: link.url,
        expires_at: link.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn create_with_random_code(
    state: &AppState,
    meta: &RequestMeta,
    url: String,
    created_at: i64,
    expires_at: Option<i64>,
) -> Result<Link, ApiError> {
    let mut link = Link {
        code: String::new(),
        url,
        created_at,
        expires_at,
    };
    for attempt in 1..=MAX_CODE_ATTEMPTS {
        link.code = random_code(&mut rand::rng());
        if is_reserved(&link.code) {
            continue;
        }
        match state.0.links.put_link_if_absent(&link).await {
            Ok(PutOutcome::Created) => return Ok(link),
            Ok(PutOutcome::AlreadyExists) => {
                tracing::warn!(request_id = %meta.request_id.0, attempt, "generated code collided; drawing another");
            }
            Err(err) => return Err(unavailable(meta, "PutItem", &err)),
        }
    }
    tracing::error!(request_id = %meta.request_id.0, attempts = MAX_CODE_ATTEMPTS, "no free code found");
    Err(ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "could not allocate a unique code; try again",
        )
    })
}

/// `GET /api/links/{code}`
pub async fn link_info(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(code): Path<String>,
) -> Result<Json<LinkInfo>, ApiError> {
    let not_found = || ApiError::not_found("no such link (it may have expired)");
    if !could_be_link_code(&code) {
        return Err(not_found());
    }
    let link = match state.0.links.get_link(&code).await {
        Ok(Some(link)) if !link.is_expired(now_epoch_seconds()) => link,
        Ok(_) => return Err(not_found()),
        Err(err) => return Err(unavailable(&meta, "GetItem links", &err)),
    };
    let clicks = state
        .0
        .clicks
        .get_clicks(&code)
        .await
        .map_err(|err| unavailable(&meta, "GetItem clicks", &err))?;
    Ok(Json(LinkInfo {
        short_url: meta.base_url.map(|base| format!("{base}/{}", link.code)),
        code: link.code,
        url: link.url,
        created_at: link.created_at,
        expires_at: link.expires_at,
        clicks,
    }))
}

/// `GET /{code}`: the redirect, the hot path.
pub async fn redirect(
    State(state): State<AppState>,
    Path(code): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if !could_be_link_code(&code) {
        return page::html(StatusCode::NOT_FOUND, page::NOT_FOUND_HTML);
    }
    let looked_up = lookup(&state, &code).await;
    report_metrics(&state);
    let link = match looked_up {
        Ok(Some(link)) if !link.is_expired(now_epoch_seconds()) => link,
        Ok(_) => return page::html(StatusCode::NOT_FOUND, page::NOT_FOUND_HTML),
        Err(err) => {
            tracing::error!(code, error = %err, "link lookup failed");
            return page::html(StatusCode::SERVICE_UNAVAILABLE, page::UNAVAILABLE_HTML);
        }
    };
    let Ok(location) = HeaderValue::from_str(&link.url) else {
        // Only items written by something other than this service can hold
        // a URL that is not a valid header value.
        tracing::error!(code, "stored URL is not a valid Location; answering 404");
        return page::html(StatusCode::NOT_FOUND, page::NOT_FOUND_HTML);
    };

    // HEAD is what link checkers and previews send; only GET is a click.
    if method == Method::GET {
        let header_text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        state.0.click_sender.enqueue(ClickEvent::new(
            &code,
            now_epoch_millis(),
            header_text(header::REFERER),
            header_text(header::USER_AGENT),
        ));
    }

    let status =
        StatusCode::from_u16(state.0.options.redirect_status.code()).unwrap_or(StatusCode::FOUND);
    let mut response = status.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::LOCATION, location);
    if status == StatusCode::FOUND {
        // Every click should come back here to be counted.
        response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Cache first, then the table; what the table says is cached.
async fn lookup(state: &AppState, code: &str) -> Result<Option<Link>, StoreError> {
    match state.0.cache.get(code, Instant::now()) {
        Lookup::Found(link) => Ok(Some(link)),
        Lookup::Absent => Ok(None),
        Lookup::Miss => {
            let link = state.0.links.get_link(code).await?;
            state.0.cache.insert(code, link.clone(), Instant::now());
            Ok(link)
        }
    }
}

fn report_metrics(state: &AppState) {
    state.0.metrics.on_lookup(
        state.0.cache.stats(),
        state.0.click_sender.stats(),
        Instant::now(),
        now_epoch_millis(),
    );
}

fn unavailable(meta: &RequestMeta, operation: &str, err: &StoreError) -> ApiError {
    tracing::error!(request_id = %meta.request_id.0, operation, error = %err, "storage call failed");
    ApiError::unavailable()
}

const BODY_SHAPE: &str =
    r#"request body must be a JSON object like {"url": "https://example.com/"}"#;

fn parse_create_request(body: &[u8]) -> Result<CreateRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(BODY_SHAPE));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("request body is not valid JSON: {err}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_request(BODY_SHAPE));
    };
    let url = match fields.get("url") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("url is required")),
        Some(Value::String(url)) => url.clone(),
        Some(_) => return Err(ApiError::bad_request("url must be a string")),
    };
    let alias = match fields.get("alias") {
        None | Some(Value::Null) => None,
        Some(Value::String(alias)) => Some(alias.clone()),
        Some(_) => return Err(ApiError::bad_request("alias must be a string")),
    };
    let expires_in_seconds = parse_expires_in(fields.get("expires_in_seconds"))
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(CreateRequest {
        url,
        alias,
        expires_in_seconds,
    })
}
