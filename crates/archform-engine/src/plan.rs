//! A plan: what applying a blueprint would do to a stack, as data.
//!
//! As in Pulumi's `step.go`, a plan is a list of typed steps (create,
//! update, replace, delete, no-op), one per resource. The same value is
//! printed, emitted as JSON, saved and applied, so what the user approved is
//! exactly what runs: a saved plan records the state serial it was computed
//! against and is refused once the state has moved on.

pub(crate) mod diff;

use crate::dag::{Dag, DagError};
use crate::state::State;
use archform_blueprint::Graph;
use archform_blueprint::kinds::Kind;
use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The plan file format this build reads and writes.
pub const PLAN_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub stack: String,
    pub blueprint: String,
    pub parameters: IndexMap<String, Value>,
    /// The state this plan was computed against (`None`: no state yet).
    pub base: Option<Base>,
    /// Forward steps in dependency order, then deletes, dependents first.
    pub steps: Vec<Step>,
}

/// Identifies one version of a stack's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub lineage: String,
    pub serial: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub action: Action,
    /// The steps that must finish before this one starts. For forward steps
    /// these are the resource's dependencies in the graph; for a delete, the
    /// resources that depended on it when last applied (kept or removed),
    /// which must let go of it first.
    pub waits_for: Vec<String>,
    /// What to apply, references unresolved: they are resolved at apply time
    /// from the attributes of the steps this one waits on. `None` for deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Desired>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_name: Option<String>,
    pub properties: Value,
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create,
    Update {
        changes: Vec<Change>,
    },
    Replace {
        changes: Vec<Change>,
        reason: String,
    },
    Delete,
    NoOp,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no_op",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, Action::NoOp)
    }
}

/// One property's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// A top-level property name, or `tags` / `physical_name`.
    pub property: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    pub new: NewValue,
    /// This change alone forces a replacement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewValue {
    Known(Value),
    /// Refers to an attribute that exists only once another step has run
    /// (a resource being created or replaced).
    KnownAfterApply,
    /// The property is removed.
    Removed,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the plan was made against state serial {planned:?} but the state is now at {current:?}: make a new plan"
    )]
    Stale {
        planned: Option<Base>,
        current: Option<Base>,
    },
    #[error("plan format version {0} is not supported (this archform reads {PLAN_VERSION})")]
    UnsupportedVersion(u32),
    #[error(transparent)]
    Dag(#[from] DagError),
}

/// Values known before applying anything, for references to the `aws`
/// pseudo-resource (`${aws.region}`): its attributes come from the target
/// account, not from a step.
pub type PseudoAttrs = IndexMap<String, Value>;

/// Computes what it takes to go from `state` to `graph`.
pub fn plan(graph: &Graph, state: Option<&State>, aws: &PseudoAttrs) -> Result<Plan, PlanError> {
    let empty = IndexMap::new();
    let current = state.map_or(&empty, |s| &s.resources);
    // Resources whose attributes are unknown until apply: anything created or
    // replaced. Walking in dependency order means a resource's dependencies
    // are classified before it.
    let mut pending: IndexSet<String> = IndexSet::new();
    let mut steps = Vec::new();
    for r in graph.topological_order() {
        let action = match current.get(&r.id) {
            None => Action::Create,
            Some(old) => {
                let known = |id: &str, attr: &str| -> Option<Value> {
                    if id == "aws" {
                        return aws.get(attr).cloned();
                    }
                    if pending.contains(id) {
                        return None;
                    }
                    current.get(id)?.attributes.get(attr).cloned()
                };
                diff::resource(r, old, &known)
            }
        };
        if matches!(action, Action::Create | Action::Replace { .. }) {
            pending.insert(r.id.clone());
        }
        steps.push(Step {
            id: r.id.clone(),
            kind: r.kind,
            action,
            waits_for: r.dependencies().into_iter().collect(),
            desired: Some(Desired {
                physical_name: r.name.clone(),
                properties: r.properties.clone(),
                tags: r.tags.clone(),
            }),
        });
    }
    for id in delete_order(graph, current) {
        let old = &current[id];
        steps.push(Step {
            id: id.clone(),
            kind: old.kind,
            action: Action::Delete,
            waits_for: current
                .iter()
                .filter(|(other, r)| *other != id && r.dependencies.contains(id))
                .map(|(other, _)| other.clone())
                .collect(),
            desired: None,
        });
    }
    Ok(Plan {
        version: PLAN_VERSION,
        stack: graph.stack.name.clone(),
        blueprint: graph.stack.blueprint.clone(),
        parameters: graph.stack.parameters.clone(),
        base: state.map(|s| Base {
            lineage: s.lineage.clone(),
            serial: s.serial,
        }),
        steps,
    })
}

/// Resources in state but not in the graph, each before what it depended on.
fn delete_order<'a>(
    graph: &Graph,
    current: &'a IndexMap<String, crate::state::ResourceState>,
) -> Vec<&'a String> {
    let gone: Vec<&String> = current
        .keys()
        .filter(|id| !graph.resources.contains_key(*id))
        .collect();
    let mut out: Vec<&String> = Vec::with_capacity(gone.len());
    while out.len() < gone.len() {
        let before = out.len();
        for id in &gone {
            if out.contains(id) {
                continue;
            }
            // Ready once every remaining removed resource that depends on it is out.
            let blocked = gone.iter().any(|other| {
                !out.contains(other)
                    && other != id
                    && current[*other].dependencies.iter().any(|d| d == *id)
            });
            if !blocked {
                out.push(id);
            }
        }
        if out.len() == before {
            // A cycle in saved dependencies cannot come from a valid graph;
            // keep going in state order rather than loop forever.
            out.extend(
                gone.iter()
                    .filter(|id| !out.contains(id))
                    .collect::<Vec<_>>(),
            );
        }
    }
    out
}

impl Plan {
    /// Whether applying would change anything (`--detailed-exitcode`).
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.is_change())
    }

    /// Number of steps per action name, in a fixed order.
    pub fn summary(&self) -> IndexMap<&'static str, usize> {
        let mut m: IndexMap<&'static str, usize> =
            ["create", "update", "replace", "delete", "no_op"]
                .into_iter()
                .map(|a| (a, 0))
                .collect();
        for s in &self.steps {
            *m.get_mut(s.action.name()).expect("every action is listed") += 1;
        }
        m
    }

    /// Refuses to apply a saved plan to a state other than the one it was
    /// made against: it would no longer describe what happens.
    pub fn check_base(&self, state: Option<&State>) -> Result<(), PlanError> {
        if self.version != PLAN_VERSION {
            return Err(PlanError::UnsupportedVersion(self.version));
        }
        let current = state.map(|s| Base {
            lineage: s.lineage.clone(),
            serial: s.serial,
        });
        if current == self.base {
            Ok(())
        } else {
            Err(PlanError::Stale {
                planned: self.base.clone(),
                current,
            })
        }
    }

    /// The executor's graph: one node per step, waiting on its `waits_for`.
    pub fn dag(&self) -> Result<Dag, PlanError> {
        let mut dag = Dag::new();
        for s in &self.steps {
            dag.add(s.id.clone(), s.waits_for.iter().cloned())?;
        }
        dag.check()?;
        Ok(dag)
    }
}

#[cfg(test)]
mod tests;
