//! The HTTP API as an axum router: state, routes and handlers.
//!
//! `POST /v1/notifications` is the ingestion side of the service: it checks
//! the request, renders every asked-for channel for every recipient (so a
//! missing variable or an over-long SMS is a 400 before anything is
//! stored), decides per channel from the user's preferences, stores the
//! notifications and queues one job per channel that is to be sent. It
//! never talks to a provider; the per-channel workers do (see the README
//! for what exists of them).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api_error::{ApiError, request_id_layer};
use crate::config::ServiceOptions;
use crate::idempotency::{IdempotencyRecord, Replay, body_hash, replay};
use crate::ids::{
    batch_notification_id, is_batch_id, is_notification_id, new_batch_id, new_notification_id,
};
use crate::model::{Channel, ChannelDelivery, ChannelStatus, Priority, now_ms};
use crate::planning::{Request as PlanRequest, check_every_locale, plan};
use crate::preferences::{Preferences, PreferencesSpec};
use crate::store::{Claim, ExpansionJob, StoreError, Stores};
use crate::templates::{RenderLimits, Renderer, Template, TemplateSpec};
use crate::validate;

/// Largest request body: 256 KiB, the largest SQS message, since one
/// request's content ends up in queue messages.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub use crate::planning::MAX_JOB_BYTES;
/// The optional request header that may carry the idempotency key instead
/// of the body's `idempotency_key`.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on a 202 that replays the answer to an earlier request.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Shared {
    options: ServiceOptions,
    stores: Stores,
    renderer: Renderer,
    clock: Clock,
}

impl AppState {
    /// The renderer of the API's limits (the expander renders alike).
    pub fn renderer(&self) -> &Renderer {
        &self.0.renderer
    }

    pub fn stores(&self) -> &Stores {
        &self.0.stores
    }
}

/// Shared state of the router; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(options: ServiceOptions, stores: Stores) -> Self {
        Self::with_clock(options, stores, Arc::new(now_ms))
    }

    /// With `clock` (Unix ms) instead of the system clock: quiet hours and
    /// timestamps in tests.
    pub fn with_clock(options: ServiceOptions, stores: Stores, clock: Clock) -> Self {
        let renderer = Renderer::new(RenderLimits {
            max_sms_segments: options.max_sms_segments,
        });
        Self(Arc::new(Shared {
            options,
            stores,
            renderer,
            clock,
        }))
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.0.options
    }

    fn now(&self) -> i64 {
        (self.0.clock)()
    }
}

/// The whole API. Serve it with `axum::serve` or `lambda_http::run`, or
/// merge it into another router.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/notifications",
            post(send_notification).fallback(method_not_allowed),
        )
        .route(
            "/v1/notifications/{id}",
            get(get_notification).fallback(method_not_allowed),
        )
        .route(
            "/v1/batches/{batch_id}/users/{user_id}",
            get(get_batch_notification).fallback(method_not_allowed),
        )
        .route(
            "/v1/templates/{name}",
            put(put_template)
                .get(get_template)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/users/{id}/preferences",
            put(put_preferences)
                .get(get_preferences)
                .fallback(method_not_allowed),
        )
        // Before the body is read or anything is looked up.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));
    Router::new()
        .merge(crate::page::router())
        .route("/health", get(health))
        .merge(v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_id_layer))
        .with_state(state)
}

