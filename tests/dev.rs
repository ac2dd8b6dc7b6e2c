//! `archform dev` through the built binary against a stack deployed to the
//! emulator: an ALB (listener rules, fixed response, lambda target group) in
//! front of lambdas/testfn's `testfn-http`, an SQS queue with a DLQ feeding
//! `testfn-sqs` through an event source mapping, and a WebSocket API routing
//! to `testfn-ws`. Real HTTP and WebSocket clients; the emulator does the
//! queue's redrive to its DLQ.

mod support;

use archform_testkit::{sdk_config, test_endpoint};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Dev, archform, testfn_zip, text, workdir};
use tokio_tungstenite::tungstenite::Message;

const BLUEPRINT: &str = r#"name: dev-test
description: one of each front archform dev stands in for
---
resources:
{{> network/vpc cidr="10.61.0.0/16" azs=2 nat="none" app=false data=false endpoints=false}}
  alb_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: test ALB
      ingress:
        - {protocol: tcp, from_port: 80, to_port: 80, cidr: 0.0.0.0/0, description: HTTP}
{{> edge/alb id="alb" scheme="internet-facing" tier="public" azs=2 sg="alb_sg"}}
  role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  http:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: http.zip}
      timeout: 5
  web_tg:
    kind: elbv2.target_group
    properties:
      target_type: lambda
      multi_value_headers: true
  web_invoke:
    kind: lambda.permission
    properties:
      function_name: ${http.name}
      principal: elasticloadbalancing.amazonaws.com
      action: lambda:InvokeFunction
      source_arn: ${web_tg.arn}
  web_target:
    kind: elbv2.lambda_target
    depends_on: [web_invoke]
    properties:
      target_group_arn: ${web_tg.arn}
      function_arn: ${http.arn}
  teapot_rule:
    kind: elbv2.listener_rule
    properties:
      listener_arn: ${alb_http.arn}
      priority: 5
      path_patterns: ["/teapot"]
      action: {type: fixed-response, status_code: 418, content_type: text/plain, message_body: "short and stout"}
  web_rule:
    kind: elbv2.listener_rule
    properties:
      listener_arn: ${alb_http.arn}
      priority: 10
      path_patterns: ["/hello", "/echo*", "/cookies", "/status/*", "/binary"]
      action: {type: forward, target_group_arn: "${web_tg.arn}"}
{{> messaging/queue-with-dlq id="work" visibility=6 max_receive=2 retention=3600}}
  out:
    kind: sqs.queue
    properties:
      visibility_timeout: 30
      sqs_managed_sse: true
  consumer:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: sqs.zip}
      timeout: 1
      environment:
        OUT_QUEUE_URL: ${out.url}
  consumer_events:
    kind: lambda.event_source_mapping
    properties:
      function_name: ${consumer.name}
      event_source_arn: ${work.arn}
      batch_size: 10
      report_batch_item_failures: true
  sockets:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: ws.zip}
      timeout: 5
  ws:
    kind: apigatewayv2.api
    properties:
      protocol_type: WEBSOCKET
      route_selection_expression: $request.body.action
{{> edge/websocket-integration id="ws_all" api="ws" function="sockets" route="*" timeout_ms=29000}}
{{> edge/websocket-route id="ws_connect" api="ws" key="$connect" integration="ws_all_integration"}}
{{> edge/websocket-route id="ws_disconnect" api="ws" key="$disconnect" integration="ws_all_integration"}}
{{> edge/websocket-route id="ws_default" api="ws" key="$default" integration="ws_all_integration"}}
{{> edge/websocket-route id="ws_echo" api="ws" key="echo" integration="ws_all_integration"}}
{{> edge/websocket-route id="ws_send" api="ws" key="send" integration="ws_all_integration"}}
{{> edge/websocket-route id="ws_bye" api="ws" key="bye" integration="ws_all_integration"}}
outputs:
  out_queue:
    value: ${out.url}
  work_queue:
    value: ${work.url}
  work_dlq:
    value: ${work_dlq.url}
"#;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Bytes) {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

