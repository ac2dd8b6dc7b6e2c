use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, sleep};

fn dag(nodes: &[(&str, &[&str])]) -> Dag {
    let mut d = Dag::new();
    for (id, deps) in nodes {
        d.add(*id, deps.iter().copied()).unwrap();
    }
    d
}

/// Start and end times of every node, for ordering assertions.
#[derive(Clone, Default)]
struct Timeline(Arc<Mutex<Vec<Event>>>);

/// Node id, `start` / `end` / `saved`, and when.
type Event = (String, &'static str, Instant);

impl Timeline {
    fn push(&self, id: &str, what: &'static str) {
        self.0
            .lock()
            .unwrap()
            .push((id.into(), what, Instant::now()));
    }
    fn at(&self, id: &str, what: &str) -> Instant {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(i, w, _)| i == id && *w == what)
            .unwrap_or_else(|| panic!("{id} never {what}"))
            .2
    }
    fn order(&self, what: &str) -> Vec<String> {
        let mut v: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, w, _)| *w == what)
            .map(|(i, _, t)| (*t, i.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, i)| i).collect()
    }
}

/// A job that sleeps `ms(id)` milliseconds and fails if `id` starts with `fail`.
fn job(
    tl: &Timeline,
    ms: impl Fn(&str) -> u64,
) -> impl FnMut(&str) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send>> {
    let tl = tl.clone();
    move |id: &str| {
        let (tl, id, d) = (tl.clone(), id.to_string(), ms(id));
        Box::pin(async move {
            tl.push(&id, "start");
            sleep(Duration::from_millis(d)).await;
            tl.push(&id, "end");
            if id.starts_with("fail") {
                Err(format!("{id} broke"))
            } else {
                Ok(id)
            }
        })
    }
}

async fn no_callback(_: &str, _: &Result<String, NodeError<String>>) -> Result<(), String> {
    Ok(())
}

#[tokio::test]
async fn dependencies_finish_before_dependents_start() {
    let d = dag(&[("c", &["b"]), ("b", &["a"]), ("a", &[]), ("d", &["a", "c"])]);
    let tl = Timeline::default();
    let report = execute(
        &d,
        Options::default(),
        &CancelToken::new(),
        job(&tl, |_| 5),
        no_callback,
    )
    .await
    .unwrap();
    assert!(report.is_success());
    assert_eq!(tl.order("start"), ["a", "b", "c", "d"]);
    for (node, dep) in [("b", "a"), ("c", "b"), ("d", "c"), ("d", "a")] {
        assert!(
            tl.at(node, "start") >= tl.at(dep, "end"),
            "{node} after {dep}"
        );
    }
    assert_eq!(
        report.succeeded().collect::<Vec<_>>(),
        ["c", "b", "a", "d"],
        "the report keeps graph order"
    );
}

