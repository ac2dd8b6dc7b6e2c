//! `archform plan`, `deploy`, `destroy`, `outputs` and `state`.

use crate::args::{OutputFormat, StackArgs};
use crate::code;
use crate::output;
use crate::plan_text::render_plan;
use crate::progress::{Mode, Progress};
use crate::state_store::Store;
use crate::target::{self, TargetArgs};
use anyhow::{Context, bail};
use archform_aws::AwsProvider;
use archform_blueprint::{Graph, compile, refs};
use archform_engine::apply::{self, ApplyOptions, ApplyReport, StepOutcome};
use archform_engine::dag::{CancelToken, Direction};
use archform_engine::plan::{self, Plan, PseudoAttrs};
use archform_engine::provider::Provider;
use archform_engine::refresh::{self, Drift};
use archform_engine::state::{State, StateBackend};
use indexmap::IndexMap;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args, Clone)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How many resources to create or change at once.
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
    /// Deploy this zip as the code of every function (placeholder deploys).
    #[arg(long, value_name = "ZIP")]
    pub code_override: Option<PathBuf>,
    /// Deploy a placeholder `bootstrap` as every function's code: the whole
    /// architecture deploys before the functions are built.
    #[arg(long, conflicts_with = "code_override")]
    pub placeholder_code: bool,
    /// An existing S3 bucket in the stack's region: function zips over
    /// Lambda's 50 MB direct-upload limit are uploaded there
    /// (`archform/<stack>/<function>/<sha256>.zip`) and deployed from it.
    #[arg(long, value_name = "BUCKET", env = code::ARTIFACT_BUCKET_ENV)]
    pub artifact_bucket: Option<String>,
    /// Plan from the saved state without reading resources back from AWS
    /// (faster, but blind to changes made outside archform).
    #[arg(long)]
    pub no_refresh: bool,
    /// Apply exactly this saved plan (from `archform plan --out`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Save the plan to apply it later with `archform deploy --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, clap::Args, Clone)]
pub struct StackNameArgs {
    /// The stack name.
    #[arg(long)]
    pub stack: String,
    /// AWS region of the stack (default: from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn blueprint_dir(stack: &StackArgs) -> PathBuf {
    stack
        .blueprint
        .as_deref()
        .map(Path::new)
        .filter(|p| p.exists())
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Compiles the stack; `Err(code)` when it is invalid (already reported).
fn graph(out: OutputFormat, args: &DeployArgs) -> Result<Graph, i32> {
    let mut g = compile(&args.stack.request()).map_err(|e| output::load_error(out, &e))?;
    let override_zip = match args.placeholder_code {
        true => match code::placeholder() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Err(1);
            }
        },
        false => args.code_override.clone(),
    };
    if let Err(e) = code::prepare(
        &mut g,
        &blueprint_dir(&args.stack),
        override_zip.as_deref(),
        args.artifact_bucket.as_deref(),
    ) {
        eprintln!("error: {e:#}");
        return Err(2);
    }
    Ok(g)
}

struct Session {
    provider: Arc<AwsProvider>,
    pseudo: PseudoAttrs,
    /// An emulator (`--local`, `--endpoint`, `AWS_ENDPOINT_URL`): no
    /// confirmation, and operations it lacks are skipped, not failed.
    emulator: bool,
}

async fn session(t: &TargetArgs, region: Option<&str>) -> anyhow::Result<Session> {
    let target = target::resolve(t, region).await?;
    let provider = Arc::new(AwsProvider::new(&target.config));
    let pseudo = provider
        .pseudo()
        .await
        .context("reading the target account")?;
    Ok(Session {
        provider,
        pseudo,
        emulator: target.is_emulator(),
    })
}

fn pseudo_str<'a>(p: &'a PseudoAttrs, k: &str) -> &'a str {
    p.get(k).and_then(Value::as_str).unwrap_or("?")
}

