//! The chat end to end: `blueprints/chat.yaml` deployed to the emulator in
//! both layouts with the real functions from lambdas/chat (built with
//! ARCHFORM_BUILD_PROFILE=dev), run by `archform dev` behind its WebSocket
//! API stand-in, with tokens minted by `chat token` from the signing key
//! the blueprint generated into Secrets Manager. Real WebSocket clients run
//! the same protocol scenario as `chat serve`'s tests; a connection that
//! vanished without `$disconnect` is dropped on its first 410, and one
//! killed without a close frame is forgotten; two users use the page
//! (served by the `page` function's URL) in two headless Chromiums; then
//! the stack is destroyed with nothing left behind.

mod support;

#[path = "../lambdas/chat/tests/support/scenario.rs"]
mod scenario;

#[path = "../lambdas/chat/tests/support/pages.rs"]
mod pages;

use archform_aws::{Clients, assert_no_leftovers};
use archform_testkit::browser::Browser;
use archform_testkit::{sdk_config, test_endpoint};
use aws_sdk_dynamodb::types::AttributeValue;
use scenario::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{Dev, archform, text, workdir};

/// The `chat` binary (`chat token`), built beside `archform`.
fn chat_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_archform"))
        .parent()
        .unwrap()
        .join("chat");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "chat", "--bin", "chat"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p chat failed");
    }
    path
}

/// `chat token` against the emulator's Secrets Manager, as a developer
/// would run it with the stack's `signing_secret_arn` output.
fn mint(endpoint: &str, secret_arn: &str, user: &str, conversations: &[&str]) -> String {
    let mut cmd = Command::new(chat_binary());
    cmd.args(["token", "--user", user, "--signing-secret-arn", secret_arn]);
    for c in conversations {
        cmd.args(["--conversation", c]);
    }
    let out = cmd
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "chat token: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn deploy(dir: &Path, stack: &str, endpoint: &str, layout: &str) -> Value {
    let target = ["--endpoint", endpoint];
    let layout = format!("function_layout={layout}");
    let deploy = archform(
        dir,
        &[
            &["deploy", "chat", "--stack", stack, "--set", &layout][..],
            &target,
        ]
        .concat(),
    );
    assert!(
        deploy.status.success(),
        "deploy: {}\n{}",
        text(&deploy.stdout),
        text(&deploy.stderr)
    );
    let outputs = archform(
        dir,
        &[
            &["--output", "json", "outputs", "--stack", stack][..],
            &target,
        ]
        .concat(),
    );
    serde_json::from_slice(&outputs.stdout).unwrap()
}

/// A connection that vanished without `$disconnect` (its record is in the
/// table, API Gateway knows it no more) is removed by the first fan-out
/// that meets its 410, and the others still get the message.
async fn gone_connection_is_dropped(
    url: &str,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    token: &str,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = now + 3600;
    let gone = "gone-connection-0001";
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: i64| AttributeValue::N(v.to_string());
    ddb.put_item()
        .table_name(table)
        .item("connection_id", s(gone))
        .item("sk", s("meta"))
        .item("user_id", s("e2e-ghost"))
        .item("granted", AttributeValue::L(vec![s("e2e-410")]))
        .item("joined", AttributeValue::L(vec![s("e2e-410")]))
        .item("connected_at", n(now * 1000))
        .item("expires_at", n(expires))
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name(table)
        .item("connection_id", s(gone))
        .item("sk", s(&format!("conv#e2e-410#{expires}#e2e-ghost")))
        .item("conversation_id", s("e2e-410"))
        .item("expires_at", n(expires))
        .send()
        .await
        .unwrap();
    let mut carol = Client::open(url, token, "carol").await;
    carol
        .send(json!({"action": "sendmessage", "conversation": "e2e-410", "text": "anyone?"}))
        .await;
    carol.next_of("ack").await;
    let left = ddb
        .query()
        .table_name(table)
        .key_condition_expression("connection_id = :c")
        .expression_attribute_values(":c", s(gone))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        left.count(),
        0,
        "the gone connection's items are removed: {:?}",
        left.items()
    );
    carol.close().await;
}

