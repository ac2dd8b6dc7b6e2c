//! The events archform-local builds, read back by the types the functions
//! themselves use: every event is deserialized into its `aws_lambda_events`
//! type, and the HTTP ones go through `lambda_http`'s request conversion
//! (what a `lambda_http` function actually sees). Responses go the other
//! way: the `aws_lambda_events` response types, serialized as a function
//! returns them, through archform's readers.

use archform_local::events::{alb, function_url, sns, sqs, websocket};
use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::encodings::Body as EventBody;
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use http::{HeaderMap, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use std::net::IpAddr;

const CLIENT: &str = "203.0.113.7";

fn client() -> IpAddr {
    CLIENT.parse().unwrap()
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// What a `lambda_http` function gets for this event.
fn lambda_http_request(event: &Value) -> http::Request<Body> {
    let raw: LambdaRequest = serde_json::from_value(event.clone())
        .unwrap_or_else(|e| panic!("lambda_http cannot read the event ({e}): {event:#}"));
    raw.into()
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => panic!("unexpected body variant"),
    }
}

fn alb_target(multi: bool) -> alb::AlbTarget {
    alb::AlbTarget {
        target_group_arn:
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/6d0ecf831eec9f09"
                .into(),
        multi_value_headers: multi,
    }
}

#[test]
fn alb_event_reads_as_alb_target_group_request_and_lambda_http_request() {
    let parts = request(
        "POST",
        "/items/a%20b?x=1&x=2&q=hello%20world",
        &[
            ("host", "lb.example:8080"),
            ("content-type", "application/json"),
            ("x-custom", "one"),
            ("x-custom", "two"),
        ],
    );
    let body = br#"{"name":"widget"}"#;
    let event = alb::request_event(&parts, body, &alb_target(false), client(), 8080);

    let typed: AlbTargetGroupRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.http_method, http::Method::POST);
    assert_eq!(typed.path.as_deref(), Some("/items/a%20b"));
    assert_eq!(
        typed.request_context.elb.target_group_arn.as_deref(),
        Some(alb_target(false).target_group_arn.as_str())
    );
    // Not decoded, and the last of repeated values.
    assert_eq!(
        typed.query_string_parameters.first("q"),
        Some("hello%20world")
    );
    assert_eq!(typed.query_string_parameters.all("x"), Some(vec!["2"]));
    assert_eq!(typed.headers["x-custom"], "two");
    assert_eq!(typed.headers["x-forwarded-for"], CLIENT);
    assert_eq!(typed.headers["x-forwarded-port"], "8080");
    assert_eq!(typed.headers["x-forwarded-proto"], "http");
    assert!(typed.multi_value_headers.is_empty());
    assert!(!typed.is_base64_encoded);
    assert_eq!(typed.body.as_deref(), Some(r#"{"name":"widget"}"#));

    let req = lambda_http_request(&event);
    assert!(matches!(
        req.request_context(),
        lambda_http::request::RequestContext::Alb(_)
    ));
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().path(), "/items/a%20b");
    assert_eq!(req.uri().host(), Some("lb.example"));
    // lambda_http decodes what the load balancer left encoded.
    assert_eq!(
        req.query_string_parameters().first("q"),
        Some("hello world")
    );
    assert_eq!(req.query_string_parameters().first("x"), Some("2"));
    assert_eq!(req.headers()["content-type"], "application/json");
    assert_eq!(req.headers()["x-custom"], "two");
    assert_eq!(body_bytes(req.body()), body);
}

#[test]
fn alb_multi_value_event_with_binary_body() {
    let parts = request(
        "PUT",
        "/upload?tag=a&tag=b",
        &[
            ("host", "lb.example"),
            ("content-type", "application/octet-stream"),
            ("cookie", "name1=value1"),
            ("cookie", "name2=value2"),
        ],
    );
    let body = [0u8, 1, 2, 0xfe, 0xff];
    let event = alb::request_event(&parts, &body, &alb_target(true), client(), 80);

    let typed: AlbTargetGroupRequest = serde_json::from_value(event.clone()).unwrap();
    assert!(typed.headers.is_empty() && typed.query_string_parameters.is_empty());
    assert_eq!(
        typed.multi_value_query_string_parameters.all("tag"),
        Some(vec!["a", "b"])
    );
    let cookies: Vec<_> = typed.multi_value_headers.get_all("cookie").iter().collect();
    assert_eq!(cookies, ["name1=value1", "name2=value2"]);
    assert!(typed.is_base64_encoded);

    let req = lambda_http_request(&event);
    assert_eq!(req.method(), http::Method::PUT);
    assert_eq!(req.uri().path(), "/upload");
    assert_eq!(
        req.query_string_parameters().all("tag"),
        Some(vec!["a", "b"])
    );
    assert_eq!(req.headers().get_all("cookie").iter().count(), 2);
    assert!(matches!(req.body(), Body::Binary(_)));
    assert_eq!(body_bytes(req.body()), body);
}

fn url_context() -> function_url::UrlContext {
    function_url::UrlContext {
        url_id: "a1b2c3d4e5".into(),
        account_id: "123456789012".into(),
        region: "eu-west-1".into(),
    }
}

#[test]
fn function_url_event_reads_as_payload_2_and_lambda_http_request() {
    let parts = request(
        "POST",
        "/my/path?parameter1=value1&parameter1=value2&parameter2=a%20b",
        &[
            ("host", "localhost:9000"),
            ("user-agent", "curl/8.0"),
            ("accept", "text/html"),
            ("accept", "application/json"),
            ("cookie", "session=abc; theme=dark"),
            ("content-type", "text/plain; charset=utf-8"),
        ],
    );
    let event =
        function_url::request_event(&parts, b"Hello from client!", &url_context(), client());

    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.version.as_deref(), Some("2.0"));
    assert_eq!(typed.route_key.as_deref(), Some("$default"));
    assert_eq!(typed.raw_path.as_deref(), Some("/my/path"));
    assert_eq!(
        typed.raw_query_string.as_deref(),
        Some("parameter1=value1&parameter1=value2&parameter2=a%20b")
    );
    assert_eq!(
        typed.cookies,
        Some(vec!["session=abc".to_string(), "theme=dark".to_string()])
    );
    assert_eq!(typed.headers["accept"], "text/html,application/json");
    assert!(typed.headers.get("cookie").is_none());
    assert_eq!(
        typed.query_string_parameters.all("parameter1"),
        Some(vec!["value1", "value2"])
    );
    assert_eq!(
        typed.query_string_parameters.first("parameter2"),
        Some("a b")
    );
    let rc = &typed.request_context;
    assert_eq!(rc.http.method, http::Method::POST);
    assert_eq!(rc.http.path.as_deref(), Some("/my/path"));
    assert_eq!(rc.http.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(rc.http.source_ip.as_deref(), Some(CLIENT));
    assert_eq!(rc.http.user_agent.as_deref(), Some("curl/8.0"));
    assert_eq!(rc.account_id.as_deref(), Some("123456789012"));
    assert_eq!(rc.apiid.as_deref(), Some("a1b2c3d4e5"));
    assert_eq!(
        rc.domain_name.as_deref(),
        Some("a1b2c3d4e5.lambda-url.eu-west-1.on.aws")
    );
    assert_eq!(rc.domain_prefix.as_deref(), Some("a1b2c3d4e5"));
    assert_eq!(rc.stage.as_deref(), Some("$default"));
    assert_eq!(rc.request_id.as_ref().map(String::len), Some(36));
    assert!(rc.time_epoch > 1_700_000_000_000);
    assert!(rc.time.as_deref().unwrap().ends_with(" +0000"));
    assert_eq!(typed.body.as_deref(), Some("Hello from client!"));
    assert!(!typed.is_base64_encoded);

    let req = lambda_http_request(&event);
    assert!(matches!(
        req.request_context(),
        lambda_http::request::RequestContext::ApiGatewayV2(_)
    ));
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().path(), "/my/path");
    assert_eq!(
        req.uri().query(),
        Some("parameter1=value1&parameter1=value2&parameter2=a%20b")
    );
    assert_eq!(
        req.query_string_parameters().all("parameter1"),
        Some(vec!["value1", "value2"])
    );
    assert_eq!(req.headers()["cookie"], "session=abc; theme=dark");
    assert_eq!(req.headers()["user-agent"], "curl/8.0");
    assert_eq!(body_bytes(req.body()), b"Hello from client!");
}

