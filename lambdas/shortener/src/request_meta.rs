//! What a handler needs to know about the request beyond its body: its id,
//! the client's address, and the service's own public URL and host names.
//!
//! On Lambda, `lambda_http` puts the invocation context and the event's
//! request context into the request extensions; they are the trustworthy
//! source there. Standalone, the TCP peer address comes from axum's
//! `ConnectInfo`, and forwarded headers count only with
//! `--trust-forwarded-for`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::HeaderMap;
use http::request::Parts;
use lambda_http::request::RequestContext;

use crate::app::AppState;
use crate::config::base_url_host;
use crate::rate_limit::client_key;

/// The id of one request, in logs, error bodies and `x-request-id`.
pub use service_common::RequestId;

/// How the request reached the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// An ALB event through `lambda_http`.
    Alb,
    /// A function URL (API Gateway v2 format) event through `lambda_http`.
    FunctionUrl,
    /// A plain HTTP connection (standalone, or a library user's server).
    Direct,
}

impl Ingress {
    pub fn of(extensions: &http::Extensions) -> Self {
        match extensions.get::<RequestContext>() {
            Some(RequestContext::Alb(_)) => Self::Alb,
            Some(RequestContext::ApiGatewayV2(_)) => Self::FunctionUrl,
            _ => Self::Direct,
        }
    }
}

/// The client's address as the rate limiter counts it, if it is known:
/// - behind an ALB: the last `X-Forwarded-For` entry, the one the ALB itself
///   appended (earlier entries are whatever the client sent);
/// - behind a function URL: `requestContext.http.sourceIp`;
/// - standalone: the TCP peer, or with `trust_forwarded_for` the last
///   `X-Forwarded-For` entry (the one the proxy in front appended).
pub fn client_address(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    let from_forwarded = || last_forwarded_for(&parts.headers);
    match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::Alb(_)) => from_forwarded(),
        Some(RequestContext::ApiGatewayV2(context)) => context
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.trim().parse().ok()),
        _ => {
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip());
            if trust_forwarded_for {
                from_forwarded().or(peer)
            } else {
                peer
            }
        }
    }
}

/// The last address of the last `X-Forwarded-For` header.
pub fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = last_header.to_str().ok()?.rsplit(',').next()?.trim();
    last.parse().ok().or_else(|| {
        // "[v6]:port" and "v4:port" forms, which some proxies write.
        last.parse::<SocketAddr>().ok().map(|addr| addr.ip())
    })
}

/// The `Host` header if it is a plausible `host[:port]`; anything else is
/// ignored rather than copied into a short URL.
pub fn host_header(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(http::header::HOST)?.to_str().ok()?.trim();
    let plausible = !host.is_empty()
        && host.len() <= 260
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plausible.then_some(host)
}

/// What the handlers take from a request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: RequestId,
    /// Rate-limit key of the client ([`client_key`]); `None` if unknown.
    pub client: Option<String>,
    /// `scheme://host[:port][/prefix]` short URLs start with; `None` if
    /// neither configured nor derivable from the request.
    pub base_url: Option<String>,
    /// The service's own hosts, which links may not point to.
    pub own_hosts: Vec<String>,
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let options = state.options();
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::for_request(&parts.extensions));
        let ingress = Ingress::of(&parts.extensions);
        let host = host_header(&parts.headers);

        let mut own_hosts: Vec<String> = host.map(str::to_owned).into_iter().collect();
        if let Some(base) = &options.public_base_url {
            own_hosts.push(base_url_host(base).to_owned());
        }

        let base_url = match (&options.public_base_url, host) {
            (Some(base), _) => Some(base.clone()),
            (None, Some(host)) => {
                let scheme = match ingress {
                    // Function URLs are HTTPS only.
                    Ingress::FunctionUrl => "https",
                    Ingress::Alb => forwarded_proto(&parts.headers).unwrap_or("http"),
                    Ingress::Direct if options.trust_forwarded_for => {
                        forwarded_proto(&parts.headers).unwrap_or("http")
                    }
                    Ingress::Direct => "http",
                };
                Some(format!("{scheme}://{host}"))
            }
            (None, None) => None,
        };

        Ok(Self {
            request_id,
            client: client_address(parts, options.trust_forwarded_for).map(client_key),
            base_url,
            own_hosts,
        })
    }
}

/// `X-Forwarded-Proto` if it is `http` or `https`.
fn forwarded_proto(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    match value.split(',').next()?.trim() {
        v if v.eq_ignore_ascii_case("https") => Some("https"),
        v if v.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::alb::AlbTargetGroupRequestContext;
    use aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri("/api/links");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn peer(parts: &mut Parts, addr: &str) {
        parts
            .extensions
            .insert(ConnectInfo::<SocketAddr>(addr.parse().unwrap()));
    }

    #[test]
    fn alb_uses_the_last_forwarded_for_entry() {
        let mut p = parts(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9")]);
        p.extensions
            .insert(RequestContext::Alb(AlbTargetGroupRequestContext::default()));
        assert_eq!(
            client_address(&p, false),
            Some("198.51.100.9".parse().unwrap())
        );
    }

    #[test]
    fn function_url_uses_the_source_ip() {
        let mut p = parts(&[("x-forwarded-for", "6.6.6.6")]);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("203.0.113.5".into());
        p.extensions.insert(RequestContext::ApiGatewayV2(context));
        assert_eq!(
            client_address(&p, true),
            Some("203.0.113.5".parse().unwrap())
        );
    }

    #[test]
    fn standalone_uses_the_peer_unless_told_to_trust_the_proxy() {
        let mut p = parts(&[("x-forwarded-for", "6.6.6.6, 192.0.2.44")]);
        peer(&mut p, "127.0.0.1:5555");
        assert_eq!(
            client_address(&p, false),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            client_address(&p, true),
            Some("192.0.2.44".parse().unwrap())
        );
        // Trusted but absent or garbage: the peer.
        let mut p = parts(&[("x-forwarded-for", "not-an-ip")]);
        peer(&mut p, "127.0.0.1:5555");
        assert_eq!(client_address(&p, true), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(client_address(&parts(&[]), false), None);
    }

    #[test]
    fn forwarded_for_forms() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.append("x-forwarded-for", v.parse().unwrap());
            h
        };
        assert_eq!(
            last_forwarded_for(&headers("2001:db8::1")),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            last_forwarded_for(&headers("1.2.3.4:80")),
            Some("1.2.3.4".parse().unwrap())
        );
        let mut two = headers("1.1.1.1");
        two.append("x-forwarded-for", "2.2.2.2".parse().unwrap());
        assert_eq!(last_forwarded_for(&two), Some("2.2.2.2".parse().unwrap()));
    }

    #[test]
    fn host_header_must_be_plausible() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::HOST, v.parse().unwrap());
            h
        };
        assert_eq!(host_header(&headers("sho.rt:8080")), Some("sho.rt:8080"));
        assert_eq!(host_header(&headers("[::1]:80")), Some("[::1]:80"));
        assert_eq!(host_header(&headers("evil.com/<script>")), None);
        assert_eq!(host_header(&headers("a b")), None);
    }
}
