//! The S3 state backend against the emulator: lock contention, `If-Match`
//! conflicts, round trip with backup, unlock and force unlock, and the
//! journal: records as small objects, replayed on load, compacted, fenced.

use archform_aws::{Clients, S3Backend};
use archform_engine::state::{
    Change, ResourceState, ResourceStatus, State, StateBackend, StateError,
};
use archform_testkit::{sdk_config, test_endpoint};
use std::sync::atomic::{AtomicU64, Ordering};

async fn backend(tag: &str) -> (S3Backend, aws_sdk_s3::Client) {
    static N: AtomicU64 = AtomicU64::new(0);
    let config = sdk_config(&test_endpoint()).await;
    let s3 = Clients::new(&config).s3;
    let bucket = format!(
        "archform-state-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    (
        S3Backend::from_url(s3.clone(), &format!("s3://{bucket}/team/states")).unwrap(),
        s3,
    )
}

async fn object(s3: &aws_sdk_s3::Client, b: &S3Backend, key: &str) -> Option<Vec<u8>> {
    let r = s3
        .get_object()
        .bucket(b.bucket())
        .key(key)
        .send()
        .await
        .ok()?;
    Some(r.body.collect().await.unwrap().into_bytes().to_vec())
}

#[tokio::test]
async fn round_trip_with_backup_and_list() {
    let (b, s3) = backend("rt").await;
    assert!(b.load("demo").await.unwrap().is_none());
    assert!(b.list().await.unwrap().is_empty());
    let lock = b.lock("demo", "deploy").await.unwrap();
    let mut s = State::new("demo", "chat");
    b.save(&lock, &mut s).await.unwrap();
    assert_eq!(s.serial, 1);
    assert!(object(&s3, &b, &b.backup_key("demo")).await.is_none());
    s.parameters.insert("env".into(), "dev".into());
    b.save(&lock, &mut s).await.unwrap();
    assert_eq!(s.serial, 2);
    let loaded = b.load("demo").await.unwrap().unwrap();
    assert_eq!(loaded, s);
    let backup: State =
        serde_json::from_slice(&object(&s3, &b, &b.backup_key("demo")).await.unwrap()).unwrap();
    assert_eq!(backup.serial, 1);
    assert!(backup.parameters.is_empty());
    assert_eq!(b.state_key("demo"), "team/states/demo.json");
    assert_eq!(b.list().await.unwrap(), vec!["demo".to_string()]);
    b.unlock(lock).await.unwrap();
    assert!(object(&s3, &b, &b.lock_key("demo")).await.is_none());
}

#[tokio::test]
async fn second_locker_is_told_who_holds_it() {
    let (b, s3) = backend("lock").await;
    let lock = b.lock("demo", "deploy").await.unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&object(&s3, &b, &b.lock_key("demo")).await.unwrap()).unwrap();
    assert_eq!(record["id"], lock.info.id.as_str());
    assert_eq!(record["operation"], "deploy");
    assert!(record["who"].as_str().unwrap().contains('@'));
    assert!(record["when"].as_str().unwrap().ends_with('Z'));

    // A second run (another process: its own backend) is refused, naming us.
    let other =
        S3Backend::from_url(s3.clone(), &format!("s3://{}/team/states", b.bucket())).unwrap();
    let err = other.lock("demo", "destroy").await.unwrap_err();
    match &err {
        StateError::Locked {
            holder: Some(h), ..
        } => assert_eq!(h.id, lock.info.id),
        e => panic!("expected Locked naming the holder, got {e:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`deploy`") && msg.contains(&lock.info.id),
        "{msg}"
    );
    // Another stack is independent.
    let l2 = other.lock("other", "deploy").await.unwrap();
    other.unlock(l2).await.unwrap();

    // Only our own lock is released by unlock.
    b.unlock(lock).await.unwrap();
    let again = other.lock("demo", "destroy").await.unwrap();
    other.unlock(again).await.unwrap();
}

