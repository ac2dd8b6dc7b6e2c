//! Deploy and destroy of each blueprint on the emulator, measured against
//! the plan's critical path. The emulator sits behind the fault proxy with a
//! per-kind latency model (NAT gateways, load balancers and databases far
//! slower than queues). Two critical paths through the plan's dependency
//! graph: "model", the longest chain of modeled latencies, and "measured",
//! the longest chain of the steps' own measured durations in that run (the
//! best any scheduler could do with those calls). Wall time over each. Prints ratios (target
//! <= 1.15); asserts nothing. Also times a no-op redeploy of the largest
//! blueprint (target < 1 s, zero mutating calls).
//!
//! Then how the cost grows with the stack: N independent `sqs.queue`
//! resources (a generated blueprint, `{{#each (range N)}}`) deployed and
//! destroyed on the emulator directly, for N = 100, 200, 400, 800
//! (`ARCHFORM_BENCH_QUEUES=100,200` picks others). For each: wall time and
//! archform's own CPU (user + sys of the child process, from wait4), per
//! resource and relative to the smallest N. Per-resource figures that stay
//! near 1.0x mean the cost is linear in the stack; a per-step cost that
//! grows with the state (a full state write per step) shows as a ratio
//! rising with N.
//!
//!     cargo build && cargo run --example bench_deploy [blueprint ...] [--queues-only]
//!
//! (With ARCHFORM_TEST_ENDPOINT unset it starts its own moto.)

use archform_testkit::{FaultConfig, FaultProxy, test_endpoint};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// (kind, operation the proxy delays, seconds) for creates and deletes.
const CREATE_MODEL: &[(&str, &str, f64)] = &[
    ("ec2.nat_gateway", "ec2:CreateNatGateway", 3.0),
    (
        "elbv2.load_balancer",
        "elasticloadbalancing:CreateLoadBalancer",
        2.5,
    ),
    ("rds.db_instance", "rds:CreateDBInstance", 4.0),
    ("lambda.function", "lambda:POST /2015-03-31/functions", 0.5),
    ("dynamodb.table", "dynamodb:CreateTable", 1.0),
    ("iam.role", "iam:CreateRole", 0.5),
];
const DELETE_MODEL: &[(&str, &str, f64)] = &[
    ("ec2.nat_gateway", "ec2:DeleteNatGateway", 2.0),
    (
        "elbv2.load_balancer",
        "elasticloadbalancing:DeleteLoadBalancer",
        2.0,
    ),
    ("rds.db_instance", "rds:DeleteDBInstance", 3.0),
    ("dynamodb.table", "dynamodb:DeleteTable", 0.5),
];

fn archform(dir: &std::path::Path, args: &[&str]) -> (bool, Value, String, Duration) {
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

/// The `archform` binary beside this example's directory (target/debug),
/// or `$ARCHFORM_BIN`.
fn binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ARCHFORM_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|debug| debug.join("archform"))
        .expect("target directory")
}

/// Longest path through `steps` (id, kind, waits_for) with per-kind weights.
/// Lambda permissions share the function's REST path in the proxy model, so
/// they carry its latency too.
fn critical_path(steps: &[(String, String, Vec<String>)], model: &[(&str, &str, f64)]) -> f64 {
    let weight = |kind: &str| -> f64 {
        let kind = if kind == "lambda.permission" {
            "lambda.function"
        } else {
            kind
        };
        model
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map_or(0.0, |m| m.2)
    };
    let mut finish: BTreeMap<&str, f64> = BTreeMap::new();
    // Steps come in dependency order (deletes: dependents first, reversed below).
    for (id, kind, deps) in steps {
        let start = deps
            .iter()
            .filter_map(|d| finish.get(d.as_str()))
            .fold(0.0f64, |a, b| a.max(*b));
        finish.insert(id, start + weight(kind));
    }
    finish.values().fold(0.0, |a, b| a.max(*b))
}

/// Longest path through `steps` weighted with each step's measured duration
/// from the run's own report: the best any scheduler could do with these
/// calls, so wall time / this is the engine's own overhead.
fn measured_critical_path(steps: &[(String, String, Vec<String>)], report: &Value) -> f64 {
    let seconds: BTreeMap<String, f64> = report["report"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), s["seconds"].as_f64()?)))
        .collect();
    let mut finish: BTreeMap<&str, f64> = BTreeMap::new();
    for (id, _, deps) in steps {
        let start = deps
            .iter()
            .filter_map(|d| finish.get(d.as_str()))
            .fold(0.0f64, |a, b| a.max(*b));
        finish.insert(id, start + seconds.get(id).copied().unwrap_or(0.0));
    }
    finish.values().fold(0.0, |a, b| a.max(*b))
}

