//! Desired resource vs its saved state: which properties change, and
//! whether the kind can take those changes in place.

use super::{Action, Change, NewValue};
use crate::state::{ResourceState, ResourceStatus};
use archform_blueprint::Resource;
use archform_blueprint::kinds::{Update, same_prop};
use archform_blueprint::refs::{self, Piece};
use serde_json::{Map, Value};

/// Looks up an attribute of another resource: `None` when it will only be
/// known after apply.
pub(crate) type Known<'a> = dyn Fn(&str, &str) -> Option<Value> + 'a;

pub(super) fn resource(r: &Resource, old: &ResourceState, known: &Known) -> Action {
    if old.kind != r.kind {
        return Action::Replace {
            changes: vec![Change {
                property: "kind".into(),
                old: Some(old.kind.name().into()),
                new: NewValue::Known(r.kind.name.into()),
                forces_replacement: true,
            }],
            reason: format!("its kind changed from `{}` to `{}`", old.kind, r.kind.name),
        };
    }
    // A create or delete that was cut off may or may not have happened in
    // AWS; creating again lets the provider find the resource by its
    // deterministic name or tags and adopt it, instead of guessing here.
    if matches!(
        old.status,
        ResourceStatus::Creating | ResourceStatus::Deleting
    ) {
        return Action::Create;
    }

    let mut changes = Vec::new();
    if r.name != old.physical_name {
        changes.push(Change {
            property: "physical_name".into(),
            old: old.physical_name.clone().map(Value::from),
            new: r
                .name
                .clone()
                .map_or(NewValue::Removed, |n| NewValue::Known(n.into())),
            forces_replacement: true,
        });
    }
    let empty = Map::new();
    let desired = r.properties.as_object().unwrap_or(&empty);
    let current = old.properties.as_object().unwrap_or(&empty);
    let names = desired
        .keys()
        .chain(current.keys().filter(|k| !desired.contains_key(*k)));
    for name in names {
        let new = match desired.get(name) {
            None => NewValue::Removed,
            Some(v) => resolve(v, known).map_or(NewValue::KnownAfterApply, |v| {
                NewValue::Known(match r.kind.prop(name) {
                    Some(p) => archform_blueprint::kinds::coerce_value(&p.ty, v),
                    None => v,
                })
            }),
        };
        let was = current.get(name);
        // The same to AWS: equal, or what leaving the property out means
        // (its default, a value AWS chose), or write-only with nothing to
        // compare against (a state rebuilt by `state recover`).
        let same = match (&new, r.kind.prop(name)) {
            (NewValue::Known(n), Some(p)) => same_prop(p, Some(n), was),
            (NewValue::Removed, Some(p)) => same_prop(p, None, was),
            (NewValue::Known(n), None) => was == Some(n),
            (NewValue::Removed, None) => was.is_none(),
            (NewValue::KnownAfterApply, _) => false,
        };
        if same {
            continue;
        }
        let forces = r
            .kind
            .prop(name)
            .is_some_and(|p| p.update == Update::Replace);
        changes.push(Change {
            property: name.clone(),
            old: was.cloned(),
            new,
            forces_replacement: forces,
        });
    }
    if r.tags != old.tags {
        changes.push(Change {
            property: "tags".into(),
            old: Some(serde_json::to_value(&old.tags).expect("tags serialise")),
            new: NewValue::Known(serde_json::to_value(&r.tags).expect("tags serialise")),
            forces_replacement: false,
        });
    }

    let forcing: Vec<&str> = changes
        .iter()
        .filter(|c| c.forces_replacement)
        .map(|c| c.property.as_str())
        .collect();
    if !forcing.is_empty() {
        let list = forcing
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = format!("changing {list} requires a new resource");
        Action::Replace { changes, reason }
    } else if !changes.is_empty() || old.status == ResourceStatus::Updating {
        // An interrupted update is applied again even when the saved
        // properties already match: AWS may hold either version.
        Action::Update { changes }
    } else {
        Action::NoOp
    }
}

/// The value with every reference replaced, or `None` if any reference is
/// only known after apply. A string that is exactly one reference takes the
/// attribute's own JSON value (a list stays a list); references inside
/// longer text are spliced in as text.
pub(crate) fn resolve(v: &Value, known: &Known) -> Option<Value> {
    match v {
        Value::String(s) => {
            let Ok(pieces) = refs::split(s) else {
                return Some(v.clone());
            };
            if let [Piece::Ref(r)] = pieces.as_slice() {
                return known(&r.id, &r.attr);
            }
            let mut out = String::new();
            for p in pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Ref(r) => match known(&r.id, &r.attr)? {
                        Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    },
                }
            }
            Some(Value::String(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| resolve(i, known))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Some((k.clone(), resolve(v, known)?)))
            .collect::<Option<Map<_, _>>>()
            .map(Value::Object),
        other => Some(other.clone()),
    }
}
