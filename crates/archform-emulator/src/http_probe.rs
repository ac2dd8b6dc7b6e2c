//! A minimal HTTP/1.0 GET over `std::net::TcpStream`, for health checks.
//!
//! Health checks only need a status code and a small body from a server on
//! loopback; an HTTP client crate (and its async runtime) would cost more
//! build time than this whole crate. HTTP/1.0 keeps the reply simple: no
//! chunked encoding, and the server closes the connection when done.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use crate::error::{Error, Result};

/// Replies larger than this are cut; health bodies are a few KiB.
const MAX_REPLY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// `GET path` from `host:port`; `timeout` bounds the connect and each read/write.
pub(crate) fn http_get(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> io::Result<HttpReply> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.take(MAX_REPLY_BYTES).read_to_end(&mut raw)?;
    parse_reply(&raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP reply"))
}

/// Splits a raw HTTP reply into status code and body.
pub(crate) fn parse_reply(raw: &[u8]) -> Option<HttpReply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(HttpReply {
        status,
        body: body.to_owned(),
    })
}

/// Host and port of a plain `http://host[:port][/...]` URL.
pub(crate) fn parse_http_endpoint(url: &str) -> Result<(String, u16)> {
    let bad = || Error::BadEndpoint(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    // `[::1]:4566` style IPv6 literals.
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None if after.is_empty() => 80,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse().map_err(|_| bad())?)),
        None => Ok((authority.to_owned(), 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let reply = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "{\"a\":1}");
        assert_eq!(
            parse_reply(b"HTTP/1.0 404 Not Found\r\n\r\n")
                .unwrap()
                .status,
            404
        );
        assert_eq!(parse_reply(b"garbage"), None);
    }

    #[test]
    fn parses_endpoints() {
        assert_eq!(
            parse_http_endpoint("http://127.0.0.1:5000").unwrap(),
            ("127.0.0.1".to_owned(), 5000)
        );
        assert_eq!(
            parse_http_endpoint("http://localhost:4566/").unwrap(),
            ("localhost".to_owned(), 4566)
        );
        assert_eq!(
            parse_http_endpoint("http://[::1]:4566").unwrap(),
            ("::1".to_owned(), 4566)
        );
        assert_eq!(
            parse_http_endpoint("http://example.test").unwrap(),
            ("example.test".to_owned(), 80)
        );
        assert!(parse_http_endpoint("https://127.0.0.1:443").is_err());
        assert!(parse_http_endpoint("http://127.0.0.1:notaport").is_err());
    }
}
