//! Shared set-up of the provider tests: the provider on the test emulator,
//! unique stack names, hand-built resources and the attribute contract.
#![allow(dead_code)]

use archform_aws::AwsProvider;
use archform_engine::provider::{Applied, Resolved};
use archform_engine::state::{ResourceState, ResourceStatus};
use indexmap::IndexMap;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub async fn provider() -> (AwsProvider, aws_config::SdkConfig) {
    let endpoint = archform_testkit::test_endpoint();
    let config = archform_testkit::sdk_config(&endpoint).await;
    (AwsProvider::new(&config), config)
}

pub fn stack(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}-{}", std::process::id() % 10000, n % 1_000_000)
}

pub fn resolved(
    kind: &str,
    stack: &str,
    id: &str,
    name: Option<String>,
    properties: Value,
) -> Resolved {
    let mut tags = IndexMap::new();
    tags.insert("archform:stack".to_string(), stack.to_string());
    tags.insert("archform:id".to_string(), id.to_string());
    Resolved {
        stack: stack.into(),
        id: id.into(),
        kind: archform_blueprint::kinds::lookup(kind).unwrap(),
        physical_name: name,
        properties,
        tags,
    }
}

pub fn state(r: &Resolved, a: &Applied) -> ResourceState {
    ResourceState {
        kind: r.kind,
        physical_id: Some(a.physical_id.clone()),
        physical_name: r.physical_name.clone(),
        properties: r.properties.clone(),
        attributes: a.attributes.clone(),
        dependencies: vec![],
        tags: r.tags.clone(),
        status: ResourceStatus::Created,
    }
}

pub fn assert_attrs(r: &Resolved, a: &Applied) {
    let want: Vec<&str> = r.kind.attrs.iter().map(|a| a.name).collect();
    let got: Vec<&str> = a.attributes.keys().map(String::as_str).collect();
    let mut w = want.clone();
    w.sort();
    let mut g = got.clone();
    g.sort();
    assert_eq!(w, g, "exported attributes of {}", r.kind.name);
    for (k, v) in &a.attributes {
        assert!(
            !v.is_null() && v != "",
            "attribute {k} of {} is empty",
            r.kind.name
        );
    }
}

/// A read reports what was applied: every property of the kind means the
/// same to AWS on both sides, by the spec's rules (an omitted property is
/// its default, a write-only one is compared only where AWS shows it).
/// Properties the read adds beyond the applied ones must be what leaving
/// them out means; a property the read misses fails unless it is write-only.
pub fn assert_reads_back(kind: archform_blueprint::kinds::Kind, applied: &Value, seen: &Value) {
    let differ: Vec<String> = kind
        .props
        .iter()
        .filter(|p| !archform_blueprint::kinds::same_prop(p, applied.get(p.name), seen.get(p.name)))
        .map(|p| {
            format!(
                "{}: applied {}, read {}",
                p.name,
                applied.get(p.name).unwrap_or(&Value::Null),
                seen.get(p.name).unwrap_or(&Value::Null)
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{kind}: the read differs from what was applied:\n  {}",
        differ.join("\n  ")
    );
    let unknown: Vec<&String> = seen
        .as_object()
        .map(|m| m.keys().filter(|k| kind.prop(k).is_none()).collect())
        .unwrap_or_default();
    assert!(
        unknown.is_empty(),
        "{kind}: the read reports properties the spec does not declare: {unknown:?}"
    );
}

/// The read `state recover` makes: the resource's ids and tags but no
/// properties. It must still report everything that was applied.
pub async fn assert_recovers(p: &AwsProvider, id: &str, st: &ResourceState) {
    use archform_engine::provider::Provider;
    let mut bare = st.clone();
    bare.properties = Value::Object(Default::default());
    let seen = p
        .read(id, &bare)
        .await
        .unwrap_or_else(|e| panic!("{}: read without properties: {e}", st.kind))
        .unwrap_or_else(|| panic!("{}: not found without properties", st.kind));
    assert_reads_back(st.kind, &st.properties, &seen.properties);
}

/// SHA-256 of a file by coreutils' `sha256sum` (no hashing crate here), in
/// lowercase hex as the CLI gives it in a function's `code.sha256`.
pub fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
