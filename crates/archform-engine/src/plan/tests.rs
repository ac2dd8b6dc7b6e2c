use super::*;
use crate::state::{ResourceState, ResourceStatus};
use archform_blueprint::{StackRequest, compile};
use serde_json::json;

const BLUEPRINT: &str = r#"name: plan-test
description: A small graph for plan tests
---
resources:
  dlq:
    kind: sqs.queue
    properties:
      sqs_managed_sse: true
  jobs:
    kind: sqs.queue
    properties:
      visibility_timeout: 60
      sqs_managed_sse: true
      redrive_policy:
        dead_letter_target_arn: ${dlq.arn}
        max_receive_count: 5
  links:
    kind: dynamodb.table
    properties:
      partition_key: {name: code, type: S}
      sse_enabled: true
      point_in_time_recovery: true
"#;

fn graph() -> Graph {
    // One directory per call: tests run in parallel and must not read a
    // file another test is rewriting.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("archform-engine-plan-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plan-test.yaml");
    std::fs::write(&path, BLUEPRINT).unwrap();
    let g = compile(&StackRequest {
        blueprint: Some(path.to_string_lossy().into_owned()),
        stack: Some("demo".into()),
        ..Default::default()
    });
    let g = match g {
        Ok(g) => g,
        Err(e) => panic!("test blueprint does not compile: {e}"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    g
}

fn attrs(id: &str) -> IndexMap<String, Value> {
    [
        ("arn".to_string(), Value::from(format!("arn:aws:x:::{id}"))),
        ("name".to_string(), Value::from(format!("demo-{id}"))),
    ]
    .into_iter()
    .collect()
}

/// The state a successful apply of `g` would leave.
fn applied(g: &Graph) -> State {
    let mut s = State::new("demo", &g.stack.blueprint);
    s.serial = 3;
    for r in g.topological_order() {
        let known = |id: &str, attr: &str| attrs(id).get(attr).cloned();
        s.resources.insert(
            r.id.clone(),
            ResourceState {
                kind: r.kind,
                physical_id: Some(format!("pid-{}", r.id)),
                physical_name: r.name.clone(),
                properties: diff::resolve(&r.properties, &known).unwrap(),
                attributes: attrs(&r.id),
                dependencies: r.dependencies().into_iter().collect(),
                tags: r.tags.clone(),
                status: ResourceStatus::Created,
            },
        );
    }
    s
}

fn action<'a>(p: &'a Plan, id: &str) -> &'a Action {
    &p.steps.iter().find(|s| s.id == id).unwrap().action
}

#[test]
fn everything_is_created_without_state() {
    let g = graph();
    let p = plan(&g, None, &PseudoAttrs::new()).unwrap();
    assert!(p.steps.iter().all(|s| s.action == Action::Create));
    let order: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert!(order.iter().position(|i| *i == "dlq") < order.iter().position(|i| *i == "jobs"));
    assert_eq!(p.base, None);
    assert!(p.has_changes());
    assert_eq!(p.summary()["create"], 3);
    let jobs = p.steps.iter().find(|s| s.id == "jobs").unwrap();
    assert_eq!(jobs.waits_for, ["dlq"]);
    assert_eq!(
        jobs.desired.as_ref().unwrap().properties["redrive_policy"]["dead_letter_target_arn"],
        "${dlq.arn}",
        "references stay symbolic until apply"
    );
}

#[test]
fn applied_state_plans_no_changes() {
    let g = graph();
    let s = applied(&g);
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    assert!(
        p.steps.iter().all(|s| s.action == Action::NoOp),
        "{:#?}",
        p.steps
    );
    assert!(!p.has_changes());
    assert_eq!(
        p.base,
        Some(Base {
            lineage: s.lineage.clone(),
            serial: 3
        })
    );
}

