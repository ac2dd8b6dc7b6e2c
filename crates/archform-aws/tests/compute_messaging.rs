//! Security, compute and messaging kinds (IAM role, secret, log group,
//! Lambda function/permission/event source mapping/URL, SQS queue and
//! policy, SNS topic and subscription) against the emulator: create,
//! refresh, in-place update, delete, delete-when-gone and
//! create-adopts-existing.

use archform_aws::AwsProvider;
use archform_engine::provider::{Applied, Provider, ProviderError, Resolved};
use archform_engine::state::{ResourceState, ResourceStatus};
use serde_json::{Value, json};

mod common;
use common::{
    assert_attrs, assert_reads_back, assert_recovers, provider, resolved, sha256_hex, stack, state,
};

/// Create (twice: the second adopts), then the common tail: delete, delete
/// again, read answers None.
async fn create_twice(p: &AwsProvider, r: &Resolved) -> (Applied, ResourceState) {
    let a = p
        .create(r)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", r.kind.name));
    assert_attrs(r, &a);
    let again = p
        .create(r)
        .await
        .unwrap_or_else(|e| panic!("create again {}: {e}", r.kind.name));
    assert_eq!(
        a.physical_id, again.physical_id,
        "{}: a second create adopts",
        r.kind.name
    );
    let s = state(r, &a);
    (a, s)
}

async fn delete_twice(p: &AwsProvider, id: &str, s: &ResourceState) {
    p.delete(id, s)
        .await
        .unwrap_or_else(|e| panic!("delete {}: {e}", s.kind));
    p.delete(id, s)
        .await
        .unwrap_or_else(|e| panic!("delete {} again: {e}", s.kind));
    assert!(
        p.read(id, s).await.unwrap().is_none(),
        "{} is gone after delete",
        s.kind
    );
}

fn lambda_trust() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
}

fn policy(action: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
}

