//! Dangling references, unknown attributes and dependency cycles.

use crate::diagnostic::{Diagnostics, Location};
use crate::kinds::AWS_ATTRS;
use crate::model::Graph;
use crate::refs;
use crate::validate::schema::closest;
use std::collections::{BTreeMap, HashMap};

/// Returns false when a reference is broken (cycle detection needs sound edges).
pub fn check(graph: &Graph, diags: &mut Diagnostics) -> bool {
    let before = diags.len();
    let ids: Vec<&str> = graph.resources.keys().map(String::as_str).collect();
    // The closest id to each missing one, found once: a typo repeated in
    // every resource of a loop would otherwise compare each use with every
    // id.
    let mut closest_ids: HashMap<String, Option<&str>> = HashMap::new();
    let mut check_ref = |r: &refs::Ref, loc: Location, diags: &mut Diagnostics| {
        if r.id == "aws" {
            if !AWS_ATTRS.contains(&r.attr.as_str()) {
                diags.error(
                    "ref/unknown-attribute",
                    loc,
                    format!("`{r}`: `aws` has no attribute `{}`", r.attr),
                    format!("`aws` attributes: {}", AWS_ATTRS.join(", ")),
                );
            }
            return;
        }
        let Some(target) = graph.resources.get(&r.id) else {
            let near = *closest_ids
                .entry(r.id.clone())
                .or_insert_with(|| closest(&r.id, &ids));
            let hint = match near {
                Some(c) => format!("did you mean `{c}`?"),
                None => "reference a logical id defined under `resources:`".into(),
            };
            diags.error(
                "ref/dangling",
                loc,
                format!(
                    "`{r}` refers to `{}`, which is not a resource of this blueprint",
                    r.id
                ),
                hint,
            );
            return;
        };
        if target.kind.attr(&r.attr).is_none() {
            let names = target.kind.attr_names();
            let hint = match closest(&r.attr, &names) {
                Some(c) => format!(
                    "did you mean `${{{}.{c}}}`? {} exports: {}",
                    r.id,
                    target.kind.name,
                    names.join(", ")
                ),
                None if names.is_empty() => format!("{} exports no attributes", target.kind.name),
                None => format!("{} exports: {}", target.kind.name, names.join(", ")),
            };
            diags.error(
                "ref/unknown-attribute",
                loc,
                format!("`{r}`: {} has no attribute `{}`", target.kind.name, r.attr),
                hint,
            );
        }
    };
    for res in graph.resources.values() {
        for (pointer, r) in res.references() {
            if r.id == res.id {
                diags.error(
                    "ref/self",
                    res.locate(&pointer),
                    format!("`{r}` refers to the resource itself"),
                    "a resource cannot use its own attributes; use a literal or another resource",
                );
                continue;
            }
            check_ref(&r, res.locate(&pointer), diags);
        }
        for d in &res.depends_on {
            if !graph.resources.contains_key(d) {
                diags.error(
                    "ref/dangling",
                    res.location.clone(),
                    format!(
                        "`depends_on` of `{}` names `{d}`, which is not a resource",
                        res.id
                    ),
                    "list logical ids defined under `resources:`",
                );
            }
        }
    }
    for (name, out) in &graph.outputs {
        match refs::split(&out.value) {
            Err(e) => diags.error(
                "ref/syntax",
                out.location.clone(),
                format!("output `{name}`: {e}"),
                "write references as `${logical_id.attribute}`",
            ),
            Ok(pieces) => {
                for p in pieces {
                    if let refs::Piece::Ref(r) = p {
                        check_ref(&r, out.location.clone(), diags);
                    }
                }
            }
        }
    }
    diags.len() == before
}

/// Reports each dependency cycle once, printed as `a -> b -> c -> a`.
pub fn check_cycles(graph: &Graph, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let edges: BTreeMap<&str, Vec<String>> = graph
        .resources
        .values()
        .map(|r| (r.id.as_str(), r.dependencies().into_iter().collect()))
        .collect();
    let mut mark: BTreeMap<&str, Mark> = edges.keys().map(|k| (*k, Mark::New)).collect();
    let mut stack: Vec<&str> = Vec::new();

    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeMap<&'a str, Vec<String>>,
        mark: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<&'a str>>,
    ) {
        mark.insert(n, Mark::Active);
        stack.push(n);
        for dep in edges.get(n).into_iter().flatten() {
            let Some((dep, _)) = edges.get_key_value(dep.as_str()) else {
                continue;
            };
            match mark.get(dep).copied() {
                Some(Mark::New) => visit(dep, edges, mark, stack, cycles),
                Some(Mark::Active) => {
                    let start = stack.iter().position(|x| x == dep).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[start..].to_vec();
                    cycle.push(dep);
                    cycles.push(cycle);
                }
                _ => {}
            }
        }
        stack.pop();
        mark.insert(n, Mark::Done);
    }

    let mut cycles = Vec::new();
    let keys: Vec<&str> = edges.keys().copied().collect();
    for k in keys {
        if mark[k] == Mark::New {
            visit(k, &edges, &mut mark, &mut stack, &mut cycles);
        }
    }
    for cycle in cycles {
        let first = graph
            .resources
            .get(cycle[0])
            .map(|r| r.location.clone())
            .unwrap_or_else(|| Location::new("<graph>", 1, 1));
        diags.error(
            "graph/cycle",
            first,
            format!("dependency cycle: {}", cycle.join(" -> ")),
            "break the cycle: move one reference into a separate resource (for example a security group rule or a lambda_target) or drop a depends_on",
        );
    }
}
