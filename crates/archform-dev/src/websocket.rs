//! A local stand-in for an API Gateway WebSocket API stage: WebSocket
//! clients connect to `ws://127.0.0.1:<port>/<stage>`; `$connect` decides
//! whether the upgrade happens, each message is routed by the API's route
//! selection expression (else `$default`), `$disconnect` runs when either side
//! closes; and the same port serves the `@connections` management API
//! (PostToConnection, GetConnection, DeleteConnection) the functions call,
//! answering 410 GoneException for connections that are gone.

use crate::console;
use crate::pools::Pools;
use crate::serve::{self, Body};
use crate::topology::WebSocketSpec;
use archform_local::InvokeResult;
use archform_local::events::clock::{iso8601, now_ms};
use archform_local::events::websocket::{self as ws_events, WsContext};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

/// API Gateway's limit on a WebSocket message and a PostToConnection body.
const MAX_MESSAGE: usize = 128 * 1024;

enum Outgoing {
    Data(Message),
    /// DeleteConnection: close from the server side.
    Close,
}

struct Connection {
    tx: mpsc::UnboundedSender<Outgoing>,
    connected_at_ms: i64,
    last_active_ms: AtomicI64,
    source_ip: IpAddr,
    user_agent: Option<String>,
}

pub struct Gateway {
    pub spec: WebSocketSpec,
    pub stage: String,
    pub port: u16,
    pub account_id: String,
    pools: Arc<Pools>,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

fn json_response(
    status: StatusCode,
    error_type: Option<&str>,
    body: serde_json::Value,
) -> Response<Body> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(t) = error_type {
        // How restJson1 clients (the AWS SDKs) learn the error's type.
        r = r.header("x-amzn-errortype", t);
    }
    r.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

impl Gateway {
    pub fn new(spec: WebSocketSpec, port: u16, account_id: String, pools: Arc<Pools>) -> Gateway {
        let stage = spec.stage.clone().unwrap_or_else(|| "local".to_string());
        Gateway {
            spec,
            stage,
            port,
            account_id,
            pools,
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/{}", self.port, self.stage)
    }

    /// The management endpoint as the SDK wants it (`@connections/...` is
    /// appended to it), for `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`.
    pub fn management_endpoint(port: u16, stage: &str) -> String {
        format!("http://127.0.0.1:{port}/{stage}")
    }

    pub async fn run(self: Arc<Self>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
        let gateway = self.clone();
        let stop = shutdown.clone();
        let handler = Arc::new(move |req: Request<Incoming>, peer: SocketAddr| {
            let gateway = gateway.clone();
            let stop = stop.clone();
            async move { Ok::<_, std::convert::Infallible>(gateway.handle(req, peer, stop).await) }
        });
        serve::accept_loop(listener, shutdown, handler).await;
        // Connections outlive the accept loop (they are upgraded); wait for
        // each to close and run its $disconnect.
        while !self
            .connections
            .lock()
            .map(|c| c.is_empty())
            .unwrap_or(true)
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn context(&self, connection_id: &str, connected_at_ms: i64, source_ip: IpAddr) -> WsContext {
        WsContext {
            api_id: self.spec.api_id.clone(),
            stage: self.stage.clone(),
            domain_name: format!("127.0.0.1:{}", self.port),
            connection_id: connection_id.to_string(),
            connected_at_ms,
            source_ip,
            account_id: self.account_id.clone(),
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Response<Body> {
        let path = req.uri().path().to_string();
        let stage_prefix = format!("/{}", self.stage);
        let rest = path.strip_prefix(&stage_prefix).unwrap_or(&path);
        if let Some(id) = rest.strip_prefix("/@connections/") {
            let id = percent_decode(id);
            return self.manage(req, &id).await;
        }
        let is_upgrade = req
            .headers()
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if (rest.is_empty() || rest == "/") && path != "/@connections" {
            if !is_upgrade {
                return json_response(
                    StatusCode::UPGRADE_REQUIRED,
                    None,
                    json!({"message": "this is a WebSocket API: connect with a WebSocket client"}),
                );
            }
            return self.connect(req, peer, shutdown).await;
        }
        json_response(
            StatusCode::FORBIDDEN,
            Some("ForbiddenException"),
            json!({"message": "Forbidden"}),
        )
    }

    async fn connect(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Response<Body> {
        let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                None,
                json!({"message": "missing Sec-WebSocket-Key"}),
            );
        };
        let id = archform_ids::api_gateway_id();
        let connected_at = now_ms();
        let ctx = self.context(&id, connected_at, peer.ip());
        if let Some(function) = self.spec.route("$connect") {
            let event = ws_events::connect_event(&ctx, req.headers(), req.uri().query());
            let started = Instant::now();
            let outcome = self.invoke_outcome(function, event).await;
            let status = match outcome.as_ref().map(|o| &o.result) {
                Some(InvokeResult::Response(v)) => {
                    ws_events::status_code(&serde_json::to_vec(v).unwrap_or_default())
                }
                _ => 502,
            };
            console::request(
                function,
                &format!("$connect {id}"),
                &status.to_string(),
                started.elapsed(),
                outcome.as_ref(),
            );
            if !(200..300).contains(&status) {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                return json_response(status, None, json!({"message": status.canonical_reason()}));
            }
        }
        let user_agent = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Connection {
            tx,
            connected_at_ms: connected_at,
            last_active_ms: AtomicI64::new(connected_at),
            source_ip: peer.ip(),
            user_agent,
        });
        if let Ok(mut c) = self.connections.lock() {
            c.insert(id.clone(), conn.clone());
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        let gateway = self.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        None,
                    )
                    .await;
                    gateway.pump(id, ctx, conn, socket, rx, shutdown).await;
                }
                Err(_) => {
                    if let Ok(mut c) = gateway.connections.lock() {
                        c.remove(&id);
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    }

    /// Moves frames both ways until either side closes, then runs $disconnect.
    async fn pump(
        self: Arc<Self>,
        id: String,
        ctx: WsContext,
        conn: Arc<Connection>,
        socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
        mut rx: mpsc::UnboundedReceiver<Outgoing>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (mut sink, mut stream) = socket.split();
        let ctx = Arc::new(ctx);
        let (status, reason) = loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "Going away".into() }))).await;
                    break (1001, "Going away".to_string());
                }
                out = rx.recv() => match out {
                    Some(Outgoing::Data(m)) => {
                        if sink.send(m).await.is_err() {
                            break (1006, "Connection lost".to_string());
                        }
                    }
                    Some(Outgoing::Close) | None => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
                        break (1000, "Connection deleted".to_string());
                    }
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > MAX_MESSAGE {
                            let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Size, reason: "Message too big".into() }))).await;
                            break (1009, "Message too big".to_string());
                        }
                        conn.last_active_ms.store(now_ms(), Ordering::Relaxed);
                        self.clone().message(ctx.clone(), conn.clone(), text.to_string(), false);
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        if bytes.len() > MAX_MESSAGE {
                            let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Size, reason: "Message too big".into() }))).await;
                            break (1009, "Message too big".to_string());
                        }
                        conn.last_active_ms.store(now_ms(), Ordering::Relaxed);
                        let encoded = archform_local::events::base64::encode(&bytes);
                        self.clone().message(ctx.clone(), conn.clone(), encoded, true);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let (code, why) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        break (code, why);
                    }
                    Some(Ok(_)) => {} // ping/pong: answered by the library
                    Some(Err(_)) | None => break (1006, "Connection lost".to_string()),
                },
            }
        };
        // Gone before $disconnect runs, as on AWS: posting to it now is a 410.
        if let Ok(mut c) = self.connections.lock() {
            c.remove(&id);
        }
        if let Some(function) = self.spec.route("$disconnect") {
            let started = Instant::now();
            let event = ws_events::disconnect_event(&ctx, status, &reason);
            let outcome = self.invoke_outcome(function, event).await;
            let answer = match outcome.as_ref().map(|o| &o.result) {
                Some(InvokeResult::Response(_)) => "done",
                _ => "failed",
            };
            console::request(
                function,
                &format!("$disconnect {id} ({status})"),
                answer,
                started.elapsed(),
                outcome.as_ref(),
            );
        }
    }

    /// Routes one message and invokes its function without holding up the
    /// connection (API Gateway invokes concurrently too).
    fn message(
        self: Arc<Self>,
        ctx: Arc<WsContext>,
        conn: Arc<Connection>,
        body: String,
        is_base64: bool,
    ) {
        tokio::spawn(async move {
            let selected = if is_base64 {
                None
            } else {
                ws_events::select_route(&self.spec.route_selection_expression, &body)
            };
            let route = selected
                .filter(|k| self.spec.route(k).is_some())
                .or_else(|| self.spec.route("$default").map(|_| "$default".to_string()));
            let request_id = archform_ids::api_gateway_id();
            let Some(route) = route else {
                let error = json!({"message": "Forbidden", "connectionId": ctx.connection_id, "requestId": request_id});
                let _ = conn
                    .tx
                    .send(Outgoing::Data(Message::Text(error.to_string().into())));
                return;
            };
            let Some(function) = self.spec.route(&route) else {
                return;
            };
            let started = Instant::now();
            let event = ws_events::message_event(&ctx, &route, &body, is_base64);
            let outcome = self.invoke_outcome(function, event).await;
            let ok = matches!(
                outcome.as_ref().map(|o| &o.result),
                Some(InvokeResult::Response(_))
            );
            if !ok {
                let error = json!({"message": "Internal server error", "connectionId": ctx.connection_id, "requestId": request_id});
                let _ = conn
                    .tx
                    .send(Outgoing::Data(Message::Text(error.to_string().into())));
            }
            console::request(
                function,
                &format!("{route} {}", ctx.connection_id),
                if ok { "done" } else { "failed" },
                started.elapsed(),
                outcome.as_ref(),
            );
        });
    }

    async fn invoke_outcome(
        &self,
        function: &str,
        event: serde_json::Value,
    ) -> Option<archform_local::InvokeOutcome> {
        let pool = self.pools.get(function)?;
        match pool.invoke(Bytes::from(event.to_string())).await {
            Ok(o) => Some(o),
            Err(e) => {
                console::warn(function, &e.to_string());
                None
            }
        }
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.lock().ok()?.get(id).cloned()
    }

    /// The `@connections` management API.
    async fn manage(&self, req: Request<Incoming>, id: &str) -> Response<Body> {
        let gone = || {
            json_response(
                StatusCode::GONE,
                Some("GoneException"),
                json!({"message": null}),
            )
        };
        match *req.method() {
            Method::POST => {
                let body = match Limited::new(req.into_body(), MAX_MESSAGE).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        return json_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            Some("PayloadTooLargeException"),
                            json!({"message": "Message too long"}),
                        );
                    }
                };
                let Some(conn) = self.connection(id) else {
                    return gone();
                };
                let message = match std::str::from_utf8(&body) {
                    Ok(text) => Message::Text(text.to_string().into()),
                    Err(_) => Message::Binary(body),
                };
                match conn.tx.send(Outgoing::Data(message)) {
                    Ok(()) => Response::new(Full::new(Bytes::new())),
                    Err(_) => gone(),
                }
            }
            Method::GET => match self.connection(id) {
                Some(conn) => json_response(
                    StatusCode::OK,
                    None,
                    json!({
                        "connectedAt": iso8601(conn.connected_at_ms),
                        "identity": {"sourceIp": conn.source_ip.to_string(), "userAgent": conn.user_agent},
                        "lastActiveAt": iso8601(conn.last_active_ms.load(Ordering::Relaxed)),
                    }),
                ),
                None => gone(),
            },
            Method::DELETE => match self.connection(id) {
                Some(conn) if conn.tx.send(Outgoing::Close).is_ok() => Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default(),
                _ => gone(),
            },
            _ => json_response(
                StatusCode::FORBIDDEN,
                Some("ForbiddenException"),
                json!({"message": "Forbidden"}),
            ),
        }
    }
}

/// Connection ids end in `=`, which SDKs percent-encode in the path.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_decode() {
        assert_eq!(percent_decode("abc%3D"), "abc=");
        assert_eq!(percent_decode("abc="), "abc=");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
