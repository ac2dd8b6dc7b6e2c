//! `chat serve`: the chat service as a WebSocket server. Same protocol and
//! handlers as the Lambda functions; `GET /ws?token=...` upgrades (refused
//! with 401/403 like `$connect`), `GET /` is the web page, `GET /health`
//! answers `{"status":"ok"}`, and with `--dev-tokens` `GET
//! /dev/token?user=..&conversation=..` mints tokens (development only: it
//! signs whatever it is asked).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use service_common::RequestId;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::frames::{self, ErrorCode};
use crate::hub::{Hub, HubTransport, OUTBOX_FRAMES};
use crate::service::{ChatService, token_from};
use crate::token::{self, SigningKey};

/// Largest WebSocket message read: four times the frame limit, so that a
/// too-large frame is answered with `too_large` instead of a dropped
/// connection; beyond this the connection is closed (1009).
const MAX_READ_BYTES: usize = 4 * frames::MAX_FRAME_BYTES;
/// Longest lifetime of a dev token.
const DEV_TOKEN_SECONDS: i64 = 12 * 3600;

#[derive(Clone)]
pub struct ServeState {
    pub service: Arc<ChatService>,
    pub hub: Arc<Hub>,
    /// Set with `--dev-tokens`: the key `/dev/token` signs with.
    pub dev_key: Option<SigningKey>,
}

/// The HTTP side of `chat serve`.
pub fn router(state: ServeState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/index.html", get(page))
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/ws", get(upgrade))
        .route("/dev/token", get(dev_token))
        .with_state(state)
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        crate::page::HTML,
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

fn query_pairs(request: &Request) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn dev_token(State(state): State<ServeState>, request: Request) -> Response {
    let Some(key) = &state.dev_key else {
        return json_error(
            StatusCode::NOT_FOUND,
            "dev tokens are off: start chat serve with --dev-tokens to mint tokens here",
        );
    };
    let pairs = query_pairs(&request);
    let user = pairs
        .iter()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.clone());
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone());
    let conversations: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "conversation")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .collect();
    let Some(user) = user else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "pass ?user=NAME&conversation=ID (conversation may repeat)",
        );
    };
    if let Err(err) = crate::ids::check_user(&user) {
        return json_error(StatusCode::BAD_REQUEST, &err.to_string());
    }
    for conversation in &conversations {
        if let Err(err) = crate::ids::check_conversation(conversation) {
            return json_error(StatusCode::BAD_REQUEST, &err.to_string());
        }
    }
    if conversations.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "name at least one conversation (?conversation=ID)",
        );
    }
    let now = state.service.now_ms() / 1000;
    let claims = token::claims_for(
        &user,
        &conversations,
        name.as_deref(),
        now,
        DEV_TOKEN_SECONDS,
    );
    axum::Json(json!({
        "token": token::sign(key, &claims),
        "user": user,
        "conversations": conversations,
        "expires_at": claims.exp,
    }))
    .into_response()
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, want: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(want)))
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

async fn upgrade(State(state): State<ServeState>, mut request: Request) -> Response {
    let headers = request.headers().clone();
    if !is_websocket_upgrade(&headers) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "this is the WebSocket endpoint: connect with a WebSocket client (ws://HOST/ws?token=...)",
        );
    }
    let Some(ws_key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return json_error(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key header");
    };
    let pairs = query_pairs(&request);
    let query_token = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match state
        .service
        .verify_token(token_from(query_token, authorization).as_deref())
    {
        Ok(claims) => claims,
        Err(err) => {
            tracing::info!(status = err.status(), reason = %err, "connection refused");
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            return json_error(status, &err.to_string());
        }
    };

    let connection_id = crate::ids::connection_id();
    let (outbox, inbox) = mpsc::channel(OUTBOX_FRAMES);
    state.hub.register(&connection_id, &claims.sub, outbox);
    let transport = HubTransport::new(state.hub.clone());
    // Recorded (and subscribed) before the 101 goes out, so nothing sent
    // to the conversation after the client sees the upgrade is missed.
    match state
        .service
        .connect(&transport, &connection_id, &claims)
        .await
    {
        Ok(record) => state.hub.set_record(record),
        Err(err) => {
            tracing::error!(%connection_id, error = %err, "connection not recorded");
            state.hub.unregister(&connection_id);
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the chat service cannot reach its storage; try again",
            );
        }
    }
    tracing::info!(%connection_id, user = %claims.sub, conversations = claims.convs.len(), "connected");

    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session(state, connection_id, TokioIo::new(upgraded), inbox).await,
            Err(err) => {
                tracing::warn!(%connection_id, error = %err, "upgrade failed");
                close(&state, &connection_id).await;
            }
        }
    });

    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(ws_key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Serves one upgraded connection until it closes.
async fn session<S>(
    state: ServeState,
    connection_id: String,
    io: S,
    mut inbox: mpsc::Receiver<Arc<str>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_READ_BYTES))
        .max_frame_size(Some(MAX_READ_BYTES));
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(frame) = inbox.recv().await {
            if sink.send(WsMessage::text(frame.as_ref())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let transport = HubTransport::new(state.hub.clone());
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(WsMessage::Text(text)) => text.as_str().to_owned(),
            Ok(WsMessage::Binary(bytes)) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(_) => {
                    let id = RequestId::random();
                    let frame = frames::error(
                        ErrorCode::BadJson,
                        "binary frames must hold UTF-8 JSON text",
                        id.as_str(),
                    );
                    let _ =
                        crate::transport::Transport::send(&transport, &connection_id, &frame).await;
                    continue;
                }
            },
            Ok(WsMessage::Close(_)) => break,
            Ok(_) => continue, // ping/pong: answered by the protocol layer
            Err(err) => {
                tracing::info!(%connection_id, error = %err, "connection ended");
                break;
            }
        };
        let request_id = RequestId::random();
        state
            .service
            .handle_frame(&transport, &connection_id, &text, request_id.as_str(), None)
            .await;
    }
    close(&state, &connection_id).await;
    writer.abort();
}

/// `$disconnect` for a closed connection.
async fn close(state: &ServeState, connection_id: &str) {
    let transport = HubTransport::new(state.hub.clone());
    if let Err(err) = state.service.disconnect(&transport, connection_id).await {
        tracing::warn!(%connection_id, error = %err, "disconnect not recorded");
    }
    state.hub.unregister(connection_id);
    tracing::info!(%connection_id, "disconnected");
}

/// `ServeState` from parts; the page and dev-token routes need nothing else.
pub fn state(service: ChatService, hub: Arc<Hub>, dev_key: Option<SigningKey>) -> ServeState {
    ServeState {
        service: Arc::new(service),
        hub,
        dev_key,
    }
}
