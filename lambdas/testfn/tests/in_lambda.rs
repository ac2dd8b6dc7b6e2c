//! The event-source test functions under archform's local Lambda runtime
//! (`archform_local::LocalFunction`), fed the events AWS sends:
//! - `testfn-http`: ALB target group and function URL (payload 2.0) events;
//! - `testfn-sqs`: an SQS batch, forwarding to a real queue on the emulator;
//! - `testfn-ws`: WebSocket events, answering through a stand-in
//!   `@connections` endpoint (a real HTTP server in this process).

mod support;

use std::time::Duration;

use archform_local::{AwsEndpoint, FunctionConfig, InvokeOutcome, LocalFunction};
use serde_json::{Value, json};
use support::connections::{Call, ConnectionsStandIn, FORBIDDEN_ID, GONE_ID};

const TIMEOUT: Duration = Duration::from_secs(20);

fn function(bin: &str, exe: &str) -> FunctionConfig {
    FunctionConfig::new(exe, format!("in-lambda-{bin}-{}", std::process::id()))
}

/// The function's response, or a panic with the outcome and its logs.
fn response(outcome: &InvokeOutcome) -> &Value {
    outcome
        .response()
        .unwrap_or_else(|| panic!("not a response: {outcome:?}"))
}

/// The JSON document in a Lambda HTTP response's `body`.
fn json_body(response: &Value) -> Value {
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {response}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

// ---------------------------------------------------------------- testfn-http

/// An ALB target group event, shaped like the example in the Elastic Load
/// Balancing guide ("Lambda functions as targets"), single-value headers.
fn alb_event(method: &str, path: &str, body: &str, base64: bool) -> Value {
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-target-group/6d0ecf831eec9f09"
            }
        },
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {"colour": "blue"},
        "headers": {
            "accept": "text/html,application/xhtml+xml",
            "accept-language": "en-US,en;q=0.8",
            "content-type": "text/plain",
            "cookie": "cookies",
            "host": "lambda-846800462-us-east-1.elb.amazonaws.com",
            "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)",
            "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
            "x-forwarded-for": "72.21.198.66",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "isBase64Encoded": base64,
        "body": body
    })
}

/// A function URL event (payload format 2.0), shaped like the example in
/// the Lambda developer guide ("Invoking Lambda function URLs").
fn function_url_event(method: &str, raw_path: &str, raw_query: &str, body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "cookies": ["cookie1", "cookie2"],
        "headers": {
            "header1": "value1",
            "header2": "value1,value2",
            "host": "abcdefg.lambda-url.us-east-1.on.aws",
            "content-type": "text/plain"
        },
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefg",
            "authentication": null,
            "authorizer": {
                "iam": {
                    "accessKey": "AKIA...",
                    "accountId": "111122223333",
                    "callerId": "AIDA...",
                    "cognitoIdentity": null,
                    "principalOrgId": null,
                    "userArn": "arn:aws:iam::111122223333:user/example-user",
                    "userId": "AIDA..."
                }
            },
            "domainName": "abcdefg.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefg",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "123.123.123.123",
                "userAgent": "agent"
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390u64
        },
        "body": body,
        "pathParameters": null,
        "isBase64Encoded": false,
        "stageVariables": null
    })
}

fn http_function() -> LocalFunction {
    LocalFunction::new(function("testfn-http", env!("CARGO_BIN_EXE_testfn-http")))
}

