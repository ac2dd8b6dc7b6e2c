//! Least privilege, taken from the calls themselves: every function of
//! blueprints/chat.yaml (both layouts) runs its real handler
//! (`chat::lambda::handle`) with the environment the blueprint gives it,
//! against the emulator, through one counting proxy per table. The DynamoDB
//! actions it makes on each table must be exactly the ones its IAM policy
//! allows there: one missing and AWS refuses the call; one extra and the
//! policy is wider than the function.
//!
//! The scenario makes every call a route can make: connects and disconnects
//! of several devices, a duplicate send, frames no route knows, history
//! pages, leave and join, read markers, presence, and in every fan-out a
//! member whose connection is gone (410), so the clean-up path runs too.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use archform_blueprint::{Graph, StackRequest, compile};
use archform_testkit::{FaultConfig, FaultProxy, sdk_config, test_endpoint};
use aws_lambda_events::event::apigw::{
    ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
};
use chat::config::Config;
use chat::frames::Action;
use chat::lambda::{Route, handle, stores_for};
use chat::service::ChatService;
use chat::token::{self, SigningKey};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use service_common::MetricsSink;
use service_common::ws_management::ManagementClients;

use support::tables::TABLES;

/// Actions per logical table (`connections`, `messages`, `presence`).
type Grants = BTreeMap<String, BTreeSet<String>>;

