//! `archform event` through the built binary: every kind prints a JSON
//! event with AWS's key fields, bad flags exit 2 saying what to fix, and an
//! ALB event piped into `archform invoke` reaches lambdas/testfn's
//! `testfn-http` (an axum router behind lambda_http) as a real request.

mod support;

use archform_testkit::test_endpoint;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{archform, testfn_zip, text, workdir};

/// `archform event ARGS` must succeed and print one JSON document.
fn event(args: &[&str]) -> Value {
    let out = archform(Path::new("."), &[&["event"][..], args].concat());
    assert!(
        out.status.success(),
        "event {args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("event {args:?} is not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn alb_event() {
    let e = event(&[
        "alb",
        "--method",
        "POST",
        "--path",
        "/x?a=1",
        "--header",
        "content-type: text/plain",
        "--body",
        "hi",
        "--target-group-arn",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/abc",
    ]);
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["path"], "/x");
    assert_eq!(e["queryStringParameters"]["a"], "1");
    assert_eq!(
        e["requestContext"]["elb"]["targetGroupArn"],
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/abc"
    );
    assert_eq!(e["headers"]["content-type"], "text/plain");
    assert_eq!(e["body"], "hi");
    assert_eq!(e["isBase64Encoded"], false);

    let e = event(&["alb", "--path", "/?k=1&k=2", "--multi-value-headers"]);
    assert_eq!(
        e["multiValueQueryStringParameters"]["k"],
        serde_json::json!(["1", "2"])
    );
    assert!(e["multiValueHeaders"]["host"].is_array());
}

#[test]
fn function_url_event() {
    let e = event(&[
        "function-url",
        "--method",
        "PUT",
        "--path",
        "/items/7?q=a%20b",
        "--region",
        "eu-central-1",
    ]);
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["rawPath"], "/items/7");
    assert_eq!(e["rawQueryString"], "q=a%20b");
    assert_eq!(e["queryStringParameters"]["q"], "a b");
    let rc = &e["requestContext"];
    assert_eq!(rc["http"]["method"], "PUT");
    assert_eq!(rc["domainName"], "local.lambda-url.eu-central-1.on.aws");
    assert_eq!(rc["accountId"], "000000000000");
}

#[test]
fn sqs_event() {
    let e = event(&[
        "sqs",
        "--body",
        "hello",
        "--body",
        "world",
        "--attribute",
        "kind=greeting",
    ]);
    let records = e["Records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(r["body"], "hello");
    assert_eq!(r["md5OfBody"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(records[1]["md5OfBody"], "7d793037a0760186574b0282f2f435e7");
    assert_eq!(
        r["eventSourceARN"],
        "arn:aws:sqs:us-east-1:000000000000:local-queue"
    );
    assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    assert!(
        r["attributes"]["SentTimestamp"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "greeting");
    assert_eq!(r["messageId"].as_str().unwrap().len(), 36);
    assert_ne!(r["messageId"], records[1]["messageId"]);
}

#[test]
fn sns_event() {
    let e = event(&[
        "sns",
        "--message",
        "{\"order\":42}",
        "--subject",
        "new order",
        "--topic-arn",
        "arn:aws:sns:eu-west-1:123456789012:orders",
    ]);
    let r = &e["Records"][0];
    assert_eq!(r["EventSource"], "aws:sns");
    assert_eq!(r["Sns"]["Message"], "{\"order\":42}");
    assert_eq!(r["Sns"]["Subject"], "new order");
    assert_eq!(
        r["Sns"]["TopicArn"],
        "arn:aws:sns:eu-west-1:123456789012:orders"
    );
    assert!(
        r["Sns"]["UnsubscribeUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://sns.eu-west-1.amazonaws.com/")
    );
}

#[test]
fn websocket_events() {
    let e = event(&[
        "websocket",
        "--route",
        "$connect",
        "--connection-id",
        "abc=",
    ]);
    assert_eq!(e["requestContext"]["eventType"], "CONNECT");
    assert_eq!(e["requestContext"]["connectionId"], "abc=");
    assert_eq!(e["requestContext"]["stage"], "prod");
    let e = event(&["websocket", "--route", "$disconnect"]);
    assert_eq!(e["requestContext"]["eventType"], "DISCONNECT");
    let e = event(&[
        "websocket",
        "--route",
        "sendmessage",
        "--body",
        "{\"action\":\"sendmessage\"}",
        "--stage",
        "dev",
    ]);
    assert_eq!(e["requestContext"]["eventType"], "MESSAGE");
    assert_eq!(e["requestContext"]["routeKey"], "sendmessage");
    assert_eq!(e["requestContext"]["stage"], "dev");
    assert_eq!(e["body"], "{\"action\":\"sendmessage\"}");
}

#[test]
fn bad_flags_exit_2_with_the_fix() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["alb", "--header", "content-type=text/plain"],
            "write NAME:VALUE",
        ),
        (
            &["alb", "--method", "GTE"],
            "is not an HTTP method; use one of GET",
        ),
        (&["function-url", "--path", "hello"], "must start with `/`"),
        (
            &["alb", "--body", "@/nonexistent/archform-event-body.json"],
            "cannot read /nonexistent/archform-event-body.json",
        ),
        (&["websocket", "--route", ""], "--route is empty"),
        (
            &["sqs", "--body", "x", "--attribute", "kind"],
            "write NAME=VALUE",
        ),
    ];
    for (args, message) in cases {
        let out = archform(Path::new("."), &[&["event"][..], args].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(message),
            "{args:?}: `{message}` not in {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed an event");
    }
    // Missing required flags are clap's usage errors: exit 2 too.
    let out = archform(Path::new("."), &["event", "sqs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--body"),
        "{}",
        text(&out.stderr)
    );
}

const BLUEPRINT: &str = "name: event-http
description: one HTTP function for archform event | archform invoke
---
resources:
  role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  http:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: http.zip}
      memory_size: 128
      timeout: 5
";

#[test]
fn an_alb_event_drives_a_deployed_http_function() {
    let dir = workdir("roundtrip");
    testfn_zip(&dir, "http.zip", "testfn-http");
    std::fs::write(dir.join("bp.yaml"), BLUEPRINT).unwrap();
    let stack = format!("event-{}", std::process::id());
    let endpoint = test_endpoint();
    let target = ["--endpoint", endpoint.as_str()];

    let deploy = archform(
        &dir,
        &[&["deploy", "bp.yaml", "--stack", &stack][..], &target].concat(),
    );
    assert!(
        deploy.status.success(),
        "deploy: {}\n{}",
        text(&deploy.stdout),
        text(&deploy.stderr)
    );

    let generated = archform(
        &dir,
        &["event", "alb", "--method", "GET", "--path", "/hello"],
    );
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let mut invoke = Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(&dir)
        .args(
            [
                &["invoke", "http", "--stack", &stack, "--event", "-"][..],
                &target,
            ]
            .concat(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    invoke
        .stdin
        .take()
        .unwrap()
        .write_all(&generated.stdout)
        .unwrap();
    let out = invoke.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));

    let destroy = archform(
        &dir,
        &[&["destroy", "--stack", &stack][..], &target].concat(),
    );
    let _ = std::fs::remove_dir_all(&dir);

    assert!(out.status.success(), "invoke: {stdout}\n{stderr}");
    let response: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not the JSON response ({e}): {stdout}"));
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["body"], "hello from testfn-http", "{response}");
    assert!(
        destroy.status.success(),
        "destroy: {}",
        text(&destroy.stderr)
    );
}
