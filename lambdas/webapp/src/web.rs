//! The web tier: server-rendered pages and forms, as an axum router. It
//! holds no data; every read and write is a call to the app tier through
//! [`AppClient`].
//!
//! Every response gets the security headers ([`SECURITY_HEADERS`], plus
//! HSTS when the request came over HTTPS), `Cache-Control: no-store` unless
//! it says otherwise, and `x-request-id`; every POST must carry a valid
//! CSRF token ([`CsrfForm`], see [`crate::csrf`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Path, RawQuery, Request, State,
};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use service_common::RequestId;

use crate::api_error::REQUEST_ID_HEADER;
use crate::app_client::{AppClient, AppError};
use crate::csrf::{self, CsrfKey};
use crate::html::{self, STYLE_CSS};
use crate::ids::{is_order_id, is_product_id};
use crate::pages::{self, FormErrors, PageInfo, ProductForm, ProductFormTarget};
use crate::validate;

/// Largest form body read. The product form at its limits, in 4-byte
/// characters that browsers percent-encode to 12 bytes each, is about
/// 27 KB; twice that leaves room and still bounds what is read.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Headers on every response of the web tier.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    // No scripts, no inline styles, nothing from elsewhere; forms post only
    // here; no page may frame this one (clickjacking).
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Sent only on HTTPS: over plain HTTP browsers ignore it anyway, and a
/// development server must stay reachable over HTTP.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Shared state of the web tier; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    app: AppClient,
    csrf: Arc<CsrfKey>,
}

impl WebState {
    pub fn new(app: AppClient, csrf: CsrfKey) -> Self {
        Self {
            app,
            csrf: Arc::new(csrf),
        }
    }
}

/// The web tier's router.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/health", get(health))
        .route("/static/style.css", get(style))
        .route("/products", get(products).post(create_product))
        .route("/products/new", get(new_product))
        .route("/products/{id}", get(product))
        .route(
            "/products/{id}/edit",
            get(edit_product).post(update_product),
        )
        .route("/orders", get(orders).post(place_order))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web_layer,
        ))
        .with_state(state)
}

/// What the middleware works out about a request, for the handlers.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub request_id: RequestId,
    /// Came over HTTPS (per the proxy's `X-Forwarded-Proto`).
    pub https: bool,
    /// The browser's CSRF nonce: from its cookie, or new (and then set).
    nonce: String,
    nonce_from_request: bool,
    /// The token of `nonce`, for this response's forms.
    pub csrf_token: String,
}

impl PageContext {
    fn new(headers: &HeaderMap, extensions: &http::Extensions, key: &CsrfKey) -> Self {
        let https = forwarded_https(headers);
        let (nonce, nonce_from_request) = match csrf::nonce_from_cookies(headers, https) {
            Some(nonce) => (nonce, true),
            None => (csrf::new_nonce(), false),
        };
        Self {
            // The web tier faces the internet: an `x-request-id` sent by a
            // client is not adopted (it would let anyone write ids into
            // our logs); the app tier adopts the one we send.
            request_id: RequestId::for_request(extensions),
            https,
            csrf_token: key.token_for(&nonce),
            nonce,
            nonce_from_request,
        }
    }

    fn info(&self) -> PageInfo<'_> {
        PageInfo {
            request_id: self.request_id.as_str(),
            csrf_token: &self.csrf_token,
        }
    }
}

impl FromRequestParts<WebState> for PageContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Infallible> {
        Ok(match parts.extensions.get::<PageContext>() {
            Some(context) => context.clone(),
            None => PageContext::new(&parts.headers, &parts.extensions, &state.csrf),
        })
    }
}

