//! The chat end to end: `blueprints/chat.yaml` deployed to the emulator in
//! both layouts with the real functions from lambdas/chat (built with
//! ARCHFORM_BUILD_PROFILE=dev), run by `archform dev` behind its WebSocket
//! API stand-in, with tokens minted by `chat token` from the signing key
//! the blueprint generated into Secrets Manager. Real WebSocket clients run
//! the same protocol scenario as `chat serve`'s tests; a connection that
//! vanished without `$disconnect` is dropped on its first 410; the page
//! (served by the `page` function's URL) is used in headless Chromium
//! alongside a WebSocket client; then the stack is destroyed with nothing
//! left behind.

mod support;

#[path = "../lambdas/chat/tests/support/scenario.rs"]
mod scenario;

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

/// The page, in Chromium, with a WebSocket client on the other side.
async fn page_in_chromium(page_url: &str, ws: &str, alice: &str, bob: &str) {
    let mut browser = Browser::launch().await.expect("headless chromium");
    let url = format!(
        "{}/?ws={}&token={}",
        page_url.trim_end_matches('/'),
        ws,
        alice
    );
    browser.navigate(&url).await.unwrap();
    browser
        .wait_for(
            "document.getElementById('status').textContent === 'connected'",
            Duration::from_secs(15),
        )
        .await
        .expect("the page connects with the token");
    // Served by the `page` function, the page names the deployed API; the
    // test points it at dev's stand-in with `?ws=`.
    let deployed = browser
        .eval("document.querySelector('meta[name=\"chat-ws\"]').content")
        .await
        .unwrap();
    let deployed = deployed.as_str().unwrap_or_default();
    assert!(
        deployed.starts_with("wss://") && deployed.ends_with("/prod"),
        "the page's WebSocket URL: {deployed}"
    );
    let mut bob = Client::open(ws, bob, "bob").await;
    bob.send(
        json!({"action": "sendmessage", "conversation": "e2e-page", "text": "hello <b>page</b>"}),
    )
    .await;
    bob.next_of("ack").await;
    browser
        .wait_for(
            "[...document.querySelectorAll('#messages .text')].some(e => e.textContent === 'hello <b>page</b>')",
            Duration::from_secs(10),
        )
        .await
        .expect("bob's message shows on the page, as text");
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#messages b').length")
            .await
            .unwrap(),
        json!(0),
        "message text is never HTML"
    );
    // The page marks what it showed as read; bob sees the receipt.
    let read = bob.next_of("read").await;
    assert_eq!(read["user"], "e2e-alice");
    // Alice writes from the page; bob gets it.
    browser
        .eval(
            "document.getElementById('text').value = 'from the browser'; \
             document.getElementById('composer').requestSubmit(); true",
        )
        .await
        .unwrap();
    let m = bob.next_of("message").await;
    assert_eq!(m["message"]["text"], "from the browser");
    assert_eq!(m["message"]["sender"], "e2e-alice");
    // Bob typing shows on the page; bob shows as online.
    bob.send(json!({"action": "typing", "conversation": "e2e-page"}))
        .await;
    browser
        .wait_for(
            "document.getElementById('typing').textContent.includes('e2e-bob')",
            Duration::from_secs(10),
        )
        .await
        .expect("the typing indicator");
    browser
        .wait_for(
            "!!document.querySelector('#online li[data-user=\"e2e-bob\"]')",
            Duration::from_secs(10),
        )
        .await
        .expect("bob listed online");
    bob.close().await;
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
                if layout == "router" {
                    page_in_chromium(
                        &dev.url("function_url"),
                        &ws,
                        &mint_here("e2e-alice", &["e2e-page"]),
                        &mint_here("e2e-bob", &["e2e-page"]),
                    )
                    .await;
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
