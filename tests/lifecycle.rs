//! Deploy, redeploy, change and destroy through the built binary against the
//! emulator, with a fault-injection proxy in between that also counts every
//! call: a no-op redeploy must make zero mutating calls.

use archform_testkit::{FaultConfig, FaultProxy, sdk_config, test_endpoint};
use std::path::{Path, PathBuf};
use std::process::Command;

const VPC_BLUEPRINT: &str = "name: lifecycle-vpc
description: a VPC with DNS hostnames
parameters:
  hostnames: {type: boolean, default: true}
  other_cidr: {type: cidr, default: 10.78.0.0/16}
---
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.77.0.0/16
      enable_dns_hostnames: {{params.hostnames}}
  other:
    kind: ec2.vpc
    properties:
      cidr_block: {{params.other_cidr}}
outputs:
  vpc_id:
    value: ${vpc.id}
";

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archform-lifecycle-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
}

async fn archform(dir: &Path, args: Vec<String>) -> Run {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_archform"))
            .current_dir(&dir)
            .args(&args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn tagged_vpcs(stack: &str) -> usize {
    let config = sdk_config(&test_endpoint()).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let out = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:archform:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.vpcs().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_redeploy_update_destroy_under_twenty_percent_faults() {
    let dir = workdir("faults");
    std::fs::write(dir.join("bp.yaml"), VPC_BLUEPRINT).unwrap();
    let stack = format!("lc-{}", std::process::id());
    let proxy = FaultProxy::start(
        &test_endpoint(),
        FaultConfig {
            fault_rate: 0.2,
            seed: 11,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let target = ["--endpoint", proxy.endpoint.as_str()];
    let deploy = |extra: &[&str]| {
        let mut a = args(&["deploy", "bp.yaml", "--stack", &stack]);
        a.extend(args(&target));
        a.extend(args(extra));
        a
    };

    let r = archform(&dir, deploy(&[])).await;
    assert_eq!(r.code, 0, "first deploy: {}\n{}", r.json, r.stderr);
    assert!(
        r.json["outputs"]["vpc_id"]
            .as_str()
            .unwrap()
            .starts_with("vpc-")
    );
    assert_eq!(tagged_vpcs(&stack).await, 2);
    assert!(proxy.stats().faults > 0, "the proxy injected no faults");

    proxy.reset();
    let r = archform(&dir, deploy(&[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["changes"], 0);
    let mutations = proxy.stats().mutations();
    assert!(
        mutations.is_empty(),
        "a no-op redeploy changed things: {mutations:?}"
    );

    // A parameter change updates only what it should, in place.
    let r = archform(&dir, {
        let mut a = args(&["plan", "bp.yaml", "--stack", &stack, "--detailed-exitcode"]);
        a.extend(args(&target));
        a.extend(args(&["--set", "hostnames=false"]));
        a
    })
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let changed: Vec<(String, String)> = r.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(changed, [("vpc".to_string(), "update".to_string())]);
    let r = archform(&dir, deploy(&["--set", "hostnames=false"])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A change that forces replacement: the old VPC goes, a new one comes.
    let old_id = {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!(".archform/state/{stack}.json"))).unwrap(),
        )
        .unwrap();
        state["resources"]["other"]["physical_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = archform(
        &dir,
        deploy(&[
            "--set",
            "hostnames=false",
            "--set",
            "other_cidr=10.79.0.0/16",
        ]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let replaced: Vec<&serde_json::Value> = r.json["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .collect();
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(replaced[0]["id"], "other");
    assert_eq!(replaced[0]["action"], "replace");
    assert_eq!(
        tagged_vpcs(&stack).await,
        2,
        "the replaced VPC is gone, its successor exists"
    );
    let config = sdk_config(&test_endpoint()).await;
    let gone = aws_sdk_ec2::Client::new(&config)
        .describe_vpcs()
        .vpc_ids(&old_id)
        .send()
        .await;
    assert!(
        gone.map(|o| o.vpcs().is_empty()).unwrap_or(true),
        "old VPC {old_id} still exists"
    );

    let mut d = args(&["destroy", "--stack", &stack]);
    d.extend(args(&target));
    let r = archform(&dir, d).await;
    assert_eq!(r.code, 0, "destroy: {}\n{}", r.json, r.stderr);
    assert_eq!(
        tagged_vpcs(&stack).await,
        0,
        "destroy left tagged VPCs behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_after_each_step_converges_when_run_again() {
    let dir = workdir("crash");
    std::fs::write(dir.join("bp.yaml"), VPC_BLUEPRINT).unwrap();
    let stack = format!("crash-{}", std::process::id());
    let endpoint = test_endpoint();
    let deploy = args(&[
        "deploy",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &endpoint,
    ]);
    // Die after the first completed step, then resume.
    let killed = {
        let dir = dir.clone();
        let deploy = deploy.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_archform"))
                .current_dir(&dir)
                .args(&deploy)
                .env("ARCHFORM_TEST_EXIT_AFTER_STEPS", "1")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert_eq!(
        killed.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let r = archform(&dir, deploy.clone()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        tagged_vpcs(&stack).await,
        2,
        "exactly the desired VPCs, no duplicates"
    );
    let r = archform(
        &dir,
        args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tagged_vpcs(&stack).await, 0);
}

/// Kills a deploy, then a destroy, just before each of its state records
/// in turn: between a resource's mark and its AWS call, and between the
/// call and the record of its result (the journal's crash windows). Each
/// time the next run must converge: exactly the desired VPCs, then none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_each_state_record_converges() {
    let dir = workdir("records");
    std::fs::write(dir.join("bp.yaml"), VPC_BLUEPRINT).unwrap();
    let stack = format!("rec-{}", std::process::id());
    let endpoint = test_endpoint();
    let deploy = args(&[
        "deploy",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &endpoint,
    ]);
    let destroy = args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]);
    let killed = |list: Vec<String>, n: usize| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_archform"))
                .current_dir(&dir)
                .args(&list)
                .env("ARCHFORM_TEST_EXIT_BEFORE_RECORD", n.to_string())
                .output()
                .unwrap()
        })
    };
    let journal = dir.join(format!(".archform/state/{stack}.journal"));
    // Two VPCs: each run writes a mark and a result per resource.
    for n in 1..=4 {
        let out = killed(deploy.clone(), n).await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(137),
            "deploy killed before record {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if n > 1 {
            assert!(journal.exists(), "records before the kill are journaled");
        }
        let r = archform(&dir, deploy.clone()).await;
        assert_eq!(
            r.code, 0,
            "deploy after a kill before record {n}: {}",
            r.stderr
        );
        assert!(!journal.exists(), "a finished run compacts its journal");
        assert_eq!(
            tagged_vpcs(&stack).await,
            2,
            "killed before record {n}: exactly the desired VPCs, no duplicates"
        );

        let out = killed(destroy.clone(), n).await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(137),
            "destroy killed before record {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = archform(&dir, destroy.clone()).await;
        assert_eq!(
            r.code, 0,
            "destroy after a kill before record {n}: {}",
            r.stderr
        );
        assert_eq!(
            tagged_vpcs(&stack).await,
            0,
            "destroy killed before record {n}"
        );
    }
}

/// Kills a url-shortener deploy (function URL variant) after every step
/// boundary in turn, then at pseudo-random moments with SIGKILL, running
/// deploy again each time; the stack must end with exactly one resource
/// per logical id and nothing left after destroy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_boundary_and_at_random_moments_converges() {
    let dir = workdir("kills");
    let zip = dir.join("placeholder.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let stack = format!("kill-{}", std::process::id());
    let endpoint = test_endpoint();
    let deploy: Vec<String> = args(&[
        "deploy",
        "url-shortener",
        "--stack",
        &stack,
        "--endpoint",
        &endpoint,
        "--set",
        "front_door=function_url",
        "--code-override",
        zip.to_str().unwrap(),
    ]);
    let spawn = |extra_env: Option<(&str, String)>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_archform"));
        c.current_dir(&dir)
            .args(&deploy)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        c
    };
    // Every step boundary: the hook exits after N completed steps.
    for n in 1..=14 {
        let status = spawn(Some(("ARCHFORM_TEST_EXIT_AFTER_STEPS", n.to_string())))
            .status()
            .unwrap();
        assert!(
            matches!(status.code(), Some(0 | 137)),
            "run {n}: {status:?}"
        );
    }
    // Random moments: SIGKILL after a delay from a fixed pseudo-random sequence.
    let mut seed: u64 = 0x5eed;
    for _ in 0..5 {
        let _ = archform(
            &dir,
            args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]),
        )
        .await;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis(30 + (seed >> 33) % 400);
        let mut child = spawn(None).spawn().unwrap();
        tokio::time::sleep(delay).await;
        let _ = child.kill();
        let _ = child.wait();
    }
    let r = archform(&dir, deploy.clone()).await;
    assert_eq!(r.code, 0, "final deploy: {}", r.stderr);
    let r = archform(&dir, deploy.clone()).await;
    assert_eq!(r.json["changes"], 0, "the stack converged: {}", r.json);
    let clients = archform_aws::Clients::new(&sdk_config(&endpoint).await);
    let inv = archform_aws::inventory(&clients, &stack).await;
    // A duplicate hidden where the inventory could not look is still one.
    assert!(inv.is_complete(), "inventory incomplete: {:?}", inv.unknown);
    let found = inv.found;
    let mut ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicates after kills: {found:?}");
    let r = archform(
        &dir,
        args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    archform_aws::assert_no_leftovers(&clients, &stack).await;
}

/// Two deploys of one stack at once: one runs, the other stops with a lock
/// error naming the holder; the state is intact and a saved plan applies
/// exactly, and is refused once the state has moved on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deploys_lock_and_saved_plans_apply_exactly() {
    let dir = workdir("lock");
    std::fs::write(dir.join("bp.yaml"), VPC_BLUEPRINT).unwrap();
    let stack = format!("lock-{}", std::process::id());
    let proxy = FaultProxy::start(
        &test_endpoint(),
        FaultConfig {
            latency: std::time::Duration::from_millis(150),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deploy = args(&[
        "deploy",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &proxy.endpoint,
    ]);
    let (a, b) = tokio::join!(archform(&dir, deploy.clone()), async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        archform(&dir, deploy.clone()).await
    });
    // Exactly one runs; the other stops on the lock (whichever came second).
    assert!(
        (a.code == 0) != (b.code == 0),
        "exactly one deploy may run:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    let loser = if a.code == 0 { &b } else { &a };
    assert!(loser.stderr.contains("locked"), "{}", loser.stderr);
    // The holder is named once it has recorded itself (a moment after
    // taking the lock); either way the message says the stack is locked.
    assert!(
        loser.stderr.contains("deploy") || loser.stderr.contains("not recorded who yet"),
        "{}",
        loser.stderr
    );
    assert_eq!(tagged_vpcs(&stack).await, 2);

    let endpoint = test_endpoint();
    let plan = dir.join("change.plan");
    let r = archform(
        &dir,
        args(&[
            "plan",
            "bp.yaml",
            "--stack",
            &stack,
            "--endpoint",
            &endpoint,
            "--set",
            "hostnames=false",
            "--out",
            plan.to_str().unwrap(),
        ]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = archform(
        &dir,
        args(&[
            "deploy",
            "bp.yaml",
            "--stack",
            &stack,
            "--endpoint",
            &endpoint,
            "--plan",
            plan.to_str().unwrap(),
        ]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let changed: Vec<&str> = r.json["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["vpc"]);
    let r = archform(
        &dir,
        args(&[
            "deploy",
            "bp.yaml",
            "--stack",
            &stack,
            "--endpoint",
            &endpoint,
            "--plan",
            plan.to_str().unwrap(),
        ]),
    )
    .await;
    assert_ne!(
        r.code, 0,
        "a saved plan must be refused once the state moved on"
    );
    assert!(r.stderr.contains("make a new plan"), "{}", r.stderr);
    let r = archform(
        &dir,
        args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A change made outside archform is reported as drift and planned back;
/// a resource deleted outside archform is created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_and_planned_back() {
    let dir = workdir("drift");
    std::fs::write(dir.join("bp.yaml"), VPC_BLUEPRINT).unwrap();
    let stack = format!("drift-{}", std::process::id());
    let endpoint = test_endpoint();
    let deploy = args(&[
        "deploy",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(archform(&dir, deploy.clone()).await.code, 0);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!(".archform/state/{stack}.json"))).unwrap(),
    )
    .unwrap();
    let vpc = state["resources"]["vpc"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = state["resources"]["other"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(&endpoint).await);
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.delete_vpc().vpc_id(&other).send().await.unwrap();

    let plan = args(&[
        "plan",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &endpoint,
        "--detailed-exitcode",
    ]);
    let r = archform(&dir, plan).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let drift: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("drift").is_some())
        .collect();
    assert!(
        drift.iter().any(|d| d["drift"] == "changed"
            && d["id"] == "vpc"
            && d["property"] == "enable_dns_hostnames"),
        "{drift:?}"
    );
    assert!(
        drift
            .iter()
            .any(|d| d["drift"] == "deleted" && d["id"] == "other"),
        "{drift:?}"
    );
    let actions: Vec<(String, String)> = r.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| {
            (
                s["id"].as_str().unwrap().into(),
                s["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("vpc".into(), "update".into()),
            ("other".into(), "create".into())
        ]
    );
    assert_eq!(archform(&dir, deploy.clone()).await.code, 0);
    let r = archform(&dir, deploy).await;
    assert_eq!(r.json["changes"], 0, "drift was put right: {}", r.json);
    let r = archform(
        &dir,
        args(&["destroy", "--stack", &stack, "--endpoint", &endpoint]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Ctrl-C (SIGINT) lets the steps in flight finish, saves the state and
/// exits; running deploy again finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_finishes_in_flight_steps_and_saves_state() {
    let dir = workdir("sigint");
    let zip = dir.join("placeholder.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let stack = format!("int-{}", std::process::id());
    let proxy = FaultProxy::start(
        &test_endpoint(),
        FaultConfig {
            latency: std::time::Duration::from_millis(120),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deploy = args(&[
        "deploy",
        "url-shortener",
        "--stack",
        &stack,
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "front_door=function_url",
        "--code-override",
        zip.to_str().unwrap(),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(&dir)
        .args(&deploy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first steps are in flight.
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Read};
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains("create…") {
                Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()
                    .unwrap();
                break;
            }
            line.clear();
        }
        err.read_to_string(&mut seen).unwrap();
        (child.wait().unwrap(), seen)
    })
    .await
    .unwrap();
    assert!(stderr.contains("interrupted"), "{status:?}\n{stderr}");
    assert_eq!(
        status.code(),
        Some(1),
        "an interrupted deploy is not a success"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!(".archform/state/{stack}.json"))).unwrap(),
    )
    .unwrap();
    let resources = state["resources"].as_object().unwrap();
    assert!(
        !resources.is_empty(),
        "some steps finished before the interrupt"
    );
    assert!(
        resources.values().all(|r| r["status"] == "created"),
        "in-flight steps finished before exiting: {resources:?}"
    );
    let r = archform(&dir, deploy.clone()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = archform(
        &dir,
        args(&["destroy", "--stack", &stack, "--endpoint", &proxy.endpoint]),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}