/// `X-Forwarded-Proto: https` (its first value): the ALB, or another proxy
/// in front, took the request over HTTPS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Request id, CSRF cookie, security headers and one log line per request.
async fn web_layer(State(state): State<WebState>, mut request: Request, next: Next) -> Response {
    let context = PageContext::new(request.headers(), request.extensions(), &state.csrf);
    request.extensions_mut().insert(context.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();

    let mut response = next.run(request).await;

    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if context.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    // Pages carry CSRF tokens and current stock: neither belongs in a cache.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !context.nonce_from_request
        && let Ok(cookie) = HeaderValue::from_str(&csrf::set_cookie(&context.nonce, context.https))
    {
        headers.append(header::SET_COOKIE, cookie);
    }
    if let Ok(id) = HeaderValue::from_str(context.request_id.as_str()) {
        headers.insert(REQUEST_ID_HEADER, id);
    }

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = context.request_id.as_str();
    if status >= 500 {
        tracing::warn!(request_id, %method, path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id, %method, path, status, latency_ms, "request");
    }
    response
}

/// A submitted form whose CSRF token matches the browser's cookie; every
/// POST handler takes one, so none can forget the check. Refused with 403
/// (bad or missing token, or a cross-site request), 415 (not a form) or
/// 413 (too large), as an HTML page.
pub struct CsrfForm(pub FormData);

/// Form fields by name (the first of repeated ones).
#[derive(Debug, Clone, Default)]
pub struct FormData(HashMap<String, String>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        let mut fields = HashMap::new();
        for (key, value) in form_urlencoded::parse(body) {
            fields
                .entry(key.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Self(fields)
    }

    /// The field's value, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

impl FromRequest<WebState> for CsrfForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Response> {
        let context = request
            .extensions()
            .get::<PageContext>()
            .cloned()
            .unwrap_or_else(|| {
                PageContext::new(request.headers(), request.extensions(), &state.csrf)
            });
        let refuse = |status: StatusCode, title: &str, text: &str| {
            html::respond(status, pages::message(&context.info(), title, text))
        };
        let forbidden = || {
            refuse(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form could not be accepted: it has expired or did not come from this site. \
                 Go back, reload the page and submit it again.",
            )
        };
        if cross_site(request.headers()) {
            tracing::info!(request_id = %context.request_id, "cross-site form refused");
            return Err(forbidden());
        }
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim())
            .is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Not a form",
                "This address takes HTML form submissions only.",
            ));
        }
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                &format!("The form is larger than {MAX_FORM_BYTES} bytes."),
            )
        })?;
        let form = FormData::parse(&body);
        let valid = context.nonce_from_request
            && state
                .csrf
                .verify(&context.nonce, form.get(csrf::TOKEN_FIELD));
        if !valid {
            tracing::info!(
                request_id = %context.request_id,
                had_cookie = context.nonce_from_request,
                "form refused: CSRF token missing or not this browser's"
            );
            return Err(forbidden());
        }
        Ok(Self(form))
    }
}

/// Whether the browser says the form came from another site: `Sec-Fetch-
/// Site: cross-site`, or an `Origin` whose host is not the one asked for.
/// Absent headers (older browsers, non-browser clients) prove nothing
/// either way; the token check still applies.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // Hosts only: behind a TLS-terminating proxy the scheme seen here can
    // differ from the browser's.
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        // `Origin: null` (sandboxed frames, some redirects) or no Host.
        _ => true,
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn page(status: StatusCode, document: String) -> Response {
    html::respond(status, document)
}

/// The page for an app-tier failure outside a form (a list or a record
/// that cannot be shown).
fn failure(context: &PageContext, err: &AppError) -> Response {
    let status = err.page_status();
    let (title, text) = match err {
        AppError::Refused {
            status, message, ..
        } if *status == StatusCode::NOT_FOUND => ("Not found", message.clone()),
        AppError::Refused { message, .. } => ("Refused", message.clone()),
        AppError::Timeout(_) => (
            "Taking too long",
            "The application did not answer in time. Try again in a moment.".to_owned(),
        ),
        AppError::Failed { .. } if status == StatusCode::SERVICE_UNAVAILABLE => (
            "Temporarily unavailable",
            "The data store is unavailable. Try again in a moment.".to_owned(),
        ),
        AppError::Failed { .. } | AppError::Unreachable(_) | AppError::BadAnswer(_) => (
            "Something went wrong",
            "The application could not be reached or failed. Try again in a moment.".to_owned(),
        ),
    };
    if status.is_server_error() {
        tracing::warn!(request_id = %context.request_id, error = %err, "app tier call failed");
    }
    page(status, pages::message(&context.info(), title, &text))
}

