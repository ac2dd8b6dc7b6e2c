//! A plan as text for a reviewer, like `terraform plan`: one line per
//! resource, then per changed property only what changed inside it. A map
//! or object shows its changed keys (`~ KEY: old -> new`, `+`, `-`), a list
//! its changed elements (by index, or as set members for the lists the kind
//! declares unordered), a policy document its changed statements and keys;
//! unchanged parts are counted, not printed. Values stay on one line,
//! however long. `--output json` prints the plan itself, whole values and all.

use archform_blueprint::kinds::{Kind, Prop, Ty, same_prop, same_value};
use archform_engine::plan::{Action, Change, NewValue, Plan};
use serde_json::{Map, Value};
use std::fmt::Write as _;

pub fn render_plan(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Plan for stack `{}` ({}):", p.stack, p.blueprint);
    for step in &p.steps {
        let (sym, label) = match &step.action {
            Action::NoOp => continue,
            Action::Create => ("+", "create".to_string()),
            Action::Delete => ("-", "delete".to_string()),
            Action::Update { .. } => ("~", "update in place".to_string()),
            Action::Replace { reason, .. } => ("-/+", format!("replace ({reason})")),
        };
        let _ = writeln!(s, "  {sym:<3} {} ({}): {label}", step.id, step.kind);
        if let Action::Update { changes } | Action::Replace { changes, .. } = &step.action {
            for c in changes {
                render_change(&mut s, step.kind, c);
            }
        }
    }
    let summary: Vec<String> = p
        .summary()
        .iter()
        .filter(|(k, _)| **k != "no_op")
        .map(|(k, v)| format!("{v} to {k}"))
        .collect();
    let _ = writeln!(
        s,
        "{}",
        if summary.is_empty() {
            "No changes.".to_string()
        } else {
            summary.join(", ")
        }
    );
    s
}

/// Where a property's own lines start, under its resource's line.
const INDENT: usize = 8;

/// One property's change: a nested diff when old and new are both maps,
/// objects or lists (or JSON documents) that differ in parts, else one line.
fn render_change(s: &mut String, kind: Kind, c: &Change) {
    let forces = if c.forces_replacement {
        "  # forces replacement"
    } else {
        ""
    };
    let pad = " ".repeat(INDENT);
    if let (Some(old), NewValue::Known(new)) = (&c.old, &c.new) {
        let shape = kind.spec().prop(&c.property).map_or(Shape::ANY, Shape::of);
        if let Some(Diff::Nested(nested)) = diff(shape, old, new) {
            let (path, nested) = collapse(c.property.clone(), &nested);
            let _ = writeln!(s, "{pad}{path}:{forces}");
            render_nested(s, nested, INDENT + 2);
            return;
        }
    }
    let old = c.old.as_ref().map_or_else(|| "(none)".into(), one_line);
    let new = match &c.new {
        NewValue::Known(v) => one_line(v),
        NewValue::KnownAfterApply => "(known after apply)".into(),
        NewValue::Removed => "(removed)".into(),
    };
    let _ = writeln!(s, "{pad}{}: {old} -> {new}{forces}", c.property);
}

/// A value on one line: text quoted, lists and objects as compact JSON.
fn one_line(v: &Value) -> String {
    v.to_string()
}

/// What the kind's spec says about a value: its type (`None`: unknown, as
/// for tags or keys a spec does not declare) and whether a list is a set.
#[derive(Clone, Copy)]
struct Shape {
    ty: Option<&'static Ty>,
    unordered: bool,
}

impl Shape {
    const ANY: Shape = Shape {
        ty: None,
        unordered: false,
    };

    fn of(p: &'static Prop) -> Shape {
        Shape {
            ty: Some(&p.ty),
            unordered: p.unordered,
        }
    }

    fn item(ty: &'static Ty) -> Shape {
        Shape {
            ty: Some(ty),
            unordered: false,
        }
    }

    /// Equal as AWS sees them (defaults and set order taken into account).
    fn same(self, old: &Value, new: &Value) -> bool {
        match self.ty {
            Some(ty) => same_value(ty, new, old),
            None => old == new,
        }
    }
}

