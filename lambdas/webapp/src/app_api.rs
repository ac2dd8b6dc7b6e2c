//! The app tier: the JSON API over the [`DataStore`], as an axum router.
//! It is the only code that touches the data tier; the web tier reaches it
//! over HTTP.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/products?q=&limit=&cursor=` | 200 `{"items": [product], "next_cursor"}` |
//! | `POST /api/products` | 201 product, `ETag`, `Location` |
//! | `GET /api/products/{id}` | 200 product, `ETag` (304 on a matching `If-None-Match`) |
//! | `PATCH /api/products/{id}` (`If-Match` required) | 200 product, `ETag`; 412 stale, 428 no `If-Match` |
//! | `GET /api/orders?limit=&cursor=` | 200 `{"items": [order], "next_cursor"}`, newest first |
//! | `POST /api/orders` | 201 order, `Location`; 409 not enough stock |
//! | `GET /api/orders/{id}` | 200 order |
//! | `POST /api/orders/{id}/cancel` (`If-Match` optional) | 200 order, cancelled |
//! | `GET /health` | 200 `{"status": "ok"}` (touches no store) |

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_common::RequestId;

use crate::api_error::{ApiError, request_id_layer};
use crate::cursor;
use crate::etag::{IfMatch, etag, none_match_hits};
use crate::ids::{IdKind, is_order_id, is_product_id, new_order_id, new_product_id};
use crate::model::{Order, Product, now_ms};
use crate::store::{CancelOutcome, DataStore, Page, PageRequest, ProductQuery, StoreError};
use crate::validate;

/// Largest request body read: a product with a 2000-character description
/// of 4-byte characters is about 8 KB.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// Shared state of the app tier; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn DataStore>,
}

impl AppState {
    pub fn new(store: Arc<dyn DataStore>) -> Self {
        Self { store }
    }
}

/// The app tier's router. Serve it with `axum::serve`, `lambda_http::run`,
/// or merge it into another router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/products", get(list_products).post(create_product))
        .route("/api/products/{id}", get(get_product).patch(update_product))
        .route("/api/orders", get(list_orders).post(place_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/orders/{id}/cancel", post(cancel_order))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_id_layer))
        .with_state(state)
}

/// A page of a list as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListPage<T> {
    fn from(page: Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next_after.as_deref().map(cursor::encode),
        }
    }
}

/// The request's id as the middleware set it (a fresh one if the router
/// runs without it).
struct ReqId(RequestId);

impl<S: Send + Sync> FromRequestParts<S> for ReqId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(
            parts
                .extensions
                .get::<RequestId>()
                .cloned()
                .unwrap_or_else(RequestId::random),
        ))
    }
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The answer to a store refusal; a backend failure is logged and is 503.
fn store_error(err: StoreError, request_id: &RequestId) -> ApiError {
    match err {
        StoreError::ProductNotFound(_) | StoreError::OrderNotFound(_) => {
            ApiError::not_found(err.to_string())
        }
        StoreError::DuplicateSku { ref product_id, .. } => {
            let holder = product_id.clone();
            ApiError::new(StatusCode::CONFLICT, err.to_string())
                .with("field", "sku")
                .with("product_id", holder)
        }
        StoreError::VersionMismatch { current, .. } => ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("{err}; read it again (its ETag is now \"{current}\") and redo your change"),
        )
        .with("current_version", current),
        StoreError::UnknownProduct {
            line,
            ref product_id,
        } => {
            let message = format!("lines[{line}].product_id: there is no product {product_id}");
            ApiError::bad_request(message)
                .with("field", format!("lines[{line}].product_id"))
                .with("product_id", product_id.clone())
        }
        StoreError::InsufficientStock {
            line,
            ref product_id,
            requested,
            available,
            ..
        } => {
            let product_id = product_id.clone();
            ApiError::new(StatusCode::CONFLICT, err.to_string())
                .with("field", format!("lines[{line}].quantity"))
                .with("product_id", product_id)
                .with("requested", requested)
                .with("available", available)
        }
        StoreError::Backend { .. } => {
            tracing::error!(request_id = %request_id, error = %err, "data store call failed");
            ApiError::unavailable()
        }
    }
}

/// The JSON body of a POST or PATCH: declared as JSON (a form or plain
/// text is 415, which also keeps cross-site HTML forms from ever reaching
/// the API), within [`MAX_BODY_BYTES`] (413), and well-formed (400).
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(
                status,
                format!("could not read the body: {}", rejection.body_text()),
            )
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let is_json = content_type.as_deref().is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(format!("the body is not valid JSON: {err}")).with("field", "body")
    })
}

/// Query parameters by name (the first of repeated ones).
fn query_params(raw: Option<String>) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

fn page_request(params: &HashMap<String, String>, kind: IdKind) -> Result<PageRequest, ApiError> {
    let limit =
        validate::page_limit(params.get("limit").map(String::as_str)).map_err(ApiError::field)?;
    let after = params
        .get("cursor")
        .filter(|c| !c.trim().is_empty())
        .map(|c| cursor::decode(c, kind))
        .transpose()
        .map_err(ApiError::field)?;
    Ok(PageRequest { limit, after })
}

fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn product_response(status: StatusCode, product: &Product) -> Response {
    with_etag((status, Json(product)).into_response(), product.version)
}

fn order_response(status: StatusCode, order: &Order) -> Response {
    with_etag((status, Json(order)).into_response(), order.version)
}

fn no_product(id: &str) -> ApiError {
    ApiError::not_found(format!("there is no product {id}"))
}

