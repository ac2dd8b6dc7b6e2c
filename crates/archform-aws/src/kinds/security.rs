//! Providers of the security kinds.

mod iam_role;
mod secret;

use super::Handler;
use archform_engine::state::ResourceState;
use serde_json::Value;

pub(super) static IAM_ROLE: Handler = provider!(iam_role);
pub(super) static SECRET: Handler = provider!(secret);

/// The readable properties, limited to those the blueprint manages (the
/// keys of the last applied properties), so AWS defaults the blueprint never
/// set do not show up as drift.
pub(super) fn managed(cur: &ResourceState, mut props: serde_json::Map<String, Value>) -> Value {
    if let Some(applied) = cur.properties.as_object() {
        props.retain(|k, _| applied.contains_key(k));
    }
    Value::Object(props)
}

/// Keys of the old tags that the new tags no longer have.
pub(super) fn removed_tags(
    old: &indexmap::IndexMap<String, String>,
    new: &indexmap::IndexMap<String, String>,
) -> Vec<String> {
    old.keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect()
}
