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
        kind: kind.into(),
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
