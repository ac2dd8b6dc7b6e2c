//! Checks property values against their kind's declared types, turning the
//! YAML tree into JSON while remembering where each property was written.

use crate::diagnostic::{Diagnostics, Location};
use crate::kinds::{Prop, Ty};
use crate::refs::{self, Piece};
use crate::steps::{self, Step};
use crate::template::SourceMap;
use crate::yaml::{Node, Value};
use serde_json::Value as J;
use std::collections::BTreeMap;

pub struct Checker<'a> {
    pub map: &'a SourceMap,
    pub diags: &'a mut Diagnostics,
    pub locations: BTreeMap<String, Location>,
}

impl Checker<'_> {
    pub fn at(&self, n: &Node) -> Location {
        self.map.locate(n.pos.line, n.pos.col)
    }

    /// Checks a `properties:` mapping against `props`.
    pub fn object(&mut self, node: &Node, props: &[Prop], path: &str, what: &str) -> J {
        let Some(entries) = node.as_map() else {
            if matches!(node.value, Value::Null) && !props.iter().any(|p| p.required) {
                return J::Object(Default::default());
            }
            let loc = self.at(node);
            self.diags.error(
                "schema/type",
                loc,
                format!("{what} must be a mapping, found a {}", node.type_name()),
                "write one `field: value` per line, indented under it",
            );
            return J::Null;
        };
        let mut out = serde_json::Map::new();
        for (k, v) in entries {
            let key = k.scalar_text().unwrap_or_default();
            let Some(prop) = props.iter().find(|p| p.name == key) else {
                let loc = self.at(k);
                let known: Vec<&str> = props.iter().map(|p| p.name).collect();
                let hint = match closest(&key, &known) {
                    Some(s) => {
                        format!("did you mean `{s}`? Fields of {what}: {}", known.join(", "))
                    }
                    None => format!("fields of {what}: {}", known.join(", ")),
                };
                self.diags.error(
                    "schema/unknown-field",
                    loc,
                    format!("unknown field `{key}` in {what}"),
                    hint,
                );
                continue;
            };
            let p = format!("{path}/{key}");
            self.locations.insert(p.clone(), self.at(k));
            let value = self.value(v, &prop.ty, &p, &format!("`{key}`"));
            out.insert(key, value);
        }
        for prop in props.iter().filter(|p| p.required) {
            if !out.contains_key(prop.name) {
                // Point at the key that owns the mapping (`redrive_policy:` or the
                // resource id), not at whichever field happens to come first.
                let loc = self
                    .locations
                    .get(path)
                    .cloned()
                    .unwrap_or_else(|| self.at(node));
                self.diags.error(
                    "schema/missing-field",
                    loc,
                    format!("{what} is missing the required field `{}`", prop.name),
                    format!("add `{}: ...` ({})", prop.name, describe(&prop.ty)),
                );
            }
        }
        J::Object(out)
    }

    fn value(&mut self, node: &Node, ty: &Ty, path: &str, what: &str) -> J {
        // A whole-value reference is checked at apply time, whatever the type.
        if let Some(s) = node.as_str() {
            match refs::split(s) {
                Err(e) => {
                    let loc = self.at(node);
                    self.diags.error(
                        "ref/syntax",
                        loc,
                        e,
                        "write references as `${logical_id.attribute}`",
                    );
                    return J::String(s.into());
                }
                Ok(pieces) => {
                    if pieces.len() == 1 && matches!(pieces[0], Piece::Ref(_)) {
                        return J::String(s.into());
                    }
                }
            }
        }
        let mismatch = |this: &mut Self| {
            let loc = this.at(node);
            this.diags.error(
                "schema/type",
                loc,
                format!("{what} must be {}, found {}", describe(ty), found(node)),
                format!("write {}", example(ty)),
            );
            J::Null
        };
        match (ty, &node.value) {
            (Ty::Str, Value::Str(s)) => J::String(s.clone()),
            // Rendered numbers and booleans are fine where text is expected.
            (Ty::Str, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                J::String(node.scalar_text().unwrap_or_default())
            }
            (Ty::Int { min, max }, Value::Int(i)) => {
                if i < min || i > max {
                    let loc = self.at(node);
                    self.diags.error(
                        "schema/range",
                        loc,
                        format!("{what} is {i}, outside the allowed range {min}..{max}"),
                        format!("use a value from {min} to {max}"),
                    );
                }
                J::from(*i)
            }
            (Ty::IntSet(allowed), Value::Int(i)) => {
                if !allowed.contains(i) {
                    let loc = self.at(node);
                    let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
                    self.diags.error(
                        "schema/enum",
                        loc,
                        format!("{what} is {i}, which AWS does not accept"),
                        format!("use one of {}", list.join(", ")),
                    );
                }
                J::from(*i)
            }
            (Ty::Bool, Value::Bool(b)) => J::Bool(*b),
            (Ty::Cidr, Value::Str(s)) => {
                if let Err(e) = crate::cidr::parse(s) {
                    let loc = self.at(node);
                    self.diags.error(
                        "cidr/syntax",
                        loc,
                        format!("{what}: {e}"),
                        "write an IPv4 network like 10.0.0.0/16",
                    );
                }
                J::String(s.clone())
            }
            (Ty::Enum(values), Value::Str(_) | Value::Int(_)) => {
                let s = node.scalar_text().unwrap_or_default();
                if !values.contains(&s.as_str()) {
                    let loc = self.at(node);
                    let hint = match closest(&s, values) {
                        Some(c) => format!("did you mean `{c}`? Allowed: {}", values.join(", ")),
                        None => format!("allowed: {}", values.join(", ")),
                    };
                    self.diags.error(
                        "schema/enum",
                        loc,
                        format!("{what} is `{s}`, which is not allowed"),
                        hint,
                    );
                }
                J::String(s)
            }
            (Ty::List(item), Value::Seq(items)) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let p = format!("{path}/{i}");
                        self.locations.insert(p.clone(), self.at(n));
                        self.value(n, item, &p, &format!("item {} of {what}", i + 1))
                    })
                    .collect(),
            ),
            (Ty::Map(item), Value::Map(entries)) => {
                let mut out = serde_json::Map::new();
                for (k, v) in entries {
                    let key = k.scalar_text().unwrap_or_default();
                    let p = format!("{path}/{key}");
                    self.locations.insert(p.clone(), self.at(k));
                    let val = self.value(v, item, &p, &format!("`{key}` of {what}"));
                    out.insert(key, val);
                }
                J::Object(out)
            }
            (Ty::Obj(props), Value::Map(_)) => self.object(node, props, path, what),
            (Ty::Doc, _) => {
                self.doc_locations(node, path);
                node.to_json()
            }
            _ => mismatch(self),
        }
    }

    /// Free-form documents still get locations, so lints can point inside them.
    fn doc_locations(&mut self, node: &Node, path: &str) {
        self.locations.insert(path.to_string(), self.at(node));
        match &node.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    let p = format!("{path}/{}", k.scalar_text().unwrap_or_default());
                    self.doc_locations(v, &p);
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.doc_locations(v, &format!("{path}/{i}"));
                }
            }
            _ => {}
        }
    }
}

