//! What of a deployed stack `archform dev` stands in for, read from the
//! stack's state: its functions, the ALB listeners and function URLs in front
//! of them, the SQS event source mappings feeding them and the WebSocket APIs
//! routing to them. Everything is matched by the ARNs and ids AWS returned,
//! exactly as AWS wires them, never by logical-id naming conventions.

use crate::error::DevError;
use archform_blueprint::kinds::Kind;
use archform_engine::state::{ResourceState, ResourceStatus, State};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Topology {
    pub stack: String,
    pub region: String,
    pub account_id: String,
    pub functions: Vec<FunctionSpec>,
    pub listeners: Vec<ListenerSpec>,
    pub function_urls: Vec<FunctionUrlSpec>,
    pub pollers: Vec<PollerSpec>,
    pub websockets: Vec<WebSocketSpec>,
    /// The stack's load balancers, so that function environment values
    /// naming one (`APP_URL=http://${internal_alb.dns_name}`) lead to the
    /// local listeners dev binds for it.
    pub load_balancers: Vec<LoadBalancerSpec>,
    /// The stack's RDS instances, which dev serves from a local server.
    pub databases: Vec<DatabaseSpec>,
}

/// A load balancer: its DNS name as AWS returned it and its listeners.
#[derive(Clone, Debug)]
pub struct LoadBalancerSpec {
    pub id: String,
    pub dns_name: String,
    /// (the listener's logical id, its port on AWS).
    pub listeners: Vec<(String, u16)>,
}

/// An `rds.db_instance`, with the attribute values the functions'
/// environments were resolved from.
#[derive(Clone, Debug)]
pub struct DatabaseSpec {
    pub id: String,
    pub engine: String,
    pub endpoint_address: String,
    /// As the functions' environments hold it (text).
    pub endpoint_port: String,
    /// The RDS-managed secret of the master user (empty when none).
    pub master_user_secret_arn: String,
    pub master_username: String,
    /// The database created in the instance (`None`: only `postgres`).
    pub db_name: Option<String>,
}

/// One deployed function: where its code is and what it runs with.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// The logical id (as in the blueprint).
    pub id: String,
    pub name: String,
    pub arn: String,
    pub zip: PathBuf,
    pub environment: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
}

/// An ALB listener: its rules in priority order and its default action.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    pub id: String,
    pub port: u16,
    pub rules: Vec<RuleSpec>,
    pub default_action: Action,
}

#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub id: String,
    pub priority: u32,
    pub path_patterns: Vec<String>,
    pub http_methods: Vec<String>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Forward to a lambda target group; `function` is `None` when no
    /// function is registered in it (the ALB then answers 503).
    Forward {
        target_group_arn: String,
        multi_value_headers: bool,
        function: Option<String>,
    },
    FixedResponse {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    /// A redirect to the same host, path and query on another protocol
    /// and port (HTTP to HTTPS), as the ALB answers it.
    Redirect {
        status: u16,
        protocol: Option<String>,
        port: Option<u16>,
    },
}

#[derive(Clone, Debug)]
pub struct FunctionUrlSpec {
    pub id: String,
    /// The function's logical id.
    pub function: String,
    /// The `<url-id>` of `https://<url-id>.lambda-url.<region>.on.aws/`.
    pub url_id: String,
}

/// An SQS event source mapping.
#[derive(Clone, Debug)]
pub struct PollerSpec {
    pub id: String,
    /// The mapping's UUID in Lambda (dev pauses it while it polls).
    pub uuid: Option<String>,
    pub function: String,
    pub queue_arn: String,
    /// The queue's URL when the queue is part of the stack (else looked up).
    pub queue_url: Option<String>,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

#[derive(Clone, Debug)]
pub struct WebSocketSpec {
    pub id: String,
    pub api_id: String,
    pub route_selection_expression: String,
    /// The deployed stage's name; `None` when the stack has no stage in its
    /// state (an emulator without stage support): dev then serves `local`.
    pub stage: Option<String>,
    /// Route key -> the function's logical id.
    pub routes: Vec<(String, String)>,
}

impl WebSocketSpec {
    pub fn route(&self, key: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, f)| f.as_str())
    }
}