#[test]
fn function_url_binary_body_and_bodiless_get() {
    let parts = request("POST", "/img", &[("content-type", "image/png")]);
    let png = [0x89u8, b'P', b'N', b'G', 0x0d, 0x0a];
    let event = function_url::request_event(&parts, &png, &url_context(), client());
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert!(typed.is_base64_encoded);
    assert_eq!(body_bytes(lambda_http_request(&event).body()), png);

    let event =
        function_url::request_event(&request("GET", "/", &[]), b"", &url_context(), client());
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.body, None);
    assert_eq!(typed.raw_query_string.as_deref(), Some(""));
    assert!(typed.query_string_parameters.is_empty());
    let req = lambda_http_request(&event);
    assert_eq!(req.uri().path(), "/");
    assert_eq!(req.uri().query(), None);
    assert!(body_bytes(req.body()).is_empty());
}

fn ws_context() -> websocket::WsContext {
    websocket::WsContext {
        api_id: "abcd1234".into(),
        stage: "prod".into(),
        domain_name: "abcd1234.execute-api.eu-west-1.amazonaws.com".into(),
        connection_id: "TWegAcC4EowCHnA=".into(),
        connected_at_ms: 1_707_503_007_396,
        source_ip: client(),
        account_id: "123456789012".into(),
    }
}

