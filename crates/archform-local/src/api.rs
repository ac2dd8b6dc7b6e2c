//! The Lambda Runtime API (2018-06-01) on a loopback port: one server per
//! process the function runs in, so a killed process's pending `next`
//! request can never take the next process's invocation. The same server
//! answers the Extensions API (see [`crate::extensions`]).

use crate::config::FunctionConfig;
use crate::error::LocalError;
use crate::extensions::{self, Registry};
use crate::outcome::FunctionError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime";

/// One event waiting to be handed to the function by `next`.
pub struct Invocation {
    pub request_id: String,
    pub trace_id: String,
    pub event: Bytes,
    /// The deadline header is "now + timeout" at the moment of hand-over.
    pub timeout: Duration,
}

/// What the function told the API, in the order it happened.
#[derive(Debug)]
pub enum ApiEvent {
    /// `next` returned this invocation to the function.
    Delivered {
        request_id: String,
        at: Instant,
    },
    Response {
        request_id: String,
        body: Bytes,
    },
    Error {
        request_id: String,
        error: FunctionError,
    },
    InitError(FunctionError),
}

struct Shared {
    queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    events: mpsc::UnboundedSender<ApiEvent>,
    function_arn: String,
    /// What an extension's registration is answered with.
    registration_reply: Bytes,
    extensions: Arc<Registry>,
    /// Becomes true when the API is dropped, ending extensions' long polls.
    shutdown: watch::Receiver<bool>,
}

/// A running Runtime API server; stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub invocations: mpsc::UnboundedSender<Invocation>,
    pub events: mpsc::UnboundedReceiver<ApiEvent>,
    extensions: Arc<Registry>,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.accept.abort();
    }
}

impl RuntimeApi {
    /// True once the process registered an extension: Lambda then ends it
    /// with SIGTERM and a grace period instead of SIGKILL.
    pub fn extensions_registered(&self) -> bool {
        self.extensions.any_registered()
    }

    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(config: &FunctionConfig) -> Result<Self, LocalError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LocalError::Bind)?;
        let addr = listener.local_addr().map_err(LocalError::Bind)?;
        let (inv_tx, inv_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let extensions = Arc::new(Registry::default());
        let registration_reply = serde_json::json!({
            "functionName": config.name,
            "functionVersion": config.version,
            "handler": crate::config::HANDLER,
        });
        let shared = Arc::new(Shared {
            queue: Mutex::new(inv_rx),
            events: ev_tx,
            function_arn: config.arn.clone(),
            registration_reply: Bytes::from(registration_reply.to_string()),
            extensions: extensions.clone(),
            shutdown: shutdown_rx,
        });
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            addr,
            invocations: inv_tx,
            events: ev_rx,
            extensions,
            shutdown: shutdown_tx,
            accept,
        })
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix(extensions::PREFIX) {
        return extension_request(shared, rest, req).await;
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, "unknown path");
    };
    let method = req.method().clone();
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(shared).await,
        (Method::POST, ["invocation", id, "response"]) => {
            let request_id = id.to_string();
            let body = read_body(req).await;
            let _ = shared.events.send(ApiEvent::Response { request_id, body });
            accepted()
        }
        (Method::POST, ["invocation", id, "error"]) => {
            let request_id = id.to_string();
            let error = read_error(req, "Lambda-Runtime-Function-Error-Type").await;
            let _ = shared.events.send(ApiEvent::Error { request_id, error });
            accepted()
        }
        (Method::POST, ["init", "error"]) => {
            let error = read_error(req, "Lambda-Runtime-Function-Error-Type").await;
            let _ = shared.events.send(ApiEvent::InitError(error));
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "unknown Runtime API route"),
    }
}

/// Blocks until an invocation is queued, then hands it over with its headers
/// (and an `INVOKE` event to the extensions subscribed to them).
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    // The runtime asking for work ends init, and with it registration.
    shared.extensions.close_registration();
    let invocation = shared.queue.lock().await.recv().await;
    let Some(inv) = invocation else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "runtime shutting down");
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let deadline_ms = now_ms + inv.timeout.as_millis();
    let _ = shared.events.send(ApiEvent::Delivered {
        request_id: inv.request_id.clone(),
        at: Instant::now(),
    });
    shared.extensions.send_invoke(&extensions::invoke_event(
        &inv.request_id,
        deadline_ms,
        &shared.function_arn,
        &inv.trace_id,
    ));
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &inv.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", &shared.function_arn)
        .header("Lambda-Runtime-Trace-Id", &inv.trace_id)
        .body(Full::new(inv.event))
        .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "bad header"))
}

