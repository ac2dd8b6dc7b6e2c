//! What the emulator holds of a stack, found without archform's state or
//! report: tagged resources through `archform_aws::inventory` (their
//! `archform:id` tag), untaggable ones through direct listings of their
//! tagged parents (a permission's statement in GetPolicy, a subscription in
//! ListSubscriptionsByTopic, a queue policy in GetQueueAttributes, a
//! function URL in GetFunctionUrlConfig). Crash tests assert on it: every
//! logical id of the blueprint present exactly once, nothing else.

use archform_aws::{Clients, Found};
use archform_blueprint::Graph;
use archform_blueprint::kinds::{Kind, Tags};
use serde_json::Value;
use std::collections::BTreeMap;

/// How many resources of the stack each logical id has in the account,
/// and what was found that no logical id of the blueprint accounts for.
#[derive(Debug)]
pub struct Census {
    pub count: BTreeMap<String, usize>,
    pub strays: Vec<String>,
}

impl Census {
    /// Ids missing or found more than once, and strays, in words; empty
    /// when every id of `graph` is there exactly once and nothing else.
    pub fn faults(&self, graph: &Graph) -> Vec<String> {
        let mut out = Vec::new();
        for id in graph.resources.keys() {
            match self.count.get(id).copied().unwrap_or(0) {
                1 => {}
                0 => out.push(format!("{id}: missing")),
                n => out.push(format!("{id}: {n} of it")),
            }
        }
        out.extend(self.strays.iter().map(|s| format!("stray: {s}")));
        out
    }
}

/// The id a `${id.attr}` reference names.
fn ref_id(v: &Value) -> Option<&str> {
    v.as_str()?.strip_prefix("${")?.split('.').next()
}

/// The statement id archform gives a permission (`<stack>-<id>`; the ids
/// and stacks of these tests need none of its escaping).
fn statement_id(stack: &str, id: &str) -> String {
    format!("{stack}-{id}")
}

/// Counts what `graph`'s stack has in the account.
pub async fn census(clients: &Clients, stack: &str, graph: &Graph) -> Census {
    let inv = archform_aws::inventory(clients, stack).await;
    // What the inventory could not look at may hide a duplicate or a leak.
    assert!(
        inv.is_complete(),
        "inventory of `{stack}` incomplete: {:?}",
        inv.unknown
    );
    let found = inv.found;
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut strays = Vec::new();
    for f in &found {
        match graph.resources.get(&f.id) {
            Some(r) if r.kind == f.kind => *count.entry(f.id.clone()).or_default() += 1,
            _ => strays.push(format!("{} `{}` ({})", f.kind, f.id, f.physical_id)),
        }
    }
    // The tagged parent a reference names, as the inventory found it (the
    // first one: duplicates are already counted above).
    let parent = |v: &Value| -> Option<&Found> {
        let id = ref_id(v)?;
        found.iter().find(|f| f.id == id)
    };
    for r in graph.resources.values() {
        if r.kind.tags != Tags::Untaggable {
            continue;
        }
        let p = &r.properties;
        let n = match r.kind {
            Kind::Permission => match parent(&p["function_name"]) {
                Some(f) => permissions(clients, &f.physical_id, &statement_id(stack, &r.id)).await,
                None => 0,
            },
            Kind::Subscription => match (parent(&p["topic_arn"]), parent(&p["endpoint"])) {
                (Some(topic), Some(target)) => {
                    let name = target.physical_name.clone().unwrap_or_default();
                    subscriptions(clients, &topic.physical_id, p["protocol"].as_str(), &name).await
                }
                _ => 0,
            },
            Kind::QueuePolicy => match parent(&p["queue_url"]) {
                Some(q) => {
                    let want = p["policy"]["Statement"].as_array().map_or(1, Vec::len);
                    match queue_policy_statements(clients, &q.physical_id).await {
                        None => 0,
                        Some(n) if n == want => 1,
                        Some(n) => {
                            strays.push(format!(
                                "{}: the queue's policy has {n} statements, the blueprint's {want}",
                                r.id
                            ));
                            1
                        }
                    }
                }
                None => 0,
            },
            Kind::FunctionUrl => match parent(&p["function_name"]) {
                Some(f) => function_url(clients, &f.physical_id).await,
                None => 0,
            },
            other => panic!(
                "the census has no independent check for the untaggable kind {other} \
                 (`{}`): add one before asserting on it",
                r.id
            ),
        };
        if n > 0 {
            count.insert(r.id.clone(), n);
        }
    }
    Census { count, strays }
}

