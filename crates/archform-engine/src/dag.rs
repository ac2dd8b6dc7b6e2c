//! A generic executor for a graph of dependent async jobs.
//!
//! Modelled on Terraform's `internal/dag/walk.go`: the walker knows nothing
//! about resources. Each node runs as soon as its own dependencies are done
//! (not layer by layer, so one slow NAT gateway does not hold back unrelated
//! queues), at most `parallelism` at a time. A failed node marks everything
//! downstream `Skipped` and independent branches carry on; the report lists
//! every outcome, so the user sees all errors at once, not just the first.

mod cancel;

pub use cancel::CancelToken;

use indexmap::IndexMap;
use serde::Serialize;
use std::collections::VecDeque;
use std::future::Future;
use tokio::task::JoinSet;

/// Which way edges are walked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Dependencies first: create and update.
    #[default]
    Forward,
    /// Dependents first: destroy (a subnet goes after the functions in it).
    Reverse,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most nodes running at once (`--parallelism`); 0 is treated as 1.
    pub parallelism: usize,
    pub direction: Direction,
}

impl Options {
    pub const DEFAULT_PARALLELISM: usize = 16;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: Self::DEFAULT_PARALLELISM,
            direction: Direction::Forward,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    #[error("node `{0}` is added twice")]
    Duplicate(String),
    #[error("node `{node}` depends on `{dependency}`, which is not in the graph")]
    UnknownDependency { node: String, dependency: String },
    #[error("dependency cycle among: {}", .0.join(", "))]
    Cycle(Vec<String>),
}

/// Node ids and their dependencies, in insertion order (which is also the
/// order ready nodes start in, so runs are reproducible).
#[derive(Clone, Debug, Default)]
pub struct Dag {
    nodes: IndexMap<String, Vec<String>>,
}

impl Dag {
    pub fn new() -> Self {
        Dag::default()
    }

    /// Adds a node; dependencies may be added later, [`Dag::check`] verifies them.
    pub fn add(
        &mut self,
        id: impl Into<String>,
        dependencies: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<(), DagError> {
        let id = id.into();
        if self.nodes.contains_key(&id) {
            return Err(DagError::Duplicate(id));
        }
        let deps = dependencies.into_iter().map(Into::into).collect();
        self.nodes.insert(id, deps);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn dependencies(&self, id: &str) -> Option<&[String]> {
        self.nodes.get(id).map(Vec::as_slice)
    }

    /// Every dependency exists and there is no cycle.
    pub fn check(&self) -> Result<(), DagError> {
        for (id, deps) in &self.nodes {
            if let Some(d) = deps.iter().find(|d| !self.nodes.contains_key(*d)) {
                return Err(DagError::UnknownDependency {
                    node: id.clone(),
                    dependency: d.clone(),
                });
            }
        }
        let edges = self.edges(Direction::Forward);
        let mut waiting: Vec<usize> = edges.waits_on.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
        let mut done = 0;
        while let Some(i) = ready.pop() {
            done += 1;
            for &n in &edges.unblocks[i] {
                waiting[n] -= 1;
                if waiting[n] == 0 {
                    ready.push(n);
                }
            }
        }
        if done == self.nodes.len() {
            Ok(())
        } else {
            let stuck = (0..waiting.len())
                .filter(|&i| waiting[i] > 0)
                .map(|i| self.nodes.get_index(i).unwrap().0.clone())
                .collect();
            Err(DagError::Cycle(stuck))
        }
    }

    /// For each node (by index): what it waits on and what it unblocks.
    fn edges(&self, direction: Direction) -> Edges {
        let n = self.nodes.len();
        let mut deps = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        for (i, (_, ds)) in self.nodes.iter().enumerate() {
            for d in ds {
                if let Some(j) = self.nodes.get_index_of(d)
                    && !deps[i].contains(&j)
                {
                    deps[i].push(j);
                    dependents[j].push(i);
                }
            }
        }
        match direction {
            Direction::Forward => Edges {
                waits_on: deps,
                unblocks: dependents,
            },
            Direction::Reverse => Edges {
                waits_on: dependents,
                unblocks: deps,
            },
        }
    }
}

struct Edges {
    waits_on: Vec<Vec<usize>>,
    unblocks: Vec<Vec<usize>>,
}

/// Why a node did not succeed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeError<E> {
    Failed(E),
    /// The node's task panicked; the message is kept for the report.
    Panicked(String),
}

impl<E: std::fmt::Display> std::fmt::Display for NodeError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Failed(e) => e.fmt(f),
            NodeError::Panicked(m) => write!(f, "panicked: {m}"),
        }
    }
}

/// What happened to one node.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T, E> {
    Succeeded(T),
    Failed(NodeError<E>),
    /// Not run because `because` (a node it transitively waits on) failed.
    Skipped {
        because: String,
    },
    /// Not run because the walk was cancelled or aborted first.
    NotStarted,
}

/// Every node's outcome, in graph order.
#[derive(Debug, Serialize)]
pub struct Report<T, E> {
    pub outcomes: IndexMap<String, Outcome<T, E>>,
    /// The cancel token fired during the walk.
    pub cancelled: bool,
    /// The completion callback failed (state could not be saved), so no
    /// further node was started.
    pub aborted: Option<E>,
}