/// The notice of a form whose submission the app tier could not take (not
/// a refusal of one field). `maybe_done` says whether a timeout leaves the
/// change possibly made.
fn form_failure_notice(context: &PageContext, err: &AppError, maybe_done: &str) -> String {
    if err.page_status().is_server_error() {
        tracing::warn!(request_id = %context.request_id, error = %err, "app tier call failed");
    }
    match err {
        AppError::Refused { message, .. } => message.clone(),
        AppError::Timeout(_) => format!("The application did not answer in time. {maybe_done}"),
        AppError::Failed { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
            "The data store is unavailable; nothing was saved. Try again in a moment.".to_owned()
        }
        _ => "The application could not be reached or failed; nothing was saved. Try again in a moment."
            .to_owned(),
    }
}

async fn home() -> Response {
    see_other("/products")
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE_CSS,
    )
        .into_response()
}

async fn not_found(context: PageContext) -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::message(
            &context.info(),
            "Not found",
            "There is no page at this address.",
        ),
    )
}

async fn method_not_allowed(context: PageContext, method: Method) -> Response {
    page(
        StatusCode::METHOD_NOT_ALLOWED,
        pages::message(
            &context.info(),
            "Not allowed",
            &format!("{method} is not allowed at this address."),
        ),
    )
}

/// Query parameters by name (the first of repeated ones).
fn query_params(raw: Option<String>) -> HashMap<String, String> {
    FormData::parse(raw.unwrap_or_default().as_bytes()).0
}

/// `GET /products?q=&cursor=`
async fn products(
    State(state): State<WebState>,
    context: PageContext,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = query_params(raw);
    let q = params.get("q").map(|q| q.trim()).unwrap_or_default();
    let cursor = params
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let info = context.info();
    let empty = crate::app_api::ListPage {
        items: Vec::new(),
        next_cursor: None,
    };
    match state
        .app
        .list_products(
            &context.request_id,
            Some(q).filter(|q| !q.is_empty()),
            cursor,
        )
        .await
    {
        Ok(list) => page(
            StatusCode::OK,
            pages::product_list(&info, &list, q, None, cursor.is_none()),
        ),
        // A search the app tier refuses is shown next to the search field.
        Err(AppError::Refused {
            status,
            message,
            field: Some(field),
            ..
        }) if field == "q" => page(
            status,
            pages::product_list(&info, &empty, q, Some(&message), true),
        ),
        Err(err) => failure(&context, &err),
    }
}

/// `GET /products/new`
async fn new_product(context: PageContext) -> Response {
    page(
        StatusCode::OK,
        pages::product_form(
            &context.info(),
            ProductFormTarget::New,
            &ProductForm::default(),
            &FormErrors::default(),
        ),
    )
}

/// The form's text as the app tier's JSON fields; price and stock that are
/// not numbers are refused here, next to their fields.
fn product_fields(form: &FormData) -> (ProductForm, Result<Value, FormErrors>) {
    let typed = ProductForm {
        sku: form.get("sku").to_owned(),
        name: form.get("name").to_owned(),
        description: form.get("description").to_owned(),
        price: form.get("price").trim().to_owned(),
        stock: form.get("stock").trim().to_owned(),
    };
    let mut errors = FormErrors::default();
    let price = validate::parse_money(&typed.price).map_err(|message| errors.set("price", message));
    let stock = typed.stock.parse::<i64>().map_err(|_| {
        errors.set(
            "stock",
            format!(
                "stock must be a whole number from 0 to {}",
                validate::MAX_STOCK
            ),
        )
    });
    let fields = match (price, stock) {
        (Ok(price_cents), Ok(stock)) => Ok(json!({
            "sku": typed.sku,
            "name": typed.name,
            "description": typed.description,
            "price_cents": price_cents,
            "stock": stock,
        })),
        _ => Err(errors),
    };
    (typed, fields)
}

/// The app tier's refusal of a product form as errors next to the fields
/// (its `price_cents` is the form's `price`).
fn product_refusal(err: &AppError, context: &PageContext, maybe_done: &str) -> FormErrors {
    match err {
        AppError::Refused {
            message,
            field: Some(field),
            ..
        } if ["sku", "name", "description", "price_cents", "stock"].contains(&field.as_str()) => {
            let mut errors = FormErrors::default();
            let name = if field == "price_cents" {
                "price"
            } else {
                field.as_str()
            };
            let message = if field == "price_cents" {
                message
                    .replace("price_cents", "price")
                    .replace(" (cents)", " cents")
            } else {
                message.clone()
            };
            errors.set(name, message);
            errors
        }
        other => FormErrors::notice(form_failure_notice(context, other, maybe_done)),
    }
}

