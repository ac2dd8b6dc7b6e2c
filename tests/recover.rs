//! Each of the four blueprints (placeholder code) on the emulator:
//!
//! - its state deleted and rebuilt with `state recover --blueprint` plans no
//!   change (untagged resources are found through their parents, values
//!   come back in the blueprint's form), except what the emulator could not
//!   create in the first place;
//! - a property changed outside archform, on every kind of the stack, is
//!   reported as drift by the next plan (for kinds whose every property
//!   forces a replacement, a deletion outside archform is).

use archform_aws::{AwsProvider, Clients, assert_no_leftovers};
use archform_blueprint::kinds::{Kind, Ty, Update};
use archform_engine::provider::{Provider, Resolved};
use archform_engine::state::State;
use archform_testkit::{sdk_config, test_endpoint};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

struct Stack {
    dir: PathBuf,
    name: String,
    blueprint: &'static str,
    endpoint: String,
}

impl Stack {
    fn new(blueprint: &'static str, endpoint: &str) -> Stack {
        let short: String = blueprint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(4)
            .collect();
        let name = format!("rc{short}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("archform-recover-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Stack {
            dir,
            name,
            blueprint,
            endpoint: endpoint.into(),
        }
    }

    /// Runs archform; (exit code, stdout JSON, stderr JSON lines).
    fn run(&self, args: &[&str]) -> (i32, Value, Vec<Value>) {
        let out = Command::new(env!("CARGO_BIN_EXE_archform"))
            .current_dir(&self.dir)
            .args(args)
            .args(["--endpoint", &self.endpoint, "--output", "json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            stderr
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        )
    }

    fn state(&self) -> State {
        let path = self
            .dir
            .join(".archform/state")
            .join(format!("{}.json", self.name));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The plan's changes: id -> action.
    fn plan(&self) -> (BTreeMap<String, String>, Vec<Value>) {
        let (code, plan, drift) = self.run(&[
            "plan",
            self.blueprint,
            "--stack",
            &self.name,
            "--placeholder-code",
        ]);
        assert_eq!(code, 0, "plan {}: {plan}", self.blueprint);
        let changes = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] != "no_op")
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (changes, drift)
    }
}

async fn recover_then_drift(blueprint: &'static str) {
    let endpoint = test_endpoint();
    let s = Stack::new(blueprint, &endpoint);
    let (code, out, _) = s.run(&[
        "deploy",
        blueprint,
        "--stack",
        &s.name,
        "--placeholder-code",
    ]);
    assert_eq!(code, 0, "deploy {blueprint}: {out}");
    // What the emulator cannot do (moto has no API Gateway CreateDeployment)
    // was never created, and every plan proposes it again.
    let skipped: BTreeSet<String> = out["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["outcome"] != "done")
        .map(|st| st["id"].as_str().unwrap().to_string())
        .collect();
    let deployed = s.state();

    // --- Lose the state, rebuild it from tags and parents. ---
    for f in std::fs::read_dir(s.dir.join(".archform/state")).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&s.name)
        {
            std::fs::remove_file(f).unwrap();
        }
    }
    let (code, rec, _) = s.run(&[
        "state",
        "recover",
        "--stack",
        &s.name,
        "--blueprint",
        blueprint,
    ]);
    assert_eq!(code, 0, "recover {blueprint}: {rec}");
    let recovered = s.state();
    let ids = |st: &State| st.resources.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        ids(&recovered),
        ids(&deployed),
        "{blueprint}: the recovered state holds exactly the deployed resources"
    );
    for (id, r) in &deployed.resources {
        assert_eq!(
            recovered.resources[id].physical_id, r.physical_id,
            "{blueprint}: {id} recovered as another resource"
        );
    }
    let (changes, drift) = s.plan();
    assert!(
        drift.is_empty(),
        "{blueprint}: drift after recover: {drift:?}"
    );
    let unexpected: Vec<_> = changes
        .iter()
        .filter(|(id, action)| !(skipped.contains(*id) && *action == "create"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{blueprint}: the plan after recover changes {unexpected:?}"
    );

    // --- Change one property of every resource outside archform. ---
    let config = sdk_config(&endpoint).await;
    let provider = AwsProvider::new(&config);
    let state = s.state();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut kinds_covered: BTreeSet<Kind> = BTreeSet::new();
    // Dependents first: deleting a resource outside archform must not
    // break what still depends on it (a route table under its endpoint).
    for id in dependents_first(&state) {
        let r = &state.resources[&id];
        let id = &id;
        let changed = r
            .kind
            .props
            .iter()
            .filter(|p| p.update == Update::InPlace && !p.write_only)
            .find_map(|p| {
                let current = r.properties.get(p.name)?;
                // Free text AWS keeps as given (descriptions, display names).
                let new = match p.name {
                    "description" | "display_name" => {
                        Value::from(format!("{} (changed)", current.as_str()?))
                    }
                    _ => other_value(&p.ty, current)?,
                };
                Some((p.name, new))
            });
        match changed {
            Some((prop, new)) => {
                let mut props = r.properties.clone();
                props[prop] = new;
                let outside = Resolved {
                    stack: s.name.clone(),
                    id: id.clone(),
                    kind: r.kind,
                    physical_name: r.physical_name.clone(),
                    properties: props,
                    tags: r.tags.clone(),
                };
                let updated = provider.update(&outside, r, &[prop.to_string()]).await;
                // The change must really have happened (an emulator may
                // answer the call and ignore a field): read it back.
                let took = match &updated {
                    Ok(_) => match provider.read(id, r).await {
                        Ok(Some(o)) => o.properties.get(prop) == outside.properties.get(prop),
                        _ => false,
                    },
                    Err(_) => false,
                };
                if took {
                    expected.insert(id.clone(), prop.to_string());
                } else {
                    // An update the emulator lacks or ignores: delete the
                    // resource outside archform instead.
                    eprintln!(
                        "{id} ({}): changing {prop} outside archform did not take ({:?}); deleting it instead",
                        r.kind,
                        updated.err()
                    );
                    provider
                        .delete(id, r)
                        .await
                        .unwrap_or_else(|e| panic!("{id}: deleting outside archform: {e}"));
                    expected.insert(id.clone(), "deleted".into());
                }
            }
            None => {
                provider.delete(id, r).await.unwrap_or_else(|e| {
                    panic!("{id} ({}): deleting outside archform: {e}", r.kind)
                });
                expected.insert(id.clone(), "deleted".into());
            }
        }
        kinds_covered.insert(r.kind);
    }
    let (_, drift) = s.plan();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for d in &drift {
        let id = d["id"].as_str().unwrap().to_string();
        match d["drift"].as_str().unwrap() {
            "deleted" => {
                seen.insert(id, "deleted".into());
            }
            _ => {
                let p = d["property"].as_str().unwrap().to_string();
                if expected.get(&id) == Some(&p) {
                    seen.insert(id, p);
                }
            }
        }
    }
    // A resource deleted outside archform takes its dependents with it (a
    // topic its subscriptions): those may be reported deleted instead.
    let deleted: BTreeSet<&String> = expected
        .iter()
        .filter(|(_, what)| *what == "deleted")
        .map(|(id, _)| id)
        .collect();
    let under_deleted = |id: &str| {
        let mut todo = vec![id.to_string()];
        let mut visited = BTreeSet::new();
        while let Some(x) = todo.pop() {
            if !visited.insert(x.clone()) {
                continue;
            }
            for d in &state.resources[&x].dependencies {
                if deleted.contains(d) {
                    return true;
                }
                if state.resources.contains_key(d) {
                    todo.push(d.clone());
                }
            }
        }
        false
    };
    let missed: Vec<_> = expected
        .iter()
        .filter(|(id, what)| {
            let got = seen.get(*id);
            got != Some(*what) && !(got.map(String::as_str) == Some("deleted") && under_deleted(id))
        })
        .map(|(id, what)| format!("{id} ({}): {what}", state.resources[id].kind))
        .collect();
    assert!(
        missed.is_empty(),
        "{blueprint}: changes made outside archform the plan did not report: {missed:?}\ndrift: {drift:?}"
    );
    let changed_kinds: BTreeSet<Kind> = expected
        .iter()
        .filter(|(_, what)| *what != "deleted")
        .map(|(id, _)| state.resources[id].kind)
        .collect();
    eprintln!(
        "{blueprint}: drift reported on {} resources of {} kinds; a property changed on {}: {:?}",
        expected.len(),
        kinds_covered.len(),
        changed_kinds.len(),
        changed_kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
    );

    let (code, out, _) = s.run(&["destroy", "--stack", &s.name, "--yes"]);
    assert_eq!(code, 0, "destroy {blueprint}: {out}");
    assert_no_leftovers(&Clients::new(&config), &s.name).await;
}

