//! `archform invoke` through the built binary: deploy a one-function stack
//! (role, log group, function whose code is a zip of lambdas/testfn's
//! `testfn-echo` as `bootstrap`) to the emulator, then run it locally.

mod support;

use archform_testkit::test_endpoint;
use std::process::Command;
use support::{archform, testfn, text, workdir};

const BLUEPRINT: &str = "name: invoke-echo
description: one function for archform invoke
---
resources:
  logs:
    kind: logs.log_group
    properties:
      retention_in_days: 1
  role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  echo:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: echo.zip}
      memory_size: 256
      timeout: 5
      environment:
        GREETING: hello from the state
        LOG_GROUP: ${logs.name}
      log_group: ${logs.name}
";

#[test]
fn invoke_runs_the_deployed_function_locally() {
    let dir = workdir("echo");
    let zip = archform_testkit::zip::build(&[("bootstrap", &testfn("testfn-echo"), 0o755)]);
    std::fs::write(dir.join("echo.zip"), zip).unwrap();
    std::fs::write(dir.join("bp.yaml"), BLUEPRINT).unwrap();
    std::fs::write(
        dir.join("event.json"),
        r#"{"order": 42, "items": ["a", "b"]}"#,
    )
    .unwrap();
    let stack = format!("invoke-{}", std::process::id());
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

    // Text: the response on stdout, logs and REPORT on stderr.
    let out = archform(
        &dir,
        &[
            &["invoke", "echo", "--stack", &stack, "--event", "event.json"][..],
            &target,
        ]
        .concat(),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "invoke: {stdout}\n{stderr}");
    let response: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not the JSON response ({e}): {stdout}"));
    assert_eq!(
        response["echo"],
        serde_json::json!({"order": 42, "items": ["a", "b"]})
    );
    assert_eq!(response["env_greeting"], "hello from the state");
    assert_eq!(
        response["aws_endpoint_url"].as_str(),
        Some(endpoint.as_str()),
        "the function's AWS calls go to the stack's endpoint"
    );
    assert!(
        response["function_arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:lambda:") && a.contains(&stack)),
        "{response}"
    );
    let request_id = response["request_id"].as_str().unwrap();
    assert!(
        stderr.contains(&format!("START RequestId: {request_id}")),
        "{stderr}"
    );
    assert!(stderr.contains("testfn-echo: handling request"), "{stderr}");
    let report = stderr
        .lines()
        .find(|l| l.starts_with("REPORT RequestId: "))
        .unwrap_or_else(|| panic!("no REPORT line: {stderr}"));
    assert!(report.contains(request_id), "{report}");
    for field in [
        "Duration: ",
        " ms",
        "Memory Size: 256 MB",
        "Init Duration: ",
    ] {
        assert!(report.contains(field), "`{field}` missing from {report}");
    }

    // JSON, with the event from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(&dir)
        .args(
            [
                &["invoke", "echo", "--stack", &stack, "--event", "-"][..],
                &target,
            ]
            .concat(),
        )
        .args(["--output", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(br#"{"via": "stdin"}"#).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["response"]["echo"], serde_json::json!({"via": "stdin"}));
    assert!(j["error"].is_null());
    assert!(j["duration_ms"].as_f64().is_some());
    assert!(j["init_duration_ms"].as_f64().is_some());
    assert!(j["logs"].as_str().unwrap().contains("handling request"));

    // An unknown function names the stack's functions.
    let out = archform(
        &dir,
        &[&["invoke", "nope", "--stack", &stack][..], &target].concat(),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("echo"), "{}", text(&out.stderr));

    let destroy = archform(
        &dir,
        &[&["destroy", "--stack", &stack][..], &target].concat(),
    );
    assert!(
        destroy.status.success(),
        "destroy: {}",
        text(&destroy.stderr)
    );
}