fn steps_of(plan: &Value) -> Vec<(String, String, Vec<String>)> {
    plan["steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap_or("").to_string(),
                        s["kind"].as_str().unwrap_or("").to_string(),
                        s["waits_for"]
                            .as_array()
                            .map(|w| {
                                w.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `archform` with the CPU time it used (user + sys of the child).
fn archform_cpu(dir: &std::path::Path, args: &[&str]) -> (bool, String, Duration, Duration) {
    let start = Instant::now();
    let (out, cpu) = archform_testkit::cpu::output_with_cpu(
        Command::new(binary())
            .current_dir(dir)
            .args(args)
            .args(["--output", "json"]),
    )
    .expect("run archform");
    // With `--output json` some errors (a blueprint's) go to stdout.
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.success(), said, start.elapsed(), cpu)
}

/// One size of the scaling table.
struct Scale {
    queues: usize,
    deploy: Duration,
    deploy_cpu: Duration,
    destroy: Duration,
    destroy_cpu: Duration,
}

/// Deploys and destroys `n` independent queues straight on the emulator.
fn scale_run(dir: &std::path::Path, endpoint: &str, n: usize) -> Result<Scale, String> {
    let bp = dir.join(format!("queues-{n}.yaml"));
    std::fs::write(
        &bp,
        format!(
            "name: bench-queues\ndescription: {n} independent queues\n---\nresources:\n\
             {{{{#each (range {n})}}}}\n  q{{{{this}}}}:\n    kind: sqs.queue\n    \
             properties: {{sqs_managed_sse: true}}\n{{{{/each}}}}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let stack = format!("bench-q{n}-{}", std::process::id());
    let bp = bp.display().to_string();
    let (ok, err, deploy, deploy_cpu) = archform_cpu(
        dir,
        &["deploy", &bp, "--stack", &stack, "--endpoint", endpoint],
    );
    let (dok, derr, destroy, destroy_cpu) =
        archform_cpu(dir, &["destroy", "--stack", &stack, "--endpoint", endpoint]);
    if !ok {
        return Err(format!(
            "deploy failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    if !dok {
        return Err(format!(
            "destroy failed: {}",
            derr.lines().last().unwrap_or("")
        ));
    }
    Ok(Scale {
        queues: n,
        deploy,
        deploy_cpu,
        destroy,
        destroy_cpu,
    })
}

fn print_scaling(dir: &std::path::Path, endpoint: &str) {
    let sizes: Vec<usize> = std::env::var("ARCHFORM_BENCH_QUEUES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 200, 400, 800]);
    println!();
    println!(
        "scaling: N independent sqs.queue, deploy and destroy on the emulator (no proxy); \
         cpu = archform's own user+sys; x = per-resource cost over the smallest N's"
    );
    println!(
        "{:>6} {:>9} {:>10} {:>9} {:>11} {:>6} | {:>9} {:>10} {:>9} {:>11} {:>6}",
        "queues",
        "deploy s",
        "ms/queue",
        "cpu s",
        "cpu ms/q",
        "x",
        "destroy s",
        "ms/queue",
        "cpu s",
        "cpu ms/q",
        "x"
    );
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1000.0 / n as f64;
    let mut base: Option<(f64, f64)> = None;
    for n in sizes {
        match scale_run(dir, endpoint, n) {
            Ok(s) => {
                let (dc, xc) = (per(s.deploy_cpu, s.queues), per(s.destroy_cpu, s.queues));
                let (b_dc, b_xc) = *base.get_or_insert((dc, xc));
                let ratio = |v: f64, b: f64| if b > 0.0 { v / b } else { f64::NAN };
                println!(
                    "{:>6} {:>9.2} {:>10.2} {:>9.2} {:>11.2} {:>5.2}x | {:>9.2} {:>10.2} {:>9.2} {:>11.2} {:>5.2}x",
                    s.queues,
                    s.deploy.as_secs_f64(),
                    per(s.deploy, s.queues),
                    s.deploy_cpu.as_secs_f64(),
                    dc,
                    ratio(dc, b_dc),
                    s.destroy.as_secs_f64(),
                    per(s.destroy, s.queues),
                    s.destroy_cpu.as_secs_f64(),
                    xc,
                    ratio(xc, b_xc),
                );
            }
            Err(e) => println!("{n:>6} {e}"),
        }
    }
}

fn print_header() {
    println!(
        "{:<15} {:>9} {:>8} {:>7} {:>9} {:>7} {:>9} {:>8} {:>7} {:>9} {:>7}",
        "blueprint",
        "deploy s",
        "model",
        "ratio",
        "measured",
        "ratio",
        "destroy s",
        "model",
        "ratio",
        "measured",
        "ratio"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut requested: Vec<String> = std::env::args().skip(1).collect();
    let queues_only = requested.iter().any(|a| a == "--queues-only");
    requested.retain(|a| a != "--queues-only");
    let blueprints: Vec<String> = if queues_only {
        Vec::new()
    } else if requested.is_empty() {
        archform_blueprint::catalog::embedded_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        requested
    };
    let upstream = test_endpoint();
    let dir = std::env::temp_dir().join(format!("archform-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("placeholder.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let zip = zip.display().to_string();
    let model: Vec<(String, Duration)> = CREATE_MODEL
        .iter()
        .chain(DELETE_MODEL)
        .map(|(_, op, s)| (op.to_string(), Duration::from_secs_f64(*s)))
        .collect();
    let proxy = FaultProxy::start(
        &upstream,
        FaultConfig {
            operation_latency: model,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ep = proxy.endpoint.clone();
    if !blueprints.is_empty() {
        print_header();
    }
    let mut largest: Option<(usize, String)> = None;
    for bp in &blueprints {
        let stack = format!("bench-{}", bp.replace('_', "-"));
        let dir2 = dir.clone();
        let (ok, plan, err, _) = tokio::task::spawn_blocking({
            let (bp, stack, ep, zip) = (bp.clone(), stack.clone(), ep.clone(), zip.clone());
            move || {
                archform(
                    &dir2,
                    &[
                        "plan",
                        &bp,
                        "--stack",
                        &stack,
                        "--endpoint",
                        &ep,
                        "--code-override",
                        &zip,
                    ],
                )
            }
        })
        .await
        .unwrap();
        if !ok {
            println!("{bp:<15} plan failed: {}", err.lines().last().unwrap_or(""));
            continue;
        }
        let steps = steps_of(&plan);
        let crit_create = critical_path(&steps, CREATE_MODEL);
        let dir2 = dir.clone();
        let (ok, report, err, took) = tokio::task::spawn_blocking({
            let (bp, stack, ep, zip) = (bp.clone(), stack.clone(), ep.clone(), zip.clone());
            move || {
                archform(
                    &dir2,
                    &[
                        "deploy",
                        &bp,
                        "--stack",
                        &stack,
                        "--endpoint",
                        &ep,
                        "--code-override",
                        &zip,
                    ],
                )
            }
        })
        .await
        .unwrap();
        if !ok {
            let errors: Vec<String> = report["report"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["outcome"] == "failed")
                .map(|s| format!("{}: {}", s["id"], s["error"]))
                .collect();
            println!(
                "{bp:<15} deploy failed: {} {}",
                errors.join("; "),
                err.lines().last().unwrap_or("")
            );
            let _ = archform(&dir, &["destroy", "--stack", &stack, "--endpoint", &ep]);
            continue;
        }
        if largest.as_ref().is_none_or(|(n, _)| steps.len() > *n) {
            largest = Some((steps.len(), bp.clone()));
        }
        // Destroy walks the same graph backwards: dependents first.
        let mut reversed: Vec<(String, String, Vec<String>)> = Vec::new();
        for (id, kind, _) in steps.iter().rev() {
            let dependents = steps
                .iter()
                .filter(|(_, _, w)| w.contains(id))
                .map(|(d, _, _)| d.clone())
                .collect();
            reversed.push((id.clone(), kind.clone(), dependents));
        }
        let crit_destroy = critical_path(&reversed, DELETE_MODEL);
        let (ok, dreport, err, took_d) =
            archform(&dir, &["destroy", "--stack", &stack, "--endpoint", &ep]);
        let crit_create_measured = measured_critical_path(&steps, &report);
        let crit_destroy_measured = measured_critical_path(&reversed, &dreport);
        if !ok {
            println!(
                "{bp:<15} destroy failed: {}",
                err.lines().last().unwrap_or("")
            );
        }
        let ratio = |m: Duration, c: f64| {
            if c > 0.0 {
                format!("{:.2}", m.as_secs_f64() / c)
            } else {
                "-".into()
            }
        };
        println!(
            "{bp:<15} {:>9.2} {:>8.2} {:>7} {:>9.2} {:>7} {:>9.2} {:>8.2} {:>7} {:>9.2} {:>7}",
            took.as_secs_f64(),
            crit_create,
            ratio(took, crit_create),
            crit_create_measured,
            ratio(took, crit_create_measured),
            took_d.as_secs_f64(),
            crit_destroy,
            ratio(took_d, crit_destroy),
            crit_destroy_measured,
            ratio(took_d, crit_destroy_measured)
        );
    }
    // No-op redeploy of the largest blueprint that deployed.
    if let Some((_, bp)) = largest {
        let stack = format!("bench-noop-{}", bp);
        let (ok, _, err, _) = archform(
            &dir,
            &[
                "deploy",
                &bp,
                "--stack",
                &stack,
                "--endpoint",
                &upstream,
                "--code-override",
                &zip,
            ],
        );
        if ok {
            proxy.reset();
            let (_, report, _, took) = archform(
                &dir,
                &[
                    "deploy",
                    &bp,
                    "--stack",
                    &stack,
                    "--endpoint",
                    &ep,
                    "--code-override",
                    &zip,
                ],
            );
            let stats = proxy.stats();
            println!(
                "no-op redeploy of {bp}: {:.3} s (target < 1 s), {} calls, {} mutating (target 0), changes {}",
                took.as_secs_f64(),
                stats.total(),
                stats.mutations().values().sum::<u64>(),
                report["changes"]
            );
            let _ = archform(
                &dir,
                &["destroy", "--stack", &stack, "--endpoint", &upstream],
            );
        } else {
            println!(
                "no-op redeploy of {bp}: first deploy failed: {}",
                err.lines().last().unwrap_or("")
            );
        }
    }
    {
        let (dir, upstream) = (dir.clone(), upstream.clone());
        tokio::task::spawn_blocking(move || print_scaling(&dir, &upstream))
            .await
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
