//! A proxy in front of the emulator that forwards one request at a time.
//!
//! moto serves requests on threads without isolating them: a
//! `TransactWriteItems` whose condition fails is rolled back by restoring
//! a copy of the whole table taken when it started, which also undoes any
//! write another request made meanwhile (seen here as stock given back
//! twice by twenty concurrent cancels that each answered correctly).
//! DynamoDB makes every request atomic and isolated; the store relies on
//! exactly that and nothing more. Forwarding one request at a time gives
//! moto that property, while everything the store must handle still
//! happens: callers interleave between their requests (a read, then a
//! transaction based on it), so conditions fail, prices change under
//! orders and cancels race as they would on DynamoDB.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// The running proxy; stops when dropped.
pub struct OneAtATime {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OneAtATime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    turn: Mutex<()>,
}

impl OneAtATime {
    pub async fn start(upstream: &str) -> OneAtATime {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            turn: Mutex::new(()),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(shared.forward(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        OneAtATime { endpoint, task }
    }
}

impl Shared {
    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (mut parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return failed("reading the request failed");
        };
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let Ok(uri) = format!("{}{path}", self.upstream).parse() else {
            return failed("bad request path");
        };
        parts.uri = uri;
        // Whole request and whole answer inside the turn: the emulator
        // has finished with one before it sees the next.
        let _turn = self.turn.lock().await;
        let answer = match self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
        {
            Ok(answer) => answer,
            Err(err) => return failed(&format!("forwarding failed: {err}")),
        };
        let (parts, body) = answer.into_parts();
        match body.collect().await {
            Ok(body) => Response::from_parts(parts, Full::new(body.to_bytes())),
            Err(err) => failed(&format!("reading the answer failed: {err}")),
        }
    }
}

fn failed(message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
