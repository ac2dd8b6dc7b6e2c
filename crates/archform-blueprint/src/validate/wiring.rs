//! AWS wiring rules that otherwise fail only at deploy time, or worse, at
//! run time: SQS visibility vs function timeout, ALB -> Lambda permissions,
//! SNS -> SQS queue policies, dead-letter targets, listener rule priorities,
//! gateway vs interface VPC endpoints.

use crate::diagnostic::Diagnostics;
use crate::kinds::Kind;
use crate::model::{Graph, Resource};
use crate::validate::whole_ref;
use serde_json::Value as J;
use std::collections::{BTreeMap, HashMap, HashSet};

/// AWS's defaults when the properties are not given.
const DEFAULT_FUNCTION_TIMEOUT: i64 = 3;
const DEFAULT_VISIBILITY_TIMEOUT: i64 = 30;

fn target<'g>(graph: &'g Graph, res: &Resource, prop: &str, kind: Kind) -> Option<&'g Resource> {
    let (id, _) = whole_ref(res.properties.pointer(prop)?)?;
    graph.resources.get(&id).filter(|r| r.kind == kind)
}

/// The id a property refers to when it is exactly one `${id.attr}`.
fn ref_id(v: Option<&J>) -> Option<String> {
    v.and_then(whole_ref).map(|(id, _)| id)
}

/// The permissions and queue policies the rules look for, gathered in one
/// pass: searching all resources for them per integration, target or
/// subscription cost those resources x all resources.
#[derive(Default)]
struct Grants<'g> {
    /// Functions with a permission for API Gateway, whatever its source.
    apigw: HashSet<String>,
    /// (function, API) pairs: a permission for API Gateway whose
    /// `source_arn` contains `${<API>.`.
    apigw_from: HashSet<(String, String)>,
    /// Per function, its first permission (in blueprint order) for
    /// Elastic Load Balancing, whatever its source.
    elb: HashMap<String, &'g Resource>,
    /// Per (function, target group), its first permission for Elastic Load
    /// Balancing whose `source_arn` is exactly `${<target group>.<attr>}`.
    elb_from: HashMap<(String, String), &'g Resource>,
    /// Queues named by a queue policy's `queue_url`.
    queue_policies: HashSet<String>,
}

impl<'g> Grants<'g> {
    fn gather(graph: &'g Graph) -> Self {
        let mut g = Grants::default();
        for p in graph.resources.values() {
            match p.kind {
                Kind::Permission => {
                    let Some(func) = ref_id(p.prop("function_name")) else {
                        continue;
                    };
                    match p.prop("principal").and_then(J::as_str) {
                        Some("apigateway.amazonaws.com") => {
                            if let Some(arn) = p.prop("source_arn").and_then(J::as_str) {
                                for api in ref_prefixes(arn) {
                                    g.apigw_from.insert((func.clone(), api.to_string()));
                                }
                            }
                            g.apigw.insert(func);
                        }
                        Some("elasticloadbalancing.amazonaws.com") => {
                            if let Some(tg) = ref_id(p.prop("source_arn")) {
                                g.elb_from.entry((func.clone(), tg)).or_insert(p);
                            }
                            g.elb.entry(func).or_insert(p);
                        }
                        _ => {}
                    }
                }
                Kind::QueuePolicy => {
                    if let Some(queue) = ref_id(p.prop("queue_url")) {
                        g.queue_policies.insert(queue);
                    }
                }
                _ => {}
            }
        }
        g
    }
}

/// Every `x` such that `text` contains `${x.` with `x` a run of letters,
/// digits and `_`: the ids `text.contains(&format!("${{{x}."))` is true for
/// (such an `x` ends where the run does, since `.` cannot be part of it).
fn ref_prefixes(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("${").filter_map(|(at, _)| {
        let rest = &text[at + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0 && rest[end..].starts_with('.')).then(|| &rest[..end])
    })
}