fn read_ws(event: &Value) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_value(event.clone())
        .unwrap_or_else(|e| panic!("not a websocket event ({e}): {event:#}"))
}

#[test]
fn websocket_events_read_as_websocket_proxy_requests() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost:3001"));
    headers.insert(
        "sec-websocket-key",
        HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
    );
    headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
    headers.insert("user-agent", HeaderValue::from_static("wscat"));
    let connect = read_ws(&websocket::connect_event(
        &ws_context(),
        &headers,
        Some("token=t%201"),
    ));
    let rc = &connect.request_context;
    assert_eq!(rc.route_key.as_deref(), Some("$connect"));
    assert_eq!(rc.event_type.as_deref(), Some("CONNECT"));
    assert_eq!(rc.message_direction.as_deref(), Some("IN"));
    assert_eq!(rc.connection_id.as_deref(), Some("TWegAcC4EowCHnA="));
    assert_eq!(rc.connected_at, 1_707_503_007_396);
    assert!(rc.request_time_epoch >= rc.connected_at);
    assert_eq!(rc.stage.as_deref(), Some("prod"));
    assert_eq!(rc.apiid.as_deref(), Some("abcd1234"));
    assert_eq!(
        rc.domain_name.as_deref(),
        Some("abcd1234.execute-api.eu-west-1.amazonaws.com")
    );
    assert_eq!(rc.identity.source_ip.as_deref(), Some(CLIENT));
    assert_eq!(rc.identity.user_agent.as_deref(), Some("wscat"));
    assert!(rc.extended_request_id.is_some() && rc.request_id.is_some());
    assert_eq!(rc.message_id, None);
    assert_eq!(
        connect.headers["sec-websocket-key"],
        "dGhlIHNhbXBsZSBub25jZQ=="
    );
    assert_eq!(
        connect.headers["host"],
        "abcd1234.execute-api.eu-west-1.amazonaws.com"
    );
    assert_eq!(connect.multi_value_headers["sec-websocket-version"], "13");
    assert_eq!(connect.query_string_parameters.first("token"), Some("t 1"));
    assert_eq!(
        connect.multi_value_query_string_parameters.all("token"),
        Some(vec!["t 1"])
    );
    assert!(!connect.is_base64_encoded);

    let message = read_ws(&websocket::message_event(
        &ws_context(),
        "sendmessage",
        r#"{"action":"sendmessage","text":"hi"}"#,
        false,
    ));
    let rc = &message.request_context;
    assert_eq!(rc.route_key.as_deref(), Some("sendmessage"));
    assert_eq!(rc.event_type.as_deref(), Some("MESSAGE"));
    assert!(rc.message_id.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        message.body.as_deref(),
        Some(r#"{"action":"sendmessage","text":"hi"}"#)
    );

    let disconnect = read_ws(&websocket::disconnect_event(
        &ws_context(),
        1001,
        "Going away",
    ));
    let rc = &disconnect.request_context;
    assert_eq!(rc.route_key.as_deref(), Some("$disconnect"));
    assert_eq!(rc.event_type.as_deref(), Some("DISCONNECT"));
    assert_eq!(rc.disconnect_status_code, Some(1001));
    assert_eq!(rc.disconnect_reason.as_deref(), Some("Going away"));
    assert_eq!(rc.identity.source_ip.as_deref(), Some(CLIENT));
}

