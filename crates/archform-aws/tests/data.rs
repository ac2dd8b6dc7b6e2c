//! Data kinds (DynamoDB table, S3 bucket, RDS subnet group and instance)
//! against the emulator: create, refresh, in-place update, delete,
//! delete-when-gone and create-adopts-existing.

use archform_aws::AwsProvider;
use archform_engine::provider::{Applied, Provider, Resolved};
use archform_engine::state::{ResourceState, ResourceStatus};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

async fn provider() -> (AwsProvider, aws_config::SdkConfig) {
    let endpoint = archform_testkit::test_endpoint();
    let config = archform_testkit::sdk_config(&endpoint).await;
    (AwsProvider::new(&config), config)
}

fn stack(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}-{}", std::process::id() % 10000, n % 1_000_000)
}

fn resolved(
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

fn state(r: &Resolved, a: &Applied) -> ResourceState {
    ResourceState {
        kind: r.kind.name.to_string(),
        physical_id: Some(a.physical_id.clone()),
        physical_name: r.physical_name.clone(),
        properties: r.properties.clone(),
        attributes: a.attributes.clone(),
        dependencies: vec![],
        tags: r.tags.clone(),
        status: ResourceStatus::Created,
    }
}

fn assert_attrs(r: &Resolved, a: &Applied) {
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

#[tokio::test]
async fn dynamodb_table_lifecycle() {
    let (p, config) = provider().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let s = stack("ddb");
    let name = format!("{s}-connections");
    let mut r = resolved(
        "dynamodb.table",
        &s,
        "connections",
        Some(name.clone()),
        json!({
            "partition_key": {"name": "connection_id", "type": "S"},
            "sort_key": {"name": "sk", "type": "S"},
            "global_secondary_indexes": [
                {"name": "by_conversation", "partition_key": {"name": "conversation_id", "type": "S"},
                 "sort_key": {"name": "connection_id", "type": "S"}, "projection": "KEYS_ONLY"},
            ],
            "ttl_attribute": "expires_at",
            "sse_enabled": true,
        }),
    );
    let a = p.create(&r).await.unwrap();
    assert_eq!(a.physical_id, name);
    assert_attrs(&r, &a);

    // Adoption: a second create finds the same table.
    let again = p.create(&r).await.unwrap();
    assert_eq!(again, a);

    let cur = state(&r, &a);
    let obs = p
        .read("connections", &cur)
        .await
        .unwrap()
        .expect("table exists");
    assert_eq!(
        obs.properties["partition_key"],
        json!({"name": "connection_id", "type": "S"})
    );
    assert_eq!(
        obs.properties["sort_key"],
        json!({"name": "sk", "type": "S"})
    );
    assert_eq!(obs.properties["ttl_attribute"], "expires_at");
    assert_eq!(
        obs.properties["global_secondary_indexes"][0]["name"],
        "by_conversation"
    );
    assert_eq!(
        obs.properties["global_secondary_indexes"][0]["projection"],
        "KEYS_ONLY"
    );
    assert_eq!(obs.properties["point_in_time_recovery"], false);
    let t = ddb.describe_table().table_name(&name).send().await.unwrap();
    let t = t.table().unwrap();
    assert_eq!(
        t.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        Some("PAY_PER_REQUEST")
    );
    // connection_id is used by the table and the index: defined once.
    let defs: Vec<&str> = t
        .attribute_definitions()
        .iter()
        .map(|d| d.attribute_name())
        .collect();
    assert_eq!(defs.iter().filter(|d| **d == "connection_id").count(), 1);
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(t.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "archform:id" && t.value() == "connections")
    );

    // In place: second GSI added, PITR on, TTL attribute changed, a tag added.
    r.properties["global_secondary_indexes"].as_array_mut().unwrap().push(json!(
        {"name": "by_user", "partition_key": {"name": "user_id", "type": "S"}, "projection": "ALL"}
    ));
    r.properties["point_in_time_recovery"] = json!(true);
    r.properties["ttl_attribute"] = json!("ttl");
    r.tags.insert("team".into(), "chat".into());
    let changed: Vec<String> = [
        "global_secondary_indexes",
        "point_in_time_recovery",
        "ttl_attribute",
        "tags",
    ]
    .map(String::from)
    .to_vec();
    let u = p.update(&r, &cur, &changed).await.unwrap();
    assert_eq!(u.physical_id, name);
    assert_attrs(&r, &u);
    let cur = state(&r, &u);
    let obs = p.read("connections", &cur).await.unwrap().unwrap();
    let names: Vec<&str> = obs.properties["global_secondary_indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"by_user"));
    assert_eq!(obs.properties["point_in_time_recovery"], true);
    assert_eq!(obs.properties["ttl_attribute"], "ttl");
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(u.attributes["arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "chat")
    );

    // Remove the first index.
    r.properties["global_secondary_indexes"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    let u = p
        .update(&r, &cur, &["global_secondary_indexes".to_string()])
        .await
        .unwrap();
    let cur = state(&r, &u);
    let obs = p.read("connections", &cur).await.unwrap().unwrap();
    assert_eq!(
        obs.properties["global_secondary_indexes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        obs.properties["global_secondary_indexes"][0]["name"],
        "by_user"
    );

    p.delete("connections", &cur).await.unwrap();
    assert!(p.read("connections", &cur).await.unwrap().is_none());
    p.delete("connections", &cur).await.unwrap();
}

#[tokio::test]
async fn s3_bucket_lifecycle() {
    let (p, config) = provider().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let s = stack("bkt");
    let mut r = resolved(
        "s3.bucket",
        &s,
        "assets",
        Some(format!("{s}-assets")),
        json!({"encryption": "AES256", "versioning": true, "block_public_access": true}),
    );
    let a = p.create(&r).await.unwrap();
    let name = format!("{s}-assets-123456789012-us-east-1");
    assert_eq!(a.physical_id, name);
    assert_attrs(&r, &a);
    assert_eq!(a.attributes["arn"], format!("arn:aws:s3:::{name}"));
    assert_eq!(
        a.attributes["domain_name"],
        format!("{name}.s3.us-east-1.amazonaws.com")
    );
    assert_eq!(p.create(&r).await.unwrap(), a, "second create adopts");
    let tags = s3.get_bucket_tagging().bucket(&name).send().await.unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "archform:id" && t.value() == "assets")
    );

    let cur = state(&r, &a);
    let obs = p.read("assets", &cur).await.unwrap().unwrap();
    assert_eq!(
        obs.properties,
        json!({"encryption": "AES256", "versioning": true, "block_public_access": true})
    );

    r.properties["versioning"] = json!(false);
    r.properties["encryption"] = json!("aws:kms");
    r.tags.insert("team".into(), "web".into());
    let changed = ["versioning", "encryption", "tags"].map(String::from);
    assert_eq!(p.update(&r, &cur, &changed).await.unwrap(), a);
    let cur = state(&r, &a);
    let obs = p.read("assets", &cur).await.unwrap().unwrap();
    assert_eq!(obs.properties["versioning"], false);
    assert_eq!(obs.properties["encryption"], "aws:kms");
    let tags = s3.get_bucket_tagging().bucket(&name).send().await.unwrap();
    assert!(tags.tag_set().iter().any(|t| t.key() == "team"));

    // Objects with several versions and a delete marker: delete empties first.
    for body in ["one", "two"] {
        s3.put_object()
            .bucket(&name)
            .key("k")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    s3.delete_object()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&name)
        .key("other")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    p.delete("assets", &cur).await.unwrap();
    assert!(p.read("assets", &cur).await.unwrap().is_none());
    p.delete("assets", &cur).await.unwrap();

    // Crash mid-create: no physical id, found by the derived name.
    let a = p.create(&r).await.unwrap();
    let mut lost = state(&r, &a);
    lost.physical_id = None;
    assert!(p.read("assets", &lost).await.unwrap().is_some());
    p.delete("assets", &lost).await.unwrap();
    assert!(p.read("assets", &cur).await.unwrap().is_none());
}
