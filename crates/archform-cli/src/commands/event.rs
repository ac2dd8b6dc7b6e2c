//! `archform event KIND ...`: prints a sample event, shaped exactly like the
//! one AWS sends (built by archform_local::events, the same code that
//! `archform dev` feeds functions with), to pipe into
//! `archform invoke FUNCTION --event -`.

mod flags;
mod http_request;

use anyhow::Context;
use archform_local::events::{alb, function_url, sns, sqs, websocket};
use flags::UsageError;
use http_request::HttpFlags;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

/// The account in default ARNs and contexts (the emulators' default too).
const ACCOUNT: &str = "000000000000";
/// Where sample requests come from.
const SOURCE_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LISTENER_PORT: u16 = 80;
const TARGET_GROUP_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/local/0000000000000000";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:local-queue";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:local-topic";
/// The IAM user id in AWS's sample SQS events.
const SQS_SENDER_ID: &str = "AIDAIENQZJOLO23YVJ4VO";

#[derive(Debug, clap::Args, Clone)]
pub struct EventArgs {
    #[command(subcommand)]
    pub kind: EventKind,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum EventKind {
    /// A request an Application Load Balancer forwards to a Lambda target group.
    Alb(AlbArgs),
    /// A request to a Lambda function URL (payload format 2.0).
    FunctionUrl(FunctionUrlArgs),
    /// A batch from an SQS event source mapping: one record per --body.
    Sqs(SqsArgs),
    /// An SNS notification to a `lambda` subscription.
    Sns(SnsArgs),
    /// An API Gateway WebSocket event: $connect, $disconnect or a message.
    Websocket(WebsocketArgs),
}

#[derive(Debug, clap::Args, Clone)]
pub struct AlbArgs {
    #[command(flatten)]
    pub http: HttpFlags,
    /// Send multiValueHeaders and multiValueQueryStringParameters, as a target
    /// group with `lambda.multi_value_headers.enabled` does.
    #[arg(long)]
    pub multi_value_headers: bool,
    /// The target group the function is registered in.
    #[arg(long, value_name = "ARN", default_value = TARGET_GROUP_ARN)]
    pub target_group_arn: String,
}

#[derive(Debug, clap::Args, Clone)]
pub struct FunctionUrlArgs {
    #[command(flatten)]
    pub http: HttpFlags,
    /// The function's region (part of the URL's domain name).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

#[derive(Debug, clap::Args, Clone)]
pub struct SqsArgs {
    /// A message body: the text itself, or @FILE (repeatable: one record each).
    #[arg(
        long = "body",
        value_name = "TEXT|@FILE",
        required = true,
        allow_hyphen_values = true
    )]
    pub bodies: Vec<String>,
    /// The queue the batch comes from (its region is the records' awsRegion).
    #[arg(long, value_name = "ARN", default_value = QUEUE_ARN)]
    pub queue_arn: String,
    /// A String message attribute on every record (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct SnsArgs {
    /// The notification's message: the text itself, or @FILE.
    #[arg(long, value_name = "TEXT|@FILE", allow_hyphen_values = true)]
    pub message: String,
    /// The notification's subject (null without it, as SNS sends).
    #[arg(long)]
    pub subject: Option<String>,
    /// The topic the notification comes from.
    #[arg(long, value_name = "ARN", default_value = TOPIC_ARN)]
    pub topic_arn: String,
    /// A String message attribute (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct WebsocketArgs {
    /// The route key: `$connect`, `$disconnect`, or a message route such as
    /// `sendmessage` or `$default`.
    #[arg(long, value_name = "KEY")]
    pub route: String,
    /// The message frame's text, or @FILE (message routes only).
    #[arg(long, value_name = "TEXT|@FILE", allow_hyphen_values = true)]
    pub body: Option<String>,
    /// The connection (default: a fresh id).
    #[arg(long, value_name = "ID")]
    pub connection_id: Option<String>,
    /// The API stage the client connected to.
    #[arg(long, default_value = "prod")]
    pub stage: String,
    /// The API's region (part of its domain name).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

/// Prints the event; exit 2 for flags that cannot make one.
pub fn run(args: &EventArgs) -> anyhow::Result<i32> {
    let event = match build(&args.kind) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let text = serde_json::to_string_pretty(&event)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // The reader (`| head`) stopped early: not this command's failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.context("writing the event to stdout").map(|()| 0),
    }
}

