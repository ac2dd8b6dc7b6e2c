//! What every provider shares: physical names, ARN parts, JSON policy
//! documents as AWS takes and returns them, and lists AWS keeps in an order
//! of its own.

use archform_engine::provider::{ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use serde_json::Value;

/// The AWS name of a named kind: the deterministic physical name.
pub(crate) fn name_of(r: &Resolved) -> ProviderResult<String> {
    r.physical_name.clone().ok_or_else(|| {
        ProviderError::Invalid(format!(
            "{}: no physical name was derived for this resource",
            r.id
        ))
    })
}

/// The AWS name of a resource in state: its saved physical name, else its
/// physical id (named kinds keep both equal or derivable).
pub(crate) fn saved_name(cur: &ResourceState) -> Option<String> {
    cur.physical_name
        .clone()
        .or_else(|| cur.physical_id.clone())
}

/// A JSON document (IAM policy, filter policy) as the text AWS takes.
pub(crate) fn doc_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON document as AWS returns it: parsed, percent-decoded first when
/// it comes URL-encoded (IAM does that).
pub(crate) fn parse_doc(text: &str) -> Value {
    let text = text.trim();
    let decoded = if text.starts_with('%') || text.contains("%22") {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        text.to_string()
    };
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

/// A document AWS returned (parsed), in the applied form when that is the
/// same document given as JSON text.
pub(crate) fn doc_as_applied(applied: Option<&Value>, observed: Value) -> Value {
    match applied {
        Some(a) if a.is_string() && parse_doc(&doc_text(a)) == observed => a.clone(),
        _ => observed,
    }
}

/// The partition of an ARN (`aws`, `aws-cn`, ...).
pub(crate) fn arn_partition(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or("aws")
}

/// The account of an ARN.
pub(crate) fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// The region the clients talk to; providers that build ARNs need it.
pub(crate) fn region(c: &crate::Clients) -> ProviderResult<String> {
    c.region.clone().ok_or_else(|| {
        ProviderError::Invalid("no AWS region configured: pass --region or set AWS_REGION".into())
    })
}

/// `(partition, url suffix)` of a region.
pub(crate) fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    }
}

/// A list AWS returns in an order of its own (subnet ids, rules): the
/// applied list when it holds the same elements, so order alone is no
/// change; else what AWS has.
pub(crate) fn same_set(applied: Option<&Value>, observed: Vec<Value>) -> Value {
    same_set_by(applied, observed, Value::clone)
}

/// [`same_set`] with elements compared in a canonical form.
pub(crate) fn same_set_by(
    applied: Option<&Value>,
    observed: Vec<Value>,
    canon: impl Fn(&Value) -> Value,
) -> Value {
    if let Some(a) = applied.and_then(Value::as_array) {
        let mut left: Vec<Value> = observed.iter().map(&canon).collect();
        let all = a.len() == left.len()
            && a.iter().all(|v| {
                let k = canon(v);
                match left.iter().position(|o| *o == k) {
                    Some(i) => {
                        left.swap_remove(i);
                        true
                    }
                    None => false,
                }
            });
        if all {
            return Value::Array(a.clone());
        }
    }
    Value::Array(observed)
}

/// [`same_set_by`] for a typed list: `observed` in the applied order when
/// both hold the same elements (compared in `canon`'s form).
pub(crate) fn same_set_of<T: serde::Serialize + serde::de::DeserializeOwned>(
    applied: Option<&[T]>,
    observed: Vec<T>,
    canon: impl Fn(&Value) -> Value,
) -> Vec<T> {
    let json = |v: &T| serde_json::to_value(v).unwrap_or(Value::Null);
    let Some(applied) = applied.map(|a| Value::Array(a.iter().map(json).collect())) else {
        return observed;
    };
    let seen = observed.iter().map(json).collect();
    serde_json::from_value(same_set_by(Some(&applied), seen, canon)).unwrap_or(observed)
}

/// A KMS key as the blueprint gave it, when AWS answers with the ARN of
/// that same key (the blueprint gave its id, or the ARN itself); else what
/// AWS answers. An alias cannot be matched to a key ARN without asking KMS,
/// so AWS's ARN is reported for it.
pub(crate) fn key_form(applied: Option<&str>, observed: &str) -> String {
    match applied {
        Some(a) if a == observed || observed.ends_with(&format!(":key/{a}")) => a.to_string(),
        _ => observed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_decoded() {
        let v = parse_doc("%7B%22Version%22%3A%222012-10-17%22%7D");
        assert_eq!(v["Version"], "2012-10-17");
        assert_eq!(parse_doc("{\"a\":1}")["a"], 1);
        let text = json!("{\"a\": 1}");
        assert_eq!(doc_as_applied(Some(&text), json!({"a": 1})), text);
        assert_eq!(
            doc_as_applied(Some(&text), json!({"a": 2})),
            json!({"a": 2})
        );
        assert_eq!(doc_as_applied(None, json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn order_alone_is_no_change() {
        let applied = json!(["b", "a"]);
        assert_eq!(
            same_set(Some(&applied), vec![json!("a"), json!("b")]),
            applied
        );
        assert_eq!(
            same_set(Some(&applied), vec![json!("a"), json!("c")]),
            json!(["a", "c"])
        );
    }

    #[test]
    fn typed_lists_keep_the_applied_order() {
        let applied = vec!["b".to_string(), "a".to_string()];
        let observed = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            same_set_of(Some(&applied), observed.clone(), Value::clone),
            applied
        );
        assert_eq!(same_set_of(None, observed.clone(), Value::clone), observed);
        let other = vec!["a".to_string(), "c".to_string()];
        assert_eq!(
            same_set_of(Some(&applied), other.clone(), Value::clone),
            other
        );
    }

    #[test]
    fn a_key_id_stands_for_its_arn() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
        assert_eq!(key_form(Some("1234abcd"), arn), "1234abcd");
        assert_eq!(key_form(Some(arn), arn), arn);
        assert_eq!(key_form(Some("alias/mine"), arn), arn);
        assert_eq!(key_form(Some("5678"), arn), arn);
        assert_eq!(key_form(None, arn), arn);
    }
}
