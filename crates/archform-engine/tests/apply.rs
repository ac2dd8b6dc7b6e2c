//! The apply driver against an in-memory provider: convergence, failure
//! isolation, adoption after a crash between the AWS call and the state
//! save, and destroy order.

use archform_blueprint::{Graph, StackRequest, compile};
use archform_engine::apply::{self, ApplyOptions, Event, StepOutcome};
use archform_engine::dag::{CancelToken, Direction};
use archform_engine::plan::{self, Action};
use archform_engine::provider::{
    Applied, BoxFuture, Observed, Provider, ProviderError, ProviderResult, Resolved,
};
use archform_engine::state::{LocalBackend, ResourceState, State, StateBackend};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const BLUEPRINT: &str = r#"name: apply-test
description: queues and a table
---
resources:
  dlq:
    kind: sqs.queue
    properties: {sqs_managed_sse: true}
  jobs:
    kind: sqs.queue
    properties:
      sqs_managed_sse: true
      redrive_policy: {dead_letter_target_arn: "${dlq.arn}", max_receive_count: 5}
  links:
    kind: dynamodb.table
    properties:
      partition_key: {name: code, type: S}
      sse_enabled: true
"#;

fn graph(dir: &std::path::Path, visibility: Option<i64>) -> Graph {
    let text = match visibility {
        Some(v) => BLUEPRINT.replace(
            "sqs_managed_sse: true\n      redrive",
            &format!("sqs_managed_sse: true\n      visibility_timeout: {v}\n      redrive"),
        ),
        None => BLUEPRINT.to_string(),
    };
    let path = dir.join("bp.yaml");
    std::fs::write(&path, text).unwrap();
    compile(&StackRequest {
        blueprint: Some(path.to_string_lossy().into_owned()),
        stack: Some("demo".into()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Resources live in a map keyed by logical id; `fail` makes creates of
/// these ids fail, `lose_answer` makes a create happen but report an error
/// (a crash after the AWS call, before the state save). With `watch_state`
/// set, every call first reads the stored state (as a run started after a
/// crash at that moment would) and notes the resource's status in it.
///
/// Every create, update and delete CALL is recorded, whatever it did: a
/// create that found its resource already live (an adoption) is recorded
/// too, so a test sees an engine that calls twice even though the fake,
/// like a real provider, would not make a second resource.
#[derive(Default)]
struct Fake {
    live: Mutex<IndexMap<String, Value>>,
    fail: Mutex<BTreeSet<String>>,
    lose_answer: Mutex<BTreeSet<String>>,
    /// Logical ids of every create call, in call order.
    create_calls: Mutex<Vec<String>>,
    /// Logical ids of the create calls that made a new resource.
    made: Mutex<Vec<String>>,
    /// Logical ids of the create calls that found their resource live.
    adopted: Mutex<Vec<String>>,
    /// Logical ids of every update call, in call order.
    update_calls: Mutex<Vec<String>>,
    deleted_order: Mutex<Vec<String>>,
    watch_state: Mutex<Option<std::path::PathBuf>>,
    stored_at_call: Mutex<Vec<(&'static str, String, Option<String>)>>,
}

/// How many times each id occurs in `calls`.
fn per_id(calls: &Mutex<Vec<String>>) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for id in calls.lock().unwrap().iter() {
        *n.entry(id.clone()).or_default() += 1;
    }
    n
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(id, n)| (id.to_string(), *n)).collect()
}

impl Fake {
    fn note(&self, call: &'static str, id: &str) {
        let Some(dir) = self.watch_state.lock().unwrap().clone() else {
            return;
        };
        let stored = LocalBackend::new(dir).load_sync("demo").unwrap();
        let status = stored.and_then(|s| s.resources.get(id).map(|r| format!("{:?}", r.status)));
        self.stored_at_call
            .lock()
            .unwrap()
            .push((call, id.to_string(), status));
    }

    fn attrs(id: &str) -> Applied {
        let mut attributes = IndexMap::new();
        attributes.insert("arn".into(), Value::from(format!("arn:fake:{id}")));
        attributes.insert("name".into(), Value::from(format!("demo-{id}")));
        attributes.insert("url".into(), Value::from(format!("https://fake/{id}")));
        Applied {
            physical_id: format!("phys-{id}"),
            attributes,
        }
    }
}

impl Provider for Fake {
    fn pseudo(&self) -> BoxFuture<'_, ProviderResult<IndexMap<String, Value>>> {
        Box::pin(async { Ok(IndexMap::new()) })
    }
    fn create<'a>(&'a self, d: &'a Resolved) -> BoxFuture<'a, ProviderResult<Applied>> {
        Box::pin(async move {
            self.note("create", &d.id);
            self.create_calls.lock().unwrap().push(d.id.clone());
            if self.fail.lock().unwrap().contains(&d.id) {
                return Err(ProviderError::failed("injected failure"));
            }
            let mut live = self.live.lock().unwrap();
            if live.contains_key(&d.id) {
                self.adopted.lock().unwrap().push(d.id.clone());
            } else {
                self.made.lock().unwrap().push(d.id.clone());
                live.insert(d.id.clone(), d.properties.clone());
            }
            if self.lose_answer.lock().unwrap().remove(&d.id) {
                return Err(ProviderError::failed("connection lost after the call"));
            }
            Ok(Fake::attrs(&d.id))
        })
    }
    fn read<'a>(
        &'a self,
        id: &'a str,
        _: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        Box::pin(async move {
            Ok(self.live.lock().unwrap().get(id).map(|p| Observed {
                applied: Fake::attrs(id),
                properties: p.clone(),
            }))
        })
    }
    fn update<'a>(
        &'a self,
        d: &'a Resolved,
        _: &'a ResourceState,
        _: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Applied>> {
        Box::pin(async move {
            self.note("update", &d.id);
            self.update_calls.lock().unwrap().push(d.id.clone());
            self.live
                .lock()
                .unwrap()
                .insert(d.id.clone(), d.properties.clone());
            Ok(Fake::attrs(&d.id))
        })
    }
    fn delete<'a>(
        &'a self,
        id: &'a str,
        cur: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            self.note("delete", id);
            let mut live = self.live.lock().unwrap();
            let _ = cur;
            live.shift_remove(id);
            self.deleted_order.lock().unwrap().push(id.to_string());
            Ok(())
        })
    }
}