/// What `archform dev` does with a resource of each kind. Exhaustive, so a
/// new kind is placed here before it compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevRole {
    /// Runs on this machine under the local Lambda Runtime API.
    Runs,
    /// Replaced by a local stand-in that invokes the functions: an ALB
    /// listener, a function URL, an SQS event source mapping, a WebSocket API.
    StandIn,
    /// Read to wire a stand-in (rules, target registrations, routes,
    /// integrations, stages); dev never calls it.
    Wiring,
    /// Used in place, in the emulator or the account, by the functions
    /// (tables, queues, topics, secrets) or not involved at all (networking,
    /// roles, logs, permissions). Load balancers are read for their DNS
    /// names (rewritten in the functions' environments); against an
    /// emulator, a PostgreSQL `rds.db_instance` is served by a local server
    /// instead (see crate::database).
    InPlace,
}

pub fn dev_role(kind: Kind) -> DevRole {
    match kind {
        Kind::Function => DevRole::Runs,
        Kind::Listener | Kind::FunctionUrl | Kind::EventSourceMapping | Kind::Api => {
            DevRole::StandIn
        }
        Kind::ListenerRule
        | Kind::TargetGroup
        | Kind::LambdaTarget
        | Kind::Route
        | Kind::Integration
        | Kind::Stage
        | Kind::Deployment => DevRole::Wiring,
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::Eip
        | Kind::NatGateway
        | Kind::RouteTable
        | Kind::SecurityGroup
        | Kind::VpcEndpoint
        | Kind::IamRole
        | Kind::Secret
        | Kind::LogGroup
        | Kind::Permission
        | Kind::Queue
        | Kind::QueuePolicy
        | Kind::Topic
        | Kind::EmailIdentity
        | Kind::Subscription
        | Kind::Table
        | Kind::Bucket
        | Kind::DbSubnetGroup
        | Kind::DbParameterGroup
        | Kind::DbInstance
        | Kind::LoadBalancer => DevRole::InPlace,
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn attr<'a>(r: &'a ResourceState, key: &str) -> Option<&'a str> {
    r.attributes.get(key).and_then(Value::as_str)
}

