//! A plan through the binary on the emulator shows a changed environment
//! variable per key, like `terraform plan`, instead of the function's whole
//! environment twice; `--output json` keeps the whole values.

mod support;

use archform_testkit::test_endpoint;
use serde_json::Value;
use support::{archform, text, workdir};

#[test]
fn a_changed_parameter_plans_as_one_environment_key() {
    let dir = workdir("plan-diff");
    let stack = format!("pdiff-{}", std::process::id());
    let endpoint = test_endpoint();
    let base = [
        "url-shortener",
        "--stack",
        &stack,
        "--placeholder-code",
        "--endpoint",
        &endpoint,
    ];
    let deploy = archform(&dir, &[&["deploy"][..], &base].concat());
    assert!(deploy.status.success(), "deploy: {}", text(&deploy.stderr));

    let set = ["--set", "cache_ttl_seconds=120"];
    let plan = archform(&dir, &[&["plan"][..], &base, &set].concat());
    let out = text(&plan.stdout);
    assert!(plan.status.success(), "plan: {out}\n{}", text(&plan.stderr));
    let lines: Vec<&str> = out.lines().collect();
    let api = lines
        .iter()
        .position(|l| l.contains("api (lambda.function): update in place"))
        .unwrap_or_else(|| panic!("no update of api: {out}"));
    assert_eq!(lines[api + 1].trim(), "environment:", "{out}");
    assert_eq!(
        lines[api + 2].trim(),
        r#"~ CACHE_TTL_SECONDS: "60" -> "120""#,
        "{out}"
    );
    // LINKS_TABLE, CLICKS_TABLE, CLICKS_QUEUE_URL, REDIRECT_STATUS,
    // CACHE_MAX_ENTRIES, CREATE_RATE_PER_MINUTE.
    assert_eq!(lines[api + 3].trim(), "(6 unchanged)", "{out}");
    assert!(
        !out.contains("LINKS_TABLE"),
        "unchanged variables are not printed: {out}"
    );

    let json = archform(
        &dir,
        &[&["--output", "json", "plan"][..], &base, &set].concat(),
    );
    assert!(json.status.success(), "{}", text(&json.stderr));
    let plan: Value = serde_json::from_slice(&json.stdout).unwrap();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "api")
        .unwrap();
    let env = step["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["property"] == "environment")
        .unwrap_or_else(|| panic!("{step}"));
    assert_eq!(env["old"]["CACHE_TTL_SECONDS"], "60", "{env}");
    assert_eq!(env["new"]["known"]["CACHE_TTL_SECONDS"], "120", "{env}");
    assert!(env["old"]["LINKS_TABLE"].is_string(), "whole values: {env}");
    assert_eq!(
        env["new"]["known"].as_object().unwrap().len(),
        7,
        "whole values: {env}"
    );

    let destroy = archform(
        &dir,
        &["destroy", "--stack", &stack, "--endpoint", &endpoint],
    );
    assert!(destroy.status.success(), "{}", text(&destroy.stderr));
}