#[tokio::test]
async fn http_answers_alb_events() {
    let mut f = http_function();

    let out = f
        .invoke(
            alb_event("POST", "/echo/alb", "request_body", false),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["statusDescription"], "200 OK", "ALB responses carry one");
    assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    assert_eq!(r["isBase64Encoded"], false);
    let echo = json_body(r);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/alb");
    assert_eq!(echo["query"], "colour=blue");
    assert_eq!(
        echo["headers"]["host"],
        json!(["lambda-846800462-us-east-1.elb.amazonaws.com"])
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"], json!(["https"]));
    assert_eq!(echo["body"], "request_body");

    // Repeated response headers: both cookies survive in multiValueHeaders.
    let out = f
        .invoke(alb_event("GET", "/cookies", "", false), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200);
    assert_eq!(
        r["multiValueHeaders"]["set-cookie"],
        json!(["a=1", "b=2"]),
        "{r}"
    );

    // Binary in and out: base64 both ways, same bytes.
    let out = f
        .invoke(alb_event("POST", "/binary", "AAEC//4=", true), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["isBase64Encoded"], true, "{r}");
    assert_eq!(r["body"], "AAEC//4=");
    assert_eq!(r["headers"]["content-type"], "application/octet-stream");

    let out = f
        .invoke(alb_event("GET", "/status/503", "", false), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response(&out)["statusCode"], 503);

    let out = f
        .invoke(alb_event("GET", "/nowhere", "", false), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 404);
    assert_eq!(json_body(r), json!({"error": "not found"}));
    assert_eq!(out.init_duration, None, "one warm process served them all");
}

#[tokio::test]
async fn http_answers_function_url_events() {
    let mut f = http_function();

    let out = f
        .invoke(
            function_url_event(
                "POST",
                "/echo/my/path",
                "parameter1=value1&parameter1=value2&parameter2=value",
                "Hello from client!",
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    assert!(
        r.get("statusDescription").is_none(),
        "a 2.0 response, not ALB's"
    );
    let echo = json_body(r);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/my/path");
    assert_eq!(
        echo["query"],
        "parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(echo["headers"]["header2"], json!(["value1,value2"]));
    assert_eq!(
        echo["headers"]["cookie"],
        json!(["cookie1; cookie2"]),
        "the event's cookies become one cookie header"
    );
    assert_eq!(echo["body"], "Hello from client!");

    // Payload 2.0 returns set-cookie headers in `cookies`.
    let out = f
        .invoke(function_url_event("GET", "/cookies", "", ""), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["cookies"], json!(["a=1", "b=2"]), "{r}");

    let out = f
        .invoke(function_url_event("GET", "/hello", "", ""), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["body"], "hello from testfn-http");
}

// ----------------------------------------------------------------- testfn-sqs

/// One record of an SQS event, shaped like the example in the Lambda
/// developer guide ("Using Lambda with Amazon SQS").
fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a-{message_id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:my-queue",
        "awsRegion": "us-east-1"
    })
}

const GOOD_ID: &str = "059f36b4-87a3-44ab-83d2-661975830a7d";
const POISON_ID: &str = "2e1424d4-f796-459a-8184-9c92662be6da";

fn good_and_poison_batch(good_body: &str) -> Value {
    json!({"Records": [
        sqs_record(GOOD_ID, good_body),
        sqs_record(POISON_ID, "this one is poison"),
    ]})
}

#[tokio::test]
async fn sqs_forwards_good_messages_and_reports_poison_ones() {
    let endpoint = tokio::task::spawn_blocking(archform_testkit::test_endpoint)
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&archform_testkit::sdk_config(&endpoint).await);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("testfn-out-{}", std::process::id()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url");

    let mut config = function("testfn-sqs", env!("CARGO_BIN_EXE_testfn-sqs"));
    config.aws_endpoint = Some(AwsEndpoint::emulator(endpoint));
    config
        .environment
        .push(("OUT_QUEUE_URL".into(), queue_url.clone()));
    let mut f = LocalFunction::new(config);

    let good_body = format!("a good message {}", std::process::id());
    let out = f
        .invoke(good_and_poison_batch(&good_body), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        response(&out),
        &json!({"batchItemFailures": [{"itemIdentifier": POISON_ID}]}),
        "logs: {}",
        out.logs
    );
    assert!(
        out.logs.contains(&format!("message {GOOD_ID} forwarded")),
        "{}",
        out.logs
    );
    assert!(
        out.logs
            .contains(&format!("message {POISON_ID} failed: poison message")),
        "{}",
        out.logs
    );

    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("ReceiveMessage");
    let bodies: Vec<&str> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, [good_body.as_str()], "only the good body arrived");

    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;
}

#[tokio::test]
async fn sqs_without_an_output_queue_fails_every_message() {
    let mut config = function("testfn-sqs", env!("CARGO_BIN_EXE_testfn-sqs"));
    // No AWS call is made, but the SDK wants a region and credentials to
    // build its client; none of the caller's configuration leaks in.
    config.aws_endpoint = Some(AwsEndpoint::emulator("http://127.0.0.1:9"));
    let mut f = LocalFunction::new(config);
    let out = f
        .invoke(good_and_poison_batch("fine"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        response(&out),
        &json!({"batchItemFailures": [
            {"itemIdentifier": GOOD_ID},
            {"itemIdentifier": POISON_ID},
        ]}),
    );
    assert!(
        out.logs.contains("OUT_QUEUE_URL is not set"),
        "{}",
        out.logs
    );
}

// ------------------------------------------------------------------ testfn-ws

const STAGE: &str = "dev";
const SENDER: &str = "sender-conn";

/// A WebSocket API event, shaped like the ones API Gateway sends for
/// `$connect`, `$disconnect` and message routes.
fn ws_event(route: &str, query: Option<Value>, body: Option<&str>) -> Value {
    let event_type = match route {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    let mut event = json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": "Aa1BbCcDdEeFfGg=",
            "requestTime": "09/Feb/2024:10:15:31 +0000",
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": 1707473731000i64,
            "requestTimeEpoch": 1707473731500i64,
            "identity": {"sourceIp": "192.0.2.1"},
            "requestId": "Aa1BbCcDdEeFfGg=",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "connectionId": SENDER,
            "apiId": "abc123"
        },
        "isBase64Encoded": false
    });
    if let Some(query) = query {
        event["queryStringParameters"] = query;
    }
    if let Some(body) = body {
        event["body"] = json!(body);
        event["requestContext"]["messageId"] = json!("Bb2CcDdEeFfGgHh=");
    }
    event
}