fn build(kind: &EventKind) -> Result<Value, UsageError> {
    match kind {
        EventKind::Alb(a) => alb_event(a),
        EventKind::FunctionUrl(a) => function_url_event(a),
        EventKind::Sqs(a) => sqs_event(a),
        EventKind::Sns(a) => sns_event(a),
        EventKind::Websocket(a) => websocket_event(a),
    }
}

fn alb_event(a: &AlbArgs) -> Result<Value, UsageError> {
    let region = flags::arn(
        "--target-group-arn",
        &a.target_group_arn,
        "elasticloadbalancing",
        TARGET_GROUP_ARN,
    )?;
    let (parts, body) = a
        .http
        .request(&format!("local-alb.{region}.elb.amazonaws.com"))?;
    let target = alb::AlbTarget {
        target_group_arn: a.target_group_arn.clone(),
        multi_value_headers: a.multi_value_headers,
    };
    Ok(alb::request_event(
        &parts,
        &body,
        &target,
        SOURCE_IP,
        LISTENER_PORT,
    ))
}

fn function_url_event(a: &FunctionUrlArgs) -> Result<Value, UsageError> {
    let ctx = function_url::UrlContext {
        url_id: "local".into(),
        account_id: ACCOUNT.into(),
        region: flags::region(&a.region)?.into(),
    };
    let (parts, body) = a.http.request(&ctx.domain_name())?;
    Ok(function_url::request_event(&parts, &body, &ctx, SOURCE_IP))
}