async fn deploy(dir: &std::path::Path, g: &Graph, fake: &Arc<Fake>) -> apply::ApplyReport {
    let backend = LocalBackend::new(dir.join("state"));
    let lock = backend.lock("demo", "deploy").await.unwrap();
    let state = backend
        .load("demo")
        .await
        .unwrap()
        .unwrap_or_else(|| State::new("demo", "apply-test"));
    let p = plan::plan(g, Some(&state), &IndexMap::new()).unwrap();
    let provider: Arc<dyn Provider> = fake.clone();
    let events: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(|_| {});
    let (_, report, backend, lock) = apply::apply(
        &p,
        state,
        backend,
        lock,
        provider,
        IndexMap::new(),
        ApplyOptions::default(),
        &CancelToken::new(),
        events,
    )
    .await
    .unwrap();
    backend.unlock(lock).await.unwrap();
    report
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("archform-apply-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn deploy_converges_and_a_second_deploy_changes_nothing() {
    let dir = tempdir("converge");
    let g = graph(&dir, None);
    let fake = Arc::new(Fake::default());
    let r = deploy(&dir, &g, &fake).await;
    assert!(r.is_success(), "{r:?}");
    let once = counts(&[("dlq", 1), ("jobs", 1), ("links", 1)]);
    assert_eq!(per_id(&fake.create_calls), once, "one create call per id");
    assert_eq!(per_id(&fake.made), once);
    assert_eq!(r.mutations, 3);
    let r2 = deploy(&dir, &g, &fake).await;
    assert!(r2.is_success());
    // The fake's own counters, not the engine's: a second deploy that
    // called create again (even one the provider would adopt) or update
    // shows here whatever the engine reports.
    assert_eq!(
        per_id(&fake.create_calls),
        once,
        "a no-op deploy must not call create"
    );
    assert!(
        fake.update_calls.lock().unwrap().is_empty(),
        "a no-op deploy must not call update: {:?}",
        fake.update_calls.lock().unwrap()
    );
    assert!(fake.deleted_order.lock().unwrap().is_empty());
    assert_eq!(
        r2.mutations, 0,
        "the engine's count agrees with the provider's"
    );
    // The redrive reference was resolved from the DLQ's attributes.
    let live = fake.live.lock().unwrap();
    assert_eq!(
        live["jobs"]["redrive_policy"]["dead_letter_target_arn"],
        "arn:fake:dlq"
    );
}

#[tokio::test]
async fn a_failed_step_skips_its_dependents_and_a_rerun_resumes() {
    let dir = tempdir("failure");
    let g = graph(&dir, None);
    let fake = Arc::new(Fake::default());
    fake.fail.lock().unwrap().insert("dlq".into());
    let r = deploy(&dir, &g, &fake).await;
    assert!(!r.is_success());
    let outcome = |id: &str| r.steps.iter().find(|s| s.id == id).unwrap().outcome.clone();
    assert!(matches!(outcome("dlq"), StepOutcome::Failed { .. }));
    assert!(matches!(outcome("jobs"), StepOutcome::Skipped { .. }));
    assert!(
        matches!(outcome("links"), StepOutcome::Done { .. }),
        "independent steps go on"
    );
    fake.fail.lock().unwrap().clear();
    let r = deploy(&dir, &g, &fake).await;
    assert!(r.is_success(), "{r:?}");
    // The failed create is retried once; what completed is not called again.
    assert_eq!(
        per_id(&fake.create_calls),
        counts(&[("dlq", 2), ("jobs", 1), ("links", 1)]),
        "create calls"
    );
    assert_eq!(
        per_id(&fake.made),
        counts(&[("dlq", 1), ("jobs", 1), ("links", 1)]),
        "no duplicates"
    );
    assert!(fake.adopted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let dir = tempdir("adopt");
    let g = graph(&dir, None);
    let fake = Arc::new(Fake::default());
    fake.lose_answer.lock().unwrap().insert("links".into());
    let r = deploy(&dir, &g, &fake).await;
    assert!(!r.is_success());
    let state = LocalBackend::new(dir.join("state"))
        .load("demo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        format!("{:?}", state.resources["links"].status),
        "Creating",
        "the in-flight status was saved before the call"
    );
    assert_eq!(
        per_id(&fake.create_calls),
        counts(&[("dlq", 1), ("jobs", 1), ("links", 1)])
    );
    let r = deploy(&dir, &g, &fake).await;
    assert!(r.is_success(), "{r:?}");
    // The rerun calls create once more for the cut-off resource, which the
    // provider adopts; nothing else is called again.
    assert_eq!(
        per_id(&fake.create_calls),
        counts(&[("dlq", 1), ("jobs", 1), ("links", 2)]),
        "create calls"
    );
    assert_eq!(*fake.adopted.lock().unwrap(), ["links"]);
    assert_eq!(
        per_id(&fake.made),
        counts(&[("dlq", 1), ("jobs", 1), ("links", 1)]),
        "each resource made once"
    );
    assert!(fake.update_calls.lock().unwrap().is_empty());
    assert_eq!(fake.live.lock().unwrap().len(), 3);
    // And the stack has converged: a third deploy calls nothing.
    let r = deploy(&dir, &g, &fake).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(fake.create_calls.lock().unwrap().len(), 4);
    assert!(fake.update_calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_property_change_updates_only_that_resource_and_destroy_goes_dependents_first() {
    let dir = tempdir("update");
    let fake = Arc::new(Fake::default());
    assert!(deploy(&dir, &graph(&dir, None), &fake).await.is_success());
    let g2 = graph(&dir, Some(120));
    let backend = LocalBackend::new(dir.join("state"));
    let state = backend.load("demo").await.unwrap().unwrap();
    let p = plan::plan(&g2, Some(&state), &IndexMap::new()).unwrap();
    let changed: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::NoOp))
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(changed, ["jobs"]);
    let creates_before = fake.create_calls.lock().unwrap().len();
    let r = deploy(&dir, &g2, &fake).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(*fake.update_calls.lock().unwrap(), ["jobs"]);
    assert_eq!(fake.create_calls.lock().unwrap().len(), creates_before);
    assert_eq!(r.mutations, 1);

    let state = backend.load("demo").await.unwrap().unwrap();
    let lock = backend.lock("demo", "destroy").await.unwrap();
    let p = apply::destroy_plan(&state);
    let provider: Arc<dyn Provider> = fake.clone();
    let options = ApplyOptions {
        direction: Direction::Reverse,
        ..Default::default()
    };
    let (state, report, _, _) = apply::apply(
        &p,
        state,
        backend,
        lock,
        provider,
        IndexMap::new(),
        options,
        &CancelToken::new(),
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    assert!(report.is_success());
    assert!(state.resources.is_empty());
    let order = fake.deleted_order.lock().unwrap().clone();
    let pos = |id: &str| order.iter().position(|x| x == id).unwrap();
    assert!(
        pos("jobs") < pos("dlq"),
        "the queue goes before its dead-letter queue: {order:?}"
    );
    assert!(fake.live.lock().unwrap().is_empty());
}

/// Each AWS call is made only once the stored state (its journal replayed)
/// says the call may be in flight; the run ends with the journal folded
/// into one whole state file.
#[tokio::test]
async fn every_call_is_journaled_before_it_is_made_and_the_run_compacts() {
    let dir = tempdir("journaled");
    let fake = Arc::new(Fake::default());
    *fake.watch_state.lock().unwrap() = Some(dir.join("state"));
    assert!(deploy(&dir, &graph(&dir, None), &fake).await.is_success());
    assert!(
        deploy(&dir, &graph(&dir, Some(120)), &fake)
            .await
            .is_success()
    );
    let backend = LocalBackend::new(dir.join("state"));
    assert!(
        !backend.journal_path("demo").exists(),
        "the end of the run folds the journal into the state file"
    );
    let file: State =
        serde_json::from_slice(&std::fs::read(backend.state_path("demo")).unwrap()).unwrap();
    assert_eq!(file, backend.load("demo").await.unwrap().unwrap());
    assert_eq!(file.resources.len(), 3);

    let state = file;
    let lock = backend.lock("demo", "destroy").await.unwrap();
    let p = apply::destroy_plan(&state);
    let provider: Arc<dyn Provider> = fake.clone();
    let options = ApplyOptions {
        direction: Direction::Reverse,
        ..Default::default()
    };
    let (state, report, _, _) = apply::apply(
        &p,
        state,
        backend,
        lock,
        provider,
        IndexMap::new(),
        options,
        &CancelToken::new(),
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    assert!(report.is_success());
    assert!(state.resources.is_empty());

    let seen = fake.stored_at_call.lock().unwrap().clone();
    let calls: Vec<(&str, &str)> = seen.iter().map(|(c, id, _)| (*c, id.as_str())).collect();
    assert_eq!(calls.len(), 3 + 1 + 3, "{calls:?}");
    for (call, id, status) in &seen {
        let wanted = match *call {
            "create" => "Creating",
            "update" => "Updating",
            _ => "Deleting",
        };
        assert_eq!(
            status.as_deref(),
            Some(wanted),
            "{call} of {id} was sent before the state said so"
        );
    }
}
