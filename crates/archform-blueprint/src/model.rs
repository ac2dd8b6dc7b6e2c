//! The rendered resource graph: what a stack asks AWS to have.

use crate::diagnostic::Location;
use crate::kinds::Kind;
use crate::params::ParamDef;
use crate::refs::{self, Ref};
use crate::steps::{self, Step};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A blueprint's header: what `archform blueprints` lists.
#[derive(Clone, Debug, Serialize)]
pub struct BlueprintInfo {
    pub name: String,
    pub description: String,
    pub file: String,
    pub parameters: Vec<ParamDef>,
}

/// The identity of a deployment: blueprint + parameters + name + region + tags.
#[derive(Clone, Debug, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub blueprint: String,
    pub region: Option<String>,
    pub parameters: IndexMap<String, serde_json::Value>,
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub id: String,
    pub kind: Kind,
    /// The deterministic physical name, for kinds that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub properties: serde_json::Value,
    /// Tags the resource carries: stack tags, its own, and archform's.
    pub tags: IndexMap<String, String>,
    /// Explicit `depends_on` (references add their own edges).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip)]
    pub location: Location,
    /// Where each property was written, by JSON pointer (`/vpc_config/subnet_ids/0`).
    #[serde(skip)]
    pub property_locations: BTreeMap<String, Location>,
}

impl Resource {
    /// Every reference in the properties, with the pointer of its string.
    pub fn references(&self) -> Vec<(String, Ref)> {
        let mut out = Vec::new();
        refs::collect(&self.properties, &mut String::new(), &mut out);
        out
    }

    /// The ids this resource depends on (references and `depends_on`), not `aws`.
    pub fn dependencies(&self) -> BTreeSet<String> {
        self.references()
            .into_iter()
            .map(|(_, r)| r.id)
            .chain(self.depends_on.iter().cloned())
            .filter(|id| id != "aws")
            .collect()
    }

    /// The location of a property, or of its nearest written ancestor.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut p = pointer;
        loop {
            if let Some(l) = self.property_locations.get(p) {
                return l.clone();
            }
            match p.rfind('/') {
                Some(i) if i > 0 => p = &p[..i],
                _ => return self.location.clone(),
            }
        }
    }

    pub fn prop(&self, name: &str) -> Option<&serde_json::Value> {
        steps::count(Step::PropRead, 1);
        self.properties.get(name)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Output {
    pub value: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip)]
    pub location: Location,
}

/// The validated graph of a stack.
#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub stack: StackInfo,
    pub resources: IndexMap<String, Resource>,
    pub outputs: IndexMap<String, Output>,
}

