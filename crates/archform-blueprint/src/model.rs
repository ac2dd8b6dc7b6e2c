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
    /// which validation guarantees.
    pub fn topological_order(&self) -> Vec<&Resource> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::with_capacity(self.resources.len());
        while out.len() < self.resources.len() {
            let before = out.len();
            for r in self.resources.values() {
                if done.contains(r.id.as_str()) {
                    continue;
                }
                if r.dependencies()
                    .iter()
                    .all(|d| done.contains(d.as_str()) || !self.resources.contains_key(d))
                {
                    done.insert(&r.id);
                    out.push(r);
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
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