/// `POST /products`
async fn create_product(
    State(state): State<WebState>,
    context: PageContext,
    CsrfForm(form): CsrfForm,
) -> Response {
    let (typed, fields) = product_fields(&form);
    let render = |status: StatusCode, errors: &FormErrors| {
        page(
            status,
            pages::product_form(&context.info(), ProductFormTarget::New, &typed, errors),
        )
    };
    let fields = match fields {
        Ok(fields) => fields,
        Err(errors) => return render(StatusCode::BAD_REQUEST, &errors),
    };
    match state.app.create_product(&context.request_id, &fields).await {
        Ok(product) => see_other(&format!("/products/{}", product.id)),
        Err(err) => {
            let errors = product_refusal(
                &err,
                &context,
                "The product may have been created: check the product list before trying again.",
            );
            render(err.page_status(), &errors)
        }
    }
}

/// `GET /products/{id}`
async fn product(
    State(state): State<WebState>,
    context: PageContext,
    Path(id): Path<String>,
) -> Response {
    match state.app.get_product(&context.request_id, &id).await {
        Ok(product) => page(
            StatusCode::OK,
            pages::product_page(&context.info(), &product, "1", &FormErrors::default()),
        ),
        Err(err) => failure(&context, &err),
    }
}

/// `GET /products/{id}/edit`
async fn edit_product(
    State(state): State<WebState>,
    context: PageContext,
    Path(id): Path<String>,
) -> Response {
    match state.app.get_product(&context.request_id, &id).await {
        Ok(product) => page(
            StatusCode::OK,
            pages::product_form(
                &context.info(),
                ProductFormTarget::Edit {
                    id: &product.id,
                    version: product.version,
                },
                &ProductForm::of(&product),
                &FormErrors::default(),
            ),
        ),
        Err(err) => failure(&context, &err),
    }
}

/// `POST /products/{id}/edit`: saves the form if the product is still at
/// the version the form was made from; if someone changed it meanwhile,
/// shows the form again (the user's text kept) with what it is now.
async fn update_product(
    State(state): State<WebState>,
    context: PageContext,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm,
) -> Response {
    if !is_product_id(&id) {
        return failure(&context, &not_found_error(&id));
    }
    let Ok(version) = form.get("version").trim().parse::<u64>() else {
        return page(
            StatusCode::BAD_REQUEST,
            pages::message(
                &context.info(),
                "Form refused",
                "The form lacks the version it was made from; reload the edit page.",
            ),
        );
    };
    let (typed, fields) = product_fields(&form);
    let render = |status: StatusCode, version: u64, errors: &FormErrors| {
        page(
            status,
            pages::product_form(
                &context.info(),
                ProductFormTarget::Edit { id: &id, version },
                &typed,
                errors,
            ),
        )
    };
    let fields = match fields {
        Ok(fields) => fields,
        Err(errors) => return render(StatusCode::BAD_REQUEST, version, &errors),
    };
    match state
        .app
        .update_product(&context.request_id, &id, version, &fields)
        .await
    {
        Ok(product) => see_other(&format!("/products/{}", product.id)),
        Err(AppError::Refused { status, .. }) if status == StatusCode::PRECONDITION_FAILED => {
            // Show what it is now and let the user decide: saving again
            // is based on the current version.
            match state.app.get_product(&context.request_id, &id).await {
                Ok(current) => {
                    let notice = format!(
                        "Someone changed this product while you were editing it. It is now: name \"{}\", price {}, {} in stock. \
                         Your changes are not saved; check them and save again.",
                        current.name,
                        validate::format_money(current.price_cents),
                        current.stock
                    );
                    render(
                        StatusCode::CONFLICT,
                        current.version,
                        &FormErrors::notice(notice),
                    )
                }
                Err(err) => failure(&context, &err),
            }
        }
        Err(
            err @ AppError::Refused {
                status: StatusCode::NOT_FOUND,
                ..
            },
        ) => failure(&context, &err),
        Err(err) => {
            let errors = product_refusal(
                &err,
                &context,
                "The change may have been saved: open the product before trying again.",
            );
            render(err.page_status(), version, &errors)
        }
    }
}

