//! Opt-in smoke test against a real AWS account. It runs only when
//! `ARCHFORM_TEST_AWS_PROFILE` names an AWS profile (region from
//! `ARCHFORM_TEST_AWS_REGION`, default us-east-1); otherwise it prints why
//! it is skipped. For each blueprint, the cheapest configuration is
//! deployed with placeholder function code, checked (outputs, a redeploy
//! with no changes), destroyed, and the account is scanned for anything
//! still tagged with the stack. The chat is also deployed with its real
//! code, and two users exchange a message through the real WebSocket API;
//! the notification service, with its real code, sends a webhook to the
//! receiver `ARCHFORM_TEST_WEBHOOK_URL` names and reads its status; the
//! three-tier app, with its real code (DynamoDB, no NAT), creates a product
//! and takes an order through its public ALB.
//! It creates billable resources for a few minutes (load balancers,
//! Lambda, DynamoDB on demand); no NAT gateways and no RDS instances.

use archform_aws::{Clients, assert_no_leftovers};
use std::process::Command;

const CHEAPEST: &[(&str, &[&str])] = &[
    ("url-shortener", &["front_door=function_url"]),
    ("chat", &["function_layout=router"]),
    ("notifications", &["channels=email"]),
    ("three-tier", &["nat=none", "data_store=dynamodb"]),
];

/// The SDK configuration of the test account.
async fn account(profile: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_name(profile)
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await
}