pub fn check(graph: &Graph, diags: &mut Diagnostics) {
    let grants = Grants::gather(graph);
    let mut priorities: BTreeMap<(String, i64), &str> = BTreeMap::new();
    for res in graph.resources.values() {
        match res.kind {
            Kind::EventSourceMapping => {
                // AWS refuses SQS batches above 10 without a batching window.
                let batch = res.prop("batch_size").and_then(J::as_i64).unwrap_or(10);
                let window = res
                    .prop("maximum_batching_window_seconds")
                    .and_then(J::as_i64)
                    .unwrap_or(0);
                if batch > 10 && window < 1 {
                    diags.error(
                        "wiring/batch-window",
                        res.locate("/batch_size"),
                        format!("`{}` asks for batches of {batch} without a batching window; AWS allows more than 10 SQS messages per batch only with `maximum_batching_window_seconds` of at least 1", res.id),
                        "set `maximum_batching_window_seconds: 1` (or more), or a `batch_size` of at most 10",
                    );
                }
                let (Some(queue), Some(func)) = (
                    target(graph, res, "/event_source_arn", Kind::Queue),
                    target(graph, res, "/function_name", Kind::Function),
                ) else {
                    continue;
                };
                let visibility = queue
                    .prop("visibility_timeout")
                    .and_then(J::as_i64)
                    .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT);
                let timeout = func
                    .prop("timeout")
                    .and_then(J::as_i64)
                    .unwrap_or(DEFAULT_FUNCTION_TIMEOUT);
                if visibility < 6 * timeout {
                    diags.error(
                        "wiring/visibility-timeout",
                        queue.locate("/visibility_timeout"),
                        format!(
                            "queue `{}` has a visibility timeout of {visibility}s but feeds `{}` whose timeout is {timeout}s; messages would be delivered twice while still being processed",
                            queue.id, func.id
                        ),
                        format!("set the queue's `visibility_timeout` to at least {} (6x the function timeout)", 6 * timeout),
                    );
                }
            }
            Kind::Queue => {
                if let Some(dlq) = res
                    .properties
                    .pointer("/redrive_policy/dead_letter_target_arn")
                {
                    match whole_ref(dlq) {
                        Some((id, _)) if id == res.id => diags.error(
                            "wiring/redrive",
                            res.locate("/redrive_policy"),
                            format!("queue `{}` names itself as its dead-letter queue", res.id),
                            "point `dead_letter_target_arn` at a separate queue's `${dlq.arn}`",
                        ),
                        Some((id, attr)) => {
                            let ok = graph
                                .resources
                                .get(&id)
                                .is_some_and(|r| r.kind == Kind::Queue)
                                && attr == "arn";
                            if !ok {
                                diags.error(
                                    "wiring/redrive",
                                    res.locate("/redrive_policy/dead_letter_target_arn"),
                                    format!(
                                        "the dead-letter target of `{}` is not an SQS queue's ARN",
                                        res.id
                                    ),
                                    "use `${<dlq>.arn}` of an sqs.queue",
                                );
                            }
                        }
                        None => {}
                    }
                }
            }
            Kind::Integration => {
                let Some(func) = res
                    .prop("integration_uri")
                    .and_then(whole_ref)
                    .and_then(|(id, _)| graph.resources.get(&id))
                    .filter(|r| r.kind == Kind::Function)
                else {
                    continue;
                };
                let allowed = match ref_id(res.prop("api_id")) {
                    Some(api) => grants.apigw_from.contains(&(func.id.clone(), api)),
                    None => grants.apigw.contains(&func.id),
                };
                if !allowed {
                    diags.error(
                        "wiring/apigw-permission",
                        res.location.clone(),
                        format!("`{}` sends requests to `{}`, but no lambda.permission lets apigateway.amazonaws.com invoke it from this API; every call would fail with 500", res.id, func.id),
                        "add a lambda.permission with `principal: apigateway.amazonaws.com` and `source_arn: ${<api>.execution_arn}/*/<route key>`",
                    );
                }
            }
            Kind::LambdaTarget => {
                let Some(func) = target(graph, res, "/function_arn", Kind::Function) else {
                    continue;
                };
                // The permission must name this target group as its source:
                // one for another target group does not let this one invoke.
                let permission = match ref_id(res.prop("target_group_arn")) {
                    Some(tg) => grants.elb_from.get(&(func.id.clone(), tg)),
                    None => grants.elb.get(&func.id),
                };
                match permission {
                    None => diags.error(
                        "wiring/alb-permission",
                        res.location.clone(),
                        format!("`{}` registers `{}` in a target group, but no lambda.permission lets elasticloadbalancing.amazonaws.com invoke it", res.id, func.id),
                        "add a lambda.permission for that function with `principal: elasticloadbalancing.amazonaws.com` and `source_arn: ${<target group>.arn}`",
                    ),
                    Some(p) if !res.depends_on.contains(&p.id) => diags.error(
                        "wiring/alb-permission",
                        res.location.clone(),
                        format!("`{}` must be registered after its invoke permission `{}` exists (AWS refuses the registration before)", res.id, p.id),
                        format!("add `depends_on: [{}]`", p.id),
                    ),
                    _ => {}
                }
            }
            Kind::Subscription if res.prop("protocol").and_then(J::as_str) == Some("sqs") => {
                let Some(queue) = target(graph, res, "/endpoint", Kind::Queue) else {
                    continue;
                };
                if !grants.queue_policies.contains(&queue.id) {
                    diags.error(
                        "wiring/sns-queue-policy",
                        res.location.clone(),
                        format!("`{}` subscribes queue `{}` to a topic, but no sqs.queue_policy lets the topic send to it; messages would be dropped", res.id, queue.id),
                        "add an sqs.queue_policy allowing sns.amazonaws.com sqs:SendMessage with `aws:SourceArn` = the topic ARN",
                    );
                }
            }
            Kind::VpcEndpoint => vpc_endpoint(res, diags),
            Kind::ListenerRule => {
                let (Some(listener), Some(p)) = (
                    res.prop("listener_arn").and_then(whole_ref),
                    res.prop("priority").and_then(J::as_i64),
                ) else {
                    continue;
                };
                if let Some(other) = priorities.insert((listener.0.clone(), p), &res.id) {
                    diags.error(
                        "wiring/rule-priority",
                        res.locate("/priority"),
                        format!(
                            "listener rules `{other}` and `{}` both have priority {p} on `{}`",
                            res.id, listener.0
                        ),
                        "give each rule of a listener its own priority",
                    );
                }
            }
            _ => {}
        }
    }
}

