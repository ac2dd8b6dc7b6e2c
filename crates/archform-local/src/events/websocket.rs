//! An API Gateway WebSocket API with Lambda proxy integrations: the
//! `$connect`, `$disconnect` and message events, route selection, and the
//! status API Gateway reads from a `$connect` integration's response.
//!
//! The shapes follow the events API Gateway sends (the
//! `aws_lambda_events` fixtures are captures of them): `$connect` carries the
//! handshake's headers and query string, `$disconnect` fixed headers and
//! the close status, messages the frame's body.

use super::clock::{access_log_time, now_ms};
use super::header_text;
use super::query::{decoded_groups, push_grouped};
use archform_ids as ids;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// One client connection of a WebSocket API stage.
#[derive(Clone, Debug)]
pub struct WsContext {
    pub api_id: String,
    pub stage: String,
    /// `<api_id>.execute-api.<region>.amazonaws.com` on AWS.
    pub domain_name: String,
    pub connection_id: String,
    pub connected_at_ms: i64,
    pub source_ip: IpAddr,
    /// The API owner's account. API Gateway does not put it in WebSocket
    /// events (the captured ones have no `accountId`); it is here for
    /// callers that build ARNs or management API calls from the context.
    pub account_id: String,
}

/// Handshake headers API Gateway does not pass to the integration.
const HOP_BY_HOP: [&str; 2] = ["connection", "upgrade"];

/// The `$connect` event for the handshake's `headers` and raw `query`.
///
/// API Gateway passes header names as the client wrote them; `HeaderMap`
/// keeps only lower-case names, so they are written in the canonical
/// capitalisation browsers and WebSocket clients send (`Sec-WebSocket-Key`,
/// `User-Agent`). `Host` is the API's domain name and API Gateway's own
/// `X-Amzn-Trace-Id` and `X-Forwarded-*` headers are added, as on AWS
/// (where clients always arrive over TLS on port 443).
pub fn connect_event(ctx: &WsContext, headers: &http::HeaderMap, query: Option<&str>) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in headers {
        if HOP_BY_HOP.contains(&name.as_str()) || name == http::header::HOST {
            continue;
        }
        push_grouped(
            &mut groups,
            canonical_name(name.as_str()),
            header_text(value),
        );
    }
    groups.insert(0, ("Host".into(), vec![ctx.domain_name.clone()]));
    for (name, value) in [
        ("X-Amzn-Trace-Id", format!("Root={}", ids::xray_id())),
        ("X-Forwarded-For", ctx.source_ip.to_string()),
        ("X-Forwarded-Port", "443".to_string()),
        ("X-Forwarded-Proto", "https".to_string()),
    ] {
        groups.retain(|(n, _)| n != name);
        groups.push((name.to_string(), vec![value]));
    }
    let user_agent = headers.get(http::header::USER_AGENT).map(header_text);

    let mut event = Map::new();
    event.insert("headers".into(), last_values(&groups));
    event.insert("multiValueHeaders".into(), all_values(&groups));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let query = decoded_groups(q);
        event.insert("queryStringParameters".into(), last_values(&query));
        event.insert("multiValueQueryStringParameters".into(), all_values(&query));
    }
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(ctx.source_ip.to_string()));
    if let Some(ua) = user_agent {
        identity.insert("userAgent".into(), json!(ua));
    }
    event.insert(
        "requestContext".into(),
        request_context(
            ctx,
            "$connect",
            "CONNECT",
            Value::Object(identity),
            Map::new(),
        ),
    );
    event.insert("isBase64Encoded".into(), json!(false));
    Value::Object(event)
}

/// The `$disconnect` event after the connection closed with `status_code`
/// (1005 when the client's close frame had none) and `reason`.
pub fn disconnect_event(ctx: &WsContext, status_code: u16, reason: &str) -> Value {
    // The fixed set API Gateway sends with every $disconnect.
    let groups: Vec<(String, Vec<String>)> = [
        ("Host", ctx.domain_name.as_str()),
        ("x-api-key", ""),
        ("X-Forwarded-For", ""),
        ("x-restapi", ""),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), vec![v.to_string()]))
    .collect();
    let mut extra = Map::new();
    extra.insert("disconnectStatusCode".into(), json!(status_code));
    extra.insert("disconnectReason".into(), json!(reason));
    json!({
        "headers": last_values(&groups),
        "multiValueHeaders": all_values(&groups),
        "requestContext": request_context(
            ctx,
            "$disconnect",
            "DISCONNECT",
            json!({"sourceIp": ctx.source_ip.to_string()}),
            extra,
        ),
        "isBase64Encoded": false,
    })
}

