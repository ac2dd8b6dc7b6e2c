//! Applying a plan: the DAG executor runs each step through a provider, and
//! each step records its resource's change in the state's journal before
//! every AWS call (as creating/updating/deleting) and after it, so a run
//! killed at any moment can be resumed. Records cost the same whatever the
//! stack's size; the end of the run writes the state whole once.

use crate::dag::{self, CancelToken, Direction, NodeError, Outcome};
use crate::plan::{Action, Plan, PseudoAttrs, diff};
use crate::provider::{Provider, ProviderError, Resolved};
use crate::state::{Change, Lock, ResourceState, ResourceStatus, State, StateBackend, StateError};
use archform_blueprint::kinds::{self, Kind};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Clone, Debug)]
pub struct ApplyOptions {
    pub parallelism: usize,
    /// Direction of the walk: forward for deploys, reverse for destroys.
    pub direction: Direction,
    /// Test hook: after this many completed steps, the process exits at once
    /// (as if killed), to test that a rerun converges.
    pub exit_after_steps: Option<usize>,
    /// Test hook: when about to write this many-th state record (1-based),
    /// the process exits at once instead: with records before and after
    /// every AWS call, this dies between a step's mark and its call, or
    /// between its call and the record of its result.
    pub exit_before_record: Option<usize>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: dag::Options::DEFAULT_PARALLELISM,
            direction: Direction::Forward,
            exit_after_steps: None,
            exit_before_record: None,
        }
    }
}

/// Progress events for the CLI's live display.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        id: String,
        kind: Kind,
        action: &'static str,
    },
    Finished {
        id: String,
        action: &'static str,
        seconds: f64,
    },
    Failed {
        id: String,
        action: &'static str,
        error: String,
    },
    /// The endpoint does not implement an operation the step needs (an
    /// emulator gap). Whether that skips the step or fails the run is the
    /// caller's call (against AWS it is a failure), so it is its own event.
    Unsupported {
        id: String,
        action: &'static str,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Step(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// Why a step did not complete. `Unsupported` is an operation the endpoint
/// lacks (an emulator gap), kept apart so it is reported as such.
#[derive(Clone, Debug)]
pub enum StepError {
    Failed(String),
    Unsupported(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Failed(m) => f.write_str(m),
            StepError::Unsupported(m) => write!(f, "skipped, the endpoint lacks it: {m}"),
        }
    }
}

impl From<String> for StepError {
    fn from(m: String) -> Self {
        StepError::Failed(m)
    }
}

/// How each step ended.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub id: String,
    pub action: &'static str,
    #[serde(flatten)]
    pub outcome: StepOutcome,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Done {
        seconds: f64,
    },
    Failed {
        error: String,
    },
    /// The endpoint does not implement an operation this step needs.
    Unsupported {
        reason: String,
    },
    Skipped {
        because: String,
    },
    NotStarted,
}

#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub steps: Vec<StepResult>,
    pub cancelled: bool,
    /// Calls that changed something in AWS (creates, updates, deletes).
    pub mutations: usize,
}

impl ApplyReport {
    pub fn is_success(&self) -> bool {
        !self.cancelled
            && self
                .steps
                .iter()
                .all(|s| matches!(s.outcome, StepOutcome::Done { .. }))
    }
    /// True when every step that did not complete was refused as
    /// unsupported by the endpoint, or skipped because of such a step.
    pub fn only_unsupported_left(&self) -> bool {
        let unsupported = |id: &str| {
            self.steps
                .iter()
                .any(|s| s.id == id && matches!(s.outcome, StepOutcome::Unsupported { .. }))
        };
        !self.cancelled
            && self
                .steps
                .iter()
                .any(|s| matches!(s.outcome, StepOutcome::Unsupported { .. }))
            && self.steps.iter().all(|s| match &s.outcome {
                StepOutcome::Done { .. } | StepOutcome::Unsupported { .. } => true,
                StepOutcome::Skipped { because } => unsupported(because),
                _ => false,
            })
    }

    pub fn errors(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .filter_map(|s| match &s.outcome {
                StepOutcome::Failed { error } => Some((s.id.as_str(), error.as_str())),
                _ => None,
            })
            .collect()
    }
}