/// 401 unless the configured API key is presented (no key configured:
/// every request passes).
async fn require_api_key(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(key) = &state.options().api_key {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if !key.accepts(presented) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this API needs its key: send the header \"Authorization: Bearer <key>\" (the key is the value of the stack's api_key secret, or NOTIFY_API_KEY)",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no API route {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let allow = if path == "/v1/notifications" {
        "POST"
    } else if path.starts_with("/v1/notifications/") || path.starts_with("/v1/batches/") {
        "GET"
    } else {
        "GET, PUT"
    };
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}; use {allow}"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Logs a storage failure where it happened and answers 503.
fn storage(err: StoreError) -> ApiError {
    tracing::error!(error = %err, "storage call failed");
    ApiError::unavailable()
}

/// The body as JSON, and as `T`. Errors say what is wrong in the words of
/// the JSON parser (`missing field`, `unknown field`, line and column).
fn read_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<(Value, T), ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {MAX_BODY_BYTES} bytes (256 KiB, the largest queue message)"
                ),
            )
        } else {
            ApiError::bad_request(format!("the body could not be read: {}", rejection.body_text()))
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("the body is not JSON: {err}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let parsed = T::deserialize(&value)
        .map_err(|err| ApiError::bad_request(format!("the body is not a valid request: {err}")))?;
    Ok((value, parsed))
}

fn unknown_category(category: &str, options: &ServiceOptions) -> ApiError {
    let known: Vec<&str> = options.categories.iter().map(String::as_str).collect();
    ApiError::bad_request(format!(
        "unknown category {category:?}; the categories are {}",
        known.join(", ")
    ))
}

// ---- POST /v1/notifications ----

/// The body of `POST /v1/notifications`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_ids: Option<Vec<String>>,
    template: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A send request whose fields are each valid on their own.
#[derive(Debug)]
struct CheckedSend {
    users: Vec<String>,
    /// `user_id` rather than `user_ids`: the answer is one id.
    single: bool,
    template: String,
    data: Value,
    channels: Option<Vec<Channel>>,
    category: Option<String>,
    priority: Priority,
    idempotency_key: Option<String>,
}

fn check_send(
    request: SendRequest,
    header_key: Option<&str>,
    options: &ServiceOptions,
    max_users: usize,
) -> Result<CheckedSend, ApiError> {
    let bad = |err: validate::InvalidInput| ApiError::bad_request(err.to_string());
    let (users, single) = match (request.user_id, request.user_ids) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give user_id or user_ids, not both"));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "user_id (or user_ids, a list) is required",
            ));
        }
        (Some(user), None) => (vec![user], true),
        (None, Some(users)) => {
            if users.is_empty() {
                return Err(ApiError::bad_request("user_ids is empty"));
            }
            if users.len() > max_users {
                return Err(ApiError::bad_request(format!(
                    "user_ids has {} users; one request may address at most {max_users}",
                    users.len(),
                )));
            }
            (users, false)
        }
    };
    let mut seen = BTreeSet::new();
    for user in &users {
        validate::user_id(user).map_err(bad)?;
        if !seen.insert(user.as_str()) {
            return Err(ApiError::bad_request(format!(
                "the user {user:?} is listed twice in user_ids"
            )));
        }
    }
    validate::template_name(&request.template).map_err(bad)?;
    let data = match request.data {
        None => json!({}),
        Some(data @ Value::Object(_)) => data,
        Some(_) => {
            return Err(ApiError::bad_request(
                "data must be a JSON object of template variables",
            ));
        }
    };
    let channels = match request.channels {
        None => None,
        Some(names) => {
            if names.is_empty() {
                return Err(ApiError::bad_request(
                    "channels is empty; leave it out to use every channel the template has",
                ));
            }
            let mut channels = Vec::new();
            for name in names {
                let channel: Channel =
                    name.parse().map_err(|err: crate::model::UnknownChannel| {
                        ApiError::bad_request(err.to_string())
                    })?;
                if channels.contains(&channel) {
                    return Err(ApiError::bad_request(format!(
                        "the channel {channel} is listed twice"
                    )));
                }
                channels.push(channel);
            }
            Some(channels)
        }
    };
    if let Some(category) = &request.category {
        validate::category_name(category).map_err(bad)?;
        if !options.categories.contains(category) {
            return Err(unknown_category(category, options));
        }
    }
    let priority = match request.priority {
        None => Priority::default(),
        Some(name) => name
            .parse()
            .map_err(|err: crate::model::UnknownPriority| ApiError::bad_request(err.to_string()))?,
    };
    let idempotency_key = match (request.idempotency_key, header_key) {
        (Some(body), Some(header)) if body != header => {
            return Err(ApiError::bad_request(format!(
                "the idempotency key differs between the body ({body:?}) and the {IDEMPOTENCY_KEY_HEADER} header ({header:?})"
            )));
        }
        (Some(key), _) => Some(key),
        (None, header) => header.map(str::to_owned),
    };
    if let Some(key) = &idempotency_key {
        validate::idempotency_key(key).map_err(bad)?;
    }
    Ok(CheckedSend {
        users,
        single,
        template: request.template,
        data,
        channels,
        category: request.category,
        priority,
        idempotency_key,
    })
}

