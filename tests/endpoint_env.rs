//! Targets that do not come from `--endpoint`:
//!
//! - `AWS_ENDPOINT_URL` alone (no `--local`, no `--endpoint`) is an emulator
//!   endpoint for every command: the URL shortener deploys with its real
//!   functions without a confirmation prompt, and `archform dev` hands the
//!   endpoint to the functions, so a POST stores a link in DynamoDB and a GET
//!   of it redirects.
//! - On an emulator, a step it lacks (moto has no API Gateway
//!   CreateDeployment) is printed as skipped, in text and JSON, and the
//!   deploy succeeds.
//! - `--local` finds a LocalStack started by `archform emulator start --kind
//!   localstack` when no moto runs, prefers moto when both do, and says which.

mod support;

use archform_testkit::{EmulatorKind, daemon, test_endpoint};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::path::Path;
use support::{Dev, archform_env, text, workdir};

/// JSON lines of a stream that mixes JSON events and other text.
fn json_lines(b: &[u8]) -> Vec<Value> {
    text(b)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// One HTTP exchange: (status, location header, body).
async fn http(method: &str, url: &str, body: Option<Value>) -> (u16, String, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
    let resp = client
        .request(req.body(body).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, location, text(&body))
}

#[test]
fn aws_endpoint_url_alone_reaches_the_emulator_in_deploy_and_dev() {
    let dir = workdir("endpoint-env");
    let stack = format!("envep-{}", std::process::id());
    let endpoint = test_endpoint();
    let env = [("AWS_ENDPOINT_URL", endpoint.as_str())];
    // No --yes: against what archform took for AWS this would stop at the
    // confirmation prompt (stdin is not a terminal).
    let deploy = archform_env(&dir, &["deploy", "url-shortener", "--stack", &stack], &env);
    assert!(
        deploy.status.success(),
        "deploy: {}\n{}",
        text(&deploy.stdout),
        text(&deploy.stderr)
    );
    let stderr = text(&deploy.stderr);
    assert!(
        stderr.contains(&format!(
            "using AWS_ENDPOINT_URL={endpoint} like --endpoint"
        )),
        "the deploy should say where its calls go: {stderr}"
    );
    assert!(!stderr.contains("About to deploy"), "{stderr}");

    {
        let dev = Dev::start_with(&dir, &["--stack", &stack], &env);
        let base = dev.url("alb");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            // The create handler writes the link to DynamoDB; the redirect
            // handler reads it back: both only work if the functions got
            // the emulator's endpoint.
            let target = "https://example.com/endpoint-env";
            let (status, _, body) = http(
                "POST",
                &format!("{base}/api/links"),
                Some(json!({"url": target})),
            )
            .await;
            assert_eq!(status, 201, "POST /api/links: {body}");
            let link: Value = serde_json::from_str(&body).unwrap();
            let code = link["code"].as_str().unwrap_or_else(|| panic!("{link}"));
            let (status, location, body) = http("GET", &format!("{base}/{code}"), None).await;
            assert_eq!(status, 302, "GET /{code}: {body}");
            assert_eq!(location, target);
        });
    }

    let destroy = archform_env(&dir, &["destroy", "--stack", &stack], &env);
    assert!(
        destroy.status.success(),
        "destroy without --yes on the emulator: {}",
        text(&destroy.stderr)
    );
}

