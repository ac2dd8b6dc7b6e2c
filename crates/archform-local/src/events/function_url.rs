//! A Lambda function URL: the request event (API Gateway HTTP API payload
//! format 2.0) and Lambda's reading of the response.
//!
//! Per the function URL documentation ("Invoking Lambda function URLs") and
//! the payload 2.0 rules it refers to: header names lower-case and repeated
//! values joined with commas; the `Cookie` header moved into `cookies`;
//! `queryStringParameters` decoded, repeated values joined with commas; the
//! body base64-encoded unless the content type is text/* or
//! application/json.

use super::clock::{access_log_time, now_ms};
use super::query::{decoded_groups, push_grouped};
use super::response;
use super::{AdapterError, header_text, is_text_body, request_body};
use archform_ids as ids;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// The function URL's identity: `https://<url_id>.lambda-url.<region>.on.aws`.
#[derive(Clone, Debug)]
pub struct UrlContext {
    pub url_id: String,
    /// The function owner's account, or `anonymous` as Lambda sends for
    /// URLs with auth type NONE.
    pub account_id: String,
    pub region: String,
}

impl UrlContext {
    pub fn domain_name(&self) -> String {
        format!("{}.lambda-url.{}.on.aws", self.url_id, self.region)
    }
}

const TEXT_TYPES: [&str; 1] = ["application/json"];

/// The event Lambda sends for a request to the function URL from
/// `source_ip`.
pub fn request_event(
    parts: &http::request::Parts,
    body: &[u8],
    ctx: &UrlContext,
    source_ip: IpAddr,
) -> Value {
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &parts.headers {
        if name == http::header::COOKIE {
            cookies.extend(
                header_text(value)
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
        } else {
            push_grouped(&mut headers, name.as_str().to_string(), header_text(value));
        }
    }
    add_forwarding_headers(&mut headers, &parts.headers, source_ip);

    let raw_query = parts.uri.query().unwrap_or_default();
    let time_epoch = now_ms();
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .map(header_text)
        .unwrap_or_default();
    let domain_name = ctx.domain_name();

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!("$default"));
    event.insert("rawPath".into(), json!(parts.uri.path()));
    event.insert("rawQueryString".into(), json!(raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), joined(&headers));
    if !raw_query.is_empty() {
        event.insert(
            "queryStringParameters".into(),
            joined(&decoded_groups(raw_query)),
        );
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": ctx.account_id,
            "apiId": ctx.url_id,
            "domainName": domain_name,
            "domainPrefix": ctx.url_id,
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": protocol(parts.version),
                "sourceIp": source_ip.to_string(),
                "userAgent": user_agent,
            },
            "requestId": ids::uuid_v4(),
            "routeKey": "$default",
            "stage": "$default",
            "time": access_log_time(time_epoch),
            "timeEpoch": time_epoch,
        }),
    );
    if !body.is_empty() {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let (text, encoded) = request_body(body, is_text_body(content_type, &TEXT_TYPES, body));
        event.insert("body".into(), json!(text));
        event.insert("isBase64Encoded".into(), json!(encoded));
    } else {
        event.insert("isBase64Encoded".into(), json!(false));
    }
    Value::Object(event)
}