/// The state's resources, each before everything it depends on.
fn dependents_first(state: &State) -> Vec<String> {
    fn depth(state: &State, id: &str, seen: &mut BTreeMap<String, usize>) -> usize {
        if let Some(d) = seen.get(id) {
            return *d;
        }
        seen.insert(id.to_string(), 0);
        let d = state.resources[id]
            .dependencies
            .iter()
            .filter(|d| state.resources.contains_key(*d))
            .map(|d| 1 + depth(state, d, seen))
            .max()
            .unwrap_or(0);
        seen.insert(id.to_string(), d);
        d
    }
    let mut seen = BTreeMap::new();
    let mut ids: Vec<(usize, String)> = state
        .resources
        .keys()
        .map(|id| (depth(state, id, &mut seen), id.clone()))
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    ids.into_iter().map(|(_, id)| id).collect()
}

/// Another valid value of the same type: a number one step inside its
/// range, a flipped boolean, another member of an enum. `None` for text
/// (names, ARNs, documents), whose other values AWS would refuse.
fn other_value(ty: &Ty, v: &Value) -> Option<Value> {
    match ty {
        Ty::Bool => Some(Value::Bool(!v.as_bool()?)),
        Ty::Int { min, max } => {
            let n = v.as_i64()?;
            let m = if n < *max { n + 1 } else { n - 1 };
            (m >= *min).then(|| Value::from(m))
        }
        Ty::IntSet(set) => set
            .iter()
            .find(|x| Some(**x) != v.as_i64())
            .map(|x| Value::from(*x)),
        // A map of strings (an RDS parameter group's parameters): its
        // first value changed, a number flipped between 0 and 1 or moved
        // by one (`rds.force_ssl` 1 -> 0), any other text extended. A key
        // of its own would be a parameter the engine does not know.
        Ty::Map(Ty::Str) => {
            let mut map = v.as_object()?.clone();
            let (key, old) = map.iter().next()?;
            let new = match old.as_str()?.parse::<i64>() {
                Ok(0) => "1".to_string(),
                Ok(1) => "0".to_string(),
                Ok(n) => (n + 1).to_string(),
                Err(_) => format!("{}x", old.as_str()?),
            };
            let key = key.clone();
            map.insert(key, Value::from(new));
            Some(Value::Object(map))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn url_shortener() {
    recover_then_drift("url-shortener").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chat() {
    recover_then_drift("chat").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications() {
    recover_then_drift("notifications").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tier() {
    recover_then_drift("three-tier").await;
}

/// A service `state recover` could not look at (here RDS answering a bare
/// 404, as an emulator lacking it does) is printed, is in the JSON report's
/// `unknown`, and makes the exit code 1; what was found is still saved.
#[tokio::test(flavor = "multi_thread")]
async fn recover_says_what_it_could_not_look_at() {
    use archform_testkit::{Answer, FaultConfig, FaultProxy, Rule};
    let proxy = FaultProxy::start(
        &test_endpoint(),
        FaultConfig {
            rules: vec![Rule::new(|c| c.service == "rds", Answer::Bare404)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let s = Stack::new("unknown", &proxy.endpoint);
    let direct = Clients::new(&sdk_config(&test_endpoint()).await);
    let queue = direct
        .sqs
        .create_queue()
        .queue_name(format!("{}-jobs", s.name))
        .tags("archform:stack", &s.name)
        .tags("archform:id", "jobs")
        .send()
        .await
        .unwrap();

    let (code, rec, _) = s.run(&["state", "recover", "--stack", &s.name]);
    assert_eq!(code, 1, "an incomplete recover exits 1: {rec}");
    let unknown = rec["unknown"].as_array().unwrap();
    let services: BTreeSet<&str> = unknown
        .iter()
        .map(|u| u["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, BTreeSet::from(["rds"]), "{rec}");
    assert!(
        unknown
            .iter()
            .any(|u| u["kinds"] == serde_json::json!(["rds.db_instance"])),
        "{rec}"
    );
    assert!(
        s.state().resources.contains_key("jobs"),
        "what was found is saved"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(&s.dir)
        .args(["state", "recover", "--stack", &s.name, "--force"])
        .args(["--endpoint", &s.endpoint])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Could not look at 3 places")
            && text.contains("rds (rds.db_instance): DescribeDBInstances")
            && text.contains("rds (rds.db_parameter_group): DescribeDBParameterGroups"),
        "{text}"
    );

    direct
        .sqs
        .delete_queue()
        .queue_url(queue.queue_url().unwrap())
        .send()
        .await
        .unwrap();
    assert_no_leftovers(&direct, &s.name).await;
}
