//! Which partials include which, read from the template text before
//! rendering: handlebars expands a partial that includes itself until the
//! stack overflows (an abort no caller can catch), so inclusion cycles and
//! over-deep chains are refused up front, with the line of the inclusion.

use crate::diagnostic::Location;
use crate::limits::MAX_PARTIAL_DEPTH;
use crate::template::{RenderFailure, TemplateSource};
use std::collections::BTreeMap;

/// One `{{> name}}` (or `{{#> name}}`) inclusion.
#[derive(Clone, Debug)]
struct Call {
    name: String,
    at: Location,
}

/// Inclusions by includer: the body is `""`, a registered partial its name,
/// an inline partial (`{{#*inline "name"}}`) its name.
#[derive(Default)]
pub struct PartialGraph {
    calls: BTreeMap<String, Vec<Call>>,
    dynamic: Vec<Location>,
}

impl PartialGraph {
    /// Scans `src`, whose own inclusions belong to `owner`.
    pub fn scan(&mut self, owner: &str, src: &TemplateSource) {
        let mut owners = vec![owner.to_string()];
        for (i, line) in src.text.split('\n').enumerate() {
            let line_no = src.first_line + i;
            let mut rest = line;
            let mut col = 1;
            while let Some(start) = rest.find("{{") {
                col += rest[..start].chars().count();
                let tag = &rest[start + 2..];
                let tag = tag.strip_prefix('~').unwrap_or(tag).trim_start();
                let at = Location::new(&src.file, line_no, col);
                if let Some(name) = tag.strip_prefix("#*inline") {
                    owners.push(name_of(name).unwrap_or_default());
                } else if tag.starts_with("/inline") {
                    if owners.len() > 1 {
                        owners.pop();
                    }
                } else if let Some(name) = tag.strip_prefix("#>").or_else(|| tag.strip_prefix('>'))
                {
                    match name_of(name) {
                        Some(n) if n.starts_with('@') => {}
                        Some(n) => {
                            let owner = owners.last().cloned().unwrap_or_default();
                            self.calls
                                .entry(owner)
                                .or_default()
                                .push(Call { name: n, at });
                        }
                        None => self.dynamic.push(at),
                    }
                }
                rest = &rest[start + 2..];
                col += 2;
            }
        }
    }

    /// Cycles, over-deep chains and computed partial names, from the body.
    pub fn check(&self) -> Vec<RenderFailure> {
        let mut out: Vec<RenderFailure> = self
            .dynamic
            .iter()
            .map(|at| RenderFailure {
                location: at.clone(),
                message: "a partial's name must be written out (`{{> net/vpc}}`), not computed: archform checks what every partial includes before rendering".into(),
            })
            .collect();
        let mut walk = Walk {
            graph: self,
            path: Vec::new(),
            depth: BTreeMap::new(),
            failure: None,
        };
        walk.depth_of("");
        out.extend(walk.failure);
        out
    }
}

/// A depth-first walk from the body: each partial's depth is computed once
/// (shared partials are common), and the first cycle or over-deep chain
/// found ends it.
struct Walk<'g> {
    graph: &'g PartialGraph,
    path: Vec<String>,
    depth: BTreeMap<String, usize>,
    failure: Option<RenderFailure>,
}

impl Walk<'_> {
    fn depth_of(&mut self, owner: &str) -> usize {
        if let Some(d) = self.depth.get(owner) {
            return *d;
        }
        let mut deepest = 0;
        for call in self.graph.calls.get(owner).into_iter().flatten() {
            if self.failure.is_some() {
                return 0;
            }
            if self.path.contains(&call.name) {
                let mut cycle: Vec<&str> = self.path.iter().map(String::as_str).collect();
                cycle.push(&call.name);
                self.failure = Some(RenderFailure {
                    location: call.at.clone(),
                    message: format!(
                        "partial `{}` includes itself ({}): it would expand forever",
                        call.name,
                        cycle.join(" -> ")
                    ),
                });
                return 0;
            }
            self.path.push(call.name.clone());
            let d = 1 + self.depth_of(&call.name);
            self.path.pop();
            if d + self.path.len() > MAX_PARTIAL_DEPTH && self.failure.is_none() {
                self.failure = Some(RenderFailure {
                    location: call.at.clone(),
                    message: format!(
                        "partials include partials {} levels deep from here, over the limit of {MAX_PARTIAL_DEPTH}",
                        d
                    ),
                });
            }
            deepest = deepest.max(d);
        }
        self.depth.insert(owner.to_string(), deepest);
        deepest
    }
}

/// The partial name after `>`: a path, or a quoted string; `None` for a
/// sub-expression (a name computed at render time).
fn name_of(after: &str) -> Option<String> {
    let t = after.trim_start();
    if let Some(q) = t.strip_prefix('"').or_else(|| t.strip_prefix('\'')) {
        return Some(q.chars().take_while(|c| *c != '"' && *c != '\'').collect());
    }
    if t.starts_with('(') || t.is_empty() {
        return None;
    }
    Some(
        t.chars()
            .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(file: &str, text: &str) -> TemplateSource {
        TemplateSource {
            file: file.into(),
            text: text.into(),
            first_line: 1,
        }
    }

    #[test]
    fn an_inline_partial_that_includes_itself_is_refused() {
        let mut g = PartialGraph::default();
        g.scan(
            "",
            &src(
                "bp.yaml",
                "{{#*inline \"x\"}}\na: {{> x}}\n{{/inline}}\n{{> x}}\n",
            ),
        );
        let f = g.check();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.contains("`x` includes itself"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].location.line, 2);
    }

    #[test]
    fn mutual_inclusion_and_computed_names_are_refused() {
        let mut g = PartialGraph::default();
        g.scan("", &src("bp.yaml", "{{> a}}\n"));
        g.scan("a", &src("a.hbs", "{{> b}}\n"));
        g.scan("b", &src("b.hbs", "x\n{{> a}}\n"));
        let f = g.check();
        assert!(f[0].message.contains("a -> b -> a"), "{}", f[0].message);
        assert_eq!(
            (f[0].location.file.as_str(), f[0].location.line),
            ("b.hbs", 2)
        );

        let mut g = PartialGraph::default();
        g.scan("", &src("bp.yaml", "{{> (lookup params \"p\")}}\n"));
        assert!(g.check()[0].message.contains("written out"));
    }

    #[test]
    fn shared_partials_and_partial_blocks_are_fine() {
        let mut g = PartialGraph::default();
        g.scan("", &src("bp.yaml", "{{> a}}\n{{> b}}\n{{#> a}}x{{/a}}\n"));
        g.scan("a", &src("a.hbs", "{{> c}} {{> @partial-block}}\n"));
        g.scan("b", &src("b.hbs", "{{~> c x=1}}\n"));
        g.scan("c", &src("c.hbs", "leaf\n"));
        assert!(g.check().is_empty());
    }
}