#[tokio::test]
async fn iam_role_lifecycle() {
    let (p, config) = provider().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let s = stack("role");
    let name = format!("{s}-worker_role");
    // moto does not load AWS-managed policies: attach a customer one.
    let managed = iam
        .create_policy()
        .policy_name(format!("{s}-extra"))
        .policy_document(policy("s3:GetObject").to_string())
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let mut r = resolved(
        "iam.role",
        &s,
        "worker_role",
        Some(name.clone()),
        json!({
            "assume_role_policy": lambda_trust(),
            "description": "first",
            "policies": [{"name": "logs", "document": policy("logs:PutLogEvents")},
                         {"name": "sqs", "document": policy("sqs:ReceiveMessage")}],
            "managed_policy_arns": [managed.clone()],
        }),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    assert_eq!(a.physical_id, name);
    assert!(
        a.attributes["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":role/{name}"))
    );
    let tags = iam.list_role_tags().role_name(&name).send().await.unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "archform:stack" && t.value() == s)
    );

    let seen = p
        .read("worker_role", &st)
        .await
        .unwrap()
        .expect("role exists");
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["description"], "first");
    assert_eq!(seen.applied, a);
    assert_recovers(&p, "worker_role", &st).await;

    // In place: drop one inline policy, change the other, detach the
    // managed policy, new description and an extra tag.
    r.properties["policies"] =
        json!([{"name": "logs", "document": policy("logs:CreateLogStream")}]);
    r.properties["managed_policy_arns"] = json!([]);
    r.properties["description"] = json!("second");
    r.tags.insert("team".into(), "core".into());
    let changed: Vec<String> = ["policies", "managed_policy_arns", "description", "tags"]
        .map(String::from)
        .to_vec();
    let a2 = p.update(&r, &st, &changed).await.unwrap();
    assert_eq!(a2.physical_id, a.physical_id);
    st = state(&r, &a2);
    let seen = p.read("worker_role", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(
        seen.properties["policies"],
        json!([{"name": "logs", "document": policy("logs:CreateLogStream")}])
    );
    assert_eq!(seen.properties["description"], "second");
    assert_recovers(&p, "worker_role", &st).await;
    let tags = iam.list_role_tags().role_name(&name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "team"));

    // Delete removes inline policies and detaches managed ones first.
    r.properties["managed_policy_arns"] = json!([managed.clone()]);
    let a3 = p
        .update(&r, &st, &["managed_policy_arns".to_string()])
        .await
        .unwrap();
    st = state(&r, &a3);
    let seen = p.read("worker_role", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(
        seen.properties["managed_policy_arns"],
        json!([managed.clone()])
    );
    delete_twice(&p, "worker_role", &st).await;
    iam.delete_policy()
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn log_group_lifecycle() {
    let (p, config) = provider().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let s = stack("logs");
    let name = format!("/archform/{s}-worker_logs");
    let mut r = resolved(
        "logs.log_group",
        &s,
        "worker_logs",
        Some(name.clone()),
        json!({"retention_in_days": 14}),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    assert_eq!(a.physical_id, name);
    assert_eq!(a.attributes["name"], name.as_str());
    let arn = a.attributes["arn"].as_str().unwrap();
    assert!(arn.ends_with(&format!(":log-group:{name}:*")), "{arn}");
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1, "no duplicate");

    let seen = p.read("worker_logs", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["retention_in_days"], 14);
    assert_recovers(&p, "worker_logs", &st).await;

    r.properties["retention_in_days"] = json!(30);
    r.tags.insert("team".into(), "core".into());
    let a2 = p
        .update(
            &r,
            &st,
            &["retention_in_days".to_string(), "tags".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let seen = p.read("worker_logs", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["retention_in_days"], 30);
    assert_recovers(&p, "worker_logs", &st).await;
    delete_twice(&p, "worker_logs", &st).await;
}

#[allow(dead_code)]
fn invalid(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Invalid(_))
}

#[tokio::test]
async fn secret_lifecycle() {
    let (p, config) = provider().await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let s = stack("secret");
    let name = format!("{s}-db_secret");
    let mut r = resolved(
        "secretsmanager.secret",
        &s,
        "db_secret",
        Some(name.clone()),
        json!({"description": "first", "generate": {"length": 24, "exclude_punctuation": true,
               "secret_template": "{\"username\":\"app\"}", "generate_key": "password"}}),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    let value = sm
        .get_secret_value()
        .secret_id(&a.physical_id)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(v["username"], "app");
    assert_eq!(v["password"].as_str().unwrap().len(), 24);
    let seen = p.read("db_secret", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["description"], "first");
    assert_recovers(&p, "db_secret", &st).await;

    r.properties["description"] = json!("second");
    r.tags.insert("team".into(), "core".into());
    let a2 = p
        .update(&r, &st, &["description".to_string(), "tags".to_string()])
        .await
        .unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let seen = p.read("db_secret", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["description"], "second");
    assert_recovers(&p, "db_secret", &st).await;
    let d = sm
        .describe_secret()
        .secret_id(&a.physical_id)
        .send()
        .await
        .unwrap();
    assert!(d.tags().iter().any(|t| t.key() == Some("team")));

    delete_twice(&p, "db_secret", &st).await;
    // Deleted without a recovery window: the name can be used again at once.
    let (a3, st3) = create_twice(&p, &r).await;
    delete_twice(&p, "db_secret", &st3).await;
    assert!(a3.physical_id.contains(&name));
}

#[tokio::test]
async fn sqs_queue_and_policy_lifecycle() {
    let (p, config) = provider().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let s = stack("sqs");
    let dlq = resolved(
        "sqs.queue",
        &s,
        "jobs_dlq",
        Some(format!("{s}-jobs_dlq")),
        json!({"sqs_managed_sse": true, "message_retention_seconds": 1209600}),
    );
    let (dlq_a, dlq_st) = create_twice(&p, &dlq).await;
    let dlq_arn = dlq_a.attributes["arn"].as_str().unwrap().to_string();
    let name = format!("{s}-jobs");
    let mut r = resolved(
        "sqs.queue",
        &s,
        "jobs",
        Some(name.clone()),
        json!({"visibility_timeout": 180, "delay_seconds": 2, "receive_wait_time_seconds": 10,
               "redrive_policy": {"dead_letter_target_arn": dlq_arn, "max_receive_count": 5}}),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    assert_eq!(a.attributes["name"], name.as_str());
    assert!(a.attributes["url"].as_str().unwrap().ends_with(&name));
    assert_eq!(a.physical_id, a.attributes["url"].as_str().unwrap());
    let tags = sqs
        .list_queue_tags()
        .queue_url(&a.physical_id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap()["archform:id"], "jobs");

    let seen = p.read("jobs", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.applied, a);
    assert_recovers(&p, "jobs", &st).await;
    assert_recovers(&p, "jobs_dlq", &dlq_st).await;

    r.properties["visibility_timeout"] = json!(60);
    r.properties
        .as_object_mut()
        .unwrap()
        .remove("delay_seconds");
    r.properties["redrive_policy"]["max_receive_count"] = json!(3);
    let changed: Vec<String> = ["visibility_timeout", "delay_seconds", "redrive_policy"]
        .map(String::from)
        .to_vec();
    let a2 = p.update(&r, &st, &changed).await.unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let seen = p.read("jobs", &st).await.unwrap().unwrap();
    assert_eq!(seen.properties["visibility_timeout"], 60);
    assert_eq!(seen.properties["redrive_policy"]["max_receive_count"], 3);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&a.physical_id)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::DelaySeconds)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::DelaySeconds],
        "0"
    );

    // The queue policy.
    let doc = |sid: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": a.attributes["arn"], "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}}}]})
    };
    let mut pr = resolved(
        "sqs.queue_policy",
        &s,
        "jobs_policy",
        None,
        json!({"queue_url": a.physical_id, "policy": doc("One")}),
    );
    let (pa, mut pst) = create_twice(&p, &pr).await;
    assert_eq!(pa.physical_id, a.physical_id);
    let seen = p.read("jobs_policy", &pst).await.unwrap().unwrap();
    assert_reads_back(pr.kind, &pr.properties, &seen.properties);
    assert_eq!(seen.applied, pa);
    assert_recovers(&p, "jobs_policy", &pst).await;
    pr.properties["policy"] = doc("Two");
    let pa2 = p.update(&pr, &pst, &["policy".to_string()]).await.unwrap();
    pst = state(&pr, &pa2);
    let seen = p.read("jobs_policy", &pst).await.unwrap().unwrap();
    assert_eq!(seen.properties["policy"]["Statement"][0]["Sid"], "Two");
    assert_reads_back(pr.kind, &pr.properties, &seen.properties);
    assert_recovers(&p, "jobs_policy", &pst).await;
    // A policy applied as JSON text reads back as that text.
    pr.properties["policy"] = json!(doc("Three").to_string());
    let pa3 = p.update(&pr, &pst, &["policy".to_string()]).await.unwrap();
    pst = state(&pr, &pa3);
    let seen = p.read("jobs_policy", &pst).await.unwrap().unwrap();
    assert_eq!(seen.properties["policy"], pr.properties["policy"]);
    delete_twice(&p, "jobs_policy", &pst).await;
    // The queue itself is still there.
    assert!(p.read("jobs", &st).await.unwrap().is_some());

    delete_twice(&p, "jobs", &st).await;
    delete_twice(&p, "jobs_dlq", &dlq_st).await;
    // A policy whose queue is gone counts as deleted too.
    p.delete("jobs_policy", &pst).await.unwrap();
}

