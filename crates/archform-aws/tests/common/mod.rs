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