/// The event for one incoming message routed to `route_key`. Binary
/// frames arrive base64-encoded with `is_base64` set.
pub fn message_event(ctx: &WsContext, route_key: &str, body: &str, is_base64: bool) -> Value {
    let mut extra = Map::new();
    extra.insert("messageId".into(), json!(ids::api_gateway_id()));
    json!({
        "requestContext": request_context(
            ctx,
            route_key,
            "MESSAGE",
            json!({"sourceIp": ctx.source_ip.to_string()}),
            extra,
        ),
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

fn request_context(
    ctx: &WsContext,
    route_key: &str,
    event_type: &str,
    identity: Value,
    extra: Map<String, Value>,
) -> Value {
    let now = now_ms();
    let request_id = ids::api_gateway_id();
    let mut rc = Map::new();
    rc.insert("routeKey".into(), json!(route_key));
    rc.extend(extra);
    rc.insert("eventType".into(), json!(event_type));
    rc.insert("extendedRequestId".into(), json!(request_id));
    rc.insert("requestTime".into(), json!(access_log_time(now)));
    rc.insert("messageDirection".into(), json!("IN"));
    rc.insert("stage".into(), json!(ctx.stage));
    rc.insert("connectedAt".into(), json!(ctx.connected_at_ms));
    rc.insert("requestTimeEpoch".into(), json!(now));
    rc.insert("identity".into(), identity);
    rc.insert("requestId".into(), json!(request_id));
    rc.insert("domainName".into(), json!(ctx.domain_name));
    rc.insert("connectionId".into(), json!(ctx.connection_id));
    rc.insert("apiId".into(), json!(ctx.api_id));
    Value::Object(rc)
}

/// `sec-websocket-key` -> `Sec-WebSocket-Key`, `user-agent` -> `User-Agent`.
fn canonical_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|word| match word {
            "websocket" => "WebSocket".to_string(),
            _ => {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn last_values(groups: &[(String, Vec<String>)]) -> Value {
    Value::Object(
        groups
            .iter()
            .map(|(n, v)| (n.clone(), json!(v.last().cloned().unwrap_or_default())))
            .collect(),
    )
}

fn all_values(groups: &[(String, Vec<String>)]) -> Value {
    Value::Object(groups.iter().map(|(n, v)| (n.clone(), json!(v))).collect())
}

/// Evaluates a route selection expression against a message: the value at
/// `$request.body.<path>` (dots descend into nested objects), or a template
/// of `${request.body.<path>}` parts with text between them. `None` when the
/// body is not a JSON object or a referenced value is missing or not a
/// string: API Gateway then uses the `$default` route.
pub fn select_route(expression: &str, body: &str) -> Option<String> {
    let json: Value = serde_json::from_str(body).ok()?;
    if !json.is_object() {
        return None;
    }
    let lookup = |path: &str| -> Option<String> {
        let path = path.strip_prefix("request.body.")?;
        path.split('.')
            .try_fold(&json, |v, key| v.get(key))?
            .as_str()
            .map(str::to_string)
    };
    let expression = expression.trim();
    if let Some(path) = expression.strip_prefix('$').filter(|p| !p.starts_with('{')) {
        return lookup(path);
    }
    let mut out = String::new();
    let mut rest = expression;
    let mut referenced = false;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        out.push_str(&lookup(&rest[start + 2..end])?);
        referenced = true;
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    referenced.then_some(out)
}

/// The status API Gateway takes from a `$connect` integration's response:
/// its `statusCode` (a number or numeric string), 200 when the payload is
/// not an object or has none, and 502 for a `statusCode` that is not a
/// valid HTTP status (API Gateway cannot map it and fails the handshake).
pub fn status_code(payload: &[u8]) -> u16 {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(payload) else {
        return 200;
    };
    let code = match object.get("statusCode") {
        None | Some(Value::Null) => return 200,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    code.filter(|c| (100..=599).contains(c))
        .map_or(502, |c| c as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WsContext {
        WsContext {
            api_id: "abcd1234".into(),
            stage: "prod".into(),
            domain_name: "abcd1234.execute-api.us-east-1.amazonaws.com".into(),
            connection_id: "AAAA1234=".into(),
            connected_at_ms: 1_707_503_007_396,
            source_ip: "192.0.2.1".parse().unwrap(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn connect_carries_handshake_headers_and_query() {
        let mut h = http::HeaderMap::new();
        h.insert("host", "localhost:3001".parse().unwrap());
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("sec-websocket-key", "dGhlIHNhbXBsZQ==".parse().unwrap());
        h.insert("user-agent", "wscat".parse().unwrap());
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b".parse().unwrap());
        let e = connect_event(&ctx(), &h, Some("token=a%2Bb&room=1&room=2"));
        assert_eq!(
            e["headers"]["Host"],
            "abcd1234.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(e["headers"]["Sec-WebSocket-Key"], "dGhlIHNhbXBsZQ==");
        assert_eq!(e["headers"]["X-Multi"], "b");
        assert_eq!(e["multiValueHeaders"]["X-Multi"], json!(["a", "b"]));
        assert!(e["headers"].get("Connection").is_none() && e["headers"].get("Upgrade").is_none());
        assert_eq!(e["headers"]["X-Forwarded-For"], "192.0.2.1");
        assert_eq!(
            e["queryStringParameters"],
            json!({"token": "a+b", "room": "2"})
        );
        assert_eq!(
            e["multiValueQueryStringParameters"]["room"],
            json!(["1", "2"])
        );
        let rc = &e["requestContext"];
        assert_eq!(rc["routeKey"], "$connect");
        assert_eq!(rc["eventType"], "CONNECT");
        assert_eq!(rc["messageDirection"], "IN");
        assert_eq!(
            rc["identity"],
            json!({"sourceIp": "192.0.2.1", "userAgent": "wscat"})
        );
        assert!(rc.get("messageId").is_none());
        assert_eq!(e["isBase64Encoded"], false);
        let e = connect_event(&ctx(), &http::HeaderMap::new(), None);
        assert!(e.get("queryStringParameters").is_none());
    }

    #[test]
    fn disconnect_and_message_events() {
        let e = disconnect_event(&ctx(), 1005, "Client-side close frame status not set");
        let rc = &e["requestContext"];
        assert_eq!(rc["routeKey"], "$disconnect");
        assert_eq!(rc["eventType"], "DISCONNECT");
        assert_eq!(rc["disconnectStatusCode"], 1005);
        assert_eq!(
            rc["disconnectReason"],
            "Client-side close frame status not set"
        );
        assert_eq!(e["headers"]["x-restapi"], "");
        let m = message_event(&ctx(), "sendmessage", r#"{"action":"sendmessage"}"#, false);
        assert_eq!(m["requestContext"]["eventType"], "MESSAGE");
        assert_eq!(m["requestContext"]["routeKey"], "sendmessage");
        assert_eq!(m["requestContext"]["connectionId"], "AAAA1234=");
        assert!(
            m["requestContext"]["messageId"]
                .as_str()
                .unwrap()
                .ends_with('=')
        );
        assert_eq!(m["body"], r#"{"action":"sendmessage"}"#);
        assert_ne!(
            m["requestContext"]["requestId"],
            message_event(&ctx(), "x", "", false)["requestContext"]["requestId"]
        );
    }

    #[test]
    fn route_selection() {
        let body = r#"{"action":"join","meta":{"kind":"chat","n":3},"num":5}"#;
        assert_eq!(
            select_route("$request.body.action", body).as_deref(),
            Some("join")
        );
        assert_eq!(
            select_route("$request.body.meta.kind", body).as_deref(),
            Some("chat")
        );
        assert_eq!(
            select_route("${request.body.action}", body).as_deref(),
            Some("join")
        );
        assert_eq!(
            select_route("${request.body.meta.kind}/${request.body.action}", body).as_deref(),
            Some("chat/join")
        );
        for (expr, body) in [
            ("$request.body.missing", body),
            ("$request.body.num", body),
            ("$request.body.meta", body),
            ("$request.body.meta.n", body),
            ("$request.body.action", "not json"),
            ("$request.body.action", r#"["action"]"#),
            ("$request.body.action", r#""action""#),
            ("${request.body.action}-${request.body.missing}", body),
            ("constant", body),
            ("$request.header.x", body),
        ] {
            assert_eq!(select_route(expr, body), None, "{expr} on {body}");
        }
    }

    #[test]
    fn connect_status_codes() {
        assert_eq!(status_code(b"null"), 200);
        assert_eq!(status_code(b"\"ok\""), 200);
        assert_eq!(status_code(b""), 200);
        assert_eq!(status_code(br#"{"body":"x"}"#), 200);
        assert_eq!(status_code(br#"{"statusCode":403}"#), 403);
        assert_eq!(status_code(br#"{"statusCode":"401"}"#), 401);
        assert_eq!(status_code(br#"{"statusCode":1000}"#), 502);
        assert_eq!(status_code(br#"{"statusCode":true}"#), 502);
    }
}