struct Shared<B> {
    state: State,
    backend: B,
    lock: Lock,
    completed: usize,
    /// Records attempted (for the test hook) and written.
    records: usize,
    written: usize,
    exit_before_record: Option<usize>,
}

impl<B: StateBackend> Shared<B> {
    /// Journals one change (durably) and makes it in the state.
    async fn record(&mut self, change: Change) -> Result<(), StateError> {
        self.records += 1;
        if self.exit_before_record == Some(self.records) {
            // What SIGKILL would do at this point: no destructor runs.
            std::process::exit(137);
        }
        self.backend
            .record(&self.lock, &mut self.state, change)
            .await?;
        self.written += 1;
        Ok(())
    }
}

/// Runs `plan` against `state`. Returns the final state and a report of
/// every step; a failed step skips its dependents, independent ones go on.
#[allow(clippy::too_many_arguments)]
pub async fn apply<B>(
    plan: &Plan,
    state: State,
    backend: B,
    lock: Lock,
    provider: Arc<dyn Provider>,
    pseudo: PseudoAttrs,
    options: ApplyOptions,
    cancel: &CancelToken,
    events: Arc<dyn Fn(Event) + Send + Sync>,
) -> Result<(State, ApplyReport, B, Lock), ApplyError>
where
    B: StateBackend + 'static,
{
    // A plan made before the stack had any state applies to a state that
    // has never been saved; otherwise the state must be the one planned on.
    let never_saved = state.serial == 0 && state.resources.is_empty();
    if !(plan.base.is_none() && never_saved) {
        plan.check_base(Some(&state))
            .map_err(|e| ApplyError::Step(e.to_string()))?;
    }
    let dag = plan.dag().map_err(|e| ApplyError::Step(e.to_string()))?;
    let shared = Arc::new(Mutex::new(Shared {
        state,
        backend,
        lock,
        completed: 0,
        records: 0,
        written: 0,
        exit_before_record: options.exit_before_record,
    }));
    let pseudo = Arc::new(pseudo);
    let mutations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stack = plan.stack.clone();
    let steps: Arc<Vec<crate::plan::Step>> = Arc::new(plan.steps.clone());
    let run = |id: &str| {
        let step = steps.iter().find(|s| s.id == id).cloned();
        let shared = shared.clone();
        let provider = provider.clone();
        let pseudo = pseudo.clone();
        let events = events.clone();
        let stack = stack.clone();
        let mutations = mutations.clone();
        async move {
            let step =
                step.ok_or_else(|| StepError::Failed("a step missing from the plan".into()))?;
            let started = Instant::now();
            let action = step.action.name();
            if !matches!(step.action, Action::NoOp) {
                events(Event::Started {
                    id: step.id.clone(),
                    kind: step.kind,
                    action,
                });
            }
            let result = run_step(
                &step,
                &stack,
                &shared,
                provider.as_ref(),
                &pseudo,
                &mutations,
            )
            .await;
            match &result {
                Ok(()) if !matches!(step.action, Action::NoOp) => events(Event::Finished {
                    id: step.id.clone(),
                    action,
                    seconds: started.elapsed().as_secs_f64(),
                }),
                Err(StepError::Unsupported(reason)) => events(Event::Unsupported {
                    id: step.id.clone(),
                    action,
                    reason: reason.clone(),
                }),
                Err(e) => events(Event::Failed {
                    id: step.id.clone(),
                    action,
                    error: e.to_string(),
                }),
                _ => {}
            }
            result.map(|()| started.elapsed())
        }
    };
    let exit_after = options.exit_after_steps;
    let counter = shared.clone();
    let on_done = async move |_id: &str,
                              _r: &Result<Duration, NodeError<StepError>>|
                -> Result<(), StepError> {
        let mut s = counter.lock().await;
        s.completed += 1;
        if exit_after.is_some_and(|n| s.completed >= n) {
            // The step's records are on disk; dying here is what SIGKILL
            // would do.
            std::process::exit(137);
        }
        Ok(())
    };
    let dag_options = dag::Options {
        parallelism: options.parallelism,
        direction: options.direction,
    };
    let report = dag::execute(&dag, dag_options, cancel, run, on_done)
        .await
        .map_err(|e| ApplyError::Step(e.to_string()))?;
    let mut steps_out = Vec::new();
    for step in plan.steps.iter() {
        let outcome = match report.outcomes.get(&step.id) {
            Some(Outcome::Succeeded(d)) => StepOutcome::Done {
                seconds: d.as_secs_f64(),
            },
            Some(Outcome::Failed(NodeError::Failed(StepError::Failed(e)))) => {
                StepOutcome::Failed { error: e.clone() }
            }
            Some(Outcome::Failed(NodeError::Failed(StepError::Unsupported(m)))) => {
                StepOutcome::Unsupported { reason: m.clone() }
            }
            Some(Outcome::Failed(NodeError::Panicked(e))) => StepOutcome::Failed {
                error: format!("panicked: {e}"),
            },
            Some(Outcome::Skipped { because }) => StepOutcome::Skipped {
                because: because.clone(),
            },
            _ => StepOutcome::NotStarted,
        };
        steps_out.push(StepResult {
            id: step.id.clone(),
            action: step.action.name(),
            outcome,
        });
    }
    let mut shared = Arc::try_unwrap(shared)
        .map_err(|_| ApplyError::Step("a step outlived the run".into()))?
        .into_inner();
    // Compaction: one whole write folds the run's journal into the state,
    // whatever the outcome (a failed or interrupted run resumes from it).
    if shared.written > 0 {
        shared.backend.save(&shared.lock, &mut shared.state).await?;
    }
    let report = ApplyReport {
        steps: steps_out,
        cancelled: report.cancelled,
        mutations: mutations.load(std::sync::atomic::Ordering::SeqCst),
    };
    Ok((shared.state, report, shared.backend, shared.lock))
}