async fn read_body(req: Request<Incoming>) -> Bytes {
    match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    }
}

/// `{"errorType", "errorMessage"}`, else the error-type header and raw body.
async fn read_error(req: Request<Incoming>, type_header: &str) -> FunctionError {
    let header_type = req
        .headers()
        .get(type_header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_body(req).await;
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    FunctionError {
        error_type: field("errorType")
            .or(header_type)
            .unwrap_or_else(|| "Unhandled".into()),
        message: field("errorMessage")
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
    }
}

/// `/2020-01-01/extension/...`: register, the event long poll, and the
/// error reports.
async fn extension_request(
    shared: &Shared,
    rest: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let method = req.method().clone();
    match (method, rest) {
        (Method::POST, "/register") => {
            let name = header(extensions::NAME_HEADER);
            let body = read_body(req).await;
            match shared.extensions.register(name.as_deref(), &body) {
                Ok(extension) => Response::builder()
                    .status(StatusCode::OK)
                    .header("Content-Type", "application/json")
                    .header(extensions::ID_HEADER, &extension.id)
                    .body(Full::new(shared.registration_reply.clone()))
                    .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "bad header")),
                Err(refusal) => refused(refusal),
            }
        }
        (Method::GET, "/event/next") => {
            let extension = match shared
                .extensions
                .identify(header(extensions::ID_HEADER).as_deref())
            {
                Ok(e) => e,
                Err(refusal) => return refused(refusal),
            };
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                Some(event) = extension.next_event() => Response::builder()
                    .status(StatusCode::OK)
                    .header("Content-Type", "application/json")
                    .header(extensions::EVENT_ID_HEADER, archform_ids::uuid_v4())
                    .body(Full::new(event))
                    .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "bad header")),
                _ = shutdown.wait_for(|down| *down) => {
                    reply(StatusCode::INTERNAL_SERVER_ERROR, "runtime shutting down")
                }
            }
        }
        (Method::POST, "/init/error" | "/exit/error") => {
            if let Err(refusal) = shared
                .extensions
                .identify(header(extensions::ID_HEADER).as_deref())
            {
                return refused(refusal);
            }
            let Some(error_type) = header(extensions::ERROR_TYPE_HEADER) else {
                return refused(extensions::Refusal {
                    error_type: "Extension.MissingHeader",
                    message: format!("Missing {} header", extensions::ERROR_TYPE_HEADER),
                });
            };
            let init = rest == "/init/error";
            let mut error = read_error(req, extensions::ERROR_TYPE_HEADER).await;
            error.error_type = error_type;
            // An extension failing init fails the function's init, as on
            // Lambda; an exit error only matters to a shutdown that is
            // already under way, so it is accepted and dropped.
            if init {
                let _ = shared.events.send(ApiEvent::InitError(error));
            }
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "unknown Extensions API route"),
    }
}