/// The headers Lambda's front end adds: the client address, the protocol
/// and port the request came in on (plain HTTP locally; the port from the
/// Host header, else 80) and a trace id.
fn add_forwarding_headers(
    headers: &mut Vec<(String, Vec<String>)>,
    incoming: &HeaderMap,
    source_ip: IpAddr,
) {
    let port = incoming
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .and_then(|a| a.port_u16())
        .unwrap_or(80);
    let trace = match incoming.get("x-amzn-trace-id").map(header_text) {
        Some(t) if t.contains("Root=") => t,
        _ => format!("Root={}", ids::xray_id()),
    };
    for (name, value) in [
        ("x-amzn-trace-id", trace),
        ("x-forwarded-for", source_ip.to_string()),
        ("x-forwarded-proto", "http".to_string()),
        ("x-forwarded-port", port.to_string()),
    ] {
        headers.retain(|(n, _)| n != name);
        headers.push((name.to_string(), vec![value]));
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `{name: "v1,v2"}`: payload 2.0 joins repeated values with commas.
fn joined(groups: &[(String, Vec<String>)]) -> Value {
    Value::Object(
        groups
            .iter()
            .map(|(name, values)| (name.clone(), json!(values.join(","))))
            .collect(),
    )
}

/// The HTTP response Lambda sends for a function's response. A JSON object
/// with `statusCode` is read as a structured response: `headers` (string
/// values), `cookies` (one `Set-Cookie` each), `body`, `isBase64Encoded`,
/// and `content-type: application/json` when the function set none. Any
/// other JSON is a 200 `application/json` response whose body is the
/// payload itself. `Err` is what the function URL answers 502 for.
pub fn response(payload: &[u8]) -> Result<http::Response<Bytes>, AdapterError> {
    let value = response::parse(payload)?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return Ok(response::build(
            http::StatusCode::OK,
            headers,
            Bytes::copy_from_slice(payload),
        ));
    };
    let status = response::status(object)?;
    let mut headers = HeaderMap::new();
    for (name, v) in response::object(object, "headers")?.into_iter().flatten() {
        let v = v.as_str().ok_or(AdapterError::InvalidField {
            field: "headers",
            problem: "has a value that is not a string",
        })?;
        response::append_header(&mut headers, name, v)?;
    }
    let cookies = match object.get("cookies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or(AdapterError::InvalidField {
                field: "cookies",
                problem: "is not an array of strings",
            })?,
        Some(_) => {
            return Err(AdapterError::InvalidField {
                field: "cookies",
                problem: "is not an array of strings",
            });
        }
    };
    for cookie in cookies {
        response::append_header(&mut headers, "set-cookie", cookie)?;
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    let body = response::body(object)?;
    Ok(response::build(status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> UrlContext {
        UrlContext {
            url_id: "abcdefg".into(),
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
        }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 9));

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn request_event_has_the_payload_2_shape() {
        let p = parts(
            "POST",
            "/my/path?parameter1=value1&parameter1=value2&parameter2=a%20b+c",
            &[
                ("Host", "localhost:9000"),
                ("User-Agent", "agent"),
                ("Accept", "a"),
                ("accept", "b"),
                ("Cookie", "cookie1=1; cookie2=2"),
                ("Content-Type", "application/json"),
            ],
        );
        let e = request_event(&p, br#"{"k":1}"#, &ctx(), IP);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/my/path");
        assert_eq!(
            e["rawQueryString"],
            "parameter1=value1&parameter1=value2&parameter2=a%20b+c"
        );
        assert_eq!(e["cookies"], json!(["cookie1=1", "cookie2=2"]));
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["headers"]["accept"], "a,b");
        assert_eq!(e["headers"]["x-forwarded-port"], "9000");
        assert_eq!(e["headers"]["x-forwarded-for"], "198.51.100.9");
        assert_eq!(
            e["queryStringParameters"],
            json!({"parameter1": "value1,value2", "parameter2": "a b c"})
        );
        let rc = &e["requestContext"];
        assert_eq!(rc["domainName"], "abcdefg.lambda-url.eu-west-1.on.aws");
        assert_eq!(rc["domainPrefix"], "abcdefg");
        assert_eq!(rc["apiId"], "abcdefg");
        assert_eq!(rc["http"]["userAgent"], "agent");
        assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
        assert_eq!(rc["stage"], "$default");
        let time = rc["time"].as_str().unwrap();
        assert_eq!(time, access_log_time(rc["timeEpoch"].as_i64().unwrap()));
        assert_eq!(e["body"], r#"{"k":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn form_and_binary_bodies_are_base64() {
        for ct in [
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "application/xml",
        ] {
            let e = request_event(
                &parts("POST", "/", &[("content-type", ct)]),
                b"a=1",
                &ctx(),
                IP,
            );
            assert_eq!(e["isBase64Encoded"], true, "{ct}");
            assert_eq!(e["body"], "YT0x");
        }
        let e = request_event(&parts("GET", "/", &[]), b"", &ctx(), IP);
        assert!(e.get("body").is_none() && e.get("queryStringParameters").is_none());
        assert!(e.get("cookies").is_none());
    }

    #[test]
    fn unstructured_responses_are_200_json() {
        for payload in [
            &br#""Hello, world!""#[..],
            br#"{"message":"Hello"}"#,
            b"null",
            b"[1,2]",
        ] {
            let r = response(payload).unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(r.body().as_ref(), payload);
        }
        assert!(matches!(response(b"Hello"), Err(AdapterError::NotJson(_))));
    }

    #[test]
    fn structured_responses_carry_status_headers_and_cookies() {
        let r = response(
            json!({
                "statusCode": 201,
                "headers": {"Content-Type": "text/html", "My-Custom-Header": "Custom Value"},
                "cookies": ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2; Max-Age=78000"],
                "body": "<p>hi</p>",
                "isBase64Encoded": false
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert_eq!(r.headers()["my-custom-header"], "Custom Value");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.body().as_ref(), b"<p>hi</p>");
        let r = response(br#"{"statusCode":302,"headers":{"location":"/x"}}"#).unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(r.body().is_empty());
    }

    #[test]
    fn malformed_structured_responses_are_errors() {
        for payload in [
            &br#"{"statusCode":700}"#[..],
            br#"{"statusCode":"abc"}"#,
            br#"{"statusCode":200,"body":5}"#,
            br#"{"statusCode":200,"cookies":"a=1"}"#,
            br#"{"statusCode":200,"cookies":[1]}"#,
            br#"{"statusCode":200,"headers":["x"]}"#,
            br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
        ] {
            assert!(
                response(payload).is_err(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