async fn check_http(alb: &str) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let (status, headers, body) = request(&client, "GET", &format!("{alb}/hello"), &[], b"").await;
    assert_eq!(
        (status, text(&body).as_str()),
        (200, "hello from testfn-http")
    );
    assert!(
        headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/plain")),
        "{headers:?}"
    );

    // Method, path, raw query, repeated headers and body reach the function
    // the way the ALB passes them (multi-value target group).
    let (status, _, body) = request(
        &client,
        "POST",
        &format!("{alb}/echo/deeper?a=1&a=2&q=hello%20world"),
        &[
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("content-type", "application/json"),
        ],
        br#"{"k":"v"}"#,
    )
    .await;
    assert_eq!(status, 200, "{}", text(&body));
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["path"], "/echo/deeper", "{echo}");
    assert_eq!(echo["body"], r#"{"k":"v"}"#, "{echo}");
    let query = echo["query"].as_str().unwrap();
    // lambda_http rebuilds the query from the event's parameters, so the
    // encoding of the space is its choice; the values are what matter.
    for part in ["a=1", "a=2"] {
        assert!(query.contains(part), "query {query:?} lacks {part}");
    }
    assert!(
        query.contains("q=hello+world") || query.contains("q=hello%20world"),
        "query {query:?}"
    );
    assert_eq!(echo["headers"]["x-multi"], json!(["one", "two"]), "{echo}");
    let forwarded = echo["headers"]["x-forwarded-for"][0]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        forwarded, "127.0.0.1",
        "the ALB appends the client address: {echo}"
    );
    assert_eq!(
        echo["headers"]["x-forwarded-proto"],
        json!(["http"]),
        "{echo}"
    );

    // Two Set-Cookie headers survive (multi-value headers).
    let (status, headers, _) = request(&client, "GET", &format!("{alb}/cookies"), &[], b"").await;
    assert_eq!(status, 200);
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);

    // The function's status passes through; binary bodies round-trip.
    let (status, _, _) = request(&client, "GET", &format!("{alb}/status/503"), &[], b"").await;
    assert_eq!(status, 503);
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let (status, headers, body) = request(
        &client,
        "POST",
        &format!("{alb}/binary"),
        &[("content-type", "application/octet-stream")],
        &binary,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(body.as_ref(), binary.as_slice());

    // Listener rules: a fixed response by priority, the default action
    // (404 JSON from the blueprint's listener) for paths no rule matches.
    let (status, _, body) = request(&client, "GET", &format!("{alb}/teapot"), &[], b"").await;
    assert_eq!((status, text(&body).as_str()), (418, "short and stout"));
    let (status, _, body) = request(&client, "GET", &format!("{alb}/nowhere"), &[], b"").await;
    assert_eq!(
        (status, text(&body).as_str()),
        (404, r#"{"error":"no route"}"#)
    );
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for m in out.messages() {
        bodies.extend(m.body().map(str::to_string));
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .unwrap();
    }
    bodies
}

async fn check_sqs(sqs: &aws_sdk_sqs::Client, outputs: &Value) {
    let queue = |k: &str| {
        outputs[k]
            .as_str()
            .unwrap_or_else(|| panic!("no output {k}: {outputs}"))
            .to_string()
    };
    let (work, out, dlq) = (queue("work_queue"), queue("out_queue"), queue("work_dlq"));
    for body in ["good message 1", "poison pill", "good message 2"] {
        sqs.send_message()
            .queue_url(&work)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // The good messages are forwarded by the function and deleted by the
    // poller; the poison one is reported as a batch item failure, comes back
    // after the visibility timeout, and after maxReceiveCount (2) receives
    // the queue's redrive moves it to the DLQ.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut forwarded = Vec::new();
    let mut dead = Vec::new();
    while (forwarded.len() < 2 || dead.is_empty()) && Instant::now() < deadline {
        forwarded.extend(receive_all(sqs, &out).await);
        dead.extend(receive_all(sqs, &dlq).await);
    }
    forwarded.sort();
    assert_eq!(forwarded, ["good message 1", "good message 2"]);
    assert_eq!(dead, ["poison pill"]);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&work)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0"
    );
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no WebSocket message within 10 s")
        .expect("the connection ended")
        .expect("WebSocket error");
    match msg {
        Message::Text(t) => {
            serde_json::from_str(&t).unwrap_or_else(|_| Value::String(t.to_string()))
        }
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn check_websocket(url: &str) {
    // $connect decides: the function answers 403 to `?reject`.
    match tokio_tungstenite::connect_async(format!("{url}?reject=1")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("a rejected $connect should fail the handshake with 403, got {other:?}"),
    }
    let (mut a, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    // Route selection: `echo` by $request.body.action; the function answers
    // through PostToConnection on the local @connections endpoint.
    a.send(Message::Text(r#"{"action":"echo","data":"hi"}"#.into()))
        .await
        .unwrap();
    let echo = next_json(&mut a).await;
    assert_eq!(echo["echo"], "hi", "{echo}");
    assert_eq!(echo["route"], "echo", "{echo}");
    let a_id = echo["connection_id"].as_str().unwrap().to_string();
    // Unknown actions and non-JSON go to $default.
    a.send(Message::Text(r#"{"action":"dance","data":1}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut a).await["route"], "$default");
    a.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(next_json(&mut a).await["route"], "$default");

    b.send(Message::Text(r#"{"action":"echo","data":"b"}"#.into()))
        .await
        .unwrap();
    let b_id = next_json(&mut b).await["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a_id, b_id);

    // One connection posts to another.
    let send = json!({"action": "send", "to": b_id, "data": {"from": "a"}});
    a.send(Message::Text(send.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut b).await, json!({"from": "a"}));

    // Once b is gone, posting to it is 410 GoneException, which the
    // function reports back to a.
    b.close(None).await.unwrap();
    while let Some(Ok(_)) = b.next().await {}
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.send(Message::Text(send.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut a).await, json!({"gone": b_id}));

    // DeleteConnection closes the socket from the server side.
    a.send(Message::Text(r#"{"action":"bye"}"#.into()))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(msg) = a.next().await {
            match msg {
                Ok(Message::Close(_)) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        true
    })
    .await;
    assert_eq!(
        closed,
        Ok(true),
        "DeleteConnection did not close the connection"
    );
}

/// Bootstrap processes still running from this dev run's work folder.
fn leftover_processes(stack: &str) -> Vec<String> {
    let marker = format!("archform-dev-{stack}-");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path().join("exe")).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.contains(&marker))
        .collect()
}

#[test]
fn dev_runs_the_stack_locally() {
    let dir = workdir("stack");
    for (zip, bin) in [
        ("http.zip", "testfn-http"),
        ("sqs.zip", "testfn-sqs"),
        ("ws.zip", "testfn-ws"),
    ] {
        testfn_zip(&dir, zip, bin);
    }
    std::fs::write(dir.join("bp.yaml"), BLUEPRINT).unwrap();
    let stack = format!("dev-{}", std::process::id());
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
    let outputs = archform(
        &dir,
        &[
            &["--output", "json", "outputs", "--stack", &stack][..],
            &target,
        ]
        .concat(),
    );
    assert!(
        outputs.status.success(),
        "outputs: {}",
        text(&outputs.stderr)
    );
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();

    let mut dev = Dev::start(&dir, &stack, &endpoint);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(&endpoint).await);
        check_http(&dev.url("alb")).await;
        check_websocket(&dev.url("websocket")).await;
        check_sqs(&sqs, &outputs).await;
    });

    let status = dev.interrupt();
    assert!(
        status.success(),
        "archform dev exited with {status} after Ctrl-C"
    );
    assert_eq!(
        leftover_processes(&stack),
        Vec::<String>::new(),
        "function processes outlived dev"
    );

    let destroy = archform(
        &dir,
        &[&["destroy", "--stack", &stack, "--yes"][..], &target].concat(),
    );
    assert!(
        destroy.status.success(),
        "destroy: {}",
        text(&destroy.stderr)
    );
}

#[test]
fn dev_refuses_a_stack_that_was_never_deployed() {
    let dir = workdir("missing");
    let endpoint = test_endpoint();
    let out = archform(
        &dir,
        &["dev", "--stack", "never-deployed", "--endpoint", &endpoint],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no state for stack `never-deployed`")
            && stderr.contains("deploy it first"),
        "{stderr}"
    );
}
