//! `archform state ...` and `--state s3://...` through the built binary,
//! against the emulator: list, show, outputs, rm and unlock on S3 state, and
//! rm on local state.

use archform_aws::{Clients, S3Backend};
use archform_engine::state::{LocalBackend, ResourceState, ResourceStatus, State, StateBackend};
use archform_testkit::{sdk_config, test_endpoint};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

static N: AtomicU64 = AtomicU64::new(0);

fn unique(tag: &str) -> String {
    format!(
        "archform-cli-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn archform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archform"))
        .args(args)
        .env_remove("ARCHFORM_STATE")
        .output()
        .expect("runs archform")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn resource(kind: &str, pid: &str, deps: &[&str]) -> ResourceState {
    ResourceState {
        kind: archform_blueprint::kinds::Kind::from_name(kind).unwrap(),
        physical_id: Some(pid.into()),
        physical_name: None,
        properties: serde_json::json!({}),
        attributes: Default::default(),
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        tags: Default::default(),
        status: ResourceStatus::Created,
    }
}

fn sample(stack: &str) -> State {
    let mut s = State::new(stack, "url-shortener");
    s.resources
        .insert("vpc".into(), resource("ec2.vpc", "vpc-123", &[]));
    s.resources.insert(
        "subnet".into(),
        resource("ec2.subnet", "subnet-456", &["vpc"]),
    );
    s.outputs.insert("url".into(), "https://example".into());
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_state_through_the_cli() {
    let endpoint = test_endpoint();
    let config = sdk_config(&endpoint).await;
    let s3 = Clients::new(&config).s3;
    let bucket = unique("s3");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let url = format!("s3://{bucket}/states");
    let b = S3Backend::from_url(s3.clone(), &url).unwrap();
    let lock = b.lock("demo", "deploy").await.unwrap();
    b.save(&lock, &mut sample("demo")).await.unwrap();
    let remote = ["--endpoint", endpoint.as_str(), "--state", url.as_str()];

    let o = archform(&[&["state", "list"][..], &remote].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "demo");
    let o = archform(&[&["state", "show", "--stack", "demo"][..], &remote].concat());
    assert!(text(&o).contains("subnet-456"), "{}", text(&o));
    let o = archform(&[&["outputs", "--stack", "demo"][..], &remote].concat());
    assert!(text(&o).contains("https://example"), "{}", text(&o));

    // The lock held above (a run that died) blocks state changes, and the
    // error says how to remove it.
    let o = archform(
        &[
            &["state", "rm", "--stack", "demo", "--id", "subnet"][..],
            &remote,
        ]
        .concat(),
    );
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(
        msg.contains("locked") && msg.contains(&format!("--lock-id {}", lock.info.id)),
        "{msg}"
    );
    let o = archform(
        &[
            &["state", "unlock", "--stack", "demo", "--lock-id", "wrong"][..],
            &remote,
        ]
        .concat(),
    );
    assert!(!o.status.success(), "{}", text(&o));
    let o = archform(
        &[
            &[
                "state",
                "unlock",
                "--stack",
                "demo",
                "--lock-id",
                &lock.info.id,
            ][..],
            &remote,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));

    let o = archform(
        &[
            &["state", "rm", "--stack", "demo", "--id", "vpc"][..],
            &remote,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("Forgot vpc (ec2.vpc, vpc-123)"), "{msg}");
    assert!(msg.contains("subnet"), "dependents are named: {msg}");
    let after = b.load("demo").await.unwrap().unwrap();
    assert!(!after.resources.contains_key("vpc"));
    assert!(after.resources["subnet"].dependencies.is_empty());
    assert!(b.holder("demo").await.unwrap().is_none(), "rm unlocks");

    let o = archform(
        &[
            &["state", "rm", "--stack", "demo", "--id", "nope"][..],
            &remote,
        ]
        .concat(),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no resource `nope`"), "{}", text(&o));
}

#[test]
fn local_state_rm_prints_what_was_forgotten() {
    let dir = std::env::temp_dir().join(unique("local"));
    let b = LocalBackend::new(&dir);
    let lock = b.lock_sync("demo", "deploy").unwrap();
    b.save_sync(&lock, &mut sample("demo")).unwrap();
    b.unlock_sync(lock).unwrap();
    let d = dir.to_str().unwrap();
    let o = archform(&[
        "--output",
        "json",
        "state",
        "rm",
        "--stack",
        "demo",
        "--id",
        "subnet",
        "--state-dir",
        d,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["forgotten"]["subnet"]["physical_id"], "subnet-456");
    let s = b.load_sync("demo").unwrap().unwrap();
    assert_eq!(s.resources.keys().collect::<Vec<_>>(), ["vpc"]);
    assert_eq!(s.serial, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_rebuilds_a_lost_state_from_tags() {
    let endpoint = test_endpoint();
    let config = sdk_config(&endpoint).await;
    let c = Clients::new(&config);
    let stack = unique("rec").replace("archform-cli-", "r");
    let q = c
        .sqs
        .create_queue()
        .queue_name(format!("{stack}-jobs"))
        .tags("archform:stack", &stack)
        .tags("archform:id", "jobs")
        .send()
        .await
        .unwrap();
    let role = format!("{stack}-role");
    c.iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("archform:stack")
                .value(&stack)
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("archform:id")
                .value("role")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(unique("recover"));
    let d = dir.to_str().unwrap();
    let args = [
        "state",
        "recover",
        "--stack",
        &stack,
        "--blueprint",
        "notifications",
        "--endpoint",
        &endpoint,
        "--state-dir",
        d,
    ];
    let o = archform(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Recovered 2 resources"), "{}", text(&o));
    let s = LocalBackend::new(&dir).load_sync(&stack).unwrap().unwrap();
    assert_eq!(s.blueprint, "notifications");
    assert_eq!(s.serial, 1);
    let jobs = &s.resources["jobs"];
    assert_eq!(jobs.kind.name(), "sqs.queue");
    assert_eq!(jobs.physical_id.as_deref(), q.queue_url());
    assert_eq!(jobs.status, ResourceStatus::Created);
    assert_eq!(s.resources["role"].kind.name(), "iam.role");
    assert_eq!(s.resources["role"].physical_id.as_deref(), Some(&*role));

    // An existing state is only replaced on request, continuing its lineage.
    let o = archform(&args);
    assert!(!o.status.success());
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let o = archform(&[&args[..], &["--force"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let again = LocalBackend::new(&dir).load_sync(&stack).unwrap().unwrap();
    assert_eq!((again.serial, &again.lineage), (2, &s.lineage));
    let _ = std::fs::remove_dir_all(&dir);
}