async fn run_step<B: StateBackend>(
    step: &crate::plan::Step,
    stack: &str,
    shared: &Mutex<Shared<B>>,
    provider: &dyn Provider,
    pseudo: &PseudoAttrs,
    mutations: &std::sync::atomic::AtomicUsize,
) -> Result<(), StepError> {
    use std::sync::atomic::Ordering::SeqCst;
    let kind = step.kind;
    let err =
        |e: &dyn std::fmt::Display| StepError::Failed(format!("{} ({}): {e}", step.id, step.kind));
    // Provider errors keep the unsupported/failed distinction. The reason
    // names the operation only: every report of it carries the step's id.
    let perr = |e: ProviderError| match e {
        ProviderError::Unsupported { .. } => StepError::Unsupported(e.to_string()),
        other => err(&other),
    };
    match &step.action {
        Action::NoOp => Ok(()),
        Action::Delete => {
            let current = mark(shared, &step.id, ResourceStatus::Deleting).await?;
            if let Some(current) = current {
                mutations.fetch_add(1, SeqCst);
                provider
                    .delete(&step.id, &current)
                    .await
                    .map_err(|e| err(&e))?;
                remove(shared, &step.id).await.map_err(|e| err(&e))?;
            }
            Ok(())
        }
        Action::Create | Action::Update { .. } | Action::Replace { .. } => {
            let desired = step
                .desired
                .as_ref()
                .ok_or_else(|| err(&"the plan has no desired properties"))?;
            let resolved = {
                let s = shared.lock().await;
                let known = |id: &str, attr: &str| -> Option<Value> {
                    if id == "aws" {
                        return pseudo.get(attr).cloned();
                    }
                    s.state.resources.get(id)?.attributes.get(attr).cloned()
                };
                let properties = diff::resolve(&desired.properties, &known)
                    .ok_or_else(|| err(&"a referenced attribute is not known (its resource failed or was not created)"))?;
                let properties = kinds::coerce(&kind, properties);
                Resolved {
                    stack: stack.to_string(),
                    id: step.id.clone(),
                    kind,
                    physical_name: desired.physical_name.clone(),
                    properties,
                    tags: desired.tags.clone(),
                }
            };
            if let Action::Replace { .. } = step.action {
                // Names are deterministic, so the old resource must go before
                // the new one can take its name.
                if let Some(current) = mark(shared, &step.id, ResourceStatus::Deleting).await? {
                    mutations.fetch_add(1, SeqCst);
                    provider
                        .delete(&step.id, &current)
                        .await
                        .map_err(|e| err(&e))?;
                    remove(shared, &step.id).await.map_err(|e| err(&e))?;
                }
            }
            let update = match &step.action {
                Action::Update { changes } => {
                    let current = shared.lock().await.state.resources.get(&step.id).cloned();
                    current.map(|c| {
                        (
                            c,
                            changes
                                .iter()
                                .map(|c| c.property.clone())
                                .collect::<Vec<_>>(),
                        )
                    })
                }
                _ => None,
            };
            let status = if update.is_some() {
                ResourceStatus::Updating
            } else {
                ResourceStatus::Creating
            };
            {
                let mut s = shared.lock().await;
                // A resource already in the state (an update, or a create
                // cut off in an earlier run) keeps what is known of it.
                let mut marked =
                    s.state
                        .resources
                        .get(&step.id)
                        .cloned()
                        .unwrap_or_else(|| ResourceState {
                            kind: step.kind,
                            physical_id: None,
                            physical_name: resolved.physical_name.clone(),
                            properties: Value::Null,
                            attributes: Default::default(),
                            dependencies: step.waits_for.clone(),
                            tags: resolved.tags.clone(),
                            status,
                        });
                marked.status = status;
                s.record(Change::Put {
                    id: step.id.clone(),
                    resource: Box::new(marked),
                })
                .await
                .map_err(|e| err(&e))?;
            }
            mutations.fetch_add(1, SeqCst);
            let applied = match &update {
                Some((current, changed)) => provider.update(&resolved, current, changed).await,
                None => provider.create(&resolved).await,
            };
            let applied = match applied {
                Ok(a) => a,
                Err(e @ ProviderError::Unsupported { .. }) if update.is_none() => {
                    // The endpoint refused before doing anything: nothing
                    // exists, so nothing stays in the state.
                    remove(shared, &step.id).await.map_err(|e| err(&e))?;
                    return Err(perr(e));
                }
                Err(e) => return Err(perr(e)),
            };
            let mut s = shared.lock().await;
            s.record(Change::Put {
                id: step.id.clone(),
                resource: Box::new(ResourceState {
                    kind: step.kind,
                    physical_id: Some(applied.physical_id),
                    physical_name: resolved.physical_name,
                    properties: resolved.properties,
                    attributes: applied.attributes,
                    dependencies: step.waits_for.clone(),
                    tags: resolved.tags,
                    status: ResourceStatus::Created,
                }),
            })
            .await
            .map_err(|e| err(&e))
        }
    }
}