impl Graph {
    /// Resources in an order where every dependency comes first (ties keep
    /// blueprint order, so output is stable). Assumes the graph is acyclic,
    /// which validation guarantees; resources on or behind a cycle are left
    /// out.
    ///
    /// The order is that of repeated passes over the resources in blueprint
    /// order, each taking every resource whose dependencies are all taken
    /// (earlier in the same pass counts). Running those passes costs a pass
    /// per chain link, n^2 for a chain written last-first, so each
    /// resource's pass number is computed instead, dependencies first
    /// (Kahn's algorithm): a dependency written before the resource can be
    /// taken in the same pass as it, one written after only in an earlier
    /// pass. Sorting by (pass, blueprint position) gives the same order.
    pub fn topological_order(&self) -> Vec<&Resource> {
        let n = self.resources.len();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting = vec![0usize; n];
        for (i, r) in self.resources.values().enumerate() {
            for d in r.dependencies() {
                // Ids that are not resources of the graph do not hold one back.
                if let Some(d) = self.resources.get_index_of(d.as_str()) {
                    steps::count(Step::DependencyEdge, 1);
                    dependents[d].push(i);
                    waiting[i] += 1;
                }
            }
        }
        let mut pass = vec![0usize; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut taken = Vec::with_capacity(n);
        while let Some(d) = ready.pop() {
            taken.push(d);
            for &i in &dependents[d] {
                steps::count(Step::DependencyEdge, 1);
                pass[i] = pass[i].max(if d < i { pass[d] } else { pass[d] + 1 });
                waiting[i] -= 1;
                if waiting[i] == 0 {
                    ready.push(i);
                }
            }
        }
        taken.sort_unstable_by_key(|&i| (pass[i], i));
        taken.into_iter().map(|i| &self.resources[i]).collect()
    }

    /// Dependency layers: resources in layer n depend only on layers < n.
    pub fn layers(&self) -> Vec<Vec<&Resource>> {
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        for r in self.topological_order() {
            let d = r
                .dependencies()
                .iter()
                .filter_map(|x| depth.get(x.as_str()))
                .map(|d| d + 1)
                .max()
                .unwrap_or(0);
            depth.insert(&r.id, d);
        }
        let n = depth.values().max().map_or(0, |m| m + 1);
        let mut layers = vec![Vec::new(); n];
        for r in self.resources.values() {
            if let Some(d) = depth.get(r.id.as_str()) {
                layers[*d].push(r);
            }
        }
        layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A graph of queues `r0`, `r1`, ... whose `depends_on` are `deps`
    /// (an index past the last resource names an id that does not exist).
    fn graph(deps: &[Vec<usize>]) -> Graph {
        let resources = deps
            .iter()
            .enumerate()
            .map(|(i, ds)| {
                let id = format!("r{i}");
                let resource = Resource {
                    id: id.clone(),
                    kind: Kind::Queue,
                    name: None,
                    properties: serde_json::json!({}),
                    tags: IndexMap::new(),
                    depends_on: ds.iter().map(|d| format!("r{d}")).collect(),
                    location: Location::new("bp.yaml", i + 1, 1),
                    property_locations: BTreeMap::new(),
                };
                (id, resource)
            })
            .collect();
        Graph {
            stack: StackInfo {
                name: "t".into(),
                blueprint: "t".into(),
                region: None,
                parameters: IndexMap::new(),
                tags: IndexMap::new(),
            },
            resources,
            outputs: IndexMap::new(),
        }
    }

    /// The order as first written: passes over the resources in blueprint
    /// order until one takes nothing.
    fn by_passes(g: &Graph) -> Vec<&str> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < g.resources.len() {
            let before = out.len();
            for r in g.resources.values() {
                if done.contains(r.id.as_str()) {
                    continue;
                }
                if r.dependencies()
                    .iter()
                    .all(|d| done.contains(d.as_str()) || !g.resources.contains_key(d))
                {
                    done.insert(&r.id);
                    out.push(r.id.as_str());
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }

    fn ids<'g>(order: &[&'g Resource]) -> Vec<&'g str> {
        order.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn dependencies_come_first_and_ties_keep_blueprint_order() {
        // r0 -> r3, r1 -> r0, r2 free, r3 free, r4 -> r2 and a missing id.
        let g = graph(&[vec![3], vec![0], vec![], vec![], vec![2, 9]]);
        assert_eq!(ids(&g.topological_order()), ["r2", "r3", "r4", "r0", "r1"]);
    }

    #[test]
    fn resources_on_or_behind_a_cycle_are_left_out() {
        let g = graph(&[vec![1], vec![0], vec![1], vec![], vec![4]]);
        assert_eq!(ids(&g.topological_order()), ["r3"]);
    }

    proptest! {
        #[test]
        fn the_order_is_that_of_repeated_passes(
            deps in (0usize..14).prop_flat_map(|n| {
                proptest::collection::vec(proptest::collection::vec(0..n + 2, 0..4), n)
            })
        ) {
            let g = graph(&deps);
            prop_assert_eq!(ids(&g.topological_order()), by_passes(&g));
        }
    }

    /// A chain written last-first took one pass per resource.
    #[test]
    fn ordering_a_reversed_chain_takes_linear_steps() {
        let chain = |n: usize| -> Graph {
            graph(
                &(0..n)
                    .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
                    .collect::<Vec<_>>(),
            )
        };
        let (small, few) = steps::measure(|| chain(500).topological_order().len());
        let (large, many) = steps::measure(|| chain(2000).topological_order().len());
        assert_eq!((small, large), (500, 2000));
        let (few, many) = (few[&Step::DependencyEdge], many[&Step::DependencyEdge]);
        assert!(2 * many <= 9 * few, "{few} steps for 500, {many} for 2000");
    }
}