#[test]
fn sqs_batch_reads_as_sqs_event() {
    let message = sqs::SqsMessage {
        message_id: "059f36b4-87a3-44ab-83d2-661975830a7d".into(),
        receipt_handle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a".into(),
        body: "test".into(),
        md5_of_body: "098f6bcd4621d373cade4e832627b4f6".into(),
        attributes: [
            ("ApproximateReceiveCount", "1"),
            ("SentTimestamp", "1545082649183"),
            ("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            ("ApproximateFirstReceiveTimestamp", "1545082649185"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        message_attributes: json!({
            "kind": {"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {"binaryValue": "AAEC", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}
        }),
    };
    let arn = "arn:aws:sqs:eu-west-1:123456789012:orders";
    let event = sqs::batch_event(&[message.clone(), message], arn, "eu-west-1");
    let typed: SqsEvent = serde_json::from_value(event).unwrap();
    assert_eq!(typed.records.len(), 2);
    let r = &typed.records[0];
    assert_eq!(
        r.message_id.as_deref(),
        Some("059f36b4-87a3-44ab-83d2-661975830a7d")
    );
    assert_eq!(
        r.receipt_handle.as_deref(),
        Some("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a")
    );
    assert_eq!(r.body.as_deref(), Some("test"));
    assert_eq!(
        r.md5_of_body.as_deref(),
        Some("098f6bcd4621d373cade4e832627b4f6")
    );
    assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(r.event_source_arn.as_deref(), Some(arn));
    assert_eq!(r.aws_region.as_deref(), Some("eu-west-1"));
    assert_eq!(r.attributes["ApproximateReceiveCount"], "1");
    assert_eq!(
        r.message_attributes["kind"].string_value.as_deref(),
        Some("order")
    );
    assert_eq!(
        r.message_attributes["blob"]
            .binary_value
            .as_ref()
            .map(|b| b.0.clone()),
        Some(vec![0, 1, 2])
    );
    assert_eq!(
        r.message_attributes["blob"].data_type.as_deref(),
        Some("Binary")
    );
}

#[test]
fn sns_notification_reads_as_sns_event() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:alerts";
    let subscription = format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55");
    let event = sns::event(
        topic,
        &subscription,
        "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        Some("TestInvoke"),
        "Hello from SNS!",
        &json!({"Test": {"Type": "String", "Value": "TestString"}}),
        "2026-01-02T12:45:07.000Z",
    );
    let typed: SnsEvent = serde_json::from_value(event).unwrap();
    let r = &typed.records[0];
    assert_eq!(r.event_source, "aws:sns");
    assert_eq!(r.event_version, "1.0");
    assert_eq!(r.event_subscription_arn, subscription);
    let m = &r.sns;
    assert_eq!(m.sns_message_type, "Notification");
    assert_eq!(m.message_id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
    assert_eq!(m.topic_arn, topic);
    assert_eq!(m.subject.as_deref(), Some("TestInvoke"));
    assert_eq!(m.message, "Hello from SNS!");
    assert_eq!(m.timestamp.to_rfc3339(), "2026-01-02T12:45:07+00:00");
    assert_eq!(m.signature_version, "1");
    assert!(
        m.signing_cert_url
            .starts_with("https://sns.eu-west-1.amazonaws.com/")
    );
    assert!(m.unsubscribe_url.ends_with(&subscription));
    assert_eq!(m.message_attributes["Test"].value, "TestString");
    assert_eq!(m.message_attributes["Test"].data_type, "String");

    let no_subject = sns::event(
        topic,
        &subscription,
        "id",
        None,
        "m",
        &Value::Null,
        "2026-01-02T12:45:07.000Z",
    );
    let typed: SnsEvent = serde_json::from_value(no_subject).unwrap();
    assert_eq!(typed.records[0].sns.subject, None);
    assert!(typed.records[0].sns.message_attributes.is_empty());
}

/// An ALB response as `lambda_http` builds one: both header fields filled
/// (so either target group setting works) and a status description.
fn alb_response(status: u16, headers: &[(&str, &str)], body: Option<EventBody>) -> Vec<u8> {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let mut r = AlbTargetGroupResponse::default();
    r.status_code = i64::from(status);
    r.status_description = Some(format!("{status} OK"));
    r.is_base64_encoded = matches!(body, Some(EventBody::Binary(_)));
    r.body = body;
    r.headers = map.clone();
    r.multi_value_headers = map;
    serde_json::to_vec(&r).unwrap()
}

#[test]
fn alb_target_group_responses_become_http_responses() {
    let payload = alb_response(
        200,
        &[
            ("content-type", "text/html"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
        Some(EventBody::Text("<h1>hi</h1>".into())),
    );
    let multi = alb::response(&payload, true).unwrap();
    assert_eq!(multi.status(), 200);
    assert_eq!(multi.headers()["content-type"], "text/html");
    let cookies: Vec<_> = multi.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(multi.body().as_ref(), b"<h1>hi</h1>");
    // Single-value headers carry one value per name.
    let single = alb::response(&payload, false).unwrap();
    assert_eq!(single.headers().get_all("set-cookie").iter().count(), 1);
    assert_eq!(single.body().as_ref(), b"<h1>hi</h1>");

    let bytes = vec![0u8, 0xff, 0x10, 0x80];
    let binary = alb_response(
        201,
        &[("content-type", "application/octet-stream")],
        Some(EventBody::Binary(bytes.clone())),
    );
    let r = alb::response(&binary, false).unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.body().as_ref(), bytes);

    // lambda_http writes an empty body as null.
    let empty = alb_response(204, &[], None);
    let r = alb::response(&empty, true).unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());

    // A default (status 0) response is one the load balancer rejects.
    let zero = serde_json::to_vec(&AlbTargetGroupResponse::default()).unwrap();
    assert!(alb::response(&zero, false).is_err());
}

#[test]
fn api_gateway_v2_responses_become_function_url_responses() {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = 201;
    r.headers
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r.headers
        .insert("x-request", HeaderValue::from_static("42"));
    r.cookies = vec!["sid=1; HttpOnly".into(), "theme=dark".into()];
    r.body = Some(EventBody::Text("created".into()));
    let out = function_url::response(&serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(out.status(), 201);
    assert_eq!(out.headers()["content-type"], "text/plain");
    assert_eq!(out.headers()["x-request"], "42");
    let cookies: Vec<_> = out.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["sid=1; HttpOnly", "theme=dark"]);
    assert_eq!(out.body().as_ref(), b"created");

    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = 200;
    r.is_base64_encoded = true;
    r.body = Some(EventBody::Binary(vec![1, 2, 3, 250]));
    let out = function_url::response(&serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(out.body().as_ref(), [1, 2, 3, 250]);
    assert_eq!(out.headers()["content-type"], "application/json");

    // A plain value (no statusCode) is the body of a 200 JSON response.
    let out = function_url::response(br#"{"message":"Hello, world!"}"#).unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(out.body().as_ref(), br#"{"message":"Hello, world!"}"#);

    let zero = serde_json::to_vec(&ApiGatewayV2httpResponse::default()).unwrap();
    assert!(function_url::response(&zero).is_err());
}