fn found(node: &Node) -> String {
    match node.scalar_text() {
        Some(s) if !matches!(node.value, Value::Null) => format!("{} `{s}`", node.type_name()),
        _ => format!("a {}", node.type_name()),
    }
}

pub fn describe(ty: &Ty) -> String {
    match ty {
        Ty::Str => "text".into(),
        Ty::Int { min, max } => format!("an integer from {min} to {max}"),
        Ty::IntSet(_) => "one of AWS's allowed integers".into(),
        Ty::Bool => "true or false".into(),
        Ty::Cidr => "an IPv4 CIDR block".into(),
        Ty::Enum(v) => format!("one of {}", v.join(", ")),
        Ty::List(t) => format!("a list of {}", describe(t)),
        Ty::Map(t) => format!("a mapping of names to {}", describe(t)),
        Ty::Obj(props) => format!(
            "a mapping with fields {}",
            props.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        ),
        Ty::Doc => "a JSON/YAML document".into(),
    }
}

fn example(ty: &Ty) -> String {
    match ty {
        Ty::Str => "a text value or a `${id.attr}` reference".into(),
        Ty::Int { min, .. } => format!("a whole number such as {}", (*min).max(1)),
        Ty::IntSet(v) => format!(
            "one of {}",
            v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
        Ty::Bool => "`true` or `false`".into(),
        Ty::Cidr => "something like 10.0.0.0/16".into(),
        Ty::Enum(v) => format!("one of: {}", v.join(", ")),
        Ty::List(_) => "a YAML list (`[a, b]` or `- a` lines)".into(),
        Ty::Map(_) | Ty::Obj(_) => "an indented mapping".into(),
        Ty::Doc => "a mapping".into(),
    }
}

/// The closest candidate by edit distance, for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    steps::count(Step::EditDistance, 1);
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
