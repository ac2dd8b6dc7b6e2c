//! An Application Load Balancer forwarding to a Lambda target group: the
//! request event and the load balancer's reading of the response.
//!
//! What the load balancer does, per its documentation ("Lambda functions as
//! targets"): header names lower-cased; query strings passed as received,
//! not percent-decoded; with multi-value headers off, only the last value of
//! a repeated header or query parameter; `X-Amzn-Trace-Id`,
//! `X-Forwarded-For`, `X-Forwarded-Port` and `X-Forwarded-Proto` added; the
//! body base64-encoded when a `Content-Encoding` header is present or the
//! content type is not text/*, application/json, application/javascript or
//! application/xml.

use super::query::{push_grouped, raw_pairs};
use super::response;
use super::{AdapterError, header_text, is_text_body, request_body};
use archform_ids as ids;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// The target group the function is registered in.
#[derive(Clone, Debug)]
pub struct AlbTarget {
    pub target_group_arn: String,
    /// The `lambda.multi_value_headers.enabled` target group attribute.
    pub multi_value_headers: bool,
}

/// Content types (besides text/*) the load balancer passes as text.
const TEXT_TYPES: [&str; 3] = [
    "application/json",
    "application/javascript",
    "application/xml",
];

/// The event the load balancer sends for a request that arrived on
/// `listener_port` over plain HTTP from `source_ip`.
pub fn request_event(
    parts: &http::request::Parts,
    body: &[u8],
    target: &AlbTarget,
    source_ip: IpAddr,
    listener_port: u16,
) -> Value {
    let headers = forwarded_headers(&parts.headers, source_ip, listener_port);
    let mut query: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in raw_pairs(parts.uri.query().unwrap_or_default()) {
        push_grouped(&mut query, name.to_string(), value.to_string());
    }
    let textual = parts.headers.get(http::header::CONTENT_ENCODING).is_none()
        && is_text_body(
            parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            &TEXT_TYPES,
            body,
        );
    // An empty body is "" and not base64, as in the load balancer's
    // health-check events.
    let (body, encoded) = request_body(body, textual || body.is_empty());

    let mut event = Map::new();
    event.insert(
        "requestContext".into(),
        json!({"elb": {"targetGroupArn": target.target_group_arn}}),
    );
    event.insert("httpMethod".into(), json!(parts.method.as_str()));
    event.insert("path".into(), json!(parts.uri.path()));
    if target.multi_value_headers {
        event.insert("multiValueQueryStringParameters".into(), all_values(&query));
        event.insert("multiValueHeaders".into(), all_values(&headers));
    } else {
        event.insert("queryStringParameters".into(), last_values(&query));
        event.insert("headers".into(), last_values(&headers));
    }
    event.insert("body".into(), json!(body));
    event.insert("isBase64Encoded".into(), json!(encoded));
    Value::Object(event)
}

/// The request headers (lower-case names, values in order) with the ones
/// the load balancer adds or rewrites.
fn forwarded_headers(
    incoming: &HeaderMap,
    source_ip: IpAddr,
    listener_port: u16,
) -> Vec<(String, Vec<String>)> {
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in incoming {
        push_grouped(&mut headers, name.as_str().to_string(), header_text(value));
    }
    let mut set = |name: &str, value: String| {
        match headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => *values = vec![value],
            None => headers.push((name.to_string(), vec![value])),
        };
    };
    // The default X-Forwarded-For mode, "append": the client address goes
    // after whatever proxies the request already passed.
    let forwarded_for = match incoming.get_all("x-forwarded-for").iter().count() {
        0 => source_ip.to_string(),
        _ => {
            let earlier: Vec<String> = incoming
                .get_all("x-forwarded-for")
                .iter()
                .map(header_text)
                .collect();
            format!("{}, {source_ip}", earlier.join(", "))
        }
    };
    set("x-forwarded-for", forwarded_for);
    set("x-forwarded-proto", "http".into());
    set("x-forwarded-port", listener_port.to_string());
    // A trace header with a Root is kept and gets the load balancer's own
    // Self segment; otherwise the load balancer starts a trace.
    let trace = match incoming.get("x-amzn-trace-id").map(header_text) {
        Some(t) if t.contains("Root=") => format!("Self={};{t}", ids::xray_id()),
        Some(t) if !t.is_empty() => format!("Root={};{t}", ids::xray_id()),
        _ => format!("Root={}", ids::xray_id()),
    };
    set("x-amzn-trace-id", trace);
    headers
}