pub fn plan(out: OutputFormat, args: &PlanArgs) -> anyhow::Result<i32> {
    let g = match graph(out, &args.deploy) {
        Ok(g) => g,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(async {
        let s = session(&args.deploy.target, g.stack.region.as_deref()).await?;
        let backend = Store::open(&args.deploy.target).await?;
        let mut state = backend.load(&g.stack.name).await?;
        if let Some(st) = state.as_mut().filter(|_| !args.deploy.no_refresh) {
            report_drift(
                out,
                &refresh::refresh(st, s.provider.as_ref(), args.deploy.parallelism).await?,
            );
        }
        let p = plan::plan(&g, state.as_ref(), &s.pseudo)?;
        if let Some(path) = &args.out {
            std::fs::write(path, serde_json::to_vec_pretty(&p)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        output::emit(out, &p, || render_plan(&p));
        Ok(if args.detailed_exitcode && p.has_changes() {
            2
        } else {
            0
        })
    })
}

pub fn deploy(out: OutputFormat, args: &DeployArgs) -> anyhow::Result<i32> {
    let g = match graph(out, args) {
        Ok(g) => g,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(async {
        let s = session(&args.target, g.stack.region.as_deref()).await?;
        let backend = Store::open(&args.target).await?;
        let lock = backend.lock(&g.stack.name, "deploy").await?;
        let mut state = match backend.load(&g.stack.name).await? {
            Some(st) => st,
            None => State::new(&g.stack.name, &g.stack.blueprint),
        };
        state.parameters = g.stack.parameters.clone();
        if args.plan.is_none() && !args.no_refresh {
            report_drift(
                out,
                &refresh::refresh(&mut state, s.provider.as_ref(), args.parallelism).await?,
            );
        }
        let p = match &args.plan {
            Some(path) => {
                let p: Plan = serde_json::from_slice(
                    &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                )?;
                p
            }
            None => plan::plan(&g, Some(&state), &s.pseudo)?,
        };
        if !p.has_changes() {
            let outputs = resolve_outputs(&g, &state, &s.pseudo);
            if outputs != state.outputs {
                state.outputs = outputs;
                backend.save(&lock, &mut state).await?;
            }
            backend.unlock(lock).await?;
            let report =
                serde_json::json!({"changes": 0, "mutations": 0, "outputs": state.outputs});
            output::emit(out, &report, || {
                format!(
                    "No changes. Stack `{}` is up to date.\n{}",
                    g.stack.name,
                    render_outputs(&state.outputs)
                )
            });
            return Ok(0);
        }
        if out == OutputFormat::Text {
            eprint!("{}", render_plan(&p));
        }
        if !s.emulator {
            target::confirm(
                pseudo_str(&s.pseudo, "account_id"),
                pseudo_str(&s.pseudo, "region"),
                &format!("deploy stack `{}`", g.stack.name),
                args.target.yes,
            )?;
        }
        let options = ApplyOptions {
            parallelism: args.parallelism,
            direction: Direction::Forward,
            exit_after_steps: exit_hook("ARCHFORM_TEST_EXIT_AFTER_STEPS"),
            exit_before_record: exit_hook("ARCHFORM_TEST_EXIT_BEFORE_RECORD"),
        };
        let (mut state, report, backend, lock) =
            run_apply(out, &p, state, backend, lock, &s, options).await?;
        if acceptable(&report, s.emulator) {
            state.outputs = resolve_outputs(&g, &state, &s.pseudo);
            backend.save(&lock, &mut state).await?;
        }
        backend.unlock(lock).await?;
        finish(out, &report, &state.outputs, "deploy", s.emulator)
    })
}

pub fn destroy(out: OutputFormat, args: &StackNameArgs) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let backend = Store::open(&args.target).await?;
        let Some(state) = backend.load(&args.stack).await? else {
            bail!(
                "no state for stack `{}` in {}: nothing to destroy",
                args.stack,
                backend.describe()
            );
        };
        let s = session(&args.target, args.region.as_deref()).await?;
        let lock = backend.lock(&args.stack, "destroy").await?;
        let p = apply::destroy_plan(&state);
        if !s.emulator {
            target::confirm(
                pseudo_str(&s.pseudo, "account_id"),
                pseudo_str(&s.pseudo, "region"),
                &format!(
                    "DESTROY stack `{}` ({} resources)",
                    args.stack,
                    p.steps.len()
                ),
                args.target.yes,
            )?;
        }
        let options = ApplyOptions {
            parallelism: args.parallelism,
            direction: Direction::Reverse,
            exit_after_steps: exit_hook("ARCHFORM_TEST_EXIT_AFTER_STEPS"),
            exit_before_record: exit_hook("ARCHFORM_TEST_EXIT_BEFORE_RECORD"),
        };
        let (mut state, report, backend, lock) =
            run_apply(out, &p, state, backend, lock, &s, options).await?;
        if acceptable(&report, s.emulator) {
            state.outputs.clear();
            backend.save(&lock, &mut state).await?;
        }
        backend.unlock(lock).await?;
        if report.is_success() {
            // The stack is gone; so goes what `archform dev` kept for it.
            let dev_state = super::dev::dev_state_dir(&backend, &args.stack);
            match archform_dev::remove_dev_state(&dev_state) {
                Ok(true) => eprintln!(
                    "deleted archform dev's local data of the stack ({})",
                    dev_state.display()
                ),
                Ok(false) => {}
                Err(err) => eprintln!("warning: kept archform dev's local data: {err}"),
            }
        }
        finish(out, &report, &IndexMap::new(), "destroy", s.emulator)
    })
}

/// Test-only hooks, as if killed: `ARCHFORM_TEST_EXIT_AFTER_STEPS=N` exits
/// after N completed steps, `ARCHFORM_TEST_EXIT_BEFORE_RECORD=N` when about
/// to write the Nth state record (between a step's mark and its AWS call,
/// or between the call and the record of its result).
fn exit_hook(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

async fn run_apply(
    out: OutputFormat,
    p: &Plan,
    state: State,
    backend: Store,
    lock: archform_engine::state::Lock,
    s: &Session,
    options: ApplyOptions,
) -> anyhow::Result<(State, ApplyReport, Store, archform_engine::state::Lock)> {
    let cancel = CancelToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: letting in-flight steps finish, then saving state (Ctrl-C again to abort)"
            );
            c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let progress = Progress::start(Mode::detect(out == OutputFormat::Json), s.emulator);
    let events = progress.sink();
    let provider: Arc<dyn Provider> = s.provider.clone();
    let result = apply::apply(
        p,
        state,
        backend,
        lock,
        provider,
        s.pseudo.clone(),
        options,
        &cancel,
        events,
    )
    .await;
    progress.finish();
    Ok(result?)
}

/// Against an emulator, steps it cannot do (and their dependents) are
/// reported as skipped and do not fail the run; against AWS they do.
fn acceptable(report: &ApplyReport, emulator: bool) -> bool {
    report.is_success() || (emulator && report.only_unsupported_left())
}

fn finish(
    out: OutputFormat,
    report: &ApplyReport,
    outputs: &IndexMap<String, Value>,
    what: &str,
    emulator: bool,
) -> anyhow::Result<i32> {
    let ok = acceptable(report, emulator);
    // Steps that did not run because the endpoint lacks them (or depend on
    // one that did not): listed apart, so `success` is never read as "all ran".
    let skipped: Vec<&str> = report
        .steps
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                StepOutcome::Unsupported { .. } | StepOutcome::Skipped { .. }
            )
        })
        .map(|r| r.id.as_str())
        .collect();
    let value = serde_json::json!({
        "success": ok,
        "skipped": skipped,
        "report": report,
        "outputs": outputs,
    });
    output::emit(out, &value, || {
        let mut s = String::new();
        let done = report
            .steps
            .iter()
            .filter(|r| matches!(r.outcome, StepOutcome::Done { .. }) && r.action != "no_op")
            .count();
        if ok {
            let skipped = match skipped.len() {
                0 => String::new(),
                n => format!(", {n} skipped"),
            };
            let _ = writeln!(
                s,
                "{what} complete: {done} changes, {} AWS mutations{skipped}.",
                report.mutations
            );
        } else {
            let _ = writeln!(s, "{what} FAILED:");
        }
        for r in &report.steps {
            match &r.outcome {
                StepOutcome::Failed { error } => {
                    let _ = writeln!(s, "  error   {}: {error}", r.id);
                }
                StepOutcome::Unsupported { reason } => {
                    let _ = writeln!(
                        s,
                        "  {} {}: {reason}",
                        if emulator { "skipped" } else { "error  " },
                        r.id
                    );
                }
                StepOutcome::Skipped { because } => {
                    let _ = writeln!(
                        s,
                        "  skipped {} (depends on {because}, which did not complete)",
                        r.id
                    );
                }
                StepOutcome::NotStarted => {
                    let _ = writeln!(s, "  not started {}", r.id);
                }
                StepOutcome::Done { .. } => {}
            }
        }
        if !ok {
            let _ = writeln!(s, "State is saved; run the command again to resume.");
        }
        s.push_str(&render_outputs(outputs));
        s
    });
    Ok(if ok { 0 } else { 1 })
}