/// Marks a resource's status in the state; returns its state as it was,
/// or `None` (and records nothing) if the state does not have it.
async fn mark<B: StateBackend>(
    shared: &Mutex<Shared<B>>,
    id: &str,
    status: ResourceStatus,
) -> Result<Option<ResourceState>, String> {
    let mut s = shared.lock().await;
    let Some(before) = s.state.resources.get(id).cloned() else {
        return Ok(None);
    };
    let mut marked = before.clone();
    marked.status = status;
    s.record(Change::Put {
        id: id.into(),
        resource: Box::new(marked),
    })
    .await
    .map_err(|e| format!("{id}: {e}"))?;
    Ok(Some(before))
}

/// Records that a resource is gone.
async fn remove<B: StateBackend>(shared: &Mutex<Shared<B>>, id: &str) -> Result<(), StateError> {
    shared
        .lock()
        .await
        .record(Change::Remove { id: id.into() })
        .await
}

/// A plan that deletes every resource of `state`, dependents first.
pub fn destroy_plan(state: &State) -> Plan {
    let steps = state
        .resources
        .iter()
        .map(|(id, r)| crate::plan::Step {
            id: id.clone(),
            kind: r.kind,
            action: Action::Delete,
            waits_for: r
                .dependencies
                .iter()
                .filter(|d| state.resources.contains_key(*d))
                .cloned()
                .collect(),
            desired: None,
        })
        .collect();
    Plan {
        version: crate::plan::PLAN_VERSION,
        stack: state.stack.clone(),
        blueprint: state.blueprint.clone(),
        parameters: state.parameters.clone(),
        base: Some(crate::plan::Base {
            lineage: state.lineage.clone(),
            serial: state.serial,
        }),
        steps,
    }
}