/// `archform ARGS` on the test account, building the functions' real code
/// from this workspace with the default (release, cargo-lambda) profile.
fn with_real_code(
    dir: &std::path::Path,
    profile: &str,
    region: &str,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(dir)
        .args(args)
        .args(["--profile", profile, "--region", region, "--yes"])
        .args(["--output", "json"])
        .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .env_remove("ARCHFORM_TEST_ENDPOINT")
        .env_remove("ARCHFORM_BUILD_PROFILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_blueprint_deploys_and_destroys_cleanly_on_real_aws() {
    let Ok(profile) = std::env::var("ARCHFORM_TEST_AWS_PROFILE") else {
        archform_testkit::skip::skipped(
            "the real-AWS smoke test",
            "set ARCHFORM_TEST_AWS_PROFILE (and optionally ARCHFORM_TEST_AWS_REGION) to run it",
        );
        return;
    };
    let region = std::env::var("ARCHFORM_TEST_AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let dir = std::env::temp_dir().join(format!("archform-aws-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("placeholder.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let config = account(&profile, &region).await;
    let clients = Clients::new(&config);
    let run = |args: Vec<String>| {
        let out = Command::new(env!("CARGO_BIN_EXE_archform"))
            .current_dir(&dir)
            .args(&args)
            .args([
                "--profile",
                &profile,
                "--region",
                &region,
                "--yes",
                "--output",
                "json",
            ])
            .env_remove("ARCHFORM_TEST_ENDPOINT")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (blueprint, sets) in CHEAPEST {
        let stack = format!("smoke-{}-{}", &blueprint[..3], std::process::id());
        let mut deploy: Vec<String> = ["deploy", blueprint, "--stack", &stack, "--code-override"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        deploy.push(zip.display().to_string());
        for s in *sets {
            deploy.push("--set".into());
            deploy.push(s.to_string());
        }
        let (code, report, err) = run(deploy.clone());
        // Whatever happened, destroy and scan before asserting.
        let (code2, again, _) = if code == 0 {
            run(deploy.clone())
        } else {
            (1, Default::default(), String::new())
        };
        let (dcode, _, derr) = run(vec!["destroy".into(), "--stack".into(), stack.clone()]);
        assert_eq!(code, 0, "{blueprint}: deploy failed: {report}\n{err}");
        assert!(
            report["outputs"].as_object().is_some_and(|o| !o.is_empty()),
            "{blueprint}: no outputs"
        );
        assert_eq!(code2, 0, "{blueprint}: redeploy failed");
        assert_eq!(
            again["changes"], 0,
            "{blueprint}: the redeploy planned changes: {again}"
        );
        assert_eq!(dcode, 0, "{blueprint}: destroy failed: {derr}");
        assert_no_leftovers(&clients, &stack).await;
        eprintln!("{blueprint}: deployed, redeployed with no changes, destroyed, nothing left");
    }
}

/// A WebSocket over TLS to a real API Gateway endpoint, with the system's
/// root certificates.
async fn wss(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let host = url
        .strip_prefix("wss://")
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or_else(|| panic!("not a wss:// URL: {url}"))
        .to_string();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host.as_str(), 443))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from(host.clone()).unwrap(),
            tcp,
        )
        .await
        .unwrap_or_else(|e| panic!("TLS to {host}: {e}"));
    tokio_tungstenite::client_async(url, tls)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

/// The chat with its real code (built for Lambda by cargo-lambda when
/// installed, as for any deploy): two users connect through the real API
/// with tokens signed by the stack's own Secrets Manager key and exchange
/// a message; then destroy leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_its_real_code_exchanges_a_message_on_real_aws() {
    use futures_util::{SinkExt, StreamExt};
    let Ok(profile) = std::env::var("ARCHFORM_TEST_AWS_PROFILE") else {
        archform_testkit::skip::skipped(
            "the real-AWS smoke test",
            "set ARCHFORM_TEST_AWS_PROFILE (and optionally ARCHFORM_TEST_AWS_REGION) to run it",
        );
        return;
    };
    let region = std::env::var("ARCHFORM_TEST_AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let dir = std::env::temp_dir().join(format!("archform-aws-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = format!("smoke-chat-code-{}", std::process::id());
    let archform = |args: &[&str]| with_real_code(&dir, &profile, &region, args);
    let deploy = archform(&["deploy", "chat", "--stack", &stack]);
    let outputs: serde_json::Value = serde_json::from_slice(&deploy.stdout).unwrap_or_default();
    let exchanged = if deploy.status.success() {
        let url = outputs["outputs"]["websocket_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let secret = outputs["outputs"]["signing_secret_arn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let chat = std::path::Path::new(env!("CARGO_BIN_EXE_archform"))
            .parent()
            .unwrap()
            .join("chat");
        let token = |user: &str| {
            let out = Command::new(&chat)
                .args(["token", "--user", user, "--conversation", "smoke"])
                .args(["--signing-secret-arn", &secret])
                .env("AWS_PROFILE", &profile)
                .env("AWS_REGION", &region)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "chat token: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let (alice, bob) = (token("alice"), token("bob"));
        let mut a = wss(&format!("{url}?token={alice}")).await;
        let mut b = wss(&format!("{url}?token={bob}")).await;
        a.send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"action":"sendmessage","conversation":"smoke","text":"over real AWS"}"#.into(),
        ))
        .await
        .unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(Ok(frame)) = b.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "message" {
                        return Some(v);
                    }
                }
            }
            None
        })
        .await;
        let _ = a.close(None).await;
        let _ = b.close(None).await;
        got.ok().flatten()
    } else {
        None
    };
    let destroy = archform(&["destroy", "--stack", &stack]);
    assert!(
        deploy.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let message = exchanged.expect("bob got alice's message through the real API");
    assert_eq!(message["message"]["sender"], "alice");
    assert_eq!(message["message"]["text"], "over real AWS");
    assert!(
        destroy.status.success(),
        "destroy: {}",
        String::from_utf8_lossy(&destroy.stderr)
    );
    let config = account(&profile, &region).await;
    assert_no_leftovers(&Clients::new(&config), &stack).await;
}

/// One request over plain HTTP (the smoke stacks' ALBs have no
/// certificate): status, headers and body.
async fn http_call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, http::HeaderMap, bytes::Bytes) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(bytes::Bytes::from(body))).unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

