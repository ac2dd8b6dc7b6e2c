//! `inventory` and `recover` against the emulator: resources tagged with a
//! stack through the SDK directly are found (and only those), the leak
//! check names them, and a state rebuilt from them lists each.

use archform_aws::{AwsProvider, Clients, assert_no_leftovers, inventory};
use archform_engine::state::ResourceStatus;
use archform_testkit::{sdk_config, test_endpoint};
use std::collections::BTreeMap;

const S: &str = "archform:stack";
const I: &str = "archform:id";

fn ec2_tags(
    rt: aws_sdk_ec2::types::ResourceType,
    stack: &str,
    id: &str,
) -> aws_sdk_ec2::types::TagSpecification {
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(rt)
        .tags(tag(S, stack))
        .tags(tag(I, id))
        .tags(tag("Name", &format!("{stack}-{id}")))
        .build()
}

/// Creates one tagged resource per service (plus one of another stack and
/// one untagged) and returns the expected (kind, id) -> physical id.
async fn create_tagged(c: &Clients, stack: &str) -> BTreeMap<(String, String), String> {
    use aws_sdk_ec2::types::ResourceType as Rt;
    let mut want = BTreeMap::new();
    let mut put = |kind: &str, id: &str, pid: &str| {
        want.insert((kind.to_string(), id.to_string()), pid.to_string());
    };

    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(ec2_tags(Rt::Vpc, stack, "vpc"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    put("ec2.vpc", "vpc", &vpc_id);
    let subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.42.1.0/24")
        .tag_specifications(ec2_tags(Rt::Subnet, stack, "subnet"))
        .send()
        .await
        .unwrap();
    put(
        "ec2.subnet",
        "subnet",
        subnet.subnet().unwrap().subnet_id().unwrap(),
    );
    let sg = c
        .ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name(format!("{stack}-web"))
        .description("test")
        .tag_specifications(ec2_tags(Rt::SecurityGroup, stack, "web_sg"))
        .send()
        .await
        .unwrap();
    put("ec2.security_group", "web_sg", sg.group_id().unwrap());
    // Another stack's VPC and an untagged one are not ours.
    c.ec2
        .create_vpc()
        .cidr_block("10.43.0.0/16")
        .tag_specifications(ec2_tags(Rt::Vpc, &format!("{stack}-other"), "vpc"))
        .send()
        .await
        .unwrap();
    c.ec2
        .create_vpc()
        .cidr_block("10.44.0.0/16")
        .send()
        .await
        .unwrap();

    let q = c
        .sqs
        .create_queue()
        .queue_name(format!("{stack}-jobs"))
        .tags(S, stack)
        .tags(I, "jobs")
        .send()
        .await
        .unwrap();
    put("sqs.queue", "jobs", q.queue_url().unwrap());
    let t = c
        .sns
        .create_topic()
        .name(format!("{stack}-events"))
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key(S)
                .value(stack)
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key(I)
                .value("events")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    put("sns.topic", "events", t.topic_arn().unwrap());

    use aws_sdk_dynamodb::types as ddb;
    let table = format!("{stack}-items");
    c.dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(ddb::BillingMode::PayPerRequest)
        .attribute_definitions(
            ddb::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ddb::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            ddb::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(ddb::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .tags(ddb::Tag::builder().key(S).value(stack).build().unwrap())
        .tags(ddb::Tag::builder().key(I).value("items").build().unwrap())
        .send()
        .await
        .unwrap();
    put("dynamodb.table", "items", &table);

    let bucket = format!("{stack}-assets");
    c.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    use aws_sdk_s3::types as s3;
    c.s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            s3::Tagging::builder()
                .tag_set(s3::Tag::builder().key(S).value(stack).build().unwrap())
                .tag_set(s3::Tag::builder().key(I).value("assets").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    put("s3.bucket", "assets", &bucket);

    let role = format!("{stack}-fn-role");
    use aws_sdk_iam::types as iam;
    c.iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .tags(iam::Tag::builder().key(S).value(stack).build().unwrap())
        .tags(iam::Tag::builder().key(I).value("fn_role").build().unwrap())
        .send()
        .await
        .unwrap();
    put("iam.role", "fn_role", &role);

    let group = format!("/archform/{stack}/fn");
    c.logs
        .create_log_group()
        .log_group_name(&group)
        .tags(S, stack)
        .tags(I, "fn_logs")
        .send()
        .await
        .unwrap();
    put("logs.log_group", "fn_logs", &group);

    let secret = c
        .secrets
        .create_secret()
        .name(format!("{stack}/db"))
        .secret_string("x")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(S)
                .value(stack)
                .build(),
        )
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(I)
                .value("db_secret")
                .build(),
        )
        .send()
        .await
        .unwrap();
    put("secretsmanager.secret", "db_secret", secret.arn().unwrap());
    want
}

fn unique(tag: &str) -> String {
    format!("inv-{tag}-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn inventory_finds_tagged_resources_and_recover_lists_them() {
    let config = sdk_config(&test_endpoint()).await;
    let c = Clients::new(&config);
    let stack = unique("a");
    let want = create_tagged(&c, &stack).await;

    let inv = inventory(&c, &stack).await;
    assert!(inv.is_complete(), "could not look at: {:?}", inv.unknown);
    let found = inv.found;
    let got: BTreeMap<(String, String), String> = found
        .iter()
        .map(|f| {
            (
                (f.kind.name().to_string(), f.id.clone()),
                f.physical_id.clone(),
            )
        })
        .collect();
    assert_eq!(got, want, "exactly the stack's resources");
    let sg = found
        .iter()
        .find(|f| f.kind.name() == "ec2.security_group")
        .unwrap();
    assert_eq!(sg.physical_name.as_deref(), Some(&*format!("{stack}-web")));

    // The leak check names what is left.
    let panic = tokio::spawn({
        let c = c.clone();
        let stack = stack.clone();
        async move { assert_no_leftovers(&c, &stack).await }
    })
    .await
    .unwrap_err();
    let msg = panic
        .into_panic()
        .downcast::<String>()
        .map(|b| *b)
        .unwrap_or_default();
    assert!(
        msg.contains(&format!("left {} resources", want.len())),
        "{msg}"
    );
    assert!(msg.contains("sqs.queue jobs"), "{msg}");
    // A stack nothing is tagged with is clean.
    assert_no_leftovers(&c, &unique("nothing")).await;

    // Recover: one record per tagged resource, created, with physical ids.
    let provider = AwsProvider::new(&config);
    let r = archform_aws::inventory::recover(&provider, &stack, "url-shortener").await;
    assert!(r.untracked.is_empty(), "{:?}", r.untracked);
    assert!(r.unknown.is_empty(), "{:?}", r.unknown);
    assert_eq!(r.state.stack, stack);
    assert_eq!(r.state.serial, 0);
    let recorded: BTreeMap<(String, String), String> = r
        .state
        .resources
        .iter()
        .map(|(id, x)| {
            assert_eq!(x.status, ResourceStatus::Created);
            assert_eq!(x.tags.get("archform:id"), Some(id));
            (
                (x.kind.name().to_string(), id.clone()),
                x.physical_id.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(recorded, want);
    // Named kinds keep their name; unnamed EC2 kinds do not take the Name tag.
    assert_eq!(
        r.state.resources["jobs"].physical_name.as_deref(),
        Some(&*format!("{stack}-jobs"))
    );
    assert_eq!(r.state.resources["vpc"].physical_name, None);
    // Destroy order: dependents (subnet, group) before the VPC they use.
    assert!(r.state.resources["vpc"].dependencies.is_empty());
    assert!(
        r.state.resources["subnet"]
            .dependencies
            .contains(&"vpc".to_string())
    );
    let plan = archform_engine::apply::destroy_plan(&r.state);
    let sg = plan.steps.iter().find(|s| s.id == "web_sg").unwrap();
    assert!(sg.waits_for.contains(&"vpc".to_string()));
}
