//! The `page` function: answers a function URL's `GET /` with the page and
//! its security headers, anything else with a 404 or 405. The WebSocket URL
//! is read once at start (`WEBSOCKET_URL`, the blueprint's stage URL).

use lambda_http::{Body, Error, Request, Response, service_fn};
use service_common::logging::{self, LogTarget};

/// The answer to one request for `path` with `method`.
pub fn answer(page: &str, method: &http::Method, path: &str) -> Response<Body> {
    let (status, content_type, body) = match (method.as_str(), path) {
        ("GET" | "HEAD", "/" | "/index.html") => (200, "text/html; charset=utf-8", page.to_owned()),
        (_, "/" | "/index.html") => (
            405,
            "application/json",
            r#"{"error":"only GET"}"#.to_owned(),
        ),
        _ => (
            404,
            "application/json",
            r#"{"error":"no such page; the chat is at /"}"#.to_owned(),
        ),
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-cache");
    for (name, value) in crate::page::SECURITY_HEADERS {
        response = response.header(name, value);
    }
    if status == 405 {
        response = response.header("allow", "GET, HEAD");
    }
    let body = if method == http::Method::HEAD {
        String::new()
    } else {
        body
    };
    response
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub async fn run() -> Result<(), Error> {
    logging::init(LogTarget::Stdout);
    let url = std::env::var("WEBSOCKET_URL").ok();
    let page = crate::page::with_websocket_url(url.as_deref());
    let page = &page;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(answer(page, request.method(), request.uri().path()))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_refuses_the_rest() {
        let get = answer("<p>", &http::Method::GET, "/");
        assert_eq!(get.status(), 200);
        assert_eq!(get.headers()["x-frame-options"], "DENY");
        assert!(matches!(get.body(), Body::Text(t) if t == "<p>"));
        assert_eq!(answer("<p>", &http::Method::POST, "/").status(), 405);
        assert_eq!(answer("<p>", &http::Method::GET, "/admin").status(), 404);
        let head = answer("<p>", &http::Method::HEAD, "/");
        assert!(matches!(head.body(), Body::Text(t) if t.is_empty()));
    }
}