/// One JSON request to the notification API, with the stack's API key.
async fn notify_call(
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let authorization = format!("Bearer {key}");
    let (status, _, bytes) = http_call(
        method,
        &format!("{base}{path}"),
        &[
            ("authorization", authorization.as_str()),
            ("content-type", "application/json"),
        ],
        body.map(|b| b.to_string()).unwrap_or_default(),
    )
    .await;
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// The notification service with its real code (cargo-lambda build): a
/// webhook notification to the receiver `ARCHFORM_TEST_WEBHOOK_URL` names
/// (a public https URL, e.g. a request-bin), followed to `sent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_with_its_real_code_deliver_a_webhook_on_real_aws() {
    let (Ok(profile), Ok(receiver)) = (
        std::env::var("ARCHFORM_TEST_AWS_PROFILE"),
        std::env::var("ARCHFORM_TEST_WEBHOOK_URL"),
    ) else {
        archform_testkit::skip::skipped(
            "the real-AWS smoke test",
            "set ARCHFORM_TEST_AWS_PROFILE and ARCHFORM_TEST_WEBHOOK_URL (a public https receiver) to run it",
        );
        return;
    };
    let region = std::env::var("ARCHFORM_TEST_AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let dir = std::env::temp_dir().join(format!("archform-aws-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = format!("smoke-ntf-code-{}", std::process::id());
    let archform = |args: &[&str]| with_real_code(&dir, &profile, &region, args);
    let config = account(&profile, &region).await;
    let clients = Clients::new(&config);
    let deploy = archform(&[
        "deploy",
        "notifications",
        "--stack",
        &stack,
        "--set",
        "channels=webhook",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&deploy.stdout).unwrap_or_default();
    let outcome = if deploy.status.success() {
        let outputs = &report["outputs"];
        let base = outputs["base_url"].as_str().unwrap_or_default().to_string();
        let key = clients
            .secrets
            .get_secret_value()
            .secret_id(outputs["api_key_secret"].as_str().unwrap_or_default())
            .send()
            .await
            .unwrap()
            .secret_string
            .unwrap();
        // A new ALB's DNS name takes a minute or two to resolve.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let mut up = false;
        while !up && std::time::Instant::now() < deadline {
            up = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                notify_call(&base, &key, "GET", "/health", None),
            )
            .await
            .is_ok_and(|(status, _)| status == 200);
            if !up {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
        assert!(up, "{base}/health never answered");
        let template = serde_json::json!({"default_locale": "en", "locales": {"en": {"webhook": {"body": {"event": "smoke", "stack": "{{stack}}"}}}}});
        let (status, body) =
            notify_call(&base, &key, "PUT", "/v1/templates/smoke", Some(template)).await;
        assert_eq!(status, 201, "{body}");
        let prefs = serde_json::json!({"webhook": {"url": receiver}});
        let (status, body) = notify_call(
            &base,
            &key,
            "PUT",
            "/v1/users/smoke/preferences",
            Some(prefs),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let send =
            serde_json::json!({"user_id": "smoke", "template": "smoke", "data": {"stack": stack}});
        let (status, accepted) =
            notify_call(&base, &key, "POST", "/v1/notifications", Some(send)).await;
        assert_eq!(status, 202, "{accepted}");
        let path = format!("/v1/notifications/{}", accepted["id"].as_str().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (_, shown) = notify_call(&base, &key, "GET", &path, None).await;
            let status = shown["channels"]["webhook"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !matches!(status.as_str(), "queued" | "sending" | "retrying" | "")
                || std::time::Instant::now() > deadline
            {
                break Some(shown);
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    } else {
        None
    };
    let destroy = archform(&["destroy", "--stack", &stack]);
    assert!(
        deploy.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let shown = outcome.unwrap();
    assert_eq!(shown["channels"]["webhook"]["status"], "sent", "{shown}");
    assert!(
        destroy.status.success(),
        "destroy: {}",
        String::from_utf8_lossy(&destroy.stderr)
    );
    assert_no_leftovers(&clients, &stack).await;
}

/// One request to the three-tier web tier, with the session's cookie and
/// a form; status, headers, body.
async fn web_call(
    url: &str,
    method: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> (u16, http::HeaderMap, String) {
    let mut headers = Vec::new();
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    if form.is_some() {
        headers.push(("content-type", "application/x-www-form-urlencoded"));
    }
    let (status, headers, bytes) = http_call(method, url, &headers, form.unwrap_or_default()).await;
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The three-tier app with its real code (cargo-lambda build), DynamoDB
/// variant without NAT: the product form through the public ALB, one
/// order placed (web -> internal ALB -> app -> DynamoDB), its page shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tier_with_its_real_code_takes_an_order_on_real_aws() {
    let Ok(profile) = std::env::var("ARCHFORM_TEST_AWS_PROFILE") else {
        archform_testkit::skip::skipped(
            "the real-AWS smoke test",
            "set ARCHFORM_TEST_AWS_PROFILE (and optionally ARCHFORM_TEST_AWS_REGION) to run it",
        );
        return;
    };
    let region = std::env::var("ARCHFORM_TEST_AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let dir = std::env::temp_dir().join(format!("archform-aws-webapp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = format!("smoke-tt-code-{}", std::process::id());
    let archform = |args: &[&str]| with_real_code(&dir, &profile, &region, args);
    let config = account(&profile, &region).await;
    let clients = Clients::new(&config);
    let deploy = archform(&[
        "deploy",
        "three-tier",
        "--stack",
        &stack,
        "--set",
        "nat=none",
        "--set",
        "data_store=dynamodb",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&deploy.stdout).unwrap_or_default();
    let outcome = if deploy.status.success() {
        let base = report["outputs"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // A new ALB's DNS name takes a minute or two to resolve; a VPC
        // function's first start a few seconds more.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let page = loop {
            let page = tokio::time::timeout(
                std::time::Duration::from_secs(15),
                web_call(&format!("{base}/products/new"), "GET", None, None),
            )
            .await;
            match page {
                Ok(page) if page.0 == 200 => break Some(page),
                _ if std::time::Instant::now() > deadline => break None,
                _ => tokio::time::sleep(std::time::Duration::from_secs(5)).await,
            }
        };
        page.map(|(_, headers, body)| (base, headers, body))
    } else {
        None
    };
    let order = match outcome {
        Some((base, headers, body)) => {
            let cookie = headers["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let marker = "name=\"csrf_token\" value=\"";
            let start = body.find(marker).expect("a form token") + marker.len();
            let token = body[start..].split('"').next().unwrap().to_owned();
            let form = |fields: &[(&str, &str)]| {
                let mut s = form_urlencoded::Serializer::new(String::new());
                s.append_pair("csrf_token", &token);
                for (k, v) in fields {
                    s.append_pair(k, v);
                }
                s.finish()
            };
            let created = web_call(
                &format!("{base}/products"),
                "POST",
                Some(&cookie),
                Some(form(&[
                    ("sku", "SMOKE-1"),
                    ("name", "Smoke test"),
                    ("price", "1.00"),
                    ("stock", "2"),
                ])),
            )
            .await;
            let product = created
                .1
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            match (created.0, product) {
                (303, Some(location)) => {
                    let product_id = location.rsplit('/').next().unwrap().to_owned();
                    let placed = web_call(
                        &format!("{base}/orders"),
                        "POST",
                        Some(&cookie),
                        Some(form(&[("product_id", &product_id), ("quantity", "1")])),
                    )
                    .await;
                    let order = placed
                        .1
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .map(str::to_owned);
                    match order {
                        Some(order) => {
                            Ok(
                                web_call(&format!("{base}{order}"), "GET", Some(&cookie), None)
                                    .await,
                            )
                        }
                        None => Err(format!("order: {} {}", placed.0, placed.2)),
                    }
                }
                (status, _) => Err(format!("product: {status} {}", created.2)),
            }
        }
        None => Err("the web tier never answered".to_owned()),
    };
    let destroy = archform(&["destroy", "--stack", &stack]);
    assert!(
        deploy.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let (status, _, page) = order.unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Smoke test"),
        "the order page names the product: {page}"
    );
    assert!(
        destroy.status.success(),
        "destroy: {}",
        String::from_utf8_lossy(&destroy.stderr)
    );
    assert_no_leftovers(&clients, &stack).await;
}
