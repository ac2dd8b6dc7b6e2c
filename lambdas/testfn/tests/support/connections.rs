//! A stand-in for API Gateway's `@connections` management endpoint: a real
//! HTTP server on a loopback port that records each call and answers like
//! the service does (200 for PostToConnection, 204 for DeleteConnection,
//! 410 for a connection that is gone, 403 with an error document for one
//! the caller may not reach).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// One request the stand-in received.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: String,
}

pub struct ConnectionsStandIn {
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    server: tokio::task::JoinHandle<()>,
}

/// Connection ids the stand-in treats specially.
pub const GONE_ID: &str = "gone-conn";
pub const FORBIDDEN_ID: &str = "forbidden-conn";

impl ConnectionsStandIn {
    pub async fn start() -> ConnectionsStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, recorded.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ConnectionsStandIn {
            addr,
            calls,
            server,
        }
    }

    /// The endpoint for `stage`, as `archform dev` passes it to functions.
    pub fn endpoint(&self, stage: &str) -> String {
        format!("http://{}/{stage}", self.addr)
    }

    /// The calls received so far, emptying the record.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl Drop for ConnectionsStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    request: Request<Incoming>,
    calls: Arc<Mutex<Vec<Call>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await?.to_bytes();
    calls.lock().unwrap().push(Call {
        method: method.clone(),
        path: path.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let (status, error_type, message) = if path.ends_with(&format!("/@connections/{GONE_ID}")) {
        // A bare 410, no error document: the status alone must be enough.
        (StatusCode::GONE, "", "")
    } else if path.ends_with(&format!("/@connections/{FORBIDDEN_ID}")) {
        (StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden")
    } else if method == Method::DELETE {
        (StatusCode::NO_CONTENT, "", "")
    } else {
        (StatusCode::OK, "", "")
    };
    let mut response = Response::builder().status(status);
    let body = if error_type.is_empty() {
        Bytes::new()
    } else {
        // The service's error document: the type in a header, the message
        // in the body (restJson1).
        response = response
            .header("x-amzn-errortype", error_type)
            .header("content-type", "application/json");
        Bytes::from(serde_json::json!({ "message": message }).to_string())
    };
    Ok(response.body(Full::new(body)).unwrap())
}