#[test]
fn in_place_and_replacing_changes_follow_the_kind_spec() {
    let g = graph();
    let mut s = applied(&g);
    s.resources["jobs"].properties["visibility_timeout"] = json!(30);
    s.resources["links"].properties["partition_key"] = json!({"name": "id", "type": "S"});
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    assert_eq!(
        *action(&p, "jobs"),
        Action::Update {
            changes: vec![Change {
                property: "visibility_timeout".into(),
                old: Some(json!(30)),
                new: NewValue::Known(json!(60)),
                forces_replacement: false,
            }]
        }
    );
    match action(&p, "links") {
        Action::Replace { changes, reason } => {
            assert_eq!(changes.len(), 1);
            assert!(changes[0].forces_replacement);
            assert!(reason.contains("`partition_key`"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*action(&p, "dlq"), Action::NoOp);
}

#[test]
fn references_to_replaced_resources_are_known_after_apply() {
    let g = graph();
    let mut s = applied(&g);
    s.resources["dlq"].kind = Kind::Topic;
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    assert!(matches!(action(&p, "dlq"), Action::Replace { .. }));
    assert_eq!(
        *action(&p, "jobs"),
        Action::Update {
            changes: vec![Change {
                property: "redrive_policy".into(),
                old: Some(s.resources["jobs"].properties["redrive_policy"].clone()),
                new: NewValue::KnownAfterApply,
                forces_replacement: false,
            }]
        }
    );
}

#[test]
fn interrupted_steps_are_redone() {
    let g = graph();
    let mut s = applied(&g);
    s.resources["dlq"].status = ResourceStatus::Creating;
    s.resources["links"].status = ResourceStatus::Updating;
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    assert_eq!(*action(&p, "dlq"), Action::Create);
    assert_eq!(*action(&p, "links"), Action::Update { changes: vec![] });
    assert!(
        matches!(action(&p, "jobs"), Action::Update { changes } if changes[0].new == NewValue::KnownAfterApply)
    );
}

#[test]
fn removed_resources_are_deleted_dependents_first() {
    let g = graph();
    let mut s = applied(&g);
    let extra = |kind: &str, deps: &[&str]| ResourceState {
        kind: Kind::from_name(kind).unwrap(),
        physical_id: Some("x".into()),
        physical_name: None,
        properties: json!({}),
        attributes: IndexMap::new(),
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        tags: IndexMap::new(),
        status: ResourceStatus::Created,
    };
    s.resources
        .insert("old_topic".into(), extra("sns.topic", &[]));
    s.resources
        .insert("old_sub".into(), extra("sns.subscription", &["old_topic"]));
    // `jobs` used to refer to the topic and must let go of it first.
    s.resources["jobs"].dependencies.push("old_topic".into());
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    let deletes: Vec<&Step> = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .collect();
    assert_eq!(
        deletes.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["old_sub", "old_topic"]
    );
    assert_eq!(deletes[1].waits_for, ["jobs", "old_sub"]);
    assert!(deletes[0].desired.is_none());
    let dag = p.dag().unwrap();
    assert_eq!(dag.len(), 5);
    assert_eq!(p.summary()["delete"], 2);
}

#[test]
fn plans_round_trip_and_only_apply_to_their_base() {
    let g = graph();
    let mut s = applied(&g);
    s.resources["jobs"].properties["visibility_timeout"] = json!(30);
    let p = plan(&g, Some(&s), &PseudoAttrs::new()).unwrap();
    let text = serde_json::to_string_pretty(&p).unwrap();
    assert!(text.contains("\"action\": \"update\""), "{text}");
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    back.check_base(Some(&s)).unwrap();
    s.serial += 1;
    assert!(matches!(
        back.check_base(Some(&s)),
        Err(PlanError::Stale { .. })
    ));
    assert!(matches!(
        back.check_base(None),
        Err(PlanError::Stale { .. })
    ));
}

#[test]
fn resolve_splices_text_and_keeps_whole_values() {
    let known = |id: &str, attr: &str| match (id, attr) {
        ("aws", "region") => Some(json!("eu-west-1")),
        ("sg", "ids") => Some(json!(["sg-1"])),
        _ => None,
    };
    assert_eq!(
        diff::resolve(
            &json!({"a": "arn:${aws.region}:x", "b": "${sg.ids}"}),
            &known
        ),
        Some(json!({"a": "arn:eu-west-1:x", "b": ["sg-1"]}))
    );
    assert_eq!(diff::resolve(&json!(["${new.arn}"]), &known), None);
}