#[tokio::test]
async fn stale_writers_get_a_conflict() {
    let (b, s3) = backend("conflict").await;
    let url = format!("s3://{}/team/states", b.bucket());
    let lock = b.lock("demo", "deploy").await.unwrap();
    let mut s = State::new("demo", "chat");
    b.save(&lock, &mut s).await.unwrap();

    // Two processes load the same version; the first to write wins.
    let p1 = S3Backend::from_url(s3.clone(), &url).unwrap();
    let p2 = S3Backend::from_url(s3.clone(), &url).unwrap();
    let mut a = p1.load("demo").await.unwrap().unwrap();
    let mut stale = p2.load("demo").await.unwrap().unwrap();
    a.parameters.insert("who".into(), "p1".into());
    p1.save(&lock, &mut a).await.unwrap();
    stale.parameters.insert("who".into(), "p2".into());
    let err = p2.save(&lock, &mut stale).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                on_disk: 2,
                loaded: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(stale.serial, 1, "a refused save leaves the serial alone");
    let stored = b.load("demo").await.unwrap().unwrap();
    assert_eq!(
        stored.parameters["who"], "p1",
        "the winner's write is intact"
    );

    // The ETag guard alone (same serial, content changed behind our back):
    // another writer replaced the object after p1 loaded it.
    let mut mine = p1.load("demo").await.unwrap().unwrap();
    let mut theirs = mine.clone();
    theirs.parameters.insert("who".into(), "outside".into());
    s3.put_object()
        .bucket(b.bucket())
        .key(b.state_key("demo"))
        .body(serde_json::to_vec(&theirs).unwrap().into())
        .send()
        .await
        .unwrap();
    let err = p1.save(&lock, &mut mine).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");

    // A different deployment's state is never overwritten.
    let mut foreign = State::new("demo", "chat");
    foreign.serial = 10;
    let fresh = S3Backend::from_url(s3.clone(), &url).unwrap();
    let err = fresh.save(&lock, &mut foreign).await.unwrap_err();
    assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");

    // Two first writes of a new stack: If-None-Match lets only one through.
    let mut n1 = State::new("fresh", "chat");
    let mut n2 = State::new("fresh", "chat");
    let lf = p1.lock("fresh", "deploy").await.unwrap();
    p1.save(&lf, &mut n1).await.unwrap();
    let err = p2.save(&lf, &mut n2).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::LineageMismatch { .. } | StateError::Conflict { .. }
        ),
        "{err}"
    );
    b.unlock(lock).await.unwrap();
}

#[tokio::test]
async fn force_unlock_needs_the_right_id() {
    let (b, s3) = backend("force").await;
    let lock = b.lock("demo", "deploy").await.unwrap();
    let id = lock.info.id.clone();
    // The run dies without unlocking: the lock object stays.
    drop(lock);
    assert!(matches!(
        b.lock("demo", "deploy").await.unwrap_err(),
        StateError::Locked { .. }
    ));
    assert!(matches!(
        b.force_unlock("demo", "not-the-id").await.unwrap_err(),
        StateError::LockIdMismatch { .. }
    ));
    assert!(object(&s3, &b, &b.lock_key("demo")).await.is_some());
    b.force_unlock("demo", &id).await.unwrap();
    assert!(object(&s3, &b, &b.lock_key("demo")).await.is_none());
    // Unlocking a free stack is not an error.
    b.force_unlock("demo", &id).await.unwrap();
    let again = b.lock("demo", "deploy").await.unwrap();
    // An unlock by a run whose lock was broken and retaken leaves the new
    // holder's lock alone.
    let stale = archform_engine::state::Lock::remote("demo", {
        let mut i = again.info.clone();
        i.id = id;
        i
    });
    assert!(matches!(
        b.unlock(stale).await.unwrap_err(),
        StateError::LockIdMismatch { .. }
    ));
    assert!(object(&s3, &b, &b.lock_key("demo")).await.is_some());
    b.unlock(again).await.unwrap();
}