#[tokio::test]
async fn sns_topic_and_subscription_lifecycle() {
    let (p, config) = provider().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let s = stack("sns");
    let name = format!("{s}-topic");
    let mut t = resolved(
        "sns.topic",
        &s,
        "topic",
        Some(name.clone()),
        json!({"display_name": "Notifications", "kms_master_key_id": "alias/aws/sns"}),
    );
    let (ta, mut tst) = create_twice(&p, &t).await;
    assert!(ta.physical_id.ends_with(&format!(":{name}")));
    assert_eq!(ta.attributes["name"], name.as_str());
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&ta.physical_id)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "archform:id" && t.value() == "topic")
    );
    let seen = p.read("topic", &tst).await.unwrap().unwrap();
    assert_reads_back(t.kind, &t.properties, &seen.properties);
    assert_eq!(seen.applied, ta);
    assert_recovers(&p, "topic", &tst).await;

    t.properties["display_name"] = json!("Renamed");
    t.tags.insert("team".into(), "core".into());
    let ta2 = p
        .update(&t, &tst, &["display_name".to_string(), "tags".to_string()])
        .await
        .unwrap();
    assert_eq!(ta2, ta);
    tst = state(&t, &ta2);
    let seen = p.read("topic", &tst).await.unwrap().unwrap();
    assert_eq!(seen.properties["display_name"], "Renamed");
    assert_reads_back(t.kind, &t.properties, &seen.properties);
    assert_recovers(&p, "topic", &tst).await;
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&ta.physical_id)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "core")
    );
    // Left out, the display name is cleared.
    t.properties.as_object_mut().unwrap().remove("display_name");
    p.update(&t, &tst, &["display_name".to_string()])
        .await
        .unwrap();
    tst = state(&t, &ta2);
    let seen = p.read("topic", &tst).await.unwrap().unwrap();
    assert_eq!(seen.properties.get("display_name"), None);
    assert_reads_back(t.kind, &t.properties, &seen.properties);

    let q = resolved(
        "sqs.queue",
        &s,
        "email",
        Some(format!("{s}-email")),
        json!({}),
    );
    let (qa, qst) = create_twice(&p, &q).await;
    let mut sub = resolved(
        "sns.subscription",
        &s,
        "email_sub",
        None,
        json!({"topic_arn": ta.physical_id, "protocol": "sqs", "endpoint": qa.attributes["arn"],
               "raw_message_delivery": true, "filter_policy_scope": "MessageAttributes",
               "filter_policy": {"channel": ["email"]}}),
    );
    let (sa, mut sst) = create_twice(&p, &sub).await;
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&ta.physical_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.subscriptions().len(), 1, "no duplicate subscription");
    let seen = p.read("email_sub", &sst).await.unwrap().unwrap();
    assert_reads_back(sub.kind, &sub.properties, &seen.properties);
    assert_eq!(seen.applied, sa);
    assert_recovers(&p, "email_sub", &sst).await;

    sub.properties["filter_policy"] = json!({"channel": ["email", "sms"]});
    sub.properties["raw_message_delivery"] = json!(false);
    let sa2 = p
        .update(
            &sub,
            &sst,
            &[
                "filter_policy".to_string(),
                "raw_message_delivery".to_string(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(sa2, sa);
    sst = state(&sub, &sa2);
    let seen = p.read("email_sub", &sst).await.unwrap().unwrap();
    assert_eq!(
        seen.properties["filter_policy"],
        json!({"channel": ["email", "sms"]})
    );
    assert_eq!(seen.properties["raw_message_delivery"], false);
    assert_reads_back(sub.kind, &sub.properties, &seen.properties);
    assert_recovers(&p, "email_sub", &sst).await;

    // Left out, the filter policy is removed and the scope and raw delivery
    // go back to SNS's defaults.
    // A nested policy on the message body: the scope is set first.
    sub.properties["filter_policy_scope"] = json!("MessageBody");
    sub.properties["filter_policy"] = json!({"detail": {"channel": ["email"]}});
    sub.properties["raw_message_delivery"] = json!(true);
    let changed = [
        "filter_policy",
        "filter_policy_scope",
        "raw_message_delivery",
    ]
    .map(String::from);
    p.update(&sub, &sst, &changed).await.unwrap();
    sst = state(&sub, &sa);
    let seen = p.read("email_sub", &sst).await.unwrap().unwrap();
    assert_eq!(seen.properties["filter_policy_scope"], "MessageBody");
    assert_eq!(
        seen.properties["filter_policy"],
        json!({"detail": {"channel": ["email"]}})
    );
    assert_reads_back(sub.kind, &sub.properties, &seen.properties);
    let props = sub.properties.as_object_mut().unwrap();
    for k in [
        "filter_policy",
        "filter_policy_scope",
        "raw_message_delivery",
    ] {
        props.remove(k);
    }
    let changed = [
        "filter_policy",
        "filter_policy_scope",
        "raw_message_delivery",
    ]
    .map(String::from);
    p.update(&sub, &sst, &changed).await.unwrap();
    sst = state(&sub, &sa);
    let seen = p.read("email_sub", &sst).await.unwrap().unwrap();
    assert_eq!(seen.properties.get("filter_policy"), None);
    assert_eq!(seen.properties["raw_message_delivery"], false);
    assert_reads_back(sub.kind, &sub.properties, &seen.properties);
    assert_recovers(&p, "email_sub", &sst).await;

    delete_twice(&p, "email_sub", &sst).await;
    delete_twice(&p, "email", &qst).await;
    delete_twice(&p, "topic", &tst).await;
}

/// A role Lambda can assume, created through the provider.
async fn lambda_role(p: &AwsProvider, s: &str) -> (String, ResourceState) {
    let r = resolved(
        "iam.role",
        s,
        "fn_role",
        Some(format!("{s}-fn_role")),
        json!({"assume_role_policy": lambda_trust()}),
    );
    let a = p.create(&r).await.unwrap();
    (
        a.attributes["arn"].as_str().unwrap().to_string(),
        state(&r, &a),
    )
}

/// A function's `code` as the CLI gives it: a placeholder zip on disk
/// (`marker` changes its bytes) with its SHA-256.
fn code(s: &str, marker: &str) -> Value {
    let zip = zip_file(s, marker);
    let sha256 = sha256_hex(std::path::Path::new(&zip));
    json!({"zip": zip, "sha256": sha256})
}

/// A placeholder function zip on disk; `marker` changes its bytes.
fn zip_file(s: &str, marker: &str) -> String {
    let dir = std::env::temp_dir().join(format!("archform-cm-{s}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{marker}.zip"));
    let script = format!("#!/bin/sh\necho {marker}\n");
    std::fs::write(
        &path,
        archform_testkit::zip::build(&[("bootstrap", script.as_bytes(), 0o755)]),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// The two function properties a read takes from answers of their own, as
/// the emulator holds them, asked through the SDK: GetFunctionConcurrency's
/// reserved concurrency and GetFunction's LoggingConfig log group. These,
/// not archform's read, are what the read is checked against.
struct Held {
    reserved_concurrency: Option<i64>,
    /// `None` also when the emulator reports no LoggingConfig at all.
    log_group: Option<String>,
    /// AWS always reports a LoggingConfig; moto 5.x never does.
    reports_logging: bool,
}

async fn held(lambda: &aws_sdk_lambda::Client, name: &str) -> Held {
    let c = lambda
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let f = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let logging = f.configuration().and_then(|c| c.logging_config());
    // Lambda's own group is what leaving `log_group` out means.
    let own = format!("/aws/lambda/{name}");
    Held {
        reserved_concurrency: c.reserved_concurrent_executions().map(i64::from),
        log_group: logging
            .and_then(|l| l.log_group())
            .filter(|g| *g != own)
            .map(String::from),
        reports_logging: logging.is_some(),
    }
}

/// archform's read reports what the emulator holds. Where the emulator
/// reports no LoggingConfig, the log group cannot be checked against it:
/// the read then gives back the applied group (the provider's documented
/// emulator fallback), and the test says so.
fn assert_read_as_held(seen: &Value, applied: &Value, h: &Held) {
    assert_eq!(
        seen.get("reserved_concurrency").and_then(Value::as_i64),
        h.reserved_concurrency,
        "reserved_concurrency: the read differs from GetFunctionConcurrency"
    );
    if h.reports_logging {
        assert_eq!(
            seen.get("log_group").and_then(Value::as_str),
            h.log_group.as_deref(),
            "log_group: the read differs from GetFunction's LoggingConfig"
        );
    } else {
        eprintln!(
            "the emulator reports no LoggingConfig: log_group is not checked against it \
             (the read echoes the applied value)"
        );
        assert_eq!(seen.get("log_group"), applied.get("log_group"));
    }
}

/// `st` with its reserved concurrency and log group as the emulator holds
/// them: what a read without the applied properties (`state recover`) must
/// report.
fn as_held(st: &ResourceState, h: &Held) -> ResourceState {
    let mut st = st.clone();
    let props = st.properties.as_object_mut().unwrap();
    let mut set = |k: &str, v: Option<Value>| match v {
        Some(v) => {
            props.insert(k.to_string(), v);
        }
        None => {
            props.remove(k);
        }
    };
    set(
        "reserved_concurrency",
        h.reserved_concurrency.map(Value::from),
    );
    set("log_group", h.log_group.clone().map(Value::from));
    st
}

#[tokio::test]
async fn lambda_function_lifecycle() {
    let (p, config) = provider().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let s = stack("fn");
    let (role_arn, role_st) = lambda_role(&p, &s).await;
    let name = format!("{s}-worker");
    let mut r = resolved(
        "lambda.function",
        &s,
        "worker",
        Some(name.clone()),
        json!({"role": role_arn, "code": code(&s, "one"), "runtime": "provided.al2023",
               "handler": "bootstrap", "architecture": "x86_64", "memory_size": 256, "timeout": 10,
               "environment": {"TABLE": "t1"}, "log_group": format!("/archform/{s}-worker_logs"),
               "reserved_concurrency": 5, "description": "first"}),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    assert_eq!(a.physical_id, name);
    let arn = a.attributes["arn"].as_str().unwrap();
    assert_eq!(
        a.attributes["invoke_arn"],
        format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
            .as_str()
    );
    let f = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(f.tags().unwrap()["archform:id"], "worker");
    let seen = p.read("worker", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(
        seen.properties["code"],
        json!({"sha256": r.properties["code"]["sha256"]})
    );
    let group = format!("/archform/{s}-worker_logs");
    let h = held(&lambda, &name).await;
    assert_eq!(h.reserved_concurrency, Some(5), "GetFunctionConcurrency");
    if h.reports_logging {
        assert_eq!(h.log_group.as_deref(), Some(&*group), "GetFunction");
    }
    assert_read_as_held(&seen.properties, &r.properties, &h);
    assert_recovers(&p, "worker", &as_held(&st, &h)).await;

    // In place: code, configuration and tags.
    r.properties["code"] = code(&s, "two");
    r.properties["memory_size"] = json!(512);
    r.properties["environment"] = json!({"TABLE": "t2", "MODE": "x"});
    r.tags.insert("team".into(), "core".into());
    let before = f
        .configuration()
        .unwrap()
        .code_sha256()
        .unwrap()
        .to_string();
    let changed: Vec<String> = ["code", "memory_size", "environment", "tags"]
        .map(String::from)
        .to_vec();
    let a2 = p.update(&r, &st, &changed).await.unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let f = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    let conf = f.configuration().unwrap();
    assert_ne!(conf.code_sha256().unwrap(), before, "new code uploaded");
    assert_eq!(conf.memory_size(), Some(512));
    assert_eq!(
        conf.environment().unwrap().variables().unwrap()["MODE"],
        "x"
    );
    assert_eq!(f.tags().unwrap()["team"], "core");
    let seen = p.read("worker", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    let h = held(&lambda, &name).await;
    assert_eq!(h.reserved_concurrency, Some(5), "GetFunctionConcurrency");
    assert_read_as_held(&seen.properties, &r.properties, &h);
    assert_recovers(&p, "worker", &as_held(&st, &h)).await;

    // Memory and environment left out go back to Lambda's default and none.
    for k in ["memory_size", "environment"] {
        r.properties.as_object_mut().unwrap().remove(k);
    }
    let changed: Vec<String> = ["memory_size", "environment"].map(String::from).to_vec();
    let a3 = p.update(&r, &st, &changed).await.unwrap();
    st = state(&r, &a3);
    let seen = p.read("worker", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.properties["memory_size"], 128);
    let h = held(&lambda, &name).await;
    assert_read_as_held(&seen.properties, &r.properties, &h);
    assert_recovers(&p, "worker", &as_held(&st, &h)).await;
    delete_twice(&p, "worker", &st).await;

    // A function in a VPC: delete detaches the VPC configuration first.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.77.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let sg = ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name(format!("{s}-fn"))
        .description("fn")
        .send()
        .await
        .unwrap();
    let sg_id = sg.group_id().unwrap().to_string();
    let v = resolved(
        "lambda.function",
        &s,
        "web",
        Some(format!("{s}-web")),
        json!({"role": role_arn, "code": code(&s, "one"),
               "vpc_config": {"subnet_ids": [subnet_id], "security_group_ids": [sg_id]}}),
    );
    let (_, vst) = create_twice(&p, &v).await;
    let seen = p.read("web", &vst).await.unwrap().unwrap();
    assert_reads_back(v.kind, &v.properties, &seen.properties);
    assert_eq!(
        seen.properties["vpc_config"]["subnet_ids"],
        json!([subnet_id])
    );
    assert_recovers(&p, "web", &vst).await;
    delete_twice(&p, "web", &vst).await;
    ec2.delete_security_group()
        .group_id(&sg_id)
        .send()
        .await
        .unwrap();
    ec2.delete_subnet()
        .subnet_id(&subnet_id)
        .send()
        .await
        .unwrap();
    ec2.delete_vpc().vpc_id(&vpc_id).send().await.unwrap();

    // Code that still has to be built is refused with a clear message.
    let unbuilt = resolved(
        "lambda.function",
        &s,
        "unbuilt",
        Some(format!("{s}-unbuilt")),
        json!({"role": role_arn, "code": {"package": "notify", "bin": "ingest"}}),
    );
    match p.create(&unbuilt).await {
        Err(ProviderError::Invalid(m)) => assert!(
            m.contains("archform build") && m.contains("--code-override"),
            "{m}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    p.delete("fn_role", &role_st).await.unwrap();
}

#[tokio::test]
async fn lambda_wiring_lifecycle() {
    let (p, config) = provider().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let s = stack("wire");
    let (role_arn, role_st) = lambda_role(&p, &s).await;
    let f = resolved(
        "lambda.function",
        &s,
        "worker",
        Some(format!("{s}-worker")),
        json!({"role": role_arn, "code": code(&s, "one"), "timeout": 30}),
    );
    let fa = p.create(&f).await.unwrap();
    let fst = state(&f, &fa);
    let fname = fa.attributes["name"].as_str().unwrap().to_string();
    let q = resolved(
        "sqs.queue",
        &s,
        "jobs",
        Some(format!("{s}-jobs")),
        json!({"visibility_timeout": 180}),
    );
    let qa = p.create(&q).await.unwrap();
    let qst = state(&q, &qa);
    let qarn = qa.attributes["arn"].as_str().unwrap().to_string();

    // Permission for a load balancer target group.
    let perm = resolved(
        "lambda.permission",
        &s,
        "alb_invoke",
        None,
        json!({"function_name": fname, "principal": "elasticloadbalancing.amazonaws.com",
               "action": "lambda:InvokeFunction",
               "source_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef"}),
    );
    let (pa, pst) = create_twice(&p, &perm).await;
    assert_eq!(pa.physical_id, format!("{fname}|{s}-alb_invoke"));
    let policy = lambda
        .get_policy()
        .function_name(&fname)
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"].as_array().unwrap().len(),
        1,
        "no duplicate statement"
    );
    let seen = p.read("alb_invoke", &pst).await.unwrap().unwrap();
    assert_reads_back(perm.kind, &perm.properties, &seen.properties);
    assert_eq!(
        seen.properties["principal"],
        "elasticloadbalancing.amazonaws.com"
    );
    assert_eq!(seen.properties["action"], "lambda:InvokeFunction");
    assert_recovers(&p, "alb_invoke", &pst).await;
    // A function URL's pair of permissions.
    let url_perm = resolved(
        "lambda.permission",
        &s,
        "url_invoke",
        None,
        json!({"function_name": fname, "principal": "*", "action": "lambda:InvokeFunction",
               "invoked_via_function_url": true}),
    );
    let (_, upst) = create_twice(&p, &url_perm).await;
    let url_perm2 = resolved(
        "lambda.permission",
        &s,
        "url_invoke_url",
        None,
        json!({"function_name": fname, "principal": "*", "action": "lambda:InvokeFunctionUrl",
               "function_url_auth_type": "NONE"}),
    );
    let (_, upst2) = create_twice(&p, &url_perm2).await;
    for (id, r, st) in [
        ("url_invoke", &url_perm, &upst),
        ("url_invoke_url", &url_perm2, &upst2),
    ] {
        let seen = p.read(id, st).await.unwrap().unwrap();
        assert_reads_back(r.kind, &r.properties, &seen.properties);
        assert_recovers(&p, id, st).await;
    }
    // Nothing is in place for permissions: update is a no-op.
    assert_eq!(p.update(&perm, &pst, &[]).await.unwrap(), pa);
    delete_twice(&p, "alb_invoke", &pst).await;
    delete_twice(&p, "url_invoke", &upst).await;
    delete_twice(&p, "url_invoke_url", &upst2).await;

    // Event source mapping.
    let mut esm = resolved(
        "lambda.event_source_mapping",
        &s,
        "jobs_events",
        None,
        json!({"function_name": fname, "event_source_arn": qarn, "batch_size": 10,
               "maximum_concurrency": 5, "report_batch_item_failures": true}),
    );
    let (ea, mut est) = create_twice(&p, &esm).await;
    let listed = lambda
        .list_event_source_mappings()
        .function_name(&fname)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.event_source_mappings().len(),
        1,
        "no duplicate mapping"
    );
    let seen = p.read("jobs_events", &est).await.unwrap().unwrap();
    assert_reads_back(esm.kind, &esm.properties, &seen.properties);
    assert_recovers(&p, "jobs_events", &est).await;
    esm.properties["batch_size"] = json!(5);
    esm.properties["maximum_batching_window_seconds"] = json!(2);
    let ea2 = p
        .update(
            &esm,
            &est,
            &[
                "batch_size".to_string(),
                "maximum_batching_window_seconds".to_string(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ea2, ea);
    est = state(&esm, &ea2);
    let seen = p.read("jobs_events", &est).await.unwrap().unwrap();
    assert_reads_back(esm.kind, &esm.properties, &seen.properties);
    assert_eq!(seen.properties["batch_size"], 5);
    assert_eq!(seen.properties["maximum_batching_window_seconds"], 2);
    assert_recovers(&p, "jobs_events", &est).await;
    delete_twice(&p, "jobs_events", &est).await;

    // Function URL.
    let mut url = resolved(
        "lambda.function_url",
        &s,
        "worker_url",
        None,
        json!({"function_name": fname, "auth_type": "AWS_IAM"}),
    );
    let (ua, mut ust) = create_twice(&p, &url).await;
    assert!(
        ua.attributes["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(ua.attributes["arn"], fa.attributes["arn"]);
    let seen = p.read("worker_url", &ust).await.unwrap().unwrap();
    assert_reads_back(url.kind, &url.properties, &seen.properties);
    assert_recovers(&p, "worker_url", &ust).await;
    url.properties["auth_type"] = json!("NONE");
    let ua2 = p
        .update(&url, &ust, &["auth_type".to_string()])
        .await
        .unwrap();
    assert_eq!(ua2.attributes["url"], ua.attributes["url"]);
    ust = state(&url, &ua2);
    let seen = p.read("worker_url", &ust).await.unwrap().unwrap();
    assert_reads_back(url.kind, &url.properties, &seen.properties);
    assert_eq!(seen.properties["auth_type"], "NONE");
    assert_recovers(&p, "worker_url", &ust).await;
    delete_twice(&p, "worker_url", &ust).await;

    delete_twice(&p, "worker", &fst).await;
    // With the function gone, its permissions and URL count as deleted.
    p.delete("alb_invoke", &pst).await.unwrap();
    p.delete("worker_url", &ust).await.unwrap();
    delete_twice(&p, "jobs", &qst).await;
    p.delete("fn_role", &role_st).await.unwrap();
}

/// A create that was cut off before its answer was saved leaves state with
/// no physical id: read and delete find the resource by its name.
#[tokio::test]
async fn named_kinds_are_found_without_a_physical_id() {
    let (p, _) = provider().await;
    let s = stack("lost");
    let cases = [
        resolved(
            "sqs.queue",
            &s,
            "q",
            Some(format!("{s}-q")),
            json!({"delay_seconds": 1}),
        ),
        resolved(
            "sns.topic",
            &s,
            "t",
            Some(format!("{s}-t")),
            json!({"display_name": "T"}),
        ),
        resolved(
            "iam.role",
            &s,
            "r",
            Some(format!("{s}-r")),
            json!({"assume_role_policy": lambda_trust()}),
        ),
        resolved(
            "logs.log_group",
            &s,
            "l",
            Some(format!("/archform/{s}-l")),
            json!({"retention_in_days": 7}),
        ),
        resolved(
            "secretsmanager.secret",
            &s,
            "x",
            Some(format!("{s}-x")),
            json!({"description": "d"}),
        ),
    ];
    for r in &cases {
        let a = p
            .create(r)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", r.kind.name));
        let mut lost = state(r, &a);
        lost.physical_id = None;
        lost.status = ResourceStatus::Creating;
        let seen = p.read(&r.id, &lost).await.unwrap();
        assert_eq!(
            seen.map(|o| o.applied.physical_id),
            Some(a.physical_id.clone()),
            "{}",
            r.kind.name
        );
        p.delete(&r.id, &lost)
            .await
            .unwrap_or_else(|e| panic!("delete {}: {e}", r.kind.name));
        assert!(
            p.read(&r.id, &lost).await.unwrap().is_none(),
            "{} deleted by name",
            r.kind.name
        );
        p.delete(&r.id, &lost).await.unwrap();
    }
}

#[tokio::test]
async fn ses_email_identity_lifecycle() {
    let (p, config) = provider().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let s = stack("ses");
    let address = format!("noreply@{s}.example.com");
    let mut r = resolved(
        "ses.email_identity",
        &s,
        "sender",
        None,
        json!({"email_identity": address}),
    );
    let (a, mut st) = create_twice(&p, &r).await;
    assert_eq!(a.physical_id, address);
    assert_eq!(a.attributes["name"], address.as_str());
    let arn = a.attributes["arn"].as_str().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:ses:") && arn.ends_with(&format!(":identity/{address}")),
        "{arn}"
    );
    // The identity exists in SES, tagged with the stack.
    ses.get_email_identity()
        .email_identity(&address)
        .send()
        .await
        .expect("the identity exists");
    let tags = ses
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "archform:id" && t.value() == "sender"),
        "{tags:?}"
    );
    let seen = p.read("sender", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_eq!(seen.applied, a);
    assert_recovers(&p, "sender", &st).await;

    // Tags change in place.
    r.tags.insert("team".into(), "mail".into());
    let a2 = p.update(&r, &st, &["tags".to_string()]).await.unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let tags = ses
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "mail"),
        "{tags:?}"
    );
    delete_twice(&p, "sender", &st).await;
    assert!(
        ses.get_email_identity()
            .email_identity(&address)
            .send()
            .await
            .is_err(),
        "the identity is gone"
    );
}
