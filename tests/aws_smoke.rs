//! Opt-in smoke test against a real AWS account. It runs only when
//! `ARCHFORM_TEST_AWS_PROFILE` names an AWS profile (region from
//! `ARCHFORM_TEST_AWS_REGION`, default us-east-1); otherwise it prints why
//! it is skipped. For each blueprint, the cheapest configuration is
//! deployed with placeholder function code, checked (outputs, a redeploy
//! with no changes), destroyed, and the account is scanned for anything
//! still tagged with the stack. It creates billable resources for a few
//! minutes (load balancers, Lambda, DynamoDB on demand); no NAT gateways
//! and no RDS instances.

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