/// Gateway endpoints exist only for DynamoDB and S3 and work through route
/// tables; interface endpoints live in subnets behind a security group. AWS
/// rejects the other combinations, or accepts an endpoint nothing can use.
fn vpc_endpoint(res: &Resource, diags: &mut Diagnostics) {
    let kind = res
        .prop("endpoint_type")
        .and_then(J::as_str)
        .unwrap_or("Gateway");
    let service = res.prop("service").and_then(J::as_str).unwrap_or_default();
    let given = |k: &str| {
        res.prop(k)
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
    };
    let mut problem = |pointer: &str, message: String, fix: &str| {
        diags.error(
            "wiring/vpc-endpoint",
            res.locate(pointer),
            message,
            fix.to_string(),
        );
    };
    if kind == "Gateway" {
        if !matches!(service, "dynamodb" | "s3") {
            problem(
                "/service",
                format!(
                    "`{}`: AWS offers gateway endpoints only for dynamodb and s3, not {service}",
                    res.id
                ),
                "set `endpoint_type: Interface` with `subnet_ids` and `security_group_ids`",
            );
        }
        if !given("route_table_ids") {
            problem(
                "/route_table_ids",
                format!(
                    "gateway endpoint `{}` has no `route_table_ids`; no subnet would use it",
                    res.id
                ),
                "list the route tables of the subnets that call the service",
            );
        }
        for k in ["subnet_ids", "security_group_ids", "private_dns_enabled"] {
            if given(k) {
                problem(
                    &format!("/{k}"),
                    format!("gateway endpoint `{}` cannot take `{k}`", res.id),
                    "remove it, or set `endpoint_type: Interface`",
                );
            }
        }
    } else {
        if given("route_table_ids") {
            problem(
                "/route_table_ids",
                format!(
                    "interface endpoint `{}` cannot take `route_table_ids`",
                    res.id
                ),
                "remove it; interface endpoints are placed with `subnet_ids`",
            );
        }
        for k in ["subnet_ids", "security_group_ids"] {
            if !given(k) {
                problem(
                    "",
                    format!(
                        "interface endpoint `{}` has no `{k}`; without it the endpoint is unreachable",
                        res.id
                    ),
                    "give the subnets of its callers and a security group admitting HTTPS from them",
                );
            }
        }
    }
}