fn queue(n: usize, status: ResourceStatus) -> ResourceState {
    ResourceState {
        kind: archform_blueprint::kinds::Kind::Queue,
        physical_id: (status == ResourceStatus::Created).then(|| format!("q-{n}")),
        physical_name: Some(format!("demo-q{n}")),
        properties: serde_json::json!({"visibility_timeout": n}),
        attributes: Default::default(),
        dependencies: vec![],
        tags: Default::default(),
        status,
    }
}

fn put(n: usize, status: ResourceStatus) -> Change {
    Change::Put {
        id: format!("q{n}"),
        resource: Box::new(queue(n, status)),
    }
}

async fn journal_keys(s3: &aws_sdk_s3::Client, b: &S3Backend) -> Vec<String> {
    let out = s3
        .list_objects_v2()
        .bucket(b.bucket())
        .prefix(b.journal_prefix("demo"))
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn records_are_small_objects_replayed_on_load_and_compacted() {
    let (b, s3) = backend("journal").await;
    let url = format!("s3://{}/team/states", b.bucket());
    let lock = b.lock("demo", "deploy").await.unwrap();
    // A state never written is written whole before its first record.
    let mut s = State::new("demo", "chat");
    b.record(&lock, &mut s, put(0, ResourceStatus::Creating))
        .await
        .unwrap();
    b.record(&lock, &mut s, put(0, ResourceStatus::Created))
        .await
        .unwrap();
    b.record(&lock, &mut s, put(1, ResourceStatus::Creating))
        .await
        .unwrap();
    assert_eq!(s.serial, 4);
    let whole: State =
        serde_json::from_slice(&object(&s3, &b, &b.state_key("demo")).await.unwrap()).unwrap();
    assert_eq!((whole.serial, whole.resources.len()), (1, 0));
    let keys = journal_keys(&s3, &b).await;
    assert_eq!(
        keys,
        [2, 3, 4].map(|n| b.journal_key("demo", n)),
        "one object per record, in serial order"
    );
    assert_eq!(
        b.journal_key("demo", 2),
        "team/states/demo.journal/00000000000000000002.json"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&object(&s3, &b, &keys[2]).await.unwrap()).unwrap();
    assert_eq!(record["op"], "put");
    assert_eq!(record["resource"]["status"], "creating");
    // Another process (its own backend) sees the records replayed: the
    // resource in flight says so.
    let other = S3Backend::from_url(s3.clone(), &url).unwrap();
    let loaded = other.load("demo").await.unwrap().unwrap();
    assert_eq!(loaded, s);
    assert_eq!(loaded.resources["q1"].status, ResourceStatus::Creating);
    assert_eq!(other.list().await.unwrap(), vec!["demo".to_string()]);

    // Compaction: one whole write, the records folded in and deleted; the
    // claim of its serial stays as the fence.
    b.record(&lock, &mut s, Change::Remove { id: "q0".into() })
        .await
        .unwrap();
    b.save(&lock, &mut s).await.unwrap();
    assert_eq!(s.serial, 6);
    assert_eq!(journal_keys(&s3, &b).await, [b.journal_key("demo", 6)]);
    let whole: State =
        serde_json::from_slice(&object(&s3, &b, &b.state_key("demo")).await.unwrap()).unwrap();
    assert_eq!(whole, s);
    let backup: State =
        serde_json::from_slice(&object(&s3, &b, &b.backup_key("demo")).await.unwrap()).unwrap();
    assert_eq!(backup.serial, 1, "the backup is the previous whole version");
    assert_eq!(other.load("demo").await.unwrap().unwrap(), s);
    // The next run journals on top; its compaction clears the old fence.
    b.record(&lock, &mut s, put(2, ResourceStatus::Creating))
        .await
        .unwrap();
    assert_eq!(other.load("demo").await.unwrap().unwrap(), s);
    b.save(&lock, &mut s).await.unwrap();
    assert_eq!(journal_keys(&s3, &b).await, [b.journal_key("demo", 8)]);
    assert_eq!(other.load("demo").await.unwrap().unwrap(), s);
    b.unlock(lock).await.unwrap();
}

#[tokio::test]
async fn stale_recorders_are_refused_before_their_call() {
    let (b, s3) = backend("fence").await;
    let url = format!("s3://{}/team/states", b.bucket());
    let lock = b.lock("demo", "deploy").await.unwrap();
    b.save(&lock, &mut State::new("demo", "chat"))
        .await
        .unwrap();
    let p1 = S3Backend::from_url(s3.clone(), &url).unwrap();
    let p2 = S3Backend::from_url(s3.clone(), &url).unwrap();

    // Two copies of one version: the serial's object is created once.
    let mut a = p1.load("demo").await.unwrap().unwrap();
    let mut stale = p2.load("demo").await.unwrap().unwrap();
    p1.record(&lock, &mut a, put(0, ResourceStatus::Creating))
        .await
        .unwrap();
    let before = stale.clone();
    let err = p2
        .record(&lock, &mut stale, put(9, ResourceStatus::Creating))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                on_disk: 2,
                loaded: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(stale, before, "a refused record leaves the copy alone");
    // Nor can the stale copy be written whole over the record.
    let err = p2.save(&lock, &mut stale).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert_eq!(p1.load("demo").await.unwrap().unwrap(), a);

    // A whole write by another run since our last record (its journal
    // objects deleted): the next record is refused, not written where no
    // load would replay it.
    let mut theirs = p2.load("demo").await.unwrap().unwrap();
    p2.save(&lock, &mut theirs).await.unwrap();
    let mut third = theirs.clone();
    p2.record(&lock, &mut third, put(3, ResourceStatus::Creating))
        .await
        .unwrap();
    p2.save(&lock, &mut third).await.unwrap();
    let err = p1
        .record(&lock, &mut a, put(1, ResourceStatus::Creating))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert_eq!(b.load("demo").await.unwrap().unwrap(), third);
    b.unlock(lock).await.unwrap();
}

#[tokio::test]
async fn damaged_or_orphaned_journals_are_errors_saying_what_to_do() {
    let (b, s3) = backend("damaged").await;
    let lock = b.lock("demo", "deploy").await.unwrap();
    let mut s = State::new("demo", "chat");
    b.record(&lock, &mut s, put(0, ResourceStatus::Creating))
        .await
        .unwrap();
    s3.put_object()
        .bucket(b.bucket())
        .key(b.journal_key("demo", 3))
        .body(b"{not json".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = b.load("demo").await.unwrap_err();
    assert!(matches!(err, StateError::Journal { .. }), "{err}");
    assert!(err.to_string().contains("demo.journal"), "{err}");
    s3.delete_object()
        .bucket(b.bucket())
        .key(b.journal_key("demo", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(b.load("demo").await.unwrap().unwrap(), s);
    // The state object lost, its journal left: refused, not an empty stack.
    s3.delete_object()
        .bucket(b.bucket())
        .key(b.state_key("demo"))
        .send()
        .await
        .unwrap();
    let err = b.load("demo").await.unwrap_err();
    assert!(
        matches!(err, StateError::JournalWithoutState { .. }),
        "{err}"
    );
    // A state written afresh (as `state recover` does) starts the stack
    // over and clears what the lost one left.
    let mut fresh = State::new("demo", "chat");
    b.save(&lock, &mut fresh).await.unwrap();
    assert!(journal_keys(&s3, &b).await.is_empty());
    assert_eq!(b.load("demo").await.unwrap().unwrap(), fresh);
    b.unlock(lock).await.unwrap();
}