#[test]
fn steps_the_emulator_lacks_are_printed_as_skipped() {
    let dir = workdir("skipped-steps");
    let stack = format!("skip-{}", std::process::id());
    let endpoint = test_endpoint();
    let env = [("AWS_ENDPOINT_URL", endpoint.as_str())];
    let deploy = archform_env(
        &dir,
        &["deploy", "chat", "--stack", &stack, "--placeholder-code"],
        &env,
    );
    let (stdout, stderr) = (text(&deploy.stdout), text(&deploy.stderr));
    assert!(deploy.status.success(), "deploy chat: {stdout}\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("api_deployment create:"))
        .unwrap_or_else(|| panic!("no progress line for api_deployment: {stderr}"));
    assert!(
        line.trim_start().starts_with("skipped")
            && line.contains("does not support apigateway:CreateDeployment"),
        "{line}"
    );
    assert!(!stderr.contains("FAILED"), "{stderr}");
    assert!(
        stdout.contains("deploy complete:") && stdout.contains("2 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped api_stage (depends on api_deployment"),
        "{stdout}"
    );

    // The same in JSON: a `skipped` event, and the summary lists them.
    let again = archform_env(
        &dir,
        &[
            "--output",
            "json",
            "deploy",
            "chat",
            "--stack",
            &stack,
            "--placeholder-code",
        ],
        &env,
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    let events = json_lines(&again.stderr);
    let skipped = events
        .iter()
        .find(|e| e["id"] == "api_deployment" && e["event"] != "started")
        .unwrap_or_else(|| panic!("no event for api_deployment: {events:?}"));
    assert_eq!(skipped["event"], "skipped", "{skipped}");
    assert!(!events.iter().any(|e| e["event"] == "failed"), "{events:?}");
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["success"], true, "{summary}");
    assert_eq!(summary["skipped"], json!(["api_deployment", "api_stage"]));

    let destroy = archform_env(&dir, &["destroy", "--stack", &stack], &env);
    assert!(destroy.status.success(), "{}", text(&destroy.stderr));
}

const QUEUE_BLUEPRINT: &str = r#"name: local-kind
description: one queue, which moto and LocalStack both run
---
resources:
  jobs:
    kind: sqs.queue
    properties:
      visibility_timeout: 45
      sqs_managed_sse: true
outputs:
  jobs_url:
    value: ${jobs.url}
"#;

/// The real cache's daemon of `kind`, when one is running (tests/run starts
/// both); `None` otherwise.
fn running_daemon(kind: EmulatorKind) -> Option<daemon::DaemonState> {
    match daemon::status(kind) {
        Ok(daemon::DaemonStatus::Running(state)) => Some(state),
        _ => None,
    }
}

/// Puts a daemon's state file into `cache` so archform run with
/// `ARCHFORM_CACHE_DIR=cache` finds that running emulator (and no other).
fn share_daemon(cache: &Path, kind: EmulatorKind) {
    let from = daemon::state_path(kind).unwrap();
    let to = cache.join("emulators").join(format!("{kind}.json"));
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(&from, &to).unwrap();
}

#[test]
fn local_uses_a_localstack_only_daemon_and_prefers_moto() {
    let dir = workdir("local-kind");
    let stack = format!("lk-{}", std::process::id());
    std::fs::write(dir.join("queue.yaml"), QUEUE_BLUEPRINT).unwrap();
    // A cache of its own, so the emulators archform sees are the ones this
    // test puts there; the venvs are the shared ones (installed once).
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let shared = archform_testkit::cache_root().unwrap();
    std::fs::create_dir_all(shared.join("venvs")).unwrap();
    std::os::unix::fs::symlink(shared.join("venvs"), cache.join("venvs")).unwrap();
    let cache_env = cache.to_str().unwrap();
    let env = [("ARCHFORM_CACHE_DIR", cache_env)];

    // Nothing running in this cache: a clear error naming both kinds.
    let none = archform_env(
        &dir,
        &["plan", "queue.yaml", "--stack", &stack, "--local"],
        &env,
    );
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("archform emulator start --kind localstack"),
        "{}",
        text(&none.stderr)
    );

    // LocalStack only: the shared one from tests/run, else one started here.
    let started_here = match running_daemon(EmulatorKind::LocalStack) {
        Some(_) => {
            share_daemon(&cache, EmulatorKind::LocalStack);
            false
        }
        None => {
            let start = archform_env(&dir, &["emulator", "start", "--kind", "localstack"], &env);
            if !start.status.success() {
                eprintln!(
                    "SKIPPED: LocalStack cannot start on this machine ({}); the selection \
                     is covered by archform-cli's target unit tests",
                    text(&start.stderr).trim()
                );
                return;
            }
            true
        }
    };
    let localstack = {
        let out = archform_env(
            &dir,
            &["emulator", "endpoint", "--kind", "localstack"],
            &env,
        );
        text(&out.stdout).trim().to_string()
    };
    let deploy = archform_env(
        &dir,
        &["deploy", "queue.yaml", "--stack", &stack, "--local"],
        &env,
    );
    let result = std::panic::catch_unwind(|| {
        let stderr = text(&deploy.stderr);
        assert!(
            deploy.status.success(),
            "deploy --local on LocalStack: {}\n{stderr}",
            text(&deploy.stdout)
        );
        assert!(
            stderr.contains(&format!(
                "--local: using the LocalStack emulator at {localstack}"
            )),
            "{stderr}"
        );
        // The queue is in LocalStack.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let config = rt.block_on(archform_testkit::sdk_config(&localstack));
        let queues = rt
            .block_on(aws_sdk_sqs::Client::new(&config).list_queues().send())
            .unwrap();
        assert!(
            queues.queue_urls().iter().any(|u| u.contains(&stack)),
            "no queue of {stack} in LocalStack: {:?}",
            queues.queue_urls()
        );

        // With moto running as well, --local picks moto and says so in JSON.
        if running_daemon(EmulatorKind::Moto).is_some() {
            share_daemon(&cache, EmulatorKind::Moto);
            let plan = archform_env(
                &dir,
                &[
                    "--output",
                    "json",
                    "plan",
                    "queue.yaml",
                    "--stack",
                    "lk-other",
                    "--local",
                ],
                &env,
            );
            assert!(plan.status.success(), "{}", text(&plan.stderr));
            let target = json_lines(&plan.stderr)
                .into_iter()
                .find(|e| e["event"] == "target")
                .unwrap_or_else(|| panic!("no target event: {}", text(&plan.stderr)));
            assert_eq!(target["emulator"], "moto", "{target}");
            std::fs::remove_file(cache.join("emulators/moto.json")).unwrap();
        } else {
            eprintln!("no moto daemon is running: the moto-first choice is left to unit tests");
        }

        let destroy = archform_env(&dir, &["destroy", "--stack", &stack, "--local"], &env);
        assert!(destroy.status.success(), "{}", text(&destroy.stderr));
    });
    if started_here {
        archform_env(&dir, &["emulator", "stop", "--kind", "localstack"], &env);
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