async fn ws_function(connections: &ConnectionsStandIn) -> LocalFunction {
    let mut config = function("testfn-ws", env!("CARGO_BIN_EXE_testfn-ws"));
    // Credentials to sign with; the management endpoint itself comes from
    // the override, as `archform dev` sets it.
    config.aws_endpoint = Some(AwsEndpoint::emulator(connections.endpoint(STAGE)));
    config.environment.push((
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".into(),
        connections.endpoint(STAGE),
    ));
    LocalFunction::new(config)
}

fn post(to: &str, body: Value) -> Call {
    post_text(to, &body.to_string())
}

fn post_text(to: &str, body: &str) -> Call {
    Call {
        method: hyper::Method::POST,
        path: format!("/{STAGE}/@connections/{to}"),
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn ws_connect_is_accepted_unless_asked_to_reject() {
    let connections = ConnectionsStandIn::start().await;
    let mut f = ws_function(&connections).await;

    let out = f
        .invoke(ws_event("$connect", None, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response(&out)["statusCode"], 200, "{}", out.logs);

    let out = f
        .invoke(
            ws_event("$connect", Some(json!({"reject": ""})), None),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(response(&out)["statusCode"], 403, "{}", out.logs);

    let out = f
        .invoke(ws_event("$disconnect", None, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response(&out)["statusCode"], 200);
    assert!(
        out.logs.contains(&format!("disconnect {SENDER}")),
        "{}",
        out.logs
    );
    assert_eq!(connections.take_calls(), [], "no management calls");
}

#[tokio::test]
async fn ws_messages_go_through_the_connections_endpoint() {
    let connections = ConnectionsStandIn::start().await;
    let mut f = ws_function(&connections).await;
    let mut message = async |route: &str, body: &str| -> Vec<Call> {
        let out = f
            .invoke(ws_event(route, None, Some(body)), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(response(&out)["statusCode"], 200, "{out:?}");
        connections.take_calls()
    };

    assert_eq!(
        message("echo", r#"{"action":"echo","data":{"n":1}}"#).await,
        [post(
            SENDER,
            json!({"echo": {"n": 1}, "route": "echo", "connection_id": SENDER})
        )]
    );
    assert_eq!(
        message("$default", "plain text").await,
        [post(
            SENDER,
            json!({"echo": "plain text", "route": "$default", "connection_id": SENDER})
        )],
        "$default echoes what it cannot route"
    );
    assert_eq!(
        message(
            "send",
            r#"{"action":"send","to":"friend-conn","data":"hi"}"#
        )
        .await,
        [post_text("friend-conn", "hi")]
    );
    assert_eq!(
        message(
            "send",
            r#"{"action":"send","to":"friend-conn","data":[1,2]}"#
        )
        .await,
        [post_text("friend-conn", "[1,2]")]
    );
    assert_eq!(
        message(
            "send",
            &json!({"action": "send", "to": GONE_ID, "data": "hi"}).to_string()
        )
        .await,
        [
            post_text(GONE_ID, "hi"),
            post(SENDER, json!({"gone": GONE_ID}))
        ],
        "a 410 is reported to the sender as gone"
    );
    assert_eq!(
        message(
            "send",
            &json!({"action": "send", "to": FORBIDDEN_ID, "data": "hi"}).to_string()
        )
        .await,
        [
            post_text(FORBIDDEN_ID, "hi"),
            post(SENDER, json!({"error": "Forbidden"}))
        ],
        "other failures are reported with the service's message"
    );
    assert_eq!(
        message("bye", r#"{"action":"bye"}"#).await,
        [Call {
            method: hyper::Method::DELETE,
            path: format!("/{STAGE}/@connections/{SENDER}"),
            body: String::new(),
        }]
    );
}