fn resolve_outputs(g: &Graph, state: &State, pseudo: &PseudoAttrs) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    for (name, o) in &g.outputs {
        let Ok(pieces) = refs::split(&o.value) else {
            continue;
        };
        let mut text = String::new();
        let mut ok = true;
        for p in pieces {
            match p {
                refs::Piece::Text(t) => text.push_str(t),
                refs::Piece::Ref(r) => {
                    let v = if r.id == "aws" {
                        pseudo.get(&r.attr)
                    } else {
                        state
                            .resources
                            .get(&r.id)
                            .and_then(|x| x.attributes.get(&r.attr))
                    };
                    match v {
                        Some(Value::String(s)) => text.push_str(s),
                        Some(other) => text.push_str(&other.to_string()),
                        None => ok = false,
                    }
                }
            }
        }
        if ok {
            out.insert(name.clone(), Value::String(text));
        }
    }
    out
}

fn report_drift(out: OutputFormat, drifts: &[Drift]) {
    for d in drifts {
        match out {
            OutputFormat::Json => eprintln!("{}", serde_json::to_string(d).unwrap_or_default()),
            OutputFormat::Text => match d {
                Drift::Deleted { id } => {
                    eprintln!("drift: {id} was deleted outside archform; it will be created again")
                }
                Drift::Changed {
                    id,
                    property,
                    applied,
                    actual,
                } => eprintln!(
                    "drift: {id}.{property} was changed outside archform: applied {applied}, now {actual}"
                ),
            },
        }
    }
}