/// How a value changed.
#[derive(Debug, PartialEq)]
enum Diff {
    Changed { old: Value, new: Value },
    Added(Value),
    Removed(Value),
    Nested(Nested),
}

/// The changed parts of a map, object or list, in order, and how many
/// parts did not change.
#[derive(Debug, PartialEq)]
struct Nested {
    entries: Vec<(Label, Diff)>,
    unchanged: usize,
}

/// Which part of a compound value changed.
#[derive(Debug, PartialEq)]
enum Label {
    Key(String),
    /// A position in an ordered list (the new position, or the old one for
    /// a removed element).
    Index(usize),
    /// A member of an unordered list: it has no position.
    Member,
}

/// `None` when old and new are the same.
fn diff(shape: Shape, old: &Value, new: &Value) -> Option<Diff> {
    if shape.same(old, new) {
        return None;
    }
    let nested = match (old, new) {
        (Value::Object(o), Value::Object(n)) => Some(diff_object(shape.ty, o, n)),
        (Value::Array(o), Value::Array(n)) => {
            let item = match shape.ty {
                Some(Ty::List(item)) => Shape::item(item),
                _ => Shape::ANY,
            };
            Some(match shape.unordered {
                true => diff_set(item, o, n),
                false => diff_list(item, o, n),
            })
        }
        // A policy given as JSON text compares as the document it holds.
        (Value::String(o), Value::String(n)) if matches!(shape.ty, None | Some(Ty::Doc)) => {
            match (document(o), document(n)) {
                (Some(o), Some(n)) => return diff(Shape::ANY, &o, &n),
                _ => None,
            }
        }
        _ => None,
    };
    match nested {
        Some(n) if !n.entries.is_empty() => Some(Diff::Nested(n)),
        _ => Some(Diff::Changed {
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

/// A JSON object or list held as text.
fn document(s: &str) -> Option<Value> {
    serde_json::from_str(s)
        .ok()
        .filter(|v: &Value| v.is_object() || v.is_array())
}

/// Key by key: an object's declared properties with the kind's comparison
/// rules (a left-out default is no change), a map's or document's keys as
/// they are.
fn diff_object(
    ty: Option<&'static Ty>,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Nested {
    let mut nested = Nested {
        entries: Vec::new(),
        unchanged: 0,
    };
    let keys = new
        .keys()
        .chain(old.keys().filter(|k| !new.contains_key(*k)));
    for key in keys {
        let (o, n) = (old.get(key), new.get(key));
        let (shape, same) = match ty {
            Some(Ty::Obj(props)) => match props.iter().find(|p| p.name == key) {
                Some(p) => (Shape::of(p), same_prop(p, n, o)),
                None => (Shape::ANY, o == n),
            },
            Some(Ty::Map(item)) => {
                let shape = Shape::item(item);
                let same = match (o, n) {
                    (Some(o), Some(n)) => shape.same(o, n),
                    _ => false,
                };
                (shape, same)
            }
            _ => (Shape::ANY, o == n),
        };
        if same {
            nested.unchanged += 1;
            continue;
        }
        let change = match (o, n) {
            (Some(o), Some(n)) => diff(shape, o, n),
            (None, Some(n)) => Some(Diff::Added(n.clone())),
            (Some(o), None) => Some(Diff::Removed(o.clone())),
            (None, None) => None,
        };
        if let Some(change) = change {
            nested.entries.push((Label::Key(key.clone()), change));
        }
    }
    nested
}

/// An unordered list: members added and removed, whatever their order.
fn diff_set(item: Shape, old: &[Value], new: &[Value]) -> Nested {
    let mut left: Vec<&Value> = old.iter().collect();
    let mut added = Vec::new();
    let mut unchanged = 0;
    for n in new {
        match left.iter().position(|o| item.same(o, n)) {
            Some(i) => {
                left.remove(i);
                unchanged += 1;
            }
            None => added.push(n),
        }
    }
    let entries = left
        .into_iter()
        .map(|o| (Label::Member, Diff::Removed(o.clone())))
        .chain(
            added
                .into_iter()
                .map(|n| (Label::Member, Diff::Added(n.clone()))),
        )
        .collect();
    Nested { entries, unchanged }
}

/// An ordered list, aligned on its longest common run of equal elements
/// (so one insertion shows as one `+`, not as every later element changed).
/// Between aligned elements, removed and added ones are paired position by
/// position into changes; the rest are `-` and `+`.
fn diff_list(item: Shape, old: &[Value], new: &[Value]) -> Nested {
    let mut nested = Nested {
        entries: Vec::new(),
        unchanged: 0,
    };
    let (mut removed, mut added): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let flush = |removed: &mut Vec<usize>, added: &mut Vec<usize>, nested: &mut Nested| {
        let paired = removed.len().min(added.len());
        for (&i, &j) in removed.iter().zip(added.iter()) {
            if let Some(d) = diff(item, &old[i], &new[j]) {
                nested.entries.push((Label::Index(j), d));
            }
        }
        for &i in &removed[paired..] {
            nested
                .entries
                .push((Label::Index(i), Diff::Removed(old[i].clone())));
        }
        for &j in &added[paired..] {
            nested
                .entries
                .push((Label::Index(j), Diff::Added(new[j].clone())));
        }
        removed.clear();
        added.clear();
    };
    for op in align(item, old, new) {
        match op {
            Op::Same => {
                flush(&mut removed, &mut added, &mut nested);
                nested.unchanged += 1;
            }
            Op::Removed(i) => removed.push(i),
            Op::Added(j) => added.push(j),
        }
    }
    flush(&mut removed, &mut added, &mut nested);
    nested
}

enum Op {
    Same,
    Removed(usize),
    Added(usize),
}

/// The edit script of a longest common subsequence (lists in blueprints
/// are short: the quadratic table is a few hundred cells at most).
fn align(item: Shape, old: &[Value], new: &[Value]) -> Vec<Op> {
    let (n, m) = (old.len(), new.len());
    // lcs[i][j]: the longest common run of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = match item.same(&old[i], &new[j]) {
                true => lcs[i + 1][j + 1] + 1,
                false => lcs[i + 1][j].max(lcs[i][j + 1]),
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && item.same(&old[i], &new[j]) {
            ops.push(Op::Same);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(Op::Added(j));
            j += 1;
        } else {
            ops.push(Op::Removed(i));
            i += 1;
        }
    }
    ops
}

/// Joins a chain of single changed parts into one path
/// (`vpc_config.subnet_ids`, `Statement[0].Action`), as long as each level
/// changed in that one part only; the levels skipped say nothing else.
fn collapse(mut path: String, mut nested: &Nested) -> (String, &Nested) {
    while let [(label @ (Label::Key(_) | Label::Index(_)), Diff::Nested(inner))] =
        nested.entries.as_slice()
    {
        push_label(&mut path, label);
        nested = inner;
    }
    (path, nested)
}

fn push_label(path: &mut String, label: &Label) {
    match label {
        Label::Key(k) if path.is_empty() => path.push_str(k),
        Label::Key(k) => {
            path.push('.');
            path.push_str(k);
        }
        Label::Index(i) => {
            let _ = write!(path, "[{i}]");
        }
        Label::Member => {}
    }
}

fn render_nested(s: &mut String, nested: &Nested, indent: usize) {
    let pad = " ".repeat(indent);
    for (label, d) in &nested.entries {
        let mut name = String::new();
        push_label(&mut name, label);
        let name = match name.is_empty() {
            true => String::new(),
            false => format!("{name}: "),
        };
        match d {
            Diff::Changed { old, new } => {
                let _ = writeln!(s, "{pad}~ {name}{} -> {}", one_line(old), one_line(new));
            }
            Diff::Added(v) => {
                let _ = writeln!(s, "{pad}+ {name}{}", one_line(v));
            }
            Diff::Removed(v) => {
                let _ = writeln!(s, "{pad}- {name}{}", one_line(v));
            }
            Diff::Nested(inner) => {
                let mut start = String::new();
                push_label(&mut start, label);
                let (path, inner) = collapse(start, inner);
                let _ = writeln!(s, "{pad}~ {path}:");
                render_nested(s, inner, indent + 4);
            }
        }
    }
    if nested.unchanged > 0 {
        let _ = writeln!(s, "{pad}({} unchanged)", nested.unchanged);
    }
}

#[cfg(test)]
mod tests;
