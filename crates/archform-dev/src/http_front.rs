//! Local stand-ins for an ALB listener (its rules, fixed responses and lambda
//! target groups) and for a Lambda function URL: real HTTP in, the event the
//! AWS service would send to the function, its answer turned back into HTTP
//! with the same rules the service applies (502 for a function error or a
//! malformed answer, 503 for a target group with no function).

use crate::console;
use crate::error::DevError;
use crate::pools::Pools;
use crate::rules;
use crate::serve::{self, Body};
use crate::topology::{Action, FunctionUrlSpec, ListenerSpec};
use archform_local::InvokeResult;
use archform_local::events::{alb, function_url};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Lambda's limit on a synchronous request and response through an ALB or a
/// function URL is about 1 MB; past it the service refuses.
const MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Clone)]
pub enum Front {
    Alb(Arc<ListenerSpec>),
    Url(Arc<FunctionUrlSpec>, function_url::UrlContext),
}

pub async fn run(
    front: Front,
    listener: TcpListener,
    pools: Arc<Pools>,
    shutdown: watch::Receiver<bool>,
) {
    let handler = Arc::new(move |req: Request<Incoming>, peer: SocketAddr| {
        let front = front.clone();
        let pools = pools.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&front, &pools, req, peer).await) }
    });
    serve::accept_loop(listener, shutdown, handler).await;
}

fn plain(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap_or_default()
}

/// The ALB's own error pages are HTML; these say which rule of the service
/// produced them, like the ALB's `x-amzn-...` error reasons do in its logs.
fn alb_error(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    plain(
        status,
        "text/html",
        format!(
            "<html><head><title>{} {reason}</title></head><body><center><h1>{} {reason}</h1></center></body></html>\n",
            status.as_u16(),
            status.as_u16()
        ),
    )
}

/// The ALB's redirect: the request's host (without its port), path and
/// query on `protocol` and `port`.
fn redirect(
    parts: &hyper::http::request::Parts,
    status: u16,
    protocol: Option<&str>,
    port: Option<u16>,
) -> Response<Body> {
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let scheme = protocol.unwrap_or("HTTPS").to_ascii_lowercase();
    let port = match (scheme.as_str(), port) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let mut response = plain(status, "text/plain", String::new());
    if let Ok(location) =
        hyper::header::HeaderValue::from_str(&format!("{scheme}://{host}{port}{path}"))
    {
        response
            .headers_mut()
            .insert(hyper::header::LOCATION, location);
    }
    response
}

async fn handle(
    front: &Front,
    pools: &Pools,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let what = format!(
        "{} {}",
        parts.method,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return alb_error(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let (function, event, multi) = match front {
        Front::Alb(listener) => {
            let (action, _rule) = rules::select(listener, parts.method.as_str(), parts.uri.path());
            match action {
                Action::FixedResponse {
                    status,
                    content_type,
                    body,
                } => {
                    let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                    let ct = content_type.as_deref().unwrap_or("text/plain");
                    return plain(status, ct, body.clone());
                }
                Action::Redirect {
                    status,
                    protocol,
                    port,
                } => {
                    return redirect(&parts, *status, protocol.as_deref(), *port);
                }
                Action::Forward { function: None, .. } => {
                    return alb_error(StatusCode::SERVICE_UNAVAILABLE);
                }
                Action::Forward {
                    target_group_arn,
                    multi_value_headers,
                    function: Some(function),
                } => {
                    let target = alb::AlbTarget {
                        target_group_arn: target_group_arn.clone(),
                        multi_value_headers: *multi_value_headers,
                    };
                    let event =
                        alb::request_event(&parts, &body, &target, peer.ip(), listener.port);
                    (function.as_str(), event, Some(*multi_value_headers))
                }
            }
        }
        Front::Url(url, ctx) => (
            url.function.as_str(),
            function_url::request_event(&parts, &body, ctx, peer.ip()),
            None,
        ),
    };
    let Some(pool) = pools.get(function) else {
        return alb_error(StatusCode::SERVICE_UNAVAILABLE);
    };
    let outcome = match pool.invoke(Bytes::from(event.to_string())).await {
        Ok(o) => o,
        Err(e) => {
            console::warn(function, &e.to_string());
            return alb_error(StatusCode::BAD_GATEWAY);
        }
    };
    let response = match &outcome.result {
        InvokeResult::Response(payload) => {
            let bytes = serde_json::to_vec(payload).unwrap_or_default();
            let converted = if bytes.len() > MAX_PAYLOAD {
                Err(format!(
                    "the response is {} bytes, over the 1 MB limit",
                    bytes.len()
                ))
            } else {
                match multi {
                    Some(multi) => alb::response(&bytes, multi).map_err(|e| e.to_string()),
                    None => function_url::response(&bytes).map_err(|e| e.to_string()),
                }
            };
            match converted {
                Ok(r) => r.map(Full::new),
                Err(reason) => {
                    console::warn(
                        function,
                        &format!("malformed response ({reason}): answered 502"),
                    );
                    alb_error(StatusCode::BAD_GATEWAY)
                }
            }
        }
        InvokeResult::Error(_) | InvokeResult::InitError(_) => match multi {
            Some(_) => alb_error(StatusCode::BAD_GATEWAY),
            // A function URL answers a function error with a JSON 502.
            None => plain(
                StatusCode::BAD_GATEWAY,
                "application/json",
                r#"{"Message":"Internal Server Error"}"#,
            ),
        },
    };
    console::request(
        function,
        &what,
        &response.status().as_u16().to_string(),
        started.elapsed(),
        Some(&outcome),
    );
    response
}

/// Binds a front's local port.
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, DevError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DevError::Bind {
            what: what.to_string(),
            addr,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, host: &str) -> hyper::http::request::Parts {
        let (parts, ()) = Request::builder()
            .uri(uri)
            .header(hyper::header::HOST, host)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn redirects_keep_host_path_and_query_like_the_alb() {
        let location = |r: &Response<Body>| {
            r.headers()[hyper::header::LOCATION]
                .to_str()
                .unwrap()
                .to_string()
        };
        let r = redirect(
            &parts("/v1/x?a=1", "api.example.com:8080"),
            301,
            Some("HTTPS"),
            Some(443),
        );
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(location(&r), "https://api.example.com/v1/x?a=1");
        let r = redirect(
            &parts("/", "127.0.0.1:9000"),
            302,
            Some("HTTPS"),
            Some(8443),
        );
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(location(&r), "https://127.0.0.1:8443/");
    }
}