/// A connection killed without a close frame is forgotten ($disconnect
/// runs when the socket drops, as on AWS): no item of its user is left.
async fn killed_connection_is_forgotten(
    url: &str,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    token: &str,
    user: &str,
) {
    let dave = Client::open(url, token, "dave").await;
    let items = |ddb: aws_sdk_dynamodb::Client| async move {
        ddb.query()
            .table_name(table)
            .index_name("by_user")
            .key_condition_expression("user_id = :u")
            .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
            .send()
            .await
            .unwrap()
            .count()
    };
    assert_eq!(items(ddb.clone()).await, 1, "dave's connection is recorded");
    dave.kill();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while items(ddb.clone()).await != 0 {
        assert!(
            std::time::Instant::now() < until,
            "a killed connection's record stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page the `page` function serves names the deployed API; two users
/// use it in two browsers, pointed at dev's stand-in with `?ws=`.
async fn page_from_the_page_function(page: &str, ws: &str, mint: &dyn Fn(&str, &[&str]) -> String) {
    let page = page.trim_end_matches('/');
    let mut browser = Browser::launch().await.expect("headless chromium");
    browser.navigate(&format!("{page}/")).await.unwrap();
    let deployed = browser
        .eval("document.querySelector('meta[name=\"chat-ws\"]').content")
        .await
        .unwrap();
    let deployed = deployed.as_str().unwrap_or_default();
    assert!(
        deployed.starts_with("wss://") && deployed.ends_with("/prod"),
        "the page's WebSocket URL: {deployed}"
    );
    drop(browser);
    let url = |user: &str| format!("{page}/?ws={ws}&token={}", mint(user, &["e2e-page"]));
    let (alice, bob) = (url("e2e-alice"), url("e2e-bob"));
    pages::two_users_in_two_pages(
        pages::SignIn::Url(&alice),
        pages::SignIn::Url(&bob),
        ("e2e-alice", "e2e-bob"),
    )
    .await;
}

#[test]
fn chat_end_to_end_in_both_layouts() {
    let endpoint = test_endpoint();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(&endpoint));
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    for layout in ["router", "per_route"] {
        let dir = workdir(&format!("chat-{layout}"));
        let stack = format!("chat-{}-{}", layout.replace('_', "-"), std::process::id());
        let outputs = deploy(&dir, &stack, &endpoint, layout);
        let secret = outputs["signing_secret_arn"].as_str().unwrap().to_string();
        let table = outputs["connections_table"].as_str().unwrap().to_string();
        let mint_here = |user: &str, convs: &[&str]| mint(&endpoint, &secret, user, convs);
        {
            let dev = Dev::start(&dir, &stack, &endpoint);
            let ws = dev.url("websocket");
            rt.block_on(async {
                scenario::protocol(&ws, &mint_here, &format!("e2e-{layout}")).await;
                gone_connection_is_dropped(
                    &ws,
                    &ddb,
                    &table,
                    &mint_here("e2e-carol", &["e2e-410"]),
                )
                .await;
                killed_connection_is_forgotten(
                    &ws,
                    &ddb,
                    &table,
                    &mint_here("e2e-dave", &["e2e-410"]),
                    "e2e-dave",
                )
                .await;
                if layout == "router" {
                    page_from_the_page_function(&dev.url("function_url"), &ws, &mint_here).await;
                }
            });
        }
        let destroy = archform(
            &dir,
            &[
                "destroy",
                "--stack",
                &stack,
                "--yes",
                "--endpoint",
                &endpoint,
            ],
        );
        assert!(
            destroy.status.success(),
            "destroy: {}",
            text(&destroy.stderr)
        );
        rt.block_on(assert_no_leftovers(&Clients::new(&config), &stack));
    }
}
