//! The HTTP request behind an ALB or function URL event, from the flags
//! both share.

use super::flags::{self, UsageError};
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http::{HeaderValue, request::Parts};

#[derive(Debug, clap::Args, Clone)]
pub struct HttpFlags {
    /// The request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The path and query as the client sent them (percent-encoded).
    #[arg(long, value_name = "PATH[?QUERY]", default_value = "/")]
    pub path: String,
    /// A request header (repeatable; repeat a name for several values).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// The request body: the text itself, or @FILE for a file's bytes.
    #[arg(long, value_name = "TEXT|@FILE", allow_hyphen_values = true)]
    pub body: Option<String>,
}

impl HttpFlags {
    /// The request head and body. Headers every HTTP client sends (`host`,
    /// set to `host`; `user-agent`; `content-length` for a body) are added
    /// unless the flags give them, so the event looks like a real request's.
    pub fn request(&self, host: &str) -> Result<(Parts, Vec<u8>), UsageError> {
        let method = flags::method(&self.method)?;
        let uri = flags::path(&self.path)?;
        let body = match &self.body {
            Some(arg) => flags::body("--body", arg)?,
            None => Vec::new(),
        };
        let mut builder = http::Request::builder().method(method).uri(uri);
        let headers = builder.headers_mut().expect("a fresh builder has headers");
        for arg in &self.headers {
            let (name, value) = flags::header(arg)?;
            headers.append(name, value);
        }
        let defaults = [
            (HOST, Some(host.to_string())),
            (
                USER_AGENT,
                Some(concat!("archform/", env!("CARGO_PKG_VERSION")).to_string()),
            ),
            (
                CONTENT_LENGTH,
                (!body.is_empty()).then(|| body.len().to_string()),
            ),
        ];
        for (name, value) in defaults {
            if let (false, Some(v)) = (headers.contains_key(&name), value) {
                let v = HeaderValue::from_str(&v).expect("default header values are visible ASCII");
                headers.insert(name, v);
            }
        }
        let parts = builder
            .body(())
            .map_err(|e| UsageError(format!("the request cannot be built: {e}")))?
            .into_parts()
            .0;
        Ok((parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(method: &str, path: &str, headers: &[&str], body: Option<&str>) -> HttpFlags {
        HttpFlags {
            method: method.into(),
            path: path.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            body: body.map(str::to_string),
        }
    }

    #[test]
    fn builds_the_request_with_client_headers() {
        let (p, body) = flags(
            "post",
            "/orders?id=1",
            &["Accept: a", "accept: b"],
            Some("{}"),
        )
        .request("lb.local")
        .unwrap();
        assert_eq!(p.method, http::Method::POST);
        assert_eq!(p.uri.path(), "/orders");
        assert_eq!(p.uri.query(), Some("id=1"));
        assert_eq!(p.headers.get_all("accept").iter().count(), 2);
        assert_eq!(p.headers["host"], "lb.local");
        assert_eq!(p.headers["content-length"], "2");
        assert!(
            p.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("archform/")
        );
        assert_eq!(body, b"{}");
    }

    #[test]
    fn given_headers_win_over_defaults() {
        let (p, body) = flags("GET", "/", &["host:example.com", "user-agent:curl/8"], None)
            .request("lb.local")
            .unwrap();
        assert_eq!(p.headers["host"], "example.com");
        assert_eq!(p.headers["user-agent"], "curl/8");
        assert!(p.headers.get("content-length").is_none());
        assert!(body.is_empty());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(flags("GTE", "/", &[], None).request("h").is_err());
        assert!(flags("GET", "x", &[], None).request("h").is_err());
        assert!(flags("GET", "/", &["nocolon"], None).request("h").is_err());
        let missing = format!("@/nonexistent/archform-{}", std::process::id());
        assert!(flags("GET", "/", &[], Some(&missing)).request("h").is_err());
    }
}
