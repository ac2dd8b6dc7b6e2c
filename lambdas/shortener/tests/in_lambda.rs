//! The two functions under archform's local Lambda runtime
//! (`archform_local::LocalFunction`) against the AWS emulator, fed the
//! events AWS sends: ALB and function URL events for `shortener-api`, an
//! SQS batch for `click-aggregator`. Stopping the API function sends it
//! SIGTERM, which must flush the pending click batch.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archform_local::{AwsEndpoint, FunctionConfig, InvokeOutcome, LocalFunction};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shortener::clicks::ClickEvent;
use support::{Resources, receive, sqs_event};

const TIMEOUT: Duration = Duration::from_secs(20);
const ALB_HOST: &str = "shortener-123456.us-east-1.elb.amazonaws.com";
const URL_HOST: &str = "abcdefg.lambda-url.us-east-1.on.aws";
/// The address the ALB appended to X-Forwarded-For (the client's real one).
const ALB_CLIENT: &str = "198.51.100.7";
const URL_CLIENT: &str = "123.123.123.123";

fn function(bin: &str, exe: &str, endpoint: &str, env: &[(&str, &str)]) -> LocalFunction {
    let mut config = FunctionConfig::new(exe, format!("{bin}-{}", std::process::id()));
    config.aws_endpoint = Some(AwsEndpoint::emulator(endpoint));
    config.environment = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    LocalFunction::new(config)
}

/// An ALB target group event (Elastic Load Balancing guide, "Lambda
/// functions as targets"); the client put a spoofed address first.
fn alb_event(method: &str, path: &str, body: &str) -> Value {
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shortener/6d0ecf831eec9f09"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {
            "content-type": "application/json",
            "host": ALB_HOST,
            "user-agent": "in-lambda-test",
            "x-forwarded-for": format!("6.6.6.6, {ALB_CLIENT}"),
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "isBase64Encoded": false,
        "body": body
    })
}

/// A function URL event (payload format 2.0).
fn function_url_event(method: &str, path: &str, body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": URL_HOST, "x-forwarded-for": "6.6.6.6"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefg",
            "domainName": URL_HOST,
            "domainPrefix": "abcdefg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": URL_CLIENT, "userAgent": "agent"},
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn response(outcome: &InvokeOutcome) -> &Value {
    outcome
        .response()
        .unwrap_or_else(|| panic!("not a response: {outcome:?}"))
}

