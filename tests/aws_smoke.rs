//! Opt-in smoke test against a real AWS account. It runs only when
//! `ARCHFORM_TEST_AWS_PROFILE` names an AWS profile (region from
//! `ARCHFORM_TEST_AWS_REGION`, default us-east-1); otherwise it prints why
//! it is skipped. For each blueprint, the cheapest configuration is
//! deployed with placeholder function code, checked (outputs, a redeploy
//! with no changes), destroyed, and the account is scanned for anything
//! still tagged with the stack. The chat is also deployed with its real
//! code, and two users exchange a message through the real WebSocket API.
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
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_name(&profile)
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
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
    let archform = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_archform"))
            .current_dir(&dir)
            .args(args)
            .args(["--profile", &profile, "--region", &region, "--yes"])
            .args(["--output", "json"])
            .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
            .env_remove("ARCHFORM_TEST_ENDPOINT")
            .env_remove("ARCHFORM_BUILD_PROFILE")
            .output()
            .unwrap()
    };
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
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_name(&profile)
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    assert_no_leftovers(&Clients::new(&config), &stack).await;
}
