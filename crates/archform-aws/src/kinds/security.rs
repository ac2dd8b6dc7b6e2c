//! Providers of the security kinds, and small helpers the compute and
//! messaging providers share with them.

mod iam_role;
mod secret;

use super::Handler;
use archform_engine::provider::{ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use serde_json::Value;

static IAM_ROLE: Handler = handler!(iam_role);
static SECRET: Handler = handler!(secret);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "iam.role" => Some(&IAM_ROLE),
        "secretsmanager.secret" => Some(&SECRET),
        _ => None,
    }
}

/// The AWS name of a named kind: the deterministic physical name.
pub(super) fn name_of(r: &Resolved) -> ProviderResult<String> {
    r.physical_name.clone().ok_or_else(|| {
        ProviderError::Invalid(format!(
            "{}: no physical name was derived for this resource",
            r.id
        ))
    })
}

/// The AWS name of a resource in state: its saved physical name, else its
/// physical id (named kinds keep both equal or derivable).
pub(super) fn saved_name(cur: &ResourceState) -> Option<String> {
    cur.physical_name
        .clone()
        .or_else(|| cur.physical_id.clone())
}

/// A JSON document (IAM policy, filter policy) as the text AWS takes.
pub(super) fn doc_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON document as AWS returns it: parsed, percent-decoded first when
/// it comes URL-encoded (IAM does that).
pub(super) fn parse_doc(text: &str) -> Value {
    let text = text.trim();
    let decoded = if text.starts_with('%') || text.contains("%22") {
        percent_decode(text)
    } else {
        text.to_string()
    };
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let Some(v) = hex
            .filter(|_| b[i] == b'%')
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

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

/// The partition of an ARN (`aws`, `aws-cn`, ...).
pub(super) fn arn_partition(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or("aws")
}

/// The account of an ARN.
pub(super) fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_decoded() {
        let v = parse_doc("%7B%22Version%22%3A%222012-10-17%22%7D");
        assert_eq!(v["Version"], "2012-10-17");
        assert_eq!(parse_doc("{\"a\":1}")["a"], 1);
    }
}