fn accepted(body: Value, replayed: bool) -> Response {
    let location = body
        .get("id")
        .and_then(Value::as_str)
        .map(|id| format!("/v1/notifications/{id}"));
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// `POST /v1/notifications`
async fn send_notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (value, request) = read_json::<SendRequest>(body)?;
    let header_key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request(format!(
                "the {IDEMPOTENCY_KEY_HEADER} header is not visible ASCII"
            ))
        })?),
    };
    let options = state.options();
    let max_users = if state.0.stores.expansions.is_some() {
        options.max_fanout_recipients.max(options.max_recipients)
    } else {
        options.max_recipients
    };
    let send = check_send(request, header_key, options, max_users)?;
    let now = state.now();
    // More users than one request renders inline: the expander plans them
    // in chunks, and the answer names the batch.
    let fan_out = send.users.len() > options.max_recipients;
    // Ids are drawn before anything is stored, so the answer can be
    // recorded with the idempotency key before the work is done.
    let (targets, answer) = if fan_out {
        let batch_id = new_batch_id(now);
        let answer = json!({
            "batch_id": batch_id,
            "user_count": send.users.len(),
            "users_url": format!("/v1/batches/{batch_id}/users/{{user_id}}"),
        });
        (Vec::new(), answer)
    } else {
        let targets: Vec<(String, String)> = send
            .users
            .iter()
            .map(|user| (user.clone(), new_notification_id(now)))
            .collect();
        let answer = if send.single {
            json!({"id": targets[0].1, "user_id": targets[0].0})
        } else {
            json!({"notifications": targets.iter().map(|(user, id)| json!({"id": id, "user_id": user})).collect::<Vec<_>>()})
        };
        (targets, answer)
    };

    let mut claimed = None;
    if let Some(key) = &send.idempotency_key {
        // The key is not part of what must match: a client may move it
        // from the body to the header between retries.
        let mut hashed = value;
        if let Some(map) = hashed.as_object_mut() {
            map.remove("idempotency_key");
        }
        let record = IdempotencyRecord {
            key: key.clone(),
            body_hash: body_hash(&hashed),
            response: answer.clone(),
            created_at: now,
            expires_at: now.saturating_add(state.options().idempotency_ttl_ms),
        };
        match state
            .0
            .stores
            .idempotency
            .claim(&record, now)
            .await
            .map_err(storage)?
        {
            Claim::Claimed => claimed = Some(key.clone()),
            Claim::Held(existing) => {
                return match replay(&existing, &record.body_hash) {
                    Replay::Same(previous) => Ok(accepted(previous, true)),
                    Replay::Conflict => Err(ApiError::conflict(format!(
                        "the idempotency key {key:?} was already used with a different request body; use a new key for a new notification"
                    ))),
                };
            }
        }
    }

    let outcome = if fan_out {
        let batch_id = answer["batch_id"].as_str().unwrap_or_default().to_owned();
        expand(&state, &send, &batch_id, now).await
    } else {
        ingest(&state, &send, &targets, now).await
    };
    match outcome {
        Ok(()) => Ok(accepted(answer, false)),
        Err(err) => {
            // Nothing of this request was kept: let a retry run afresh.
            if let Some(key) = claimed
                && let Err(release_err) = state.0.stores.idempotency.release(&key).await
            {
                tracing::error!(error = %release_err, key, "could not release an idempotency key");
            }
            Err(err)
        }
    }
}