fn json_body(response: &Value) -> Value {
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {response}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

/// Whether a rate window item of `client` exists (this minute or the last,
/// in case the minute turned during the test).
async fn has_rate_window(resources: &Resources, client: &str) -> bool {
    let minute = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    for m in [minute, minute - 1] {
        let item = resources
            .dynamodb
            .get_item()
            .table_name(&resources.links_table)
            .key("code", AttributeValue::S(format!("!rate#{client}#{m}")))
            .send()
            .await
            .unwrap()
            .item;
        if let Some(item) = item {
            assert_eq!(item["n"].as_n().unwrap(), "1", "{item:?}");
            assert!(item.contains_key("expires_at"));
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_aggregator_under_the_local_lambda_runtime() {
    let endpoint = archform_testkit::test_endpoint();
    let resources = std::sync::Arc::new(Resources::create(&endpoint).await);
    let outcome = tokio::spawn(checks(endpoint, resources.clone())).await;
    resources.delete().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn checks(endpoint: String, resources: std::sync::Arc<Resources>) {
    let mut api = function(
        "shortener-api",
        env!("CARGO_BIN_EXE_shortener-api"),
        &endpoint,
        &[
            ("LINKS_TABLE", &resources.links_table),
            ("CLICKS_TABLE", &resources.clicks_table),
            ("CLICKS_QUEUE_URL", &resources.queue_url),
            ("REDIRECT_STATUS", "302"),
            ("CACHE_TTL_SECONDS", "60"),
            ("CACHE_MAX_ENTRIES", "100"),
            ("CREATE_RATE_PER_MINUTE", "60"),
            // Long enough that only the shutdown flush can send the click.
            ("CLICK_BATCH_MAX_AGE_MS", "600000"),
        ],
    );

    // ALB: create. The short URL is https on the ALB's host; the rate window
    // is the address the ALB appended, not the spoofed first entry.
    let target = "https://example.com/from-alb";
    let out = api
        .invoke(
            alb_event("POST", "/api/links", &json!({"url": target}).to_string()),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 201, "{r}\n{}", out.logs);
    let created = json_body(r);
    let code = created["code"].as_str().unwrap().to_owned();
    assert_eq!(created["short_url"], format!("https://{ALB_HOST}/{code}"));
    assert_eq!(
        r["headers"]["x-request-id"],
        out.request_id.as_str(),
        "Lambda's request id"
    );
    assert!(has_rate_window(&resources, ALB_CLIENT).await);
    assert!(!has_rate_window(&resources, "6.6.6.6").await);

    // ALB: redirect.
    let out = api
        .invoke(alb_event("GET", &format!("/{code}"), ""), TIMEOUT)
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 302, "{r}");
    assert_eq!(r["headers"]["location"], target);

    // ALB: a refusal carries Lambda's request id in the body.
    let out = api
        .invoke(
            alb_event("POST", "/api/links", r#"{"url": "file:///etc/passwd"}"#),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 400);
    let error = json_body(r);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("file: URLs are not allowed")
    );
    assert_eq!(error["request_id"], out.request_id.as_str());

    // Function URL: create (https on the URL's host, sourceIp counted) and metadata.
    let out = api
        .invoke(
            function_url_event(
                "POST",
                "/api/links",
                r#"{"url": "https://example.com/from-url"}"#,
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 201, "{r}");
    let short_url = json_body(r)["short_url"].as_str().unwrap().to_owned();
    assert!(
        short_url.starts_with(&format!("https://{URL_HOST}/")),
        "{short_url}"
    );
    assert!(has_rate_window(&resources, URL_CLIENT).await);

    let out = api
        .invoke(
            function_url_event("GET", &format!("/api/links/{code}"), ""),
            TIMEOUT,
        )
        .await
        .unwrap();
    let r = response(&out);
    assert_eq!(r["statusCode"], 200, "{r}");
    let info = json_body(r);
    assert_eq!(info["url"], target);
    assert_eq!(info["clicks"], 0);

    // The redirect's click is still waiting in the batch...
    assert!(
        receive(&resources, 1, Duration::from_secs(2))
            .await
            .is_empty(),
        "sent before shutdown"
    );
    // ...until Lambda's SIGTERM flushes it.
    let logs = api.stop().await;
    assert!(logs.contains("pending clicks flushed"), "{logs}");
    let messages = receive(&resources, 1, Duration::from_secs(15)).await;
    assert_eq!(messages.len(), 1, "{logs}");
    let click: ClickEvent = serde_json::from_str(&messages[0].2).unwrap();
    assert_eq!(click.code, code);
    assert_eq!(click.user_agent.as_deref(), Some("in-lambda-test"));

    // The aggregator: counts the click, reports the poison message.
    let mut aggregator = function(
        "click-aggregator",
        env!("CARGO_BIN_EXE_click-aggregator"),
        &endpoint,
        &[("CLICKS_TABLE", &resources.clicks_table)],
    );
    let mut batch = messages.clone();
    batch.push((
        "poison-1".into(),
        "r".into(),
        "{\"not\": \"a click\"}".into(),
    ));
    let event = serde_json::to_value(sqs_event(&batch)).unwrap();
    let out = aggregator.invoke(event, TIMEOUT).await.unwrap();
    assert_eq!(
        response(&out),
        &json!({"batchItemFailures": [{"itemIdentifier": "poison-1"}]}),
        "{}",
        out.logs
    );
    let item = resources
        .dynamodb
        .get_item()
        .table_name(&resources.clicks_table)
        .key("code", AttributeValue::S(code.clone()))
        .send()
        .await
        .unwrap()
        .item
        .expect("a counter item");
    assert_eq!(item["clicks"].as_n().unwrap(), "1");
    aggregator.stop().await;
}
