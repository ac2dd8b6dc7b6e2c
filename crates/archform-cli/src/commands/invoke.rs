//! `archform invoke`: runs one invocation of a deployed function on this
//! machine with archform-local: its code zip, environment, timeout and
//! memory come from the stack's state, and its AWS calls go to the stack's
//! endpoint (the emulator with --local/--endpoint).

use crate::args::OutputFormat;
use crate::state_store::Store;
use crate::target::{self, TargetArgs};
use anyhow::{Context, bail};
use archform_local::{AwsEndpoint, FunctionConfig, InvokeOutcome, InvokeResult, LocalFunction};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args, Clone)]
pub struct InvokeArgs {
    /// The function's logical id in the stack (as in the blueprint).
    pub function: String,
    /// The stack name.
    #[arg(long)]
    pub stack: String,
    /// The event: a JSON file, or `-` for stdin (default `{}`).
    #[arg(long, value_name = "FILE|-")]
    pub event: Option<String>,
    /// Override the function's timeout, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What the state says about the function.
struct Deployed {
    config: FunctionConfig,
    zip: PathBuf,
    timeout: Duration,
}

fn read_event(arg: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let bytes = match arg {
        None => return Ok(b"{}".to_vec()),
        Some("-") => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading the event from stdin")?;
            b
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading the event {path}"))?,
    };
    serde_json::from_slice::<Value>(&bytes).context("the event is not valid JSON")?;
    Ok(bytes)
}

fn deployed(state: &archform_engine::state::State, id: &str) -> anyhow::Result<Deployed> {
    let Some(r) = state.resource(id) else {
        let functions: Vec<&str> = state
            .resources
            .iter()
            .filter(|(_, r)| r.kind == archform_blueprint::kinds::Kind::Function)
            .map(|(k, _)| k.as_str())
            .collect();
        bail!(
            "stack `{}` has no resource `{id}`; its functions: {}",
            state.stack,
            functions.join(", ")
        );
    };
    if r.kind != archform_blueprint::kinds::Kind::Function {
        bail!("`{id}` is a {}, not a lambda.function", r.kind);
    }
    let p = &r.properties;
    let zip = p
        .pointer("/code/zip")
        .and_then(Value::as_str)
        .with_context(|| format!("`{id}` has no code zip in the state: deploy it first"))?;
    let name = r
        .attributes
        .get("name")
        .and_then(Value::as_str)
        .or(r.physical_name.as_deref())
        .unwrap_or(id)
        .to_string();
    let mut config = FunctionConfig::new("bootstrap", name);
    if let Some(arn) = r.attributes.get("arn").and_then(Value::as_str) {
        config.arn = arn.to_string();
        if let Some(region) = arn.split(':').nth(3).filter(|r| !r.is_empty()) {
            config.region = region.to_string();
        }
    }
    if let Some(m) = p.get("memory_size").and_then(Value::as_u64) {
        config.memory_mb = m as u32;
    }
    if let Some(env) = p.get("environment").and_then(Value::as_object) {
        config.environment = env
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), v)
            })
            .collect();
    }
    let timeout = p.get("timeout").and_then(Value::as_u64).unwrap_or(3);
    Ok(Deployed {
        config,
        zip: PathBuf::from(zip),
        timeout: Duration::from_secs(timeout),
    })
}

pub fn run(out: OutputFormat, args: &InvokeArgs) -> anyhow::Result<i32> {
    let event = read_event(args.event.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let backend = Store::open(&args.target).await?;
        let state = backend.load_deployed(&args.stack).await?;
        let mut d = deployed(&state, &args.function)?;
        let t = target::resolve(&args.target, Some(&d.config.region)).await?;
        d.config.aws_endpoint = t.endpoint.url().map(AwsEndpoint::emulator);
        let dir = std::env::temp_dir().join(format!(
            "archform-invoke-{}-{}",
            args.function,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        d.config.bootstrap = archform_local::bundle::extract(&d.zip, &dir)?;
        let timeout = args.timeout.map(Duration::from_secs).unwrap_or(d.timeout);
        let memory = d.config.memory_mb;
        let mut f = LocalFunction::new(d.config);
        let outcome = f.invoke_raw(event.into(), timeout).await;
        f.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
        let outcome = outcome?;
        report(out, &outcome, memory);
        Ok(match outcome.result {
            InvokeResult::Response(_) => 0,
            _ => 1,
        })
    })
}

/// Text: the response (or the error payload) on stdout; START, the logs,
/// END and REPORT on stderr, like Lambda's log stream. JSON: one object.
fn report(out: OutputFormat, o: &InvokeOutcome, memory_mb: u32) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let payload = match &o.result {
        InvokeResult::Response(v) => v.clone(),
        InvokeResult::Error(e) | InvokeResult::InitError(e) => json!(e),
    };
    match out {
        OutputFormat::Json => {
            let value = json!({
                "request_id": o.request_id,
                "response": o.response(),
                "error": o.error(),
                "init_error": matches!(o.result, InvokeResult::InitError(_)),
                "logs": o.logs,
                "duration_ms": ms(o.duration),
                "init_duration_ms": o.init_duration.map(ms),
                "max_memory_used_mb": o.max_memory_kb.map(|k| k.div_ceil(1024)),
                "timed_out": o.timed_out,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        OutputFormat::Text => {
            eprintln!("START RequestId: {} Version: $LATEST", o.request_id);
            eprint!("{}", o.logs);
            eprintln!("END RequestId: {}", o.request_id);
            eprintln!("{}", o.report_line(memory_mb));
            println!("{payload}");
        }
    }
}