/// The template of a send request, its category and the channels to
/// render.
async fn resolve_request(
    state: &AppState,
    send: &CheckedSend,
) -> Result<(Template, Option<String>, Vec<Channel>), ApiError> {
    let options = state.options();
    let template = state
        .0
        .stores
        .templates
        .get_template(&send.template)
        .await
        .map_err(storage)?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown template {:?}; create it with PUT /v1/templates/{}",
                send.template, send.template
            ))
        })?;
    let category = send.category.clone().or_else(|| template.category.clone());
    if let Some(category) = &category
        && !options.categories.contains(category)
    {
        return Err(unknown_category(category, options));
    }
    let available = template.channels();
    let channels: Vec<Channel> = match &send.channels {
        Some(asked) => {
            if let Some(missing) = asked.iter().find(|c| !available.contains(c)) {
                let has: Vec<&str> = available.iter().map(|c| c.as_str()).collect();
                return Err(ApiError::bad_request(format!(
                    "the template {:?} has no {missing} body (it has {})",
                    template.name,
                    has.join(", ")
                )));
            }
            asked.clone()
        }
        None => available.into_iter().collect(),
    };
    Ok((template, category, channels))
}

/// Renders, decides, stores and queues; an `Err` means nothing was
/// queued (and nothing stored, unless the queue itself failed).
async fn ingest(
    state: &AppState,
    send: &CheckedSend,
    targets: &[(String, String)],
    now: i64,
) -> Result<(), ApiError> {
    let stores = &state.0.stores;
    let (template, category, channels) = resolve_request(state, send).await?;
    let request = PlanRequest {
        template: &template,
        data: &send.data,
        channels: &channels,
        category: category.as_deref(),
        priority: send.priority,
        idempotency_key: send.idempotency_key.as_deref(),
        now,
    };
    let mut notifications = Vec::with_capacity(targets.len());
    let mut jobs = Vec::new();
    for (user_id, id) in targets {
        let preferences = stores
            .preferences
            .get_preferences(user_id)
            .await
            .map_err(storage)?;
        let planned = plan(
            &state.0.renderer,
            &request,
            user_id,
            id,
            preferences.as_ref(),
        )
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
        notifications.push(planned.notification);
        jobs.extend(planned.jobs);
    }

    stores
        .notifications
        .put_notifications(&notifications)
        .await
        .map_err(storage)?;
    if jobs.is_empty() {
        return Ok(());
    }
    if let Err(err) = stores.queue.enqueue(&jobs).await {
        // The stored notifications must not claim to be queued.
        for job in &jobs {
            let failed = ChannelDelivery {
                status: ChannelStatus::Failed {
                    reason: "the delivery queue was unavailable; nothing was sent".into(),
                },
                locale: Some(job.rendered.locale.clone()),
                updated_at: now,
            };
            if let Err(update_err) = stores
                .notifications
                .set_channel_status(&job.notification_id, job.channel, failed)
                .await
            {
                tracing::error!(error = %update_err, id = job.notification_id, "could not mark a channel failed");
            }
        }
        return Err(storage(err));
    }
    Ok(())
}

/// Users per expander chunk: one chunk is planned like one inline
/// request.
pub const EXPANSION_CHUNK_USERS: usize = 100;

/// Checks a fanned-out request as far as it can be without the users'
/// preferences (every locale of every asked-for channel renders) and
/// queues it for the expander in chunks.
async fn expand(
    state: &AppState,
    send: &CheckedSend,
    batch_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let Some(expansions) = &state.0.stores.expansions else {
        return Err(ApiError::bad_request(format!(
            "one request may address at most {} users",
            state.options().max_recipients
        )));
    };
    let (template, category, channels) = resolve_request(state, send).await?;
    check_every_locale(&state.0.renderer, &template, &channels, &send.data)
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    let mut chunks = Vec::new();
    for users in send.users.chunks(EXPANSION_CHUNK_USERS) {
        let chunk = ExpansionJob {
            batch_id: batch_id.to_owned(),
            template: template.name.clone(),
            data: send.data.clone(),
            channels: channels.clone(),
            category: category.clone(),
            priority: send.priority,
            idempotency_key: send.idempotency_key.clone(),
            accepted_at: now,
            users: users.to_vec(),
        };
        let size = serde_json::to_vec(&chunk).map_or(usize::MAX, |b| b.len());
        if size > MAX_JOB_BYTES {
            return Err(ApiError::bad_request(format!(
                "a chunk of {} users with this data is {size} bytes; a queue message holds at most {MAX_JOB_BYTES} (make data smaller)",
                users.len()
            )));
        }
        chunks.push(chunk);
    }
    expansions.enqueue(&chunks).await.map_err(storage)?;
    tracing::info!(
        batch_id,
        users = send.users.len(),
        chunks = chunks.len(),
        "request queued for the expander"
    );
    Ok(())
}

