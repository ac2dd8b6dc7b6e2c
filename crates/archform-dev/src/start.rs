//! Binding every local front, starting the function pools and pollers, and
//! stopping them all in order on shutdown.

use crate::database::{self, Databases};
use crate::env_rewrite::{AlbRewrite, Rewrites};
use crate::error::DevError;
use crate::event_sources;
use crate::http_front::{self, Front};
use crate::pool::FunctionPool;
use crate::pools::Pools;
use crate::sqs_poller::{self, Poller};
use crate::topology::Topology;
use crate::websocket::Gateway;
use archform_local::AwsEndpoint;
use archform_local::events::function_url::UrlContext;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The variable the AWS SDKs read for the API Gateway management API's
/// endpoint; dev points it at the local `@connections` endpoint.
pub const MANAGEMENT_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

pub struct DevOptions {
    pub bind: IpAddr,
    /// The first front's port; the others follow it in order. 0: every
    /// front gets a free port.
    pub port: u16,
    /// Execution environments per function at most (Lambda's concurrency).
    pub concurrency: usize,
    /// Where the functions' AWS calls go (`None`: the caller's own AWS
    /// configuration, i.e. the real account).
    pub endpoint: Option<AwsEndpoint>,
    /// Variables every function gets on top of its own (e.g. AWS_PROFILE).
    pub extra_env: Vec<(String, String)>,
    /// The SQS client pollers use (same endpoint and credentials).
    pub sqs: aws_sdk_sqs::Client,
    /// Lambda, to pause the stack's own event source mappings while dev
    /// polls their queues (`None`: leave them running, e.g. no pollers).
    pub lambda: Option<aws_sdk_lambda::Client>,
    /// Where function code is unpacked.
    pub work_dir: PathBuf,
    /// What dev keeps for this stack across runs (the local databases'
    /// clusters), e.g. next to the stack's state.
    pub dev_state_dir: PathBuf,
    /// Secrets Manager, same endpoint and credentials: against an emulator
    /// dev writes each local database's credentials to its instance's
    /// master-user secret.
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// One local address dev serves, for the readiness line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LocalEndpoint {
    /// `alb`, `function_url`, `websocket`, `sqs` or `postgres`.
    pub kind: &'static str,
    /// The logical id of the listener, URL, API or event source mapping.
    pub id: String,
    /// The local URL (for `sqs`, the queue's URL; for `postgres`,
    /// `postgres://localhost:<port>/<database>`, without credentials).
    pub url: String,
    /// What it stands in for.
    pub detail: String,
}

pub struct Running {
    pub endpoints: Vec<LocalEndpoint>,
    /// What dev does not stand in for, and why (for the user).
    pub notes: Vec<String>,
    databases: Databases,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    pools: Arc<Pools>,
    paused: Vec<String>,
    lambda: Option<aws_sdk_lambda::Client>,
}

impl Running {
    /// Stops accepting, lets requests and batches in flight finish, closes
    /// WebSocket connections (running their `$disconnect`), stops every
    /// function process, then the local databases (after their clients).
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Some(lambda) = &self.lambda {
            event_sources::resume(lambda, &self.paused).await;
        }
        self.pools.stop().await;
        self.databases.stop().await;
    }
}

async fn bind(options: &DevOptions, index: &mut u16, what: &str) -> Result<TcpListener, DevError> {
    let port = match options.port {
        0 => 0,
        p => p.checked_add(*index).ok_or_else(|| {
            DevError::Stack(format!(
                "--port {p} leaves no room for {what}: choose a lower port"
            ))
        })?,
    };
    *index += 1;
    http_front::bind(SocketAddr::new(options.bind, port), what).await
}