impl<T, E> Report<T, E> {
    /// Every node succeeded.
    pub fn is_success(&self) -> bool {
        self.aborted.is_none()
            && self
                .outcomes
                .values()
                .all(|o| matches!(o, Outcome::Succeeded(_)))
    }

    pub fn succeeded(&self) -> impl Iterator<Item = &str> {
        self.ids(|o| matches!(o, Outcome::Succeeded(_)))
    }

    pub fn failed(&self) -> impl Iterator<Item = (&str, &NodeError<E>)> {
        self.outcomes.iter().filter_map(|(id, o)| match o {
            Outcome::Failed(e) => Some((id.as_str(), e)),
            _ => None,
        })
    }

    /// Skipped nodes with the failed node that caused each skip.
    pub fn skipped(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(id, o)| match o {
            Outcome::Skipped { because } => Some((id.as_str(), because.as_str())),
            _ => None,
        })
    }

    pub fn not_started(&self) -> impl Iterator<Item = &str> {
        self.ids(|o| matches!(o, Outcome::NotStarted))
    }

    fn ids(&self, f: impl Fn(&Outcome<T, E>) -> bool) -> impl Iterator<Item = &str> {
        self.outcomes
            .iter()
            .filter(move |(_, o)| f(o))
            .map(|(id, _)| id.as_str())
    }
}

/// Runs every node of `dag` with `run(id)`.
///
/// `on_done(id, result)` is awaited after each node completes, one at a time
/// and before any node waiting on it starts: the caller saves state there, so
/// state is durable before a step counts as complete (as in Pulumi). If it
/// returns an error, no further node starts, in-flight ones finish, and the
/// error is kept as [`Report::aborted`].
///
/// When `cancel` fires, no new node starts and in-flight nodes run to the end
/// (an AWS create cut off half way would leave a resource state knows nothing
/// about).
pub async fn execute<T, E, F, Fut, C>(
    dag: &Dag,
    options: Options,
    cancel: &CancelToken,
    mut run: F,
    mut on_done: C,
) -> Result<Report<T, E>, DagError>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&str) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    C: AsyncFnMut(&str, &Result<T, NodeError<E>>) -> Result<(), E>,
{
    dag.check()?;
    let ids: Vec<&String> = dag.nodes.keys().collect();
    let edges = dag.edges(options.direction);
    let parallelism = options.parallelism.max(1);
    let mut waiting: Vec<usize> = edges.waits_on.iter().map(Vec::len).collect();
    let mut outcomes: Vec<Option<Outcome<T, E>>> = (0..ids.len()).map(|_| None).collect();
    let mut ready: VecDeque<usize> = (0..ids.len()).filter(|&i| waiting[i] == 0).collect();
    let mut tasks = JoinSet::new();
    let mut running: IndexMap<tokio::task::Id, usize> = IndexMap::new();
    let mut cancelled = cancel.is_cancelled();
    let mut aborted = None;

    loop {
        while !cancelled && aborted.is_none() && running.len() < parallelism {
            let Some(i) = ready.pop_front() else { break };
            let handle = tasks.spawn(run(ids[i]));
            running.insert(handle.id(), i);
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            // Cancellation only stops new starts; keep draining after it.
            _ = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                continue;
            }
            joined = tasks.join_next_with_id() => joined.expect("a task is running"),
        };
        let (task, result) = match joined {
            Ok((task, r)) => (task, r.map_err(NodeError::Failed)),
            Err(e) => {
                let task = e.id();
                let msg = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "task was cancelled".into()
                };
                (task, Err(NodeError::Panicked(msg)))
            }
        };
        let i = running.shift_remove(&task).expect("every task is recorded");
        if let Err(e) = on_done(ids[i], &result).await
            && aborted.is_none()
        {
            aborted = Some(e);
        }
        match result {
            Ok(v) => {
                outcomes[i] = Some(Outcome::Succeeded(v));
                for &n in &edges.unblocks[i] {
                    waiting[n] -= 1;
                    if waiting[n] == 0 && outcomes[n].is_none() {
                        ready.push_back(n);
                    }
                }
            }
            Err(e) => {
                outcomes[i] = Some(Outcome::Failed(e));
                skip_downstream(i, &ids, &edges, &mut outcomes);
            }
        }
    }

    Ok(Report {
        outcomes: ids
            .iter()
            .zip(outcomes)
            .map(|(id, o)| ((*id).clone(), o.unwrap_or(Outcome::NotStarted)))
            .collect(),
        cancelled,
        aborted,
    })
}

/// Marks every node downstream of `failed` as skipped because of it. Nodes
/// already skipped keep their first cause.
fn skip_downstream<T, E>(
    failed: usize,
    ids: &[&String],
    edges: &Edges,
    outcomes: &mut [Option<Outcome<T, E>>],
) {
    let mut stack = edges.unblocks[failed].clone();
    while let Some(n) = stack.pop() {
        if outcomes[n].is_none() {
            outcomes[n] = Some(Outcome::Skipped {
                because: ids[failed].clone(),
            });
            stack.extend(&edges.unblocks[n]);
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests;