fn not_found_error(id: &str) -> AppError {
    AppError::Refused {
        status: StatusCode::NOT_FOUND,
        message: format!("there is nothing with the id {id:?}"),
        field: None,
        details: Value::Null,
    }
}

/// `POST /orders` (from a product page: `product_id`, `quantity`).
async fn place_order(
    State(state): State<WebState>,
    context: PageContext,
    CsrfForm(form): CsrfForm,
) -> Response {
    let product_id = form.get("product_id").to_owned();
    if !is_product_id(&product_id) {
        return failure(&context, &not_found_error(&product_id));
    }
    let quantity_text = form.get("quantity").trim().to_owned();
    let refused = match quantity_text.parse::<i64>() {
        Err(_) => {
            let mut errors = FormErrors::default();
            errors.set(
                "quantity",
                format!(
                    "quantity must be a whole number from 1 to {}",
                    validate::MAX_QUANTITY
                ),
            );
            (StatusCode::BAD_REQUEST, errors)
        }
        Ok(quantity) => match state
            .app
            .place_order(&context.request_id, &product_id, quantity)
            .await
        {
            Ok(order) => return see_other(&format!("/orders/{}", order.id)),
            Err(err) => match order_refusal(&err) {
                Some(errors) => (err.page_status(), errors),
                None if matches!(&err, AppError::Refused { .. }) => return failure(&context, &err),
                None => (
                    err.page_status(),
                    FormErrors::notice(form_failure_notice(
                        &context,
                        &err,
                        "The order may have been placed: check the orders before trying again.",
                    )),
                ),
            },
        },
    };
    // The product page again, with its stock as it is now and the refusal
    // next to the quantity.
    let (status, errors) = refused;
    match state
        .app
        .get_product(&context.request_id, &product_id)
        .await
    {
        Ok(product) => page(
            status,
            pages::product_page(&context.info(), &product, &quantity_text, &errors),
        ),
        Err(err) => failure(&context, &err),
    }
}

/// An order refusal about the quantity (not enough stock, out of range),
/// as the quantity field's error.
fn order_refusal(err: &AppError) -> Option<FormErrors> {
    let AppError::Refused {
        status,
        message,
        field: Some(field),
        details,
    } = err
    else {
        return None;
    };
    if field != "lines[0].quantity" {
        return None;
    }
    let text = match (details["requested"].as_i64(), details["available"].as_i64()) {
        (Some(requested), Some(0)) if *status == StatusCode::CONFLICT => {
            format!("Out of stock: none left, you asked for {requested}.")
        }
        (Some(requested), Some(available)) if *status == StatusCode::CONFLICT => {
            format!("Not enough stock: only {available} left, you asked for {requested}.")
        }
        _ => message.replace("lines[0].quantity", "quantity"),
    };
    let mut errors = FormErrors::default();
    errors.set("quantity", text);
    Some(errors)
}

/// `GET /orders?cursor=`
async fn orders(
    State(state): State<WebState>,
    context: PageContext,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = query_params(raw);
    let cursor = params
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    match state.app.list_orders(&context.request_id, cursor).await {
        Ok(list) => page(
            StatusCode::OK,
            pages::order_list(&context.info(), &list, cursor.is_none()),
        ),
        Err(err) => failure(&context, &err),
    }
}

/// `GET /orders/{id}`
async fn order(
    State(state): State<WebState>,
    context: PageContext,
    Path(id): Path<String>,
) -> Response {
    match state.app.get_order(&context.request_id, &id).await {
        Ok(order) => page(StatusCode::OK, pages::order_page(&context.info(), &order)),
        Err(err) => failure(&context, &err),
    }
}

/// `POST /orders/{id}/cancel`
async fn cancel_order(
    State(state): State<WebState>,
    context: PageContext,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm,
) -> Response {
    if !is_order_id(&id) {
        return failure(&context, &not_found_error(&id));
    }
    match state.app.cancel_order(&context.request_id, &id).await {
        Ok(order) => see_other(&format!("/orders/{}", order.id)),
        Err(err) => failure(&context, &err),
    }
}