fn render_outputs(outputs: &IndexMap<String, Value>) -> String {
    let mut s = String::new();
    if !outputs.is_empty() {
        s.push_str("Outputs:\n");
        for (k, v) in outputs {
            let _ = writeln!(
                s,
                "  {k} = {}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            );
        }
    }
    s
}

pub fn outputs(out: OutputFormat, stack: &str, t: &TargetArgs) -> anyhow::Result<i32> {
    let state = runtime()?.block_on(async { Store::open(t).await?.load_deployed(stack).await })?;
    output::emit(out, &state.outputs, || render_outputs(&state.outputs));
    Ok(0)
}

pub fn state_list(out: OutputFormat, t: &TargetArgs) -> anyhow::Result<i32> {
    let stacks = runtime()?.block_on(async { anyhow::Ok(Store::open(t).await?.list().await?) })?;
    output::emit(out, &stacks, || {
        stacks.iter().map(|s| format!("{s}\n")).collect()
    });
    Ok(0)
}

pub fn state_show(out: OutputFormat, stack: &str, t: &TargetArgs) -> anyhow::Result<i32> {
    let (backend, state) = runtime()?.block_on(async {
        let backend = Store::open(t).await?;
        let state = backend.load(stack).await?;
        anyhow::Ok((backend, state))
    })?;
    let Some(state) = state else {
        bail!("no state for stack `{stack}` in {}", backend.describe());
    };
    output::emit(out, &state, || {
        let mut s = format!(
            "stack {} (blueprint {}, serial {})\n",
            state.stack, state.blueprint, state.serial
        );
        for (id, r) in &state.resources {
            let _ = writeln!(
                s,
                "  {id:<28} {:<28} {:?} {}",
                r.kind,
                r.status,
                r.physical_id.as_deref().unwrap_or("-")
            );
        }
        s
    });
    Ok(0)
}