#[tokio::test]
async fn reverse_runs_dependents_first() {
    let d = dag(&[("vpc", &[]), ("subnet", &["vpc"]), ("fn", &["subnet"])]);
    let tl = Timeline::default();
    let opts = Options {
        direction: Direction::Reverse,
        ..Options::default()
    };
    let report = execute(&d, opts, &CancelToken::new(), job(&tl, |_| 2), no_callback)
        .await
        .unwrap();
    assert!(report.is_success());
    assert_eq!(tl.order("end"), ["fn", "subnet", "vpc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrency_never_exceeds_the_bound() {
    let mut d = Dag::new();
    for i in 0..40 {
        let deps: Vec<String> = if i >= 20 {
            vec![format!("n{}", i - 20)]
        } else {
            vec![]
        };
        d.add(format!("n{i}"), deps).unwrap();
    }
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n2, m2) = (now.clone(), max.clone());
    let run = move |_: &str| {
        let (now, max) = (n2.clone(), m2.clone());
        async move {
            let c = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(c, Ordering::SeqCst);
            sleep(Duration::from_millis(10)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(())
        }
    };
    let opts = Options {
        parallelism: 4,
        ..Options::default()
    };
    let report = execute(
        &d,
        opts,
        &CancelToken::new(),
        run,
        async |_: &str, _: &_| Ok(()),
    )
    .await
    .unwrap();
    assert!(report.is_success());
    assert_eq!(
        max.load(Ordering::SeqCst),
        4,
        "the bound is reached, never passed"
    );
}

#[tokio::test]
async fn ready_nodes_start_while_an_unrelated_slow_node_runs() {
    // Layer by layer, `queue_policy` would wait for the slow NAT gateway.
    let d = dag(&[("nat", &[]), ("queue", &[]), ("queue_policy", &["queue"])]);
    let tl = Timeline::default();
    let slow = |id: &str| if id == "nat" { 300 } else { 5 };
    let report = execute(
        &d,
        Options::default(),
        &CancelToken::new(),
        job(&tl, slow),
        no_callback,
    )
    .await
    .unwrap();
    assert!(report.is_success());
    assert!(tl.at("queue_policy", "end") < tl.at("nat", "end"));
}

#[tokio::test]
async fn failures_skip_dependents_and_independent_branches_go_on() {
    let d = dag(&[
        ("fail_role", &[]),
        ("fn", &["fail_role"]),
        ("url", &["fn"]),
        ("fail_bucket", &[]),
        ("both", &["fail_role", "fail_bucket"]),
        ("queue", &[]),
        ("policy", &["queue"]),
    ]);
    let tl = Timeline::default();
    let report = execute(
        &d,
        Options::default(),
        &CancelToken::new(),
        job(&tl, |id| if id == "fail_bucket" { 60 } else { 2 }),
        no_callback,
    )
    .await
    .unwrap();
    assert!(!report.is_success());
    let failed: Vec<_> = report.failed().map(|(id, e)| (id, e.to_string())).collect();
    assert_eq!(
        failed,
        [
            ("fail_role", "fail_role broke".to_string()),
            ("fail_bucket", "fail_bucket broke".to_string())
        ],
        "every error is reported, not just the first"
    );
    let skipped: Vec<_> = report.skipped().collect();
    assert_eq!(
        skipped,
        [
            ("fn", "fail_role"),
            ("url", "fail_role"),
            ("both", "fail_role")
        ]
    );
    assert_eq!(report.succeeded().collect::<Vec<_>>(), ["queue", "policy"]);
    assert_eq!(report.not_started().count(), 0);
}

#[tokio::test]
async fn panics_are_failures() {
    let d = dag(&[("a", &[]), ("b", &["a"])]);
    let run = |_: &str| async {
        if true {
            panic!("boom");
        }
        Ok::<(), String>(())
    };
    let report = execute(
        &d,
        Options::default(),
        &CancelToken::new(),
        run,
        async |_: &str, _: &_| Ok(()),
    )
    .await
    .unwrap();
    let failed: Vec<_> = report.failed().map(|(id, e)| (id, e.to_string())).collect();
    assert_eq!(failed, [("a", "panicked: boom".to_string())]);
    assert_eq!(report.skipped().collect::<Vec<_>>(), [("b", "a")]);
}

#[tokio::test]
async fn cancel_lets_in_flight_nodes_finish_and_starts_nothing_new() {
    let d = dag(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &["a"])]);
    let tl = Timeline::default();
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        sleep(Duration::from_millis(30)).await;
        trigger.cancel();
    });
    let opts = Options {
        parallelism: 2,
        ..Options::default()
    };
    let report = execute(&d, opts, &cancel, job(&tl, |_| 100), no_callback)
        .await
        .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.succeeded().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(report.not_started().collect::<Vec<_>>(), ["c", "d"]);
    assert_eq!(
        tl.order("end"),
        ["a", "b"],
        "in-flight nodes ran to the end"
    );
}

#[tokio::test]
async fn callback_runs_after_each_node_and_its_error_stops_new_starts() {
    let d = dag(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    let tl = Timeline::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let tl2 = tl.clone();
    let report = execute(
        &d,
        Options::default(),
        &CancelToken::new(),
        job(&tl, |_| 1),
        async move |id: &str, r: &Result<String, NodeError<String>>| {
            // State is saved here, before a dependent may start.
            tl2.push(id, "saved");
            s2.lock().unwrap().push((id.to_string(), r.is_ok()));
            if id == "b" {
                Err("disk full".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await
    .unwrap();
    assert!(tl.at("b", "start") >= tl.at("a", "saved"));
    assert_eq!(
        *seen.lock().unwrap(),
        [("a".to_string(), true), ("b".to_string(), true)]
    );
    assert_eq!(report.aborted.as_deref(), Some("disk full"));
    assert_eq!(report.not_started().collect::<Vec<_>>(), ["c"]);
    assert!(!report.is_success());
}

#[test]
fn bad_graphs_are_rejected() {
    let mut d = Dag::new();
    d.add("a", ["b"]).unwrap();
    assert_eq!(
        d.add("a", Vec::<String>::new()),
        Err(DagError::Duplicate("a".into()))
    );
    assert!(matches!(d.check(), Err(DagError::UnknownDependency { .. })));
    d.add("b", ["c"]).unwrap();
    d.add("c", ["a"]).unwrap();
    d.add("free", Vec::<String>::new()).unwrap();
    assert_eq!(
        d.check(),
        Err(DagError::Cycle(vec!["a".into(), "b".into(), "c".into()]))
    );
}

#[test]
fn reports_serialise() {
    let mut outcomes = IndexMap::new();
    outcomes.insert("a".to_string(), Outcome::<(), String>::Succeeded(()));
    outcomes.insert(
        "b".to_string(),
        Outcome::Skipped {
            because: "a".into(),
        },
    );
    let r = Report {
        outcomes,
        cancelled: false,
        aborted: None,
    };
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["outcomes"]["b"]["skipped"]["because"], "a");
}