// ---- GET /v1/batches/{batch}/users/{user} ----

async fn get_batch_notification(
    State(state): State<AppState>,
    Path((batch_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let missing = || {
        ApiError::not_found(format!(
            "no notification for the user {user_id:?} in the batch {batch_id:?} (yet: the expander may still be working on it)"
        ))
    };
    if !is_batch_id(&batch_id) || validate::user_id(&user_id).is_err() {
        return Err(missing());
    }
    let id = batch_notification_id(&batch_id, &user_id);
    let notification = state
        .0
        .stores
        .notifications
        .get_notification(&id)
        .await
        .map_err(storage)?
        .ok_or_else(missing)?;
    Ok(axum::Json(notification).into_response())
}

// ---- GET /v1/notifications/{id} ----

async fn get_notification(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("no notification {id:?}"));
    if !is_notification_id(&id) {
        return Err(missing());
    }
    let notification = state
        .0
        .stores
        .notifications
        .get_notification(&id)
        .await
        .map_err(storage)?
        .ok_or_else(missing)?;
    Ok(axum::Json(notification).into_response())
}

// ---- templates ----

async fn put_template(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    validate::template_name(&name).map_err(|err| ApiError::bad_request(err.to_string()))?;
    let (_, spec) = read_json::<TemplateSpec>(body)?;
    let template = Template::from_spec(&name, spec, state.now())
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    if let Some(category) = &template.category
        && !state.options().categories.contains(category)
    {
        return Err(unknown_category(category, state.options()));
    }
    let stores = &state.0.stores;
    let existed = stores
        .templates
        .get_template(&name)
        .await
        .map_err(storage)?
        .is_some();
    stores
        .templates
        .put_template(&template)
        .await
        .map_err(storage)?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(template)).into_response())
}

async fn get_template(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("no template {name:?}"));
    if validate::template_name(&name).is_err() {
        return Err(missing());
    }
    let template = state
        .0
        .stores
        .templates
        .get_template(&name)
        .await
        .map_err(storage)?
        .ok_or_else(missing)?;
    Ok(axum::Json(template).into_response())
}

// ---- preferences ----

async fn put_preferences(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    validate::user_id(&user_id).map_err(|err| ApiError::bad_request(err.to_string()))?;
    let (_, spec) = read_json::<PreferencesSpec>(body)?;
    let stores = &state.0.stores;
    let previous = stores
        .preferences
        .get_preferences(&user_id)
        .await
        .map_err(storage)?;
    let options = state.options();
    let preferences = Preferences::from_spec(
        &user_id,
        spec,
        previous.as_ref(),
        &options.categories,
        options.url_policy,
        state.now(),
    )
    .map_err(|err| ApiError::bad_request(err.to_string()))?;
    stores
        .preferences
        .put_preferences(&preferences)
        .await
        .map_err(storage)?;
    let status = if previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(preferences)).into_response())
}

async fn get_preferences(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("no preferences for the user {user_id:?}"));
    if validate::user_id(&user_id).is_err() {
        return Err(missing());
    }
    let preferences = state
        .0
        .stores
        .preferences
        .get_preferences(&user_id)
        .await
        .map_err(storage)?
        .ok_or_else(missing)?;
    Ok(axum::Json(preferences).into_response())
}