pub async fn start(topology: Topology, options: DevOptions) -> Result<Running, DevError> {
    let mut index = 0u16;
    let mut endpoints = Vec::new();
    let host = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into())
    };

    let mut alb_listeners = Vec::new();
    let mut rewrites = Rewrites::default();
    for l in &topology.listeners {
        let listener = bind(&options, &mut index, &format!("alb listener `{}`", l.id)).await?;
        if let Ok(mut local) = listener.local_addr() {
            // Functions call it on this machine: a wildcard bind is reached
            // on loopback.
            if local.ip().is_unspecified() {
                local.set_ip(match local.ip() {
                    IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
                    IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                });
            }
            for lb in &topology.load_balancers {
                if let Some((_, port)) = lb.listeners.iter().find(|(id, _)| id == &l.id) {
                    match rewrites.albs.iter_mut().find(|a| a.dns_name == lb.dns_name) {
                        Some(a) => a.ports.push((*port, local)),
                        None => rewrites.albs.push(AlbRewrite {
                            dns_name: lb.dns_name.clone(),
                            ports: vec![(*port, local)],
                        }),
                    }
                }
            }
        }
        let rules: Vec<String> = l
            .rules
            .iter()
            .map(|r| format!("{} {}", r.priority, r.path_patterns.join(",")))
            .collect();
        endpoints.push(LocalEndpoint {
            kind: "alb",
            id: l.id.clone(),
            url: format!("http://{}", host(&listener)),
            detail: format!("port {} on AWS; rules: {}", l.port, rules.join("; ")),
        });
        alb_listeners.push((Front::Alb(Arc::new(l.clone())), listener));
    }
    for u in &topology.function_urls {
        let listener = bind(&options, &mut index, &format!("function URL `{}`", u.id)).await?;
        endpoints.push(LocalEndpoint {
            kind: "function_url",
            id: u.id.clone(),
            url: format!("http://{}", host(&listener)),
            detail: format!("function `{}`", u.function),
        });
        let ctx = UrlContext {
            url_id: u.url_id.clone(),
            account_id: topology.account_id.clone(),
            region: topology.region.clone(),
        };
        alb_listeners.push((Front::Url(Arc::new(u.clone()), ctx), listener));
    }
    let mut ws_listeners = Vec::new();
    for w in &topology.websockets {
        let listener = bind(&options, &mut index, &format!("WebSocket API `{}`", w.id)).await?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        ws_listeners.push((w.clone(), port, listener));
    }

    // Functions reach the management API of the WebSocket API that routes
    // to them (or the only one in the stack, for functions that only post).
    let management = |function: &str| -> Option<String> {
        let (spec, port, _) = ws_listeners
            .iter()
            .find(|(w, _, _)| w.routes.iter().any(|(_, f)| f == function))
            .or_else(|| (ws_listeners.len() == 1).then(|| &ws_listeners[0]))?;
        let stage = spec.stage.as_deref().unwrap_or("local");
        Some(Gateway::management_endpoint(*port, stage))
    };
    std::fs::create_dir_all(&options.work_dir).map_err(|source| DevError::Bind {
        what: format!("the work folder {}", options.work_dir.display()),
        addr: SocketAddr::new(options.bind, 0),
        source,
    })?;
    // Against an emulator only: see database::serve.
    let databases = database::serve(
        &topology.databases,
        &options.dev_state_dir,
        options.endpoint.is_some().then_some(&options.secrets),
    )
    .await?;
    endpoints.extend(databases.endpoints.iter().cloned());
    rewrites.dbs = databases.rewrites.clone();
    let mut pools = Pools::default();
    for f in &topology.functions {
        let mut extra = options.extra_env.clone();
        extra.extend(management(&f.id).map(|url| (MANAGEMENT_ENDPOINT_ENV.to_string(), url)));
        let mut f = f.clone();
        f.environment = rewrites.apply(&f.environment);
        pools.insert(FunctionPool::new(
            f,
            &options.work_dir,
            options.endpoint.clone(),
            &extra,
            options.concurrency,
        )?);
    }
    let pools = Arc::new(pools);

    let mut pollers = Vec::new();
    for p in &topology.pollers {
        let Some(pool) = pools.get(&p.function).cloned() else {
            continue;
        };
        let queue_url = sqs_poller::queue_url(&options.sqs, p).await?;
        endpoints.push(LocalEndpoint {
            kind: "sqs",
            id: p.id.clone(),
            url: queue_url.clone(),
            detail: format!(
                "-> `{}` (batch {}, window {} s{}{})",
                p.function,
                p.batch_size,
                p.batching_window.as_secs(),
                if p.report_batch_item_failures {
                    ", partial batch failures"
                } else {
                    ""
                },
                if p.enabled { "" } else { ", disabled" },
            ),
        });
        pollers.push(Poller {
            spec: p.clone(),
            queue_url,
            region: topology.region.clone(),
            client: options.sqs.clone(),
            pool,
        });
    }

    let paused = match &options.lambda {
        Some(lambda) => event_sources::pause(lambda, &topology.pollers).await?,
        None => Vec::new(),
    };
    let (shutdown, watch_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (front, listener) in alb_listeners {
        tasks.spawn(http_front::run(
            front,
            listener,
            pools.clone(),
            watch_rx.clone(),
        ));
    }
    for (spec, port, listener) in ws_listeners {
        let gateway = Arc::new(Gateway::new(
            spec,
            port,
            topology.account_id.clone(),
            pools.clone(),
        ));
        endpoints.push(LocalEndpoint {
            kind: "websocket",
            id: gateway.spec.id.clone(),
            url: gateway.url(),
            detail: format!(
                "@connections at {}/@connections; routes: {}",
                Gateway::management_endpoint(port, &gateway.stage),
                gateway
                    .spec
                    .routes
                    .iter()
                    .map(|(k, f)| format!("{k} -> {f}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        tasks.spawn(gateway.run(listener, watch_rx.clone()));
    }
    for poller in pollers {
        tasks.spawn(poller.run(watch_rx.clone()));
    }
    Ok(Running {
        endpoints,
        notes: databases.notes.clone(),
        databases,
        shutdown,
        tasks,
        pools,
        paused,
        lambda: options.lambda,
    })
}
