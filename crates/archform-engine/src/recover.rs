//! Completing a state rebuilt from tags (`archform state recover`) with what
//! only the blueprint knows.
//!
//! Tags find most resources, but not all: permissions, target
//! registrations, listeners, routes, integrations and subscriptions carry no
//! tags (AWS cannot tag them), and some emulators cannot tag others. Their
//! properties name their parents (a function, a target group, an API),
//! whose ids the tagged resources gave back; with those ids resolved, each
//! provider finds the resource the way a create that lost its answer finds
//! it. Tagged resources are read once more with their resolved properties
//! as the hint, so that values come back in the blueprint's form (a
//! function's name where AWS answers with its ARN).

use crate::plan::PseudoAttrs;
use crate::plan::diff;
use crate::provider::Provider;
use crate::state::{ResourceState, ResourceStatus, State};
use archform_blueprint::Graph;
use archform_blueprint::kinds::{self, Tags};
use serde_json::Value;

/// What completing the state found.
#[derive(Debug, Default)]
pub struct Completed {
    /// Resources without tags found through their parents.
    pub through_parents: Vec<String>,
    /// Resources of the blueprint that do not exist (a deploy will create them).
    pub missing: Vec<String>,
    /// Resources whose read failed: `(id, error)`.
    pub unread: Vec<(String, String)>,
}

/// Reads every resource of `graph`, parents first, into `state`.
pub async fn complete(
    state: &mut State,
    graph: &Graph,
    provider: &dyn Provider,
    pseudo: &PseudoAttrs,
) -> Completed {
    let mut done = Completed::default();
    state.parameters = graph.stack.parameters.clone();
    for r in graph.topological_order() {
        let known = |id: &str, attr: &str| -> Option<Value> {
            if id == "aws" {
                return pseudo.get(attr).cloned();
            }
            state.resources.get(id)?.attributes.get(attr).cloned()
        };
        // A parent that was not found leaves this one unresolvable: it
        // cannot exist either.
        let Some(properties) = diff::resolve(&r.properties, &known) else {
            done.missing.push(r.id.clone());
            continue;
        };
        let properties = kinds::coerce(&r.kind, properties);
        let found = state.resources.get(&r.id).filter(|s| s.kind == r.kind);
        let probe = ResourceState {
            kind: r.kind,
            physical_id: found.and_then(|s| s.physical_id.clone()),
            physical_name: r.name.clone(),
            properties,
            attributes: found.map(|s| s.attributes.clone()).unwrap_or_default(),
            dependencies: r.dependencies().into_iter().collect(),
            // Untaggable kinds keep the blueprint's tags, which AWS never
            // holds; a taggable one found without its tags gets none, so
            // the next deploy tags it.
            tags: match (found, r.kind.tags) {
                (Some(s), _) => s.tags.clone(),
                (None, Tags::Untaggable) => r.tags.clone(),
                (None, _) => Default::default(),
            },
            status: ResourceStatus::Created,
        };
        let by_parents = found.is_none();
        match provider.read(&r.id, &probe).await {
            Ok(Some(o)) => {
                let mut s = probe;
                s.properties = o.properties;
                s.attributes.extend(o.applied.attributes);
                if !o.applied.physical_id.is_empty() {
                    s.physical_id = Some(o.applied.physical_id);
                }
                if by_parents {
                    done.through_parents.push(r.id.clone());
                }
                state.resources.insert(r.id.clone(), s);
            }
            Ok(None) => {
                state.resources.shift_remove(&r.id);
                done.missing.push(r.id.clone());
            }
            Err(e) => done.unread.push((r.id.clone(), e.to_string())),
        }
    }
    done
}