fn graph(set: &[&str]) -> Graph {
    compile(&StackRequest {
        blueprint: Some("chat".into()),
        stack: Some("iam".into()),
        set: set.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("chat {set:?} does not compile: {e:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The function's DynamoDB grants by table (index grants count for their
/// table: which index a Query used is not visible on the wire), and every
/// other action it is granted.
fn policy_of(g: &Graph, function: &str) -> (Grants, BTreeSet<String>) {
    let role = &g.resources[&format!("{function}_role")];
    let mut dynamodb = Grants::new();
    let mut other = BTreeSet::new();
    for policy in role.properties["policies"].as_array().unwrap() {
        for st in policy["document"]["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow", "{function}: {st}");
            for resource in strings(&st["Resource"]) {
                for action in strings(&st["Action"]) {
                    match action.strip_prefix("dynamodb:") {
                        Some(a) => {
                            let table = TABLES
                                .iter()
                                .find(|t| {
                                    resource == format!("${{{t}.arn}}")
                                        || resource.starts_with(&format!("${{{t}.arn}}/index/"))
                                })
                                .unwrap_or_else(|| {
                                    panic!("{function}: {action} on {resource}, not a chat table")
                                });
                            dynamodb
                                .entry(table.to_string())
                                .or_default()
                                .insert(a.to_string());
                        }
                        None => {
                            other.insert(format!("{action} on {resource}"));
                        }
                    }
                }
            }
        }
    }
    (dynamodb, other)
}

/// The route a function's binary serves.
fn route_of(bin: &str) -> Route {
    match bin {
        "router" => Route::All,
        "connect" => Route::Connect,
        "disconnect" => Route::Disconnect,
        other => Route::Message(
            Action::ALL
                .into_iter()
                .find(|a| a.name() == other)
                .unwrap_or_else(|| panic!("no route for binary {other}")),
        ),
    }
}

/// A @connections stand-in: 410 for connections whose id starts with
/// `gone`, otherwise 200, keeping what was posted.
async fn connections_endpoint() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let posted = Arc::new(Mutex::new(Vec::new()));
    let kept = posted.clone();
    let app = axum::Router::new().route(
        "/{stage}/@connections/{id}",
        axum::routing::post(
            move |axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
                  body: String| {
                let kept = kept.clone();
                async move {
                    if id.starts_with("gone") {
                        return axum::http::StatusCode::GONE;
                    }
                    let frame = serde_json::from_str(&body).unwrap_or(Value::Null);
                    kept.lock().unwrap().push((id, frame));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/prod"), posted)
}

/// One proxy per table in front of the emulator.
struct Tables {
    names: HashMap<&'static str, String>,
    proxies: HashMap<&'static str, FaultProxy>,
    clients: HashMap<String, aws_sdk_dynamodb::Client>,
}

impl Tables {
    async fn new(endpoint: &str, prefix: &str) -> Tables {
        let names: HashMap<&str, String> = TABLES
            .iter()
            .map(|t| (*t, format!("{prefix}-{t}")))
            .collect();
        support::tables::create(
            &aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await),
            &names,
        )
        .await;
        let mut proxies = HashMap::new();
        let mut clients = HashMap::new();
        for t in TABLES {
            let proxy = FaultProxy::start(endpoint, FaultConfig::default())
                .await
                .unwrap();
            let client = aws_sdk_dynamodb::Client::new(&sdk_config(&proxy.endpoint).await);
            clients.insert(names[t].clone(), client);
            proxies.insert(t, proxy);
        }
        Tables {
            names,
            proxies,
            clients,
        }
    }

    fn reset(&self) {
        self.proxies.values().for_each(FaultProxy::reset);
    }

    /// The IAM actions the calls since the last reset need, per table.
    fn used(&self) -> Grants {
        let mut used = Grants::new();
        for (table, proxy) in &self.proxies {
            for op in proxy.stats().calls.keys() {
                let op = op.strip_prefix("dynamodb:").unwrap_or(op);
                // A transaction is authorized item by item: the chat's
                // transactions are two conditional Puts.
                let action = match op {
                    "TransactWriteItems" => "PutItem",
                    op => op,
                };
                used.entry(table.to_string())
                    .or_default()
                    .insert(action.to_string());
            }
        }
        used
    }
}

/// A function of the blueprint, wired as Lambda would wire it.
struct Function {
    id: String,
    route: Route,
    service: ChatService,
}

fn environment(g: &Graph, function: &str, tables: &Tables) -> HashMap<String, String> {
    let env = &g.resources[function].properties["environment"];
    env.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let mut v = v.as_str().unwrap_or_default().to_string();
                    for t in TABLES {
                        v = v.replace(&format!("${{{t}.name}}"), &tables.names[t]);
                    }
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn functions(g: &Graph, tables: &Tables, key: &SigningKey) -> Vec<Function> {
    let mut out = Vec::new();
    for r in g.resources.values() {
        if r.kind.name != "lambda.function" || r.properties["code"]["package"] != "chat" {
            continue;
        }
        let bin = r.properties["code"]["bin"].as_str().unwrap();
        if bin == "page" {
            continue;
        }
        let route = route_of(bin);
        let env = environment(g, &r.id, tables);
        let config = Config::from_lookup(|name| env.get(name).cloned())
            .unwrap_or_else(|e| panic!("{}: the blueprint's environment: {e}", r.id));
        if route.serves_connect() {
            assert!(
                env.get("SIGNING_SECRET_ARN")
                    .is_some_and(|v| v == "${signing_key.arn}"),
                "{} serves $connect: it must read the signing key from the blueprint's secret",
                r.id
            );
        } else {
            assert!(
                !env.contains_key("SIGNING_SECRET_ARN"),
                "{} never verifies a token: it must not get the signing key",
                r.id
            );
        }
        let stores = stores_for(route, &config, |table| tables.clients[table].clone())
            .unwrap_or_else(|e| panic!("{}: {e}", r.id));
        let mut limits = config.limits.clone();
        // Typing throttled per connection would drop the second typing
        // event before it reaches a fan-out.
        limits.typing_min_interval = std::time::Duration::ZERO;
        let service = ChatService::new(
            limits,
            stores,
            route.serves_connect().then(|| key.clone()),
            MetricsSink::Off,
        );
        out.push(Function {
            id: r.id.clone(),
            route,
            service,
        });
    }
    out
}

fn event(
    route_key: &str,
    connection: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    let mut request = ApiGatewayWebsocketProxyRequest::default();
    let mut ctx = ApiGatewayWebsocketProxyRequestContext::default();
    ctx.route_key = Some(route_key.into());
    ctx.connection_id = Some(connection.into());
    ctx.domain_name = Some("chat.example".into());
    ctx.stage = Some("prod".into());
    request.request_context = ctx;
    if let Some(token) = token {
        request.query_string_parameters =
            HashMap::from([("token".to_string(), token.to_string())]).into();
    }
    request.body = body.map(str::to_string);
    LambdaEvent::new(request, Context::default())
}

struct Run<'a> {
    functions: &'a [Function],
    tables: &'a Tables,
    clients: &'a ManagementClients,
    key: &'a SigningKey,
    posted: &'a Arc<Mutex<Vec<(String, Value)>>>,
    /// Calls made, per function id.
    used: BTreeMap<String, Grants>,
    gone: u32,
}

impl Run<'_> {
    /// The function serving `route_key` (and, for a message, `action`).
    fn function_for(&self, route_key: &str) -> &Function {
        let wanted = match route_key {
            "$connect" => [Route::Connect, Route::All],
            "$disconnect" => [Route::Disconnect, Route::All],
            "$default" => [Route::Message(Action::SendMessage), Route::All],
            action => {
                let action = Action::ALL
                    .into_iter()
                    .find(|a| a.name() == action)
                    .unwrap();
                [Route::Message(action), Route::All]
            }
        };
        self.functions
            .iter()
            .find(|f| wanted.contains(&f.route))
            .unwrap_or_else(|| panic!("no function serves {route_key}"))
    }

    fn token(&self, user: &str, conversations: &[&str]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let convs: Vec<String> = conversations.iter().map(|c| c.to_string()).collect();
        token::sign(self.key, &token::claims_for(user, &convs, None, now, 600))
    }

    /// Sends one event to the function that serves it, counting its calls
    /// against that function when `measured`.
    async fn send(
        &mut self,
        measured: bool,
        route_key: &str,
        connection: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> i64 {
        let f = self.function_for(route_key);
        self.tables.reset();
        let response = handle(
            &f.service,
            self.clients,
            f.route,
            event(route_key, connection, token, body),
        )
        .await;
        if measured {
            let used = self.tables.used();
            let mine = self.used.entry(f.id.clone()).or_default();
            for (table, actions) in used {
                mine.entry(table).or_default().extend(actions);
            }
        }
        response.status_code
    }

    async fn connect(
        &mut self,
        measured: bool,
        connection: &str,
        user: &str,
        conversations: &[&str],
    ) {
        let token = self.token(user, conversations);
        let status = self
            .send(measured, "$connect", connection, Some(&token), None)
            .await;
        assert_eq!(status, 200, "{user} connecting as {connection}");
    }

    /// A member of `general` whose connection is gone, so that the next
    /// fan-out meets a 410 and removes it.
    async fn stale_member(&mut self) {
        self.gone += 1;
        let id = format!("gone{}", self.gone);
        self.connect(false, &id, &format!("ghost{}", self.gone), &["general"])
            .await;
    }

    async fn frame(&mut self, connection: &str, body: &str) {
        let action = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["action"].as_str().map(str::to_string))
            .filter(|a| Action::ALL.iter().any(|k| k.name() == a))
            .unwrap_or_else(|| "$default".to_string());
        self.stale_member().await;
        let status = self.send(true, &action, connection, None, Some(body)).await;
        assert_eq!(status, 200, "{body}");
    }

    fn last_message_id(&self) -> String {
        let posted = self.posted.lock().unwrap();
        posted
            .iter()
            .rev()
            .find_map(|(_, f)| {
                (f["type"] == "ack").then(|| f["message"]["id"].as_str().unwrap().to_string())
            })
            .expect("an ack was posted")
    }
}

async fn scenario(layout: &str, posted: &Arc<Mutex<Vec<(String, Value)>>>) {
    let endpoint = test_endpoint();
    let prefix = format!("chat-iam-{}-{layout}", std::process::id());
    let tables = Tables::new(&endpoint, &prefix).await;
    let g = graph(&[&format!("function_layout={layout}")]);
    let key = SigningKey::new(b"a test key that is long enough to sign with".to_vec()).unwrap();
    let functions = functions(&g, &tables, &key);
    let clients = ManagementClients::new(sdk_config(&endpoint).await);
    let mut run = Run {
        functions: &functions,
        tables: &tables,
        clients: &clients,
        key: &key,
        posted,
        used: BTreeMap::new(),
        gone: 0,
    };
    // Connects: a member is already there (gone, so the announcement
    // meets a 410); a second device of a user who is online.
    run.stale_member().await;
    run.connect(true, "alice1", "alice", &["general", "random"])
        .await;
    run.stale_member().await;
    run.connect(true, "bob1", "bob", &["general"]).await;
    run.connect(true, "alice2", "alice", &["general", "random"])
        .await;

    let send =
        r#"{"action":"sendmessage","conversation":"general","text":"hello","client_id":"m-1"}"#;
    run.frame("alice1", send).await;
    run.frame("alice1", send).await; // the retry: stored once
    let first = run.last_message_id();
    run.frame(
        "bob1",
        r#"{"action":"sendmessage","conversation":"general","text":"hi"}"#,
    )
    .await;
    run.frame("bob1", "not json").await;
    run.frame("bob1", r#"{"action":"dance","conversation":"general"}"#)
        .await;
    run.frame("bob1", r#"{"action":"typing","conversation":"general"}"#)
        .await;
    run.frame(
        "bob1",
        r#"{"action":"history","conversation":"general","limit":1}"#,
    )
    .await;
    run.frame(
        "bob1",
        &format!(r#"{{"action":"history","conversation":"general","since":"{first}"}}"#),
    )
    .await;
    run.frame(
        "bob1",
        &format!(r#"{{"action":"history","conversation":"general","before":"{first}"}}"#),
    )
    .await;
    run.frame("alice1", r#"{"action":"leave","conversation":"random"}"#)
        .await;
    run.frame("alice1", r#"{"action":"join","conversation":"random"}"#)
        .await;
    run.frame(
        "bob1",
        &format!(r#"{{"action":"read","conversation":"general","message_id":"{first}"}}"#),
    )
    .await;
    run.frame("bob1", r#"{"action":"presence","conversation":"general"}"#)
        .await;
    // Disconnects: a second device (the user stays online), then the
    // last one (offline, announced to a member who is gone).
    run.send(true, "$disconnect", "alice2", None, None).await;
    run.stale_member().await;
    run.send(true, "$disconnect", "alice1", None, None).await;
    run.send(true, "$disconnect", "bob1", None, None).await;

    let mut wrong = Vec::new();
    for f in &functions {
        let (granted, other) = policy_of(&g, &f.id);
        let used = run.used.get(&f.id).cloned().unwrap_or_default();
        if granted != used {
            wrong.push(format!(
                "{} ({:?}):\n  granted {granted:?}\n  used    {used:?}",
                f.id, f.route
            ));
        }
        let expected_other: BTreeSet<String> = [
            Some(format!("logs:CreateLogStream on ${{{}_logs.arn}}", f.id)),
            Some(format!("logs:PutLogEvents on ${{{}_logs.arn}}", f.id)),
            Some(
                "execute-api:ManageConnections on ${api.execution_arn}/prod/POST/@connections/*"
                    .to_string(),
            ),
            f.route
                .serves_connect()
                .then(|| "secretsmanager:GetSecretValue on ${signing_key.arn}".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(other, expected_other, "{}: its other grants", f.id);
    }
    assert!(
        wrong.is_empty(),
        "{layout}: policies differ from the calls made:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn each_function_is_granted_exactly_the_calls_it_makes() {
    // One thread: the environment is set below with nothing else running.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (management, posted) = rt.block_on(connections_endpoint());
    // SAFETY: this test's only thread sets it before any SDK client or
    // handler exists. The handlers reach the @connections stand-in through
    // the variable `archform dev` sets.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", &management) };
    rt.block_on(async {
        scenario("per_route", &posted).await;
        scenario("router", &posted).await;
    });
}