fn refused(refusal: extensions::Refusal) -> Response<Full<Bytes>> {
    let body =
        serde_json::json!({"errorType": refusal.error_type, "errorMessage": refusal.message});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

fn accepted() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn reply(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errorType": "InvalidRequest", "errorMessage": message});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderMap;

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        json: serde_json::Value,
    }

    async fn call(
        addr: SocketAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let res = sender
            .send_request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }

    async fn register(addr: SocketAddr, name: &str, events: &str) -> Reply {
        call(
            addr,
            Method::POST,
            "/2020-01-01/extension/register",
            &[("Lambda-Extension-Name", name)],
            &format!(r#"{{"events":{events}}}"#),
        )
        .await
    }

    async fn next_event(addr: SocketAddr, id: &str) -> Reply {
        call(
            addr,
            Method::GET,
            "/2020-01-01/extension/event/next",
            &[("Lambda-Extension-Identifier", id)],
            "",
        )
        .await
    }

    fn started() -> FunctionConfig {
        FunctionConfig::new("bootstrap", "ext-fn")
    }

    #[tokio::test]
    async fn register_then_next_blocks_until_the_api_shuts_down() {
        let api = RuntimeApi::start(&started()).await.unwrap();
        let addr = api.addr;
        assert!(!api.extensions_registered());

        let r = register(
            addr,
            "_lambda-rust-runtime-no-op-graceful-shutdown-helper",
            "[]",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let id = r.headers["Lambda-Extension-Identifier"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 36, "uuid-like id {id}");
        assert_eq!(
            r.json,
            serde_json::json!({"functionName": "ext-fn", "functionVersion": "$LATEST", "handler": "bootstrap"})
        );
        assert!(api.extensions_registered());

        let poll = tokio::spawn(async move { next_event(addr, &id).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !poll.is_finished(),
            "event/next must block: internal extensions get no events"
        );
        drop(api);
        let r = tokio::time::timeout(Duration::from_secs(2), poll)
            .await
            .expect("event/next returns once the API shuts down")
            .unwrap();
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn refusals_and_unknown_paths() {
        let api = RuntimeApi::start(&started()).await.unwrap();
        let addr = api.addr;
        let r = register(addr, "ext", r#"["INVOKE","SHUTDOWN"]"#).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.json["errorType"], "Extension.InvalidEventType");
        let r = call(
            addr,
            Method::POST,
            "/2020-01-01/extension/register",
            &[],
            "{}",
        )
        .await;
        assert_eq!(r.json["errorType"], "Extension.InvalidExtensionName");
        let r = next_event(addr, "00000000-0000-4000-8000-000000000000").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.json["errorType"], "Extension.UnknownExtensionIdentifier");
        let r = call(
            addr,
            Method::GET,
            "/2020-01-01/extension/event/next",
            &[],
            "",
        )
        .await;
        assert_eq!(r.json["errorType"], "Extension.MissingExtensionIdentifier");
        assert!(
            !api.extensions_registered(),
            "refused registrations do not count"
        );

        let r = call(addr, Method::GET, "/2020-01-01/extension/nope", &[], "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = call(addr, Method::GET, "/2019-01-01/whatever", &[], "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json["errorMessage"], "unknown path");
    }

    #[tokio::test]
    async fn an_extension_init_error_fails_init() {
        let mut api = RuntimeApi::start(&started()).await.unwrap();
        let addr = api.addr;
        let r = register(addr, "ext", "[]").await;
        let id = r.headers["Lambda-Extension-Identifier"]
            .to_str()
            .unwrap()
            .to_string();
        let path = "/2020-01-01/extension/init/error";
        let r = call(
            addr,
            Method::POST,
            path,
            &[("Lambda-Extension-Identifier", &id)],
            "{}",
        )
        .await;
        assert_eq!(r.json["errorType"], "Extension.MissingHeader");
        let r = call(
            addr,
            Method::POST,
            path,
            &[
                ("Lambda-Extension-Identifier", &id),
                (
                    "Lambda-Extension-Function-Error-Type",
                    "Extension.ConfigInvalid",
                ),
            ],
            r#"{"errorMessage":"no config"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        match api.events.recv().await {
            Some(ApiEvent::InitError(e)) => {
                assert_eq!(e.error_type, "Extension.ConfigInvalid");
                assert_eq!(e.message, "no config");
            }
            other => panic!("expected an init error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn invoke_subscribers_get_each_invocation_and_registration_closes_at_init_end() {
        let api = RuntimeApi::start(&started()).await.unwrap();
        let addr = api.addr;
        let r = register(addr, "watcher", r#"["INVOKE"]"#).await;
        assert_eq!(r.status, StatusCode::OK);
        let id = r.headers["Lambda-Extension-Identifier"]
            .to_str()
            .unwrap()
            .to_string();
        let watcher = tokio::spawn(async move { next_event(addr, &id).await });

        let runtime = tokio::spawn(async move {
            call(
                addr,
                Method::GET,
                "/2018-06-01/runtime/invocation/next",
                &[],
                "",
            )
            .await
        });
        api.invocations
            .send(Invocation {
                request_id: "req-1".into(),
                trace_id: "Root=1-00000000-000000000000000000000000".into(),
                event: Bytes::from_static(b"{}"),
                timeout: Duration::from_secs(3),
            })
            .unwrap();
        let r = runtime.await.unwrap();
        assert_eq!(r.headers["Lambda-Runtime-Aws-Request-Id"], "req-1");
        let event = tokio::time::timeout(Duration::from_secs(2), watcher)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.status, StatusCode::OK);
        assert!(
            event
                .headers
                .contains_key("Lambda-Extension-Event-Identifier")
        );
        assert_eq!(event.json["eventType"], "INVOKE");
        assert_eq!(event.json["requestId"], "req-1");
        assert_eq!(event.json["invokedFunctionArn"], started().arn);
        assert_eq!(
            event.json["tracing"]["value"],
            "Root=1-00000000-000000000000000000000000"
        );

        let late = register(addr, "late", "[]").await;
        assert_eq!(late.status, StatusCode::FORBIDDEN);
        assert_eq!(late.json["errorType"], "Extension.RegistrationClosed");
    }
}
