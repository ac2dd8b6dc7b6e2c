//! HTTP through `archform dev` (the ALB adapter + the local Runtime API +
//! the function's lambda_http adapter) against the same function's router
//! served standalone, in the same run, at 50 concurrent keep-alive clients.
//! Rounds alternate (standalone, dev, standalone, dev, ...) so drift in the
//! machine's load hits both alike. Prints requests/s, p50 and p99 per side
//! and the overhead ratio (standalone throughput over dev throughput; target
//! <= 1.5). Asserts nothing.
//!
//!     cargo build -p archform-testfn && cargo run --example bench_dev_http
//!
//! Both sides run the same testfn-http binary from target/debug, so the
//! ratio compares the paths, not the builds.

use archform_dev::topology::{Action, FunctionSpec, ListenerSpec, RuleSpec, Topology};
use archform_dev::{DevOptions, start};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "common/load.rs"]
mod load;

const CLIENTS_DEFAULT: usize = 50;
/// Override with ARCHFORM_BENCH_CLIENTS (e.g. 1 for unloaded latency).
fn clients() -> usize {
    load::clients(CLIENTS_DEFAULT)
}
const ROUND: Duration = Duration::from_secs(4);
const ROUNDS: usize = 3;

fn testfn_http() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("debug").join("testfn-http");
    if !path.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "archform-testfn", "--bin", "testfn-http"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo");
        assert!(status.success(), "building testfn-http failed");
    }
    path
}

/// A round of load with the CPU each side used meanwhile: this process
/// (the load generator, plus dev itself on the dev side) and the server
/// side's processes (the standalone server, or dev's function processes).
struct Sample {
    http: load::Sample,
    cpu_here: Duration,
    cpu_there: Duration,
}

/// CPU of this process, and of the server side: the given pid, or (with
/// `None`) every child process but `except` (dev's function processes).
fn cpu_now(server: Option<u32>, except: u32) -> (Duration, Duration) {
    use archform_testkit::cpu::{children_of, process_cpu};
    let me = std::process::id();
    let here = process_cpu(me).unwrap_or_default();
    let there = match server {
        Some(pid) => process_cpu(pid).unwrap_or_default(),
        None => children_of(me)
            .into_iter()
            .filter(|&pid| pid != except)
            .filter_map(process_cpu)
            .sum(),
    };
    (here, there)
}

/// One round of `GET url` (200 counts), with the CPU used meanwhile.
async fn load(url: &str, server: Option<u32>, except: u32) -> Sample {
    let cpu_before = cpu_now(server, except);
    let http = load::closed_loop(
        vec![url.parse().unwrap()],
        clients(),
        ROUND,
        hyper::StatusCode::OK,
    )
    .await;
    let cpu_after = cpu_now(server, except);
    Sample {
        http,
        cpu_here: cpu_after.0.saturating_sub(cpu_before.0),
        cpu_there: cpu_after.1.saturating_sub(cpu_before.1),
    }
}

/// CPU microseconds per request: (this process, the server side).
fn cpu_per_request(samples: &[Sample]) -> (f64, f64) {
    let requests = samples
        .iter()
        .map(|s| s.http.requests)
        .sum::<usize>()
        .max(1) as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / requests;
    (
        us(samples.iter().map(|s| s.cpu_here).sum()),
        us(samples.iter().map(|s| s.cpu_there).sum()),
    )
}

fn summarize(name: &str, samples: &[Sample]) -> f64 {
    load::summarize(name, samples.iter().map(|s| &s.http)).0
}

#[tokio::main]
async fn main() {
    let binary = testfn_http();
    let work = std::env::temp_dir().join(format!("archform-bench-dev-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let zip = work.join("http.zip");
    std::fs::write(
        &zip,
        archform_testkit::zip::build(&[("bootstrap", &std::fs::read(&binary).unwrap(), 0o755)]),
    )
    .unwrap();

    // Standalone: the same router, served by axum directly.
    let mut standalone = Command::new(&binary)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(standalone.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let standalone_url = format!("{}/hello", line.trim().trim_start_matches("listening on "));

    // dev: one ALB listener whose rule forwards to a lambda target group.
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-http";
    let forward = Action::Forward {
        target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/bench/0"
            .into(),
        multi_value_headers: false,
        function: Some("http".into()),
    };
    let topology = Topology {
        stack: "bench".into(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        functions: vec![FunctionSpec {
            id: "http".into(),
            name: "bench-http".into(),
            arn: arn.into(),
            zip,
            environment: Vec::new(),
            timeout: Duration::from_secs(10),
            memory_mb: 128,
        }],
        listeners: vec![ListenerSpec {
            id: "alb_http".into(),
            port: 80,
            rules: vec![RuleSpec {
                id: "all".into(),
                priority: 10,
                path_patterns: vec!["/*".into()],
                http_methods: Vec::new(),
                action: forward,
            }],
            default_action: Action::FixedResponse {
                status: 404,
                content_type: None,
                body: String::new(),
            },
        }],
        function_urls: Vec::new(),
        pollers: Vec::new(),
        websockets: Vec::new(),
        load_balancers: Vec::new(),
        databases: Vec::new(),
    };
    let sqs_config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .build();
    archform_dev::set_quiet(true);
    let concurrency = std::env::var("ARCHFORM_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dev = start(
        topology,
        DevOptions {
            bind: [127, 0, 0, 1].into(),
            port: 0,
            concurrency,
            endpoint: None,
            extra_env: Vec::new(),
            sqs: aws_sdk_sqs::Client::from_conf(sqs_config),
            lambda: None,
            work_dir: work.join("dev"),
            dev_state_dir: work.join("dev-state"),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::Config::builder()
                    .behavior_version_latest()
                    .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                    .build(),
            ),
        },
    )
    .await
    .unwrap();
    let dev_url = format!("{}/hello", dev.endpoints[0].url);

    // Warm both (dev's environments start on first use, like Lambda's).
    let standalone_pid = standalone.id();
    let _ = load(&standalone_url, Some(standalone_pid), 0).await;
    let _ = load(&dev_url, None, standalone_pid).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // ARCHFORM_BENCH_ONLY=dev|standalone measures one side (for profiling).
    let only = std::env::var("ARCHFORM_BENCH_ONLY").unwrap_or_default();
    for _ in 0..ROUNDS {
        if only != "dev" {
            a.push(load(&standalone_url, Some(standalone_pid), 0).await);
        }
        if only != "standalone" {
            b.push(load(&dev_url, None, standalone_pid).await);
        }
    }
    println!(
        "HTTP GET /hello, {} concurrent keep-alive clients, {ROUNDS} alternating rounds of {} s (dev: up to {concurrency} environments):",
        clients(),
        ROUND.as_secs()
    );
    let standalone_rps = summarize("standalone", &a);
    let dev_rps = summarize("dev", &b);
    println!(
        "  overhead ratio (standalone/dev throughput): {:.2} (target <= 1.5)",
        standalone_rps / dev_rps
    );
    // Where the CPU goes: at saturation the throughput ratio is the ratio
    // of CPU per request, so this says which part the overhead is in.
    let (client, server) = cpu_per_request(&a);
    let (client_and_dev, functions) = cpu_per_request(&b);
    println!(
        "  CPU per request: standalone: load generator {client:.0} us + server {server:.0} us; \
         dev: load generator and dev {client_and_dev:.0} us (dev ~{:.0} us) + function processes {functions:.0} us",
        client_and_dev - client
    );
    dev.stop().await;
    let _ = standalone.kill();
    let _ = standalone.wait();
    let _ = std::fs::remove_dir_all(&work);
}