/// `{name: last value}`: the load balancer keeps the last of repeated ones.
fn last_values(groups: &[(String, Vec<String>)]) -> Value {
    Value::Object(
        groups
            .iter()
            .map(|(name, values)| {
                (
                    name.clone(),
                    json!(values.last().cloned().unwrap_or_default()),
                )
            })
            .collect(),
    )
}

fn all_values(groups: &[(String, Vec<String>)]) -> Value {
    Value::Object(
        groups
            .iter()
            .map(|(name, values)| (name.clone(), json!(values)))
            .collect(),
    )
}

/// The HTTP response the load balancer sends for a function's response:
/// `statusCode`, then `headers` (or, with multi-value headers on,
/// `multiValueHeaders`; the other field is ignored, as the load balancer
/// reads only the one matching the target group setting), `body` and
/// `isBase64Encoded`. `Err` is what the load balancer answers 502 Bad
/// Gateway for. `statusDescription` is not checked: HTTP/1.1 reason
/// phrases are not carried by the response type.
pub fn response(
    payload: &[u8],
    multi_value_headers: bool,
) -> Result<http::Response<Bytes>, AdapterError> {
    let value = response::parse(payload)?;
    let object = value.as_object().ok_or(AdapterError::NotAnObject)?;
    let status = response::status(object)?;
    let mut headers = HeaderMap::new();
    if multi_value_headers {
        for (name, values) in response::object(object, "multiValueHeaders")?
            .into_iter()
            .flatten()
        {
            let values = values.as_array().ok_or(AdapterError::InvalidField {
                field: "multiValueHeaders",
                problem: "has a value that is not an array of strings",
            })?;
            for v in values {
                let v = v.as_str().ok_or(AdapterError::InvalidField {
                    field: "multiValueHeaders",
                    problem: "has a value that is not an array of strings",
                })?;
                response::append_header(&mut headers, name, v)?;
            }
        }
    } else {
        for (name, v) in response::object(object, "headers")?.into_iter().flatten() {
            let v = v.as_str().ok_or(AdapterError::InvalidField {
                field: "headers",
                problem: "has a value that is not a string",
            })?;
            response::append_header(&mut headers, name, v)?;
        }
    }
    let body = response::body(object)?;
    Ok(response::build(status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn target(multi: bool) -> AlbTarget {
        AlbTarget {
            target_group_arn:
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/abc".into(),
            multi_value_headers: multi,
        }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    #[test]
    fn single_value_mode_keeps_the_last_value_and_does_not_decode_the_query() {
        let p = parts(
            "GET",
            "/a%20b?myKey=val1&myKey=val%202&q=a+b",
            &[
                ("Cookie", "name1=value1"),
                ("cookie", "name2=value2"),
                ("Host", "lb.example"),
            ],
        );
        let e = request_event(&p, b"", &target(false), IP, 8080);
        assert_eq!(e["path"], "/a%20b");
        assert_eq!(
            e["queryStringParameters"],
            json!({"myKey": "val%202", "q": "a+b"})
        );
        assert_eq!(e["headers"]["cookie"], "name2=value2");
        assert_eq!(e["headers"]["host"], "lb.example");
        assert_eq!(e["headers"]["x-forwarded-for"], "203.0.113.7");
        assert_eq!(e["headers"]["x-forwarded-port"], "8080");
        assert_eq!(e["headers"]["x-forwarded-proto"], "http");
        let trace = e["headers"]["x-amzn-trace-id"].as_str().unwrap();
        assert!(
            trace.starts_with("Root=1-") && trace.len() == "Root=".len() + 35,
            "{trace}"
        );
        assert!(e.get("multiValueHeaders").is_none());
        assert_eq!(e["body"], "");
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn multi_value_mode_keeps_every_value() {
        let p = parts(
            "GET",
            "/?&myKey=val1&myKey=val2",
            &[("cookie", "name1=value1"), ("cookie", "name2=value2")],
        );
        let e = request_event(&p, b"", &target(true), IP, 80);
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"myKey": ["val1", "val2"]})
        );
        assert_eq!(
            e["multiValueHeaders"]["cookie"],
            json!(["name1=value1", "name2=value2"])
        );
        assert!(e.get("headers").is_none() && e.get("queryStringParameters").is_none());
    }

    #[test]
    fn forwarded_for_is_appended_and_a_trace_gets_a_self_segment() {
        let p = parts(
            "GET",
            "/",
            &[
                ("X-Forwarded-For", "198.51.100.1"),
                (
                    "X-Amzn-Trace-Id",
                    "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
                ),
            ],
        );
        let e = request_event(&p, b"", &target(false), IP, 80);
        assert_eq!(e["headers"]["x-forwarded-for"], "198.51.100.1, 203.0.113.7");
        let trace = e["headers"]["x-amzn-trace-id"].as_str().unwrap();
        assert!(
            trace.starts_with("Self=1-")
                && trace.ends_with(";Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"),
            "{trace}"
        );
    }

    #[test]
    fn body_is_text_only_for_text_types_without_content_encoding() {
        // (request headers, body, expected isBase64Encoded)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], bool);
        let cases: [Case; 7] = [
            (
                &[("content-type", "application/json; charset=utf-8")],
                b"{\"a\":1}",
                false,
            ),
            (&[("content-type", "text/plain")], b"hi", false),
            (&[("content-type", "application/xml")], b"<a/>", false),
            (
                &[("content-type", "application/x-www-form-urlencoded")],
                b"a=1",
                true,
            ),
            (
                &[("content-type", "application/octet-stream")],
                &[0, 159, 146, 150],
                true,
            ),
            (
                &[("content-type", "text/plain"), ("content-encoding", "gzip")],
                b"hi",
                true,
            ),
            (&[], b"no type", true),
        ];
        for (headers, body, base64) in cases {
            let e = request_event(&parts("POST", "/", headers), body, &target(false), IP, 80);
            assert_eq!(e["isBase64Encoded"], base64, "{headers:?}");
            let sent = e["body"].as_str().unwrap();
            if base64 {
                assert_eq!(crate::events::base64::decode(sent).unwrap(), body);
            } else {
                assert_eq!(sent.as_bytes(), body);
            }
        }
    }

    #[test]
    fn response_uses_the_header_field_of_the_target_group_setting() {
        let payload = json!({
            "statusCode": 201,
            "statusDescription": "201 Created",
            "headers": {"Content-Type": "text/plain", "Set-Cookie": "only=one"},
            "multiValueHeaders": {"Content-Type": ["text/plain"], "Set-Cookie": ["a=1", "b=2"]},
            "body": "made",
            "isBase64Encoded": false
        })
        .to_string();
        let single = response(payload.as_bytes(), false).unwrap();
        assert_eq!(single.status(), 201);
        assert_eq!(single.headers().get_all("set-cookie").iter().count(), 1);
        assert_eq!(single.body().as_ref(), b"made");
        let multi = response(payload.as_bytes(), true).unwrap();
        let cookies: Vec<_> = multi.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn response_decodes_base64_bodies_and_drops_hop_by_hop_headers() {
        let payload = json!({
            "statusCode": 200,
            "headers": {"content-type": "image/png", "Connection": "close", "Content-Length": "999"},
            "body": crate::events::base64::encode(&[0x89, b'P', b'N', b'G', 0]),
            "isBase64Encoded": true
        })
        .to_string();
        let r = response(payload.as_bytes(), false).unwrap();
        assert_eq!(r.body().as_ref(), &[0x89, b'P', b'N', b'G', 0]);
        assert!(r.headers().get("connection").is_none());
        assert!(r.headers().get("content-length").is_none());
        // A response without a body is an empty one.
        let r = response(
            br#"{"statusCode":204,"isBase64Encoded":false,"headers":{}}"#,
            false,
        )
        .unwrap();
        assert_eq!(r.status(), 204);
        assert!(r.body().is_empty());
    }

    #[test]
    fn malformed_responses_are_errors() {
        let bad: [&[u8]; 9] = [
            b"not json",
            b"\"just a string\"",
            br#"{"body":"no status"}"#,
            br#"{"statusCode":"200","body":""}"#,
            br#"{"statusCode":99}"#,
            br#"{"statusCode":600}"#,
            br#"{"statusCode":200,"body":{"an":"object"}}"#,
            br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"headers":{"x":1}}"#,
        ];
        for payload in bad {
            assert!(
                response(payload, false).is_err(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        assert!(
            response(
                br#"{"statusCode":200,"multiValueHeaders":{"x":"notarray"}}"#,
                true
            )
            .is_err()
        );
        assert!(response(br#"{"statusCode":200,"headers":{"bad name":"v"}}"#, false).is_err());
    }
}
