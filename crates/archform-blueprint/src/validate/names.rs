//! Physical names: derived names must fit each kind's rules, and no two
//! resources of one kind may share a name.

use crate::diagnostic::Diagnostics;
use crate::model::Graph;
use crate::naming;
use std::collections::BTreeMap;

pub fn check(graph: &Graph, diags: &mut Diagnostics) {
    let mut seen: BTreeMap<(&str, String), &str> = BTreeMap::new();
    for res in graph.resources.values() {
        let (Some(name), Some(rule)) = (&res.name, res.kind.naming) else {
            continue;
        };
        if let Err(e) = naming::check(name, &rule) {
            diags.error(
                "name/rule",
                res.location.clone(),
                format!("the derived {} name `{name}` {e}", res.kind.name),
                "choose a shorter or simpler stack name or logical id, or set `name:` explicitly",
            );
        }
        let key = (res.kind.name, name.to_lowercase());
        if let Some(other) = seen.insert(key, &res.id) {
            diags.error(
                "name/duplicate",
                res.location.clone(),
                format!("`{}` and `{other}` would both be named `{name}`", res.id),
                "give one of them a different `name:`",
            );
        }
    }
}