fn no_order(id: &str) -> ApiError {
    ApiError::not_found(format!("there is no order {id}"))
}

/// `GET /api/products`
async fn list_products(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListPage<Product>>, ApiError> {
    let params = query_params(raw);
    let query = ProductQuery {
        page: page_request(&params, IdKind::Product)?,
        search: validate::search(params.get("q").map(String::as_str)).map_err(ApiError::field)?,
    };
    let page = state
        .store
        .list_products(&query)
        .await
        .map_err(|err| store_error(err, &request_id))?;
    Ok(Json(page.into()))
}

/// `POST /api/products`
async fn create_product(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new = validate::new_product(&json_body(&headers, body)?).map_err(ApiError::field)?;
    let now = now_ms();
    let product = Product::new(new_product_id(now), new, now);
    state
        .store
        .create_product(&product)
        .await
        .map_err(|err| store_error(err, &request_id))?;
    tracing::info!(request_id = %request_id, product_id = %product.id, sku = %product.sku, "product created");
    let location = format!("/api/products/{}", product.id);
    Ok(with_location(
        product_response(StatusCode::CREATED, &product),
        &location,
    ))
}

/// `GET /api/products/{id}`
async fn get_product(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_product_id(&id) {
        return Err(no_product(&id));
    }
    let product = state
        .store
        .get_product(&id)
        .await
        .map_err(|err| store_error(err, &request_id))?
        .ok_or_else(|| no_product(&id))?;
    if none_match_hits(&headers, product.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            product.version,
        ));
    }
    Ok(product_response(StatusCode::OK, &product))
}

/// `PATCH /api/products/{id}`: a JSON merge patch of the product's fields,
/// applied only to the version `If-Match` names.
async fn update_product(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !is_product_id(&id) {
        return Err(no_product(&id));
    }
    let expected = match IfMatch::of(&headers) {
        IfMatch::Version(version) => version,
        IfMatch::Missing | IfMatch::Any => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                format!(
                    "send If-Match with the ETag of the version you changed (GET /api/products/{id} gives it), \
                     so a change made meanwhile by someone else is not overwritten"
                ),
            ));
        }
        IfMatch::Weak => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "a weak ETag (W/...) never matches If-Match; send the ETag as given",
            ));
        }
        IfMatch::Invalid(message) => {
            return Err(ApiError::bad_request(message).with("field", "If-Match"));
        }
    };
    let changes =
        validate::product_changes(&json_body(&headers, body)?).map_err(ApiError::field)?;
    let product = state
        .store
        .update_product(&id, expected, &changes, now_ms())
        .await
        .map_err(|err| store_error(err, &request_id))?;
    tracing::info!(request_id = %request_id, product_id = %id, version = product.version, "product updated");
    Ok(product_response(StatusCode::OK, &product))
}

/// `GET /api/orders`
async fn list_orders(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListPage<Order>>, ApiError> {
    let page = page_request(&query_params(raw), IdKind::Order)?;
    let page = state
        .store
        .list_orders(&page)
        .await
        .map_err(|err| store_error(err, &request_id))?;
    Ok(Json(page.into()))
}

/// `POST /api/orders`: reserves the stock of every line, or nothing.
async fn place_order(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = validate::order_request(&json_body(&headers, body)?).map_err(ApiError::field)?;
    let now = now_ms();
    let order_id = new_order_id(now);
    match state.store.place_order(&order_id, &request, now).await {
        Ok(order) => {
            tracing::info!(request_id = %request_id, order_id = %order.id, lines = order.lines.len(), total_cents = order.total_cents, "order placed");
            let location = format!("/api/orders/{}", order.id);
            Ok(with_location(
                order_response(StatusCode::CREATED, &order),
                &location,
            ))
        }
        Err(err) => {
            if matches!(err, StoreError::InsufficientStock { .. }) {
                tracing::info!(request_id = %request_id, reason = %err, "order refused");
            }
            Err(store_error(err, &request_id))
        }
    }
}

/// `GET /api/orders/{id}`
async fn get_order(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_order_id(&id) {
        return Err(no_order(&id));
    }
    let order = state
        .store
        .get_order(&id)
        .await
        .map_err(|err| store_error(err, &request_id))?
        .ok_or_else(|| no_order(&id))?;
    if none_match_hits(&headers, order.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            order.version,
        ));
    }
    Ok(order_response(StatusCode::OK, &order))
}

/// `POST /api/orders/{id}/cancel`: idempotent, so `If-Match` is optional
/// (a repeated cancel is answered with the cancelled order, and the stock
/// goes back only once); with it, a placed order at another version is 412.
async fn cancel_order(
    State(state): State<AppState>,
    ReqId(request_id): ReqId,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_order_id(&id) {
        return Err(no_order(&id));
    }
    let expected = match IfMatch::of(&headers) {
        IfMatch::Version(version) => Some(version),
        IfMatch::Missing | IfMatch::Any => None,
        IfMatch::Weak => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "a weak ETag (W/...) never matches If-Match; send the ETag as given",
            ));
        }
        IfMatch::Invalid(message) => {
            return Err(ApiError::bad_request(message).with("field", "If-Match"));
        }
    };
    let outcome = state
        .store
        .cancel_order(&id, expected, now_ms())
        .await
        .map_err(|err| store_error(err, &request_id))?;
    if let CancelOutcome::Cancelled(order) = &outcome {
        tracing::info!(request_id = %request_id, order_id = %order.id, "order cancelled, stock returned");
    }
    Ok(order_response(StatusCode::OK, outcome.order()))
}