fn sqs_event(a: &SqsArgs) -> Result<Value, UsageError> {
    let region = flags::arn("--queue-arn", &a.queue_arn, "sqs", QUEUE_ARN)?;
    let message_attributes: Map<String, Value> = flags::attributes(&a.attributes)?
        .into_iter()
        .map(|(name, value)| {
            let attribute = json!({
                "stringValue": value,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            });
            (name, attribute)
        })
        .collect();
    let now = archform_local::events::clock::now_ms().to_string();
    let mut messages = Vec::new();
    for arg in &a.bodies {
        let body = flags::text("--body", arg)?;
        let attributes: BTreeMap<String, String> = [
            ("ApproximateReceiveCount", "1"),
            ("SentTimestamp", now.as_str()),
            ("SenderId", SQS_SENDER_ID),
            ("ApproximateFirstReceiveTimestamp", now.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        messages.push(sqs::SqsMessage {
            message_id: archform_ids::uuid_v4(),
            receipt_handle: archform_ids::receipt_handle(),
            md5_of_body: md5_hex(body.as_bytes()),
            body,
            attributes,
            message_attributes: Value::Object(message_attributes.clone()),
        });
    }
    Ok(sqs::batch_event(&messages, &a.queue_arn, region))
}

/// MD5 as 32 lower-case hex digits, the `md5OfBody` SQS puts in every
/// record: functions and libraries may check it, so a sample event carries
/// the real digest.
fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sns_event(a: &SnsArgs) -> Result<Value, UsageError> {
    flags::arn("--topic-arn", &a.topic_arn, "sns", TOPIC_ARN)?;
    let message = flags::text("--message", &a.message)?;
    let attributes: Map<String, Value> = flags::attributes(&a.attributes)?
        .into_iter()
        .map(|(name, value)| (name, json!({"Type": "String", "Value": value})))
        .collect();
    // A subscription ARN is the topic's plus the subscription's id.
    let subscription_arn = format!("{}:{}", a.topic_arn, archform_ids::uuid_v4());
    Ok(sns::event(
        &a.topic_arn,
        &subscription_arn,
        &archform_ids::uuid_v4(),
        a.subject.as_deref(),
        &message,
        &Value::Object(attributes),
        &archform_local::events::clock::iso8601(archform_local::events::clock::now_ms()),
    ))
}

fn websocket_event(a: &WebsocketArgs) -> Result<Value, UsageError> {
    let route = flags::non_empty("--route", &a.route, "sendmessage")?;
    let stage = flags::non_empty("--stage", &a.stage, "prod")?;
    let region = flags::region(&a.region)?;
    let connection_id = match &a.connection_id {
        Some(id) => flags::non_empty("--connection-id", id, "L0SM9cOFvHcCIhw=")?.to_string(),
        None => archform_ids::api_gateway_id(),
    };
    let ctx = websocket::WsContext {
        api_id: "local".into(),
        stage: stage.into(),
        domain_name: format!("local.execute-api.{region}.amazonaws.com"),
        connection_id,
        connected_at_ms: archform_local::events::clock::now_ms(),
        source_ip: SOURCE_IP,
        account_id: ACCOUNT.into(),
    };
    let no_body = || match a.body {
        Some(_) => Err(UsageError(format!(
            "--body is for message routes; a {route} event carries no body, so drop --body \
             or pick a message route such as --route sendmessage"
        ))),
        None => Ok(()),
    };
    match route {
        "$connect" => {
            no_body()?;
            Ok(websocket::connect_event(&ctx, &handshake_headers(), None))
        }
        "$disconnect" => {
            no_body()?;
            // A normal close (1000) from the client, without a reason.
            Ok(websocket::disconnect_event(&ctx, 1000, ""))
        }
        _ => {
            let body = match &a.body {
                Some(arg) => flags::text("--body", arg)?,
                None => String::new(),
            };
            Ok(websocket::message_event(&ctx, route, &body, false))
        }
    }
}

/// The headers a WebSocket client's opening handshake carries (RFC 6455);
/// API Gateway passes them to `$connect`.
fn handshake_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let key = archform_ids::websocket_key();
    let ua = concat!("archform/", env!("CARGO_PKG_VERSION"));
    for (name, value) in [
        ("sec-websocket-key", key.as_str()),
        ("sec-websocket-version", "13"),
        (
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        ),
        ("user-agent", ua),
    ] {
        headers.insert(
            name,
            http::HeaderValue::from_str(value).expect("visible ASCII"),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn md5_rfc_1321_test_suite() {
        let vectors: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in vectors {
            assert_eq!(md5_hex(input.as_bytes()), want, "MD5({input:?})");
        }
        // 55, 56 and 64 bytes: one block, two blocks, padding in a block of its own.
        assert_eq!(md5_hex(&[b'a'; 55]), "ef1772b6dff9a122358552954ad0df65");
        assert_eq!(md5_hex(&[b'a'; 56]), "3b0c8ac703f828b04c6c197006d17218");
        assert_eq!(md5_hex(&[b'a'; 64]), "014842d480b571495a4a0363793f7367");
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    /// Parses `archform event ...` as the real CLI does.
    fn parse(args: &[&str]) -> EventKind {
        let cli =
            crate::args::Cli::try_parse_from(["archform", "event"].iter().chain(args).copied())
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            crate::args::Command::Event(e) => e.kind,
            other => panic!("{other:?}"),
        }
    }

    fn event(args: &[&str]) -> Value {
        build(&parse(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn usage_error(args: &[&str]) -> String {
        build(&parse(args)).expect_err("expected a usage error").0
    }

    #[test]
    fn alb_flags_make_the_request() {
        let e = event(&[
            "alb",
            "--method",
            "post",
            "--path",
            "/x?a=1&a=2",
            "--header",
            "X-Id: 7",
            "--header",
            "content-type:application/json",
            "--body",
            "{\"k\":1}",
        ]);
        assert_eq!(e["httpMethod"], "POST");
        assert_eq!(e["path"], "/x");
        assert_eq!(e["queryStringParameters"], json!({"a": "2"}));
        assert_eq!(e["headers"]["x-id"], "7");
        assert_eq!(
            e["headers"]["host"],
            "local-alb.us-east-1.elb.amazonaws.com"
        );
        assert_eq!(e["headers"]["x-forwarded-port"], "80");
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(e["body"], "{\"k\":1}");
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(
            e["requestContext"]["elb"]["targetGroupArn"],
            TARGET_GROUP_ARN
        );

        let e = event(&["alb", "--path", "/?a=1&a=2", "--multi-value-headers"]);
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"a": ["1", "2"]})
        );
        assert!(e.get("headers").is_none());
    }

    #[test]
    fn function_url_uses_the_region() {
        let e = event(&[
            "function-url",
            "--path",
            "/a?b=c%20d",
            "--region",
            "eu-west-1",
        ]);
        let rc = &e["requestContext"];
        assert_eq!(rc["domainName"], "local.lambda-url.eu-west-1.on.aws");
        assert_eq!(rc["accountId"], ACCOUNT);
        assert_eq!(rc["http"]["method"], "GET");
        assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(e["queryStringParameters"], json!({"b": "c d"}));
        assert_eq!(e["headers"]["host"], "local.lambda-url.eu-west-1.on.aws");
    }

    #[test]
    fn sqs_has_one_record_per_body() {
        let e = event(&[
            "sqs",
            "--body",
            "hello",
            "--body",
            "-2",
            "--queue-arn",
            "arn:aws:sqs:eu-west-1:123456789012:orders",
            "--attribute",
            "kind=order",
        ]);
        let records = e["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["md5OfBody"], "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(records[1]["body"], "-2");
        assert_ne!(records[0]["messageId"], records[1]["messageId"]);
        assert_eq!(records[0]["awsRegion"], "eu-west-1");
        assert_eq!(records[0]["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(
            records[1]["messageAttributes"]["kind"],
            json!({"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
        );
    }

    #[test]
    fn sns_carries_subject_and_attributes() {
        let e = event(&[
            "sns",
            "--message",
            "hi",
            "--subject",
            "S",
            "--attribute",
            "a=b",
        ]);
        let sns = &e["Records"][0]["Sns"];
        assert_eq!(sns["TopicArn"], TOPIC_ARN);
        assert_eq!(sns["Subject"], "S");
        assert_eq!(
            sns["MessageAttributes"]["a"],
            json!({"Type": "String", "Value": "b"})
        );
        let ts = sns["Timestamp"].as_str().unwrap();
        assert!(ts.len() == 24 && ts.ends_with('Z'), "{ts}");
        let sub = e["Records"][0]["EventSubscriptionArn"].as_str().unwrap();
        assert!(sub.starts_with(&format!("{TOPIC_ARN}:")), "{sub}");
    }

    #[test]
    fn websocket_routes_pick_the_event() {
        let e = event(&["websocket", "--route", "$connect", "--connection-id", "c1"]);
        assert_eq!(e["requestContext"]["eventType"], "CONNECT");
        assert_eq!(e["requestContext"]["connectionId"], "c1");
        assert_eq!(e["headers"]["Sec-WebSocket-Version"], "13");
        let e = event(&["websocket", "--route", "$disconnect", "--stage", "dev"]);
        assert_eq!(e["requestContext"]["eventType"], "DISCONNECT");
        assert_eq!(e["requestContext"]["stage"], "dev");
        let e = event(&["websocket", "--route", "sendmessage", "--body", "{\"a\":1}"]);
        assert_eq!(e["requestContext"]["eventType"], "MESSAGE");
        assert_eq!(e["requestContext"]["routeKey"], "sendmessage");
        assert_eq!(e["body"], "{\"a\":1}");
    }

    #[test]
    fn bad_flags_say_what_to_do() {
        let m = usage_error(&["alb", "--header", "nocolon"]);
        assert!(m.contains("has no `:`"), "{m}");
        let m = usage_error(&["function-url", "--method", "FETCH"]);
        assert!(m.contains("not an HTTP method"), "{m}");
        let m = usage_error(&["websocket", "--route", ""]);
        assert!(m.contains("--route is empty"), "{m}");
        let m = usage_error(&["websocket", "--route", "$connect", "--body", "x"]);
        assert!(m.contains("carries no body"), "{m}");
        let m = usage_error(&["sqs", "--body", "x", "--queue-arn", "orders"]);
        assert!(m.contains("not an sqs ARN"), "{m}");
        let m = usage_error(&["alb", "--target-group-arn", "arn:aws:sqs:us-east-1:1:q"]);
        assert!(m.contains("not an elasticloadbalancing ARN"), "{m}");
        let m = usage_error(&["sns", "--message", "@/nonexistent/archform-event"]);
        assert!(m.contains("cannot read"), "{m}");
    }
}
