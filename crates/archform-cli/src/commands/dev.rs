//! `archform dev`: runs every function of a deployed stack on this machine
//! behind local stand-ins for its ALB listeners, function URLs, SQS event
//! source mappings and WebSocket APIs, and (against an emulator) a local
//! PostgreSQL for each RDS PostgreSQL instance (see archform-dev), against
//! the stack's other resources, until Ctrl-C.

use crate::args::OutputFormat;
use crate::state_store::Store;
use crate::target::{self, TargetArgs};
use archform_dev::{DevOptions, LocalEndpoint, Topology};
use archform_local::AwsEndpoint;
use serde_json::json;
use std::io::Write;
use std::net::IpAddr;

#[derive(Debug, clap::Args, Clone)]
pub struct DevArgs {
    /// The stack name.
    #[arg(long)]
    pub stack: String,
    /// Port of the first local front (ALB listener, function URL, WebSocket
    /// API, in that order); the others take the next ports. 0 picks free ports.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Warm execution environments per function at most.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Print no line per request (function warnings still print).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(out: OutputFormat, args: &DevArgs) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let backend = Store::open(&args.target).await?;
        let state = backend.load_deployed(&args.stack).await?;
        let topology = Topology::from_state(&state)?;
        let t = target::resolve(&args.target, Some(&topology.region)).await?;
        // The functions' SDK calls go where archform's own calls go: the
        // emulator (whichever flag or variable named it), else the account.
        let endpoint = t.endpoint.url().map(AwsEndpoint::emulator);
        let mut extra_env = Vec::new();
        if let Some(profile) = &args.target.profile {
            extra_env.push(("AWS_PROFILE".to_string(), profile.clone()));
        }
        let dev_state_dir = dev_state_dir(&backend, &args.stack);
        let work_dir = std::env::temp_dir().join(format!(
            "archform-dev-{}-{}",
            args.stack,
            std::process::id()
        ));
        archform_dev::set_quiet(args.quiet);
        let running = archform_dev::start(
            topology,
            DevOptions {
                bind: args.bind,
                port: args.port,
                concurrency: usize::from(args.concurrency),
                endpoint,
                extra_env,
                sqs: aws_sdk_sqs::Client::new(&t.config),
                lambda: Some(aws_sdk_lambda::Client::new(&t.config)),
                work_dir: work_dir.clone(),
                dev_state_dir,
                secrets: aws_sdk_secretsmanager::Client::new(&t.config),
            },
        )
        .await?;
        for note in &running.notes {
            eprintln!("archform dev: note: {note}");
        }
        ready(out, &args.stack, &running.endpoints);
        wait_for_signal().await;
        eprintln!("archform dev: stopping (finishing requests and batches in flight)");
        running.stop().await;
        let _ = std::fs::remove_dir_all(&work_dir);
        eprintln!("archform dev: stopped");
        Ok(0)
    })
}

/// The readiness line (stdout, one line, after every port is bound and
/// every poller has its queue): what to point clients at.
fn ready(out: OutputFormat, stack: &str, endpoints: &[LocalEndpoint]) {
    let mut stdout = std::io::stdout().lock();
    match out {
        OutputFormat::Json => {
            let _ = writeln!(
                stdout,
                "{}",
                json!({"event": "ready", "stack": stack, "endpoints": endpoints})
            );
        }
        OutputFormat::Text => {
            let urls: Vec<String> = endpoints
                .iter()
                .filter(|e| e.kind != "sqs")
                .map(|e| format!("{} {}", e.id, e.url))
                .collect();
            for e in endpoints {
                eprintln!("  {:<12} {:<24} {}  {}", e.kind, e.id, e.url, e.detail);
            }
            let _ = writeln!(
                stdout,
                "archform dev: stack `{stack}` ready: {} (Ctrl-C to stop)",
                if urls.is_empty() {
                    "pollers only".to_string()
                } else {
                    urls.join(", ")
                }
            );
        }
    }
    let _ = stdout.flush();
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What dev keeps across runs for `stack` (the local databases' clusters):
/// next to the stack's state file, or under .archform/dev for state in S3.
pub(crate) fn dev_state_dir(backend: &Store, stack: &str) -> std::path::PathBuf {
    match backend {
        Store::Local(b) => b.dir().join(format!("{stack}.dev")),
        Store::S3(_) => std::path::Path::new(".archform/dev").join(stack),
    }
}
