//! The Lambda Runtime API (2018-06-01) on a loopback port: one server per
//! process the function runs in, so a killed process's pending `next`
//! request can never take the next process's invocation.

use crate::error::LocalError;
use crate::outcome::FunctionError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc};
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
}

/// A running Runtime API server; stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub invocations: mpsc::UnboundedSender<Invocation>,
    pub events: mpsc::UnboundedReceiver<ApiEvent>,
    accept: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RuntimeApi {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(function_arn: &str) -> Result<Self, LocalError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LocalError::Bind)?;
        let addr = listener.local_addr().map_err(LocalError::Bind)?;
        let (inv_tx, inv_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(inv_rx),
            events: ev_tx,
            function_arn: function_arn.to_string(),
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
            accept,
        })
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
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
            let error = read_error(req).await;
            let _ = shared.events.send(ApiEvent::Error { request_id, error });
            accepted()
        }
        (Method::POST, ["init", "error"]) => {
            let error = read_error(req).await;
            let _ = shared.events.send(ApiEvent::InitError(error));
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "unknown Runtime API route"),
    }
}

/// Blocks until an invocation is queued, then hands it over with its headers.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
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
async fn read_error(req: Request<Incoming>) -> FunctionError {
    let header_type = req
        .headers()
        .get("Lambda-Runtime-Function-Error-Type")
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
