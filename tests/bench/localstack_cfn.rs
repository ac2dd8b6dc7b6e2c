//! On LocalStack 4.12.0, the network + messaging part of a blueprint (the
//! VPC partial with public, app and data subnets over two AZs, the internet
//! gateway and route tables, three chained security groups, an SNS topic
//! with three filtered channel queues, their DLQs and queue policies, and an
//! IAM role) deployed and destroyed by archform vs the same resources through
//! LocalStack's own CloudFormation engine (CreateStack with the template from
//! `archform render --format cloudformation`, DescribeStacks polled every
//! 25 ms until CREATE_COMPLETE; DeleteStack likewise), in the same run,
//! alternating which goes first. One warm-up round of each is not counted
//! (LocalStack loads its service providers lazily). Prints medians and the
//! ratios archform / CloudFormation (target <= 1.0); asserts nothing.
//!
//!     cargo build && cargo run --example bench_localstack_cfn [rounds]
//!
//! Uses `$ARCHFORM_TEST_LOCALSTACK_ENDPOINT` if set, otherwise starts its own
//! LocalStack. No NAT gateway: LocalStack's CloudFormation fails on one whose
//! EIP comes from `Fn::GetAtt` (see ../shared/EMULATORS.md).

use archform_testkit::{EmulatorKind, OwnedEmulator, sdk_config};
use aws_sdk_cloudformation::types::{Capability, StackStatus};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BLUEPRINT: &str = r#"name: network-messaging
description: the network and messaging part of the notifications and three-tier blueprints
parameters:
  channels:
    type: list
    items: {type: enum, values: [email, sms, push, webhook]}
    default: [email, sms, push]
---
resources:
{{> network/vpc cidr="10.60.0.0/16" azs=2 nat="none" app=true data=true endpoints=false}}
  web_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: Web tier
      ingress:
        - {protocol: tcp, from_port: 443, to_port: 443, cidr: 0.0.0.0/0, description: HTTPS}
  app_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: App tier - only from the web tier
      ingress:
        - {protocol: tcp, from_port: 8080, to_port: 8080, source_security_group_id: "${web_sg.id}", description: From web}
  db_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: Data tier - only from the app tier
      ingress:
        - {protocol: tcp, from_port: 5432, to_port: 5432, source_security_group_id: "${app_sg.id}", description: From app}
  topic:
    kind: sns.topic
    properties:
      display_name: Notifications
      kms_master_key_id: alias/aws/sns
{{#each params.channels}}
{{> messaging/channel-queue channel=this topic="topic" visibility=180 max_receive=5 retention=345600}}
{{/each}}
  worker_role:
    kind: iam.role
    properties:
      description: Channel workers
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
"#;

const POLL: Duration = Duration::from_millis(25);

/// The `archform` binary beside this example's directory (target/debug),
/// or `$ARCHFORM_BIN`.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ARCHFORM_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|debug| debug.join("archform"))
        .expect("target directory")
}

/// Runs archform with `--output json`: success, the JSON, stderr, time.
fn archform(dir: &Path, args: &[&str]) -> (bool, Value, String, Duration) {
    let start = Instant::now();
    let out = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run archform");
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed(),
    )
}

fn failed_steps(report: &Value, err: &str) -> String {
    let steps: Vec<String> = report["report"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["outcome"] != "done")
        .map(|s| format!("{}: {}", s["id"], s["error"]))
        .collect();
    format!("{} {}", steps.join("; "), err.lines().last().unwrap_or(""))
}

/// archform deploy, then destroy: (deploy, destroy, resources created).
fn archform_round(dir: &Path, endpoint: &str, stack: &str) -> Result<(f64, f64, usize), String> {
    let (ok, report, err, deploy) = archform(
        dir,
        &[
            "deploy",
            "bp.yaml",
            "--stack",
            stack,
            "--endpoint",
            endpoint,
        ],
    );
    if !ok {
        let _ = archform(dir, &["destroy", "--stack", stack, "--endpoint", endpoint]);
        return Err(format!(
            "archform deploy failed: {}",
            failed_steps(&report, &err)
        ));
    }
    let created = report["report"]["steps"].as_array().map_or(0, |s| s.len());
    let (ok, report, err, destroy) =
        archform(dir, &["destroy", "--stack", stack, "--endpoint", endpoint]);
    if !ok {
        return Err(format!(
            "archform destroy failed: {}",
            failed_steps(&report, &err)
        ));
    }
    Ok((deploy.as_secs_f64(), destroy.as_secs_f64(), created))
}

async fn stack_status(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<StackStatus>, String> {
    match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out.stacks().first().and_then(|s| s.stack_status().cloned())),
        Err(e) => {
            let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(text)
            }
        }
    }
}