/// Panics unless every logical id of `graph` is in the account exactly
/// once and nothing else of the stack is.
pub async fn assert_each_once(clients: &Clients, stack: &str, graph: &Graph, when: &str) {
    let c = census(clients, stack, graph).await;
    let faults = c.faults(graph);
    assert!(
        faults.is_empty(),
        "{when}: stack `{stack}` is not exactly its blueprint:\n  {}\n(found: {:?})",
        faults.join("\n  "),
        c.count
    );
}

/// Panics if anything of `graph`'s stack is left: tagged resources, or
/// subscriptions left on a topic of another name from the stack's.
pub async fn assert_nothing_left(clients: &Clients, stack: &str, graph: &Graph, when: &str) {
    let c = census(clients, stack, graph).await;
    let left: Vec<String> = c
        .count
        .iter()
        .map(|(id, n)| format!("{id} x{n}"))
        .chain(c.strays.iter().cloned())
        .collect();
    assert!(
        left.is_empty(),
        "{when}: stack `{stack}` left {}",
        left.join(", ")
    );
    // Untaggable children are found through their parents above; a
    // subscription could outlive its topic, so look for those directly.
    let mut pages = clients.sns.list_subscriptions().into_paginator().send();
    while let Some(page) = pages.next().await {
        for s in page.expect("sns:ListSubscriptions").subscriptions() {
            let topic = s.topic_arn().unwrap_or_default();
            assert!(
                !topic
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .starts_with(&format!("{stack}-")),
                "{when}: a subscription of stack `{stack}` is left: {s:?}"
            );
        }
    }
}

/// Statements with id `sid` in the function's resource policy.
async fn permissions(clients: &Clients, function: &str, sid: &str) -> usize {
    let policy = match clients
        .lambda
        .get_policy()
        .function_name(function)
        .send()
        .await
    {
        Ok(p) => p.policy().unwrap_or("{}").to_string(),
        Err(e) if format!("{e:?}").contains("ResourceNotFound") => return 0,
        Err(e) => panic!("lambda:GetPolicy {function}: {e:?}"),
    };
    let doc: Value = serde_json::from_str(&policy).expect("a JSON policy");
    doc["Statement"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["Sid"] == sid).count())
}

/// Subscriptions of the topic with this protocol whose endpoint is the
/// resource named `name` (an ARN ending in it).
async fn subscriptions(
    clients: &Clients,
    topic: &str,
    protocol: Option<&str>,
    name: &str,
) -> usize {
    let mut n = 0;
    let mut pages = clients
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for s in page.expect("sns:ListSubscriptionsByTopic").subscriptions() {
            let endpoint = s.endpoint().unwrap_or_default();
            if s.protocol() == protocol && endpoint.rsplit(':').next() == Some(name) {
                n += 1;
            }
        }
    }
    n
}

/// The number of statements of the queue's policy; `None` without one.
async fn queue_policy_statements(clients: &Clients, queue_url: &str) -> Option<usize> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("sqs:GetQueueAttributes");
    let policy = out.attributes()?.get(&QueueAttributeName::Policy)?;
    let doc: Value = serde_json::from_str(policy).expect("a JSON policy");
    Some(doc["Statement"].as_array().map_or(1, Vec::len))
}

async fn function_url(clients: &Clients, function: &str) -> usize {
    match clients
        .lambda
        .get_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(_) => 1,
        Err(e) if format!("{e:?}").contains("ResourceNotFound") => 0,
        Err(e) => panic!("lambda:GetFunctionUrlConfig {function}: {e:?}"),
    }
}