impl Topology {
    /// Reads the topology from a stack's state. Resources a previous run
    /// left in flight are refused: their properties may not be what AWS has.
    pub fn from_state(state: &State) -> Result<Topology, DevError> {
        let in_flight: Vec<&str> = state
            .resources
            .iter()
            .filter(|(_, r)| r.status != ResourceStatus::Created)
            .map(|(id, _)| id.as_str())
            .collect();
        if !in_flight.is_empty() {
            return Err(DevError::Stack(format!(
                "stack `{}` has resources whose last deploy did not finish ({}): run `archform deploy` again first",
                state.stack,
                in_flight.join(", ")
            )));
        }
        let of_kind = |kind: Kind| state.resources.iter().filter(move |(_, r)| r.kind == kind);
        let functions = of_kind(Kind::Function)
            .map(|(id, r)| function(id, r))
            .collect::<Result<Vec<_>, _>>()?;
        if functions.is_empty() {
            return Err(DevError::Stack(format!(
                "stack `{}` has no functions to run",
                state.stack
            )));
        }
        let by_arn = |arn: &str| -> Option<String> {
            functions
                .iter()
                .find(|f| f.arn == arn || f.arn.trim_end_matches(":$LATEST") == arn)
                .map(|f| f.id.clone())
        };
        let by_name = |name: &str| -> Option<String> {
            functions
                .iter()
                .find(|f| f.name == name || f.arn == name)
                .map(|f| f.id.clone())
        };
        let region = functions[0]
            .arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        let account_id = functions[0]
            .arn
            .split(':')
            .nth(4)
            .unwrap_or("000000000000")
            .to_string();

        // Target group ARN -> (multi-value headers, registered function).
        let target_group = |arn: &str| -> Action {
            let multi = of_kind(Kind::TargetGroup)
                .find(|(_, r)| attr(r, "arn") == Some(arn))
                .and_then(|(_, r)| r.properties.get("multi_value_headers"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let function = of_kind(Kind::LambdaTarget)
                .find(|(_, r)| s(&r.properties, "target_group_arn") == Some(arn))
                .and_then(|(_, r)| s(&r.properties, "function_arn"))
                .and_then(by_arn);
            Action::Forward {
                target_group_arn: arn.to_string(),
                multi_value_headers: multi,
                function,
            }
        };
        let action = |v: &Value, owner: &str| -> Result<Action, DevError> {
            match s(v, "type") {
                Some("forward") => {
                    let arn = s(v, "target_group_arn").ok_or_else(|| {
                        DevError::Stack(format!("`{owner}` forwards without a target group"))
                    })?;
                    Ok(target_group(arn))
                }
                Some("fixed-response") => Ok(Action::FixedResponse {
                    status: v.get("status_code").and_then(Value::as_u64).unwrap_or(200) as u16,
                    content_type: s(v, "content_type").map(str::to_string),
                    body: s(v, "message_body").unwrap_or_default().to_string(),
                }),
                Some("redirect") => Ok(Action::Redirect {
                    status: v.get("status_code").and_then(Value::as_u64).unwrap_or(301) as u16,
                    protocol: s(v, "redirect_protocol").map(str::to_string),
                    port: v
                        .get("redirect_port")
                        .and_then(Value::as_u64)
                        .map(|p| p as u16),
                }),
                other => Err(DevError::Stack(format!(
                    "`{owner}` has an action dev cannot run: {other:?}"
                ))),
            }
        };

        let mut listeners = Vec::new();
        for (id, r) in of_kind(Kind::Listener) {
            let arn = attr(r, "arn").unwrap_or_default();
            let mut rules = Vec::new();
            for (rid, rr) in of_kind(Kind::ListenerRule)
                .filter(|(_, rr)| s(&rr.properties, "listener_arn") == Some(arn))
            {
                let strings = |key: &str| -> Vec<String> {
                    rr.properties
                        .get(key)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                rules.push(RuleSpec {
                    id: rid.clone(),
                    priority: rr
                        .properties
                        .get("priority")
                        .and_then(Value::as_u64)
                        .unwrap_or(50_000) as u32,
                    path_patterns: strings("path_patterns"),
                    http_methods: strings("http_methods"),
                    action: action(rr.properties.get("action").unwrap_or(&Value::Null), rid)?,
                });
            }
            rules.sort_by_key(|r| r.priority);
            listeners.push(ListenerSpec {
                id: id.clone(),
                port: r
                    .properties
                    .get("port")
                    .and_then(Value::as_u64)
                    .unwrap_or(80) as u16,
                rules,
                default_action: action(
                    r.properties.get("default_action").unwrap_or(&Value::Null),
                    id,
                )?,
            });
        }

        let mut function_urls = Vec::new();
        for (id, r) in of_kind(Kind::FunctionUrl) {
            let name = s(&r.properties, "function_name").unwrap_or_default();
            let function = by_name(name).ok_or_else(|| {
                DevError::Stack(format!(
                    "`{id}` is the URL of `{name}`, not a function of this stack"
                ))
            })?;
            let url_id = attr(r, "url")
                .and_then(|u| u.split("://").nth(1))
                .and_then(|h| h.split('.').next())
                .unwrap_or(id)
                .to_string();
            function_urls.push(FunctionUrlSpec {
                id: id.clone(),
                function,
                url_id,
            });
        }

        let mut pollers = Vec::new();
        for (id, r) in of_kind(Kind::EventSourceMapping) {
            let p = &r.properties;
            let queue_arn = s(p, "event_source_arn").unwrap_or_default().to_string();
            if !queue_arn.starts_with("arn:aws:sqs:") && !queue_arn.contains(":sqs:") {
                // Streams (DynamoDB, Kinesis) are not emulated by dev.
                continue;
            }
            let name = s(p, "function_name").unwrap_or_default();
            let function = by_name(name).ok_or_else(|| {
                DevError::Stack(format!(
                    "`{id}` feeds `{name}`, not a function of this stack"
                ))
            })?;
            let queue_url = of_kind(Kind::Queue)
                .find(|(_, q)| attr(q, "arn") == Some(queue_arn.as_str()))
                .and_then(|(_, q)| attr(q, "url").or(q.physical_id.as_deref()))
                .map(str::to_string);
            pollers.push(PollerSpec {
                id: id.clone(),
                uuid: attr(r, "id")
                    .or(r.physical_id.as_deref())
                    .map(str::to_string),
                function,
                queue_arn,
                queue_url,
                // Lambda's defaults for SQS: 10 messages, no batching window.
                batch_size: p.get("batch_size").and_then(Value::as_u64).unwrap_or(10) as u32,
                batching_window: Duration::from_secs(
                    p.get("maximum_batching_window_seconds")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                ),
                report_batch_item_failures: p
                    .get("report_batch_item_failures")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                enabled: p.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            });
        }

        let mut websockets = Vec::new();
        for (id, r) in of_kind(Kind::Api)
            .filter(|(_, r)| s(&r.properties, "protocol_type") == Some("WEBSOCKET"))
        {
            let api_id = attr(r, "id")
                .or(r.physical_id.as_deref())
                .unwrap_or_default()
                .to_string();
            let of_api = |kind: Kind| {
                let api_id = api_id.clone();
                of_kind(kind).filter(move |(_, x)| s(&x.properties, "api_id") == Some(&api_id))
            };
            let mut routes = Vec::new();
            for (rid, route) in of_api(Kind::Route) {
                let key = s(&route.properties, "route_key").unwrap_or_default();
                let integration_id = s(&route.properties, "integration_id").unwrap_or_default();
                let uri = of_api(Kind::Integration)
                    .find(|(_, i)| {
                        attr(i, "id").or(i.physical_id.as_deref()) == Some(integration_id)
                    })
                    .and_then(|(_, i)| s(&i.properties, "integration_uri"))
                    .ok_or_else(|| {
                        DevError::Stack(format!(
                            "route `{rid}` uses integration {integration_id}, which is not in the stack"
                        ))
                    })?;
                let function = invoke_arn_function(uri).and_then(by_arn).ok_or_else(|| {
                    DevError::Stack(format!(
                        "route `{rid}` integrates {uri}, not a function of this stack"
                    ))
                })?;
                routes.push((key.to_string(), function));
            }
            let stage = of_api(Kind::Stage)
                .next()
                .and_then(|(_, st)| s(&st.properties, "stage_name"))
                .map(str::to_string);
            websockets.push(WebSocketSpec {
                id: id.clone(),
                api_id,
                route_selection_expression: s(&r.properties, "route_selection_expression")
                    .unwrap_or("$request.body.action")
                    .to_string(),
                stage,
                routes,
            });
        }

        // A listener belongs to the load balancer whose ARN it names.
        let load_balancers = of_kind(Kind::LoadBalancer)
            .map(|(id, r)| LoadBalancerSpec {
                id: id.clone(),
                dns_name: attr(r, "dns_name").unwrap_or_default().to_string(),
                listeners: of_kind(Kind::Listener)
                    .filter(|(_, l)| {
                        attr(r, "arn")
                            .is_some_and(|arn| s(&l.properties, "load_balancer_arn") == Some(arn))
                    })
                    .map(|(lid, l)| {
                        let port = l.properties.get("port").and_then(Value::as_u64);
                        (lid.clone(), port.unwrap_or(80) as u16)
                    })
                    .collect(),
            })
            .collect();
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let databases = of_kind(Kind::DbInstance)
            .map(|(id, r)| DatabaseSpec {
                id: id.clone(),
                engine: text(r.properties.get("engine")),
                endpoint_address: text(r.attributes.get("endpoint_address")),
                endpoint_port: text(r.attributes.get("endpoint_port")),
                master_user_secret_arn: text(r.attributes.get("master_user_secret_arn")),
                master_username: text(r.properties.get("master_username")),
                db_name: s(&r.properties, "db_name").map(str::to_string),
            })
            .collect();

        Ok(Topology {
            stack: state.stack.clone(),
            region,
            account_id,
            functions,
            listeners,
            function_urls,
            pollers,
            websockets,
            load_balancers,
            databases,
        })
    }

    pub fn function(&self, id: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.id == id)
    }
}

/// The function ARN inside an API Gateway Lambda integration URI
/// (`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`).
pub fn invoke_arn_function(uri: &str) -> Option<&str> {
    let rest = uri.split_once("/functions/")?.1;
    Some(rest.strip_suffix("/invocations").unwrap_or(rest))
}

fn function(id: &str, r: &ResourceState) -> Result<FunctionSpec, DevError> {
    let p = &r.properties;
    let zip = p
        .pointer("/code/zip")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            DevError::Stack(format!(
                "function `{id}` has no code zip in the state: deploy it first"
            ))
        })?;
    let name = attr(r, "name")
        .or(r.physical_name.as_deref())
        .unwrap_or(id)
        .to_string();
    let arn = attr(r, "arn")
        .map(str::to_string)
        .unwrap_or_else(|| format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"));
    let environment = p
        .get("environment")
        .and_then(Value::as_object)
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(FunctionSpec {
        id: id.to_string(),
        name,
        arn,
        zip: PathBuf::from(zip),
        environment,
        timeout: Duration::from_secs(p.get("timeout").and_then(Value::as_u64).unwrap_or(3)),
        memory_mb: p.get("memory_size").and_then(Value::as_u64).unwrap_or(128) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_uri_names_the_function() {
        assert_eq!(
            invoke_arn_function(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123:function:f/invocations"
            ),
            Some("arn:aws:lambda:us-east-1:123:function:f")
        );
        assert_eq!(invoke_arn_function("arn:aws:lambda:x"), None);
    }
}