async fn failure_reasons(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> String {
    let Ok(events) = cfn.describe_stack_events().stack_name(stack).send().await else {
        return String::new();
    };
    events
        .stack_events()
        .iter()
        .filter(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("FAILED"))
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_status_reason().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Polls until the stack leaves its in-progress status; `None` = gone.
async fn settle(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    in_progress: StackStatus,
) -> Result<Option<StackStatus>, String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = stack_status(cfn, stack).await?;
        if status.as_ref() != Some(&in_progress) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("{stack} still {in_progress:?} after 300 s"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// CreateStack then DeleteStack, each polled to completion: (create, delete, resources).
async fn cfn_round(
    cfn: &aws_sdk_cloudformation::Client,
    template: &str,
    stack: &str,
) -> Result<(f64, f64, usize), String> {
    let start = Instant::now();
    cfn.create_stack()
        .stack_name(stack)
        .template_body(template)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string())?;
    let status = settle(cfn, stack, StackStatus::CreateInProgress).await?;
    let create = start.elapsed().as_secs_f64();
    let created = cfn
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map(|r| r.stack_resources().len())
        .unwrap_or(0);
    let create_ok = status == Some(StackStatus::CreateComplete);
    let reasons = if create_ok {
        String::new()
    } else {
        failure_reasons(cfn, stack).await
    };
    let start = Instant::now();
    cfn.delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string())?;
    let deleted = settle(cfn, stack, StackStatus::DeleteInProgress).await?;
    let delete = start.elapsed().as_secs_f64();
    if !create_ok {
        return Err(format!("CloudFormation create ended {status:?}: {reasons}"));
    }
    match deleted {
        None | Some(StackStatus::DeleteComplete) => Ok((create, delete, created)),
        other => Err(format!("CloudFormation delete ended {other:?}")),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut _owned = None;
    let endpoint = match std::env::var("ARCHFORM_TEST_LOCALSTACK_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_owned(),
        _ => {
            let started = Instant::now();
            let emulator = OwnedEmulator::start(EmulatorKind::LocalStack).unwrap_or_else(|e| {
                eprintln!("LocalStack could not be started: {}", e.chain_text());
                std::process::exit(1)
            });
            println!(
                "started LocalStack at {} in {:.1} s",
                emulator.endpoint(),
                started.elapsed().as_secs_f64()
            );
            _owned.insert(emulator).endpoint().to_owned()
        }
    };
    let dir = std::env::temp_dir().join(format!("archform-bench-lscfn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bp.yaml"), BLUEPRINT).unwrap();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&endpoint).await);
    let pid = std::process::id();

    let mut af_deploy = Vec::new();
    let mut af_destroy = Vec::new();
    let mut cf_create = Vec::new();
    let mut cf_delete = Vec::new();
    let (mut af_n, mut cf_n) = (0, 0);
    println!(
        "{:<7} {:>10} {:>10} {:>10} {:>10}",
        "round", "af deploy", "cfn create", "af destroy", "cfn delete"
    );
    // Round 0 is the warm-up.
    for round in 0..=rounds {
        let af_stack = format!("af{pid}-{round}");
        let cf_stack = format!("cf{pid}-{round}");
        // The template is rendered outside the timing (archform's deploy
        // renders its own inside it).
        let out = Command::new(binary())
            .current_dir(&dir)
            .args([
                "render",
                "bp.yaml",
                "--stack",
                &cf_stack,
                "--region",
                "us-east-1",
            ])
            .args(["--format", "cloudformation"])
            .output()
            .expect("run archform render");
        if !out.status.success() {
            eprintln!("render failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1)
        }
        let template = String::from_utf8(out.stdout).expect("UTF-8 template");
        let (af, cf) = if round % 2 == 0 {
            let af = archform_round(&dir, &endpoint, &af_stack);
            (af, cfn_round(&cfn, &template, &cf_stack).await)
        } else {
            let cf = cfn_round(&cfn, &template, &cf_stack).await;
            (archform_round(&dir, &endpoint, &af_stack), cf)
        };
        let (af, cf) = match (af, cf) {
            (Ok(af), Ok(cf)) => (af, cf),
            (af, cf) => {
                if let Err(e) = af {
                    println!("round {round}: {e}");
                }
                if let Err(e) = cf {
                    println!("round {round}: {e}");
                }
                continue;
            }
        };
        let label = if round == 0 {
            "warm-up".to_string()
        } else {
            round.to_string()
        };
        println!(
            "{label:<7} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            af.0, cf.0, af.1, cf.1
        );
        (af_n, cf_n) = (af.2, cf.2);
        if round > 0 {
            af_deploy.push(af.0);
            af_destroy.push(af.1);
            cf_create.push(cf.0);
            cf_delete.push(cf.1);
        }
    }
    if af_deploy.is_empty() {
        println!("no successful round");
        std::process::exit(1);
    }
    let counted = cf_create.len();
    let (ad, cc, ax, cd) = (
        median(af_deploy),
        median(cf_create),
        median(af_destroy),
        median(cf_delete),
    );
    println!(
        "{} archform resources ({} CloudFormation resources: attachments, routes and associations are separate there), {} counted rounds",
        af_n, cf_n, counted
    );
    println!(
        "median deploy:  archform {ad:.3} s, CloudFormation {cc:.3} s, ratio {:.2} (target <= 1.0)",
        ad / cc
    );
    println!(
        "median destroy: archform {ax:.3} s, CloudFormation {cd:.3} s, ratio {:.2} (target <= 1.0)",
        ax / cd
    );
    let _ = std::fs::remove_dir_all(&dir);
}
