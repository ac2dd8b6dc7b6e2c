//! A listing the inventory could not make is "unknown", never "nothing
//! left". A fault proxy between the SDK and the emulator answers chosen
//! calls with AWS errors or bare 404s (an endpoint lacking a service); the
//! leak check must then fail, naming what it could not look at, while the
//! answers that do say "not ours" (S3's NoSuchTagSet, a bucket in another
//! region) still let it pass.

use archform_aws::{Clients, Leftovers, assert_no_leftovers, check_no_leftovers, inventory};
use archform_blueprint::kinds::Kind;
use archform_testkit::{Answer, Call, FaultConfig, FaultProxy, Rule, sdk_config, test_endpoint};

const S: &str = "archform:stack";
const I: &str = "archform:id";

fn unique(tag: &str) -> String {
    format!("invu-{tag}-{}", std::process::id())
}

/// Clients whose calls go through a proxy answering by `rules`.
async fn through(rules: Vec<Rule>) -> (FaultProxy, Clients) {
    let proxy = FaultProxy::start(
        &test_endpoint(),
        FaultConfig {
            rules,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let clients = Clients::new(&sdk_config(&proxy.endpoint).await);
    (proxy, clients)
}

/// GetBucketTagging of `bucket` (path-style, as archform addresses S3).
fn bucket_tagging(bucket: &str) -> impl Fn(&Call) -> bool + Send + Sync + 'static {
    let path = format!("/{bucket}");
    move |c| {
        c.service == "s3"
            && c.method == "GET"
            && c.path.trim_end_matches('/') == path
            && c.query
                .split('&')
                .any(|q| q == "tagging" || q.starts_with("tagging="))
    }
}

/// The leak check's failure, which must name nothing left but something
/// it could not look at in `service`, of `kind`, mentioning `about`.
fn only_unknown(r: Result<(), Leftovers>, service: &str, kind: Kind, about: &str) -> String {
    let e = r.expect_err("the leak check passed although a listing failed");
    assert!(e.found.is_empty(), "{e}");
    let hit = e
        .unknown
        .iter()
        .find(|u| u.service == service && u.kinds.contains(&kind) && u.reason.contains(about));
    assert!(
        hit.is_some(),
        "no unknown {service} {kind} about {about:?}: {e}"
    );
    e.to_string()
}

/// A bucket tagged with `stack`.
async fn tagged_bucket(c: &Clients, stack: &str, bucket: &str) {
    use aws_sdk_s3::types as s3;
    c.s3.create_bucket().bucket(bucket).send().await.unwrap();
    c.s3.put_bucket_tagging()
        .bucket(bucket)
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
}

/// An SQS event source mapping tagged with `stack`, with its function, role
/// and queue; returns the mapping's UUID.
async fn tagged_mapping(c: &Clients, stack: &str) -> String {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = c
        .iam
        .create_role()
        .role_name(format!("{stack}-role"))
        .assume_role_policy_document(doc)
        .send()
        .await
        .unwrap();
    let zip = archform_testkit::zip::placeholder_function();
    let f = c
        .lambda
        .create_function()
        .function_name(format!("{stack}-fn"))
        .role(role.role().unwrap().arn())
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(zip.into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let q = c
        .sqs
        .create_queue()
        .queue_name(format!("{stack}-q"))
        .send()
        .await
        .unwrap();
    let qarn = c
        .sqs
        .get_queue_attributes()
        .queue_url(q.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let m = c
        .lambda
        .create_event_source_mapping()
        .function_name(f.function_arn().unwrap())
        .event_source_arn(qarn)
        .tags(S, stack)
        .tags(I, "jobs_events")
        .send()
        .await
        .unwrap();
    m.uuid().unwrap().to_string()
}

async fn clean_up(c: &Clients, bucket: &str, esm_stack: &str, uuid: &str) {
    let _ = c.s3.delete_bucket().bucket(bucket).send().await;
    let _ = c
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await;
    let _ = c
        .lambda
        .delete_function()
        .function_name(format!("{esm_stack}-fn"))
        .send()
        .await;
    let _ = c
        .iam
        .delete_role()
        .role_name(format!("{esm_stack}-role"))
        .send()
        .await;
    if let Ok(q) = c
        .sqs
        .get_queue_url()
        .queue_name(format!("{esm_stack}-q"))
        .send()
        .await
    {
        let _ = c
            .sqs
            .delete_queue()
            .queue_url(q.queue_url().unwrap_or_default())
            .send()
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_failure_fails_the_leak_check() {
    let direct = Clients::new(&sdk_config(&test_endpoint()).await);
    // Three stacks: one owns a tagged bucket, one a tagged event source
    // mapping, one nothing.
    let (with_bucket, with_mapping, empty) = (unique("b"), unique("m"), unique("e"));
    let bucket = format!("{with_bucket}-assets");
    tagged_bucket(&direct, &with_bucket, &bucket).await;
    let uuid = tagged_mapping(&direct, &with_mapping).await;

    // Without faults each is seen as it is.
    let (_proxy, c) = through(vec![]).await;
    check_no_leftovers(&c, &empty)
        .await
        .unwrap_or_else(|e| panic!("the empty stack: {e}"));
    let e = check_no_leftovers(&c, &with_bucket).await.unwrap_err();
    assert_eq!(e.found.len(), 1, "{e}");
    assert_eq!(e.found[0].kind, Kind::Bucket);
    let e = check_no_leftovers(&c, &with_mapping).await.unwrap_err();
    assert_eq!(e.found.len(), 1, "{e}");
    assert_eq!(
        (e.found[0].kind, &*e.found[0].physical_id),
        (Kind::EventSourceMapping, &*uuid)
    );

    // A service the endpoint lacks (a bare 404 on every RDS call).
    let (proxy, c) = through(vec![Rule::new(|c| c.service == "rds", Answer::Bare404)]).await;
    let msg = only_unknown(
        check_no_leftovers(&c, &empty).await,
        "rds",
        Kind::DbInstance,
        "DescribeDBInstances",
    );
    assert!(msg.contains("does not implement"), "{msg}");
    only_unknown(
        check_no_leftovers(&c, &empty).await,
        "rds",
        Kind::DbSubnetGroup,
        "DescribeDBSubnetGroups",
    );
    only_unknown(
        check_no_leftovers(&c, &empty).await,
        "rds",
        Kind::DbParameterGroup,
        "DescribeDBParameterGroups",
    );
    assert!(proxy.stats().ruled > 0);
    // The panicking form fails too, naming it.
    let stack = empty.clone();
    let panic = tokio::spawn(async move { assert_no_leftovers(&c, &stack).await })
        .await
        .expect_err("assert_no_leftovers passed although RDS could not be listed");
    let text = panic
        .into_panic()
        .downcast::<String>()
        .map(|b| *b)
        .unwrap_or_default();
    assert!(
        text.contains("could not look at") && text.contains("rds"),
        "{text}"
    );

    // A listing that errors.
    let (_proxy, c) = through(vec![Rule::new(
        |c| c.operation == "sqs:ListQueues",
        Answer::error(403, "AccessDenied", "not allowed (injected)"),
    )])
    .await;
    let msg = only_unknown(
        check_no_leftovers(&c, &empty).await,
        "sqs",
        Kind::Queue,
        "ListQueues",
    );
    assert!(msg.contains("AccessDenied"), "{msg}");

    // The mapping's tags cannot be read: it may be ours.
    let id = uuid.clone();
    let (_proxy, c) = through(vec![Rule::new(
        move |c| c.service == "lambda" && c.path.contains("/tags/") && c.path.contains(&id),
        Answer::error(403, "AccessDeniedException", "not allowed (injected)"),
    )])
    .await;
    only_unknown(
        check_no_leftovers(&c, &with_mapping).await,
        "lambda",
        Kind::EventSourceMapping,
        &uuid,
    );

    // S3: AccessDenied and a bare 404 on the bucket's tags are unknown.
    for answer in [
        Answer::error(403, "AccessDenied", "Access Denied (injected)"),
        Answer::Bare404,
    ] {
        let (proxy, c) = through(vec![Rule::new(bucket_tagging(&bucket), answer)]).await;
        only_unknown(
            check_no_leftovers(&c, &with_bucket).await,
            "s3",
            Kind::Bucket,
            &bucket,
        );
        assert!(proxy.stats().ruled > 0);
    }
    // ... while "no tag set" and "in another region" say it is not ours:
    // the same tagged bucket then counts as another's, and nothing is
    // unknown.
    for answer in [
        Answer::error(404, "NoSuchTagSet", "The TagSet does not exist (injected)"),
        Answer::error(
            301,
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint (injected)",
        ),
    ] {
        let (proxy, c) = through(vec![Rule::new(bucket_tagging(&bucket), answer.clone())]).await;
        check_no_leftovers(&c, &with_bucket)
            .await
            .unwrap_or_else(|e| panic!("{answer:?}: {e}"));
        assert!(proxy.stats().ruled > 0, "{answer:?} never answered");
    }

    // The inventory itself says it is incomplete, and where.
    let (_proxy, c) = through(vec![Rule::new(|c| c.service == "rds", Answer::Bare404)]).await;
    let inv = inventory(&c, &empty).await;
    assert!(!inv.is_complete());
    assert!(
        inv.unknown.iter().all(|u| u.service == "rds"),
        "{:?}",
        inv.unknown
    );

    clean_up(&direct, &bucket, &with_mapping, &uuid).await;
    check_no_leftovers(&direct, &with_bucket).await.unwrap();
    check_no_leftovers(&direct, &with_mapping).await.unwrap();
}
