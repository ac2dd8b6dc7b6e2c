//! From a resource graph to a picture: which resources become boxes, which
//! frames (VPC, subnet tiers) hold them, and which wiring becomes arrows.
//!
//! Both renderers (Mermaid, Graphviz) draw the same [`Scene`], so the two
//! outputs always tell the same story. Everything is built in blueprint order
//! with insertion-ordered maps, so the output is deterministic.

use super::labels;
use crate::kinds::Kind;
use crate::model::{Graph, Resource};
use crate::refs::{self, Ref};
use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

/// The outline of a box, chosen by what the resource is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The internet, clients, external endpoints.
    Client,
    /// Internet and NAT gateways, VPC endpoints.
    Gateway,
    /// Where requests enter: load balancers, APIs, function URLs.
    Entry,
    Function,
    /// Tables, databases, buckets.
    Store,
    Queue,
    Topic,
    Secret,
    /// A security group.
    Guard,
    /// An address range in a security group rule.
    Cidr,
    /// Plain text (the subnets of an otherwise empty tier).
    Note,
}

/// The colour family of a box or arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tone {
    External,
    Network,
    Edge,
    Compute,
    Data,
    Messaging,
    Security,
    Plain,
}

/// What a frame stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    Cloud,
    Vpc,
    Public,
    Private,
    Isolated,
    /// Subnets without a `tier`.
    Subnets,
    /// The security groups of a VPC and the rules between them.
    Security,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    /// A safe identifier (letters, digits, `_`).
    pub id: String,
    pub label: String,
    pub parent: Option<usize>,
    pub frame: Frame,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// A safe identifier (letters, digits, `_`); resources are `n_<logical id>`.
    pub id: String,
    /// The label, one entry per line; the first is the name.
    pub lines: Vec<String>,
    pub shape: Shape,
    pub tone: Tone,
    pub cluster: Option<usize>,
}

/// What an arrow means; renderers pick line style and colour from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// The synchronous request path: clients, gateways, entry points, handlers.
    Request,
    /// Asynchronous delivery: topic to queue, queue to consumer.
    Event,
    /// A function using a store, queue, topic or API (role policy, environment).
    Access,
    /// Messages that keep failing move to a dead-letter queue.
    Redrive,
    /// Outbound traffic through NAT.
    Egress,
    /// A security group ingress rule.
    Rule,
}

#[derive(Clone, Debug)]
pub struct Edge {
    /// Node indices.
    pub from: usize,
    pub to: usize,
    pub label: String,
    pub flow: Flow,
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub title: String,
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Scene {
    /// Direct child frames of `parent` (None: top level), in creation order.
    pub fn child_clusters(&self, parent: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        (0..self.clusters.len()).filter(move |&c| self.clusters[c].parent == parent)
    }

    /// Nodes directly inside `cluster` (None: top level), in creation order.
    pub fn nodes_in(&self, cluster: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(move |&n| self.nodes[n].cluster == cluster)
    }

    /// The first node inside a frame or any frame nested in it.
    pub fn anchor(&self, cluster: usize) -> Option<usize> {
        self.nodes_in(Some(cluster)).next().or_else(|| {
            self.child_clusters(Some(cluster))
                .find_map(|c| self.anchor(c))
        })
    }
}

/// A safe identifier: letters, digits and `_` kept, anything else `_`.
pub fn safe_id(prefix: &str, raw: &str) -> String {
    let body: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}{body}")
}

/// How a resource of a kind takes part in the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// A box.
    Node(Shape, Tone),
    /// A frame (VPC) or a member of one (subnets).
    Frame,
    /// Folded into another box (a stage into its API).
    Folded,
    /// A security group box in the VPC's security frame.
    Guard,
    /// Not drawn; may become arrows.
    Hidden,
}

fn part(r: &Resource) -> Part {
    match r.kind {
        Kind::Vpc | Kind::Subnet => Part::Frame,
        Kind::InternetGateway | Kind::NatGateway | Kind::VpcEndpoint => {
            Part::Node(Shape::Gateway, Tone::Network)
        }
        Kind::SecurityGroup => Part::Guard,
        Kind::Stage => Part::Folded,
        Kind::Secret => Part::Node(Shape::Secret, Tone::Security),
        Kind::Function => Part::Node(Shape::Function, Tone::Compute),
        Kind::Queue => Part::Node(Shape::Queue, Tone::Messaging),
        Kind::Topic => Part::Node(Shape::Topic, Tone::Messaging),
        // Where mail leaves: drawn like the other ways out of the system.
        Kind::EmailIdentity => Part::Node(Shape::Client, Tone::Messaging),
        Kind::LoadBalancer | Kind::Api | Kind::FunctionUrl => Part::Node(Shape::Entry, Tone::Edge),
        Kind::Table | Kind::Bucket | Kind::DbInstance => Part::Node(Shape::Store, Tone::Data),
        // Drawn as arrows between the boxes above, or not at all.
        Kind::LogGroup
        | Kind::IamRole
        | Kind::Eip
        | Kind::RouteTable
        | Kind::DbSubnetGroup
        | Kind::DbParameterGroup
        | Kind::Permission
        | Kind::EventSourceMapping
        | Kind::QueuePolicy
        | Kind::Subscription
        | Kind::TargetGroup
        | Kind::LambdaTarget
        | Kind::Listener
        | Kind::ListenerRule
        | Kind::Integration
        | Kind::Route
        | Kind::Deployment => Part::Hidden,
    }
}

/// One box for several VPC endpoints (services grouped by endpoint type) or
/// NAT gateways.
fn group_lines(group: &[&Resource]) -> Vec<String> {
    if group.iter().all(|r| is(r, Kind::NatGateway)) {
        let ids: Vec<&str> = group.iter().map(|r| r.id.as_str()).collect();
        return vec![ids.join(", "), format!("{} NAT gateways", group.len())];
    }
    let mut by_type: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for e in group {
        let (service, kind) = endpoint_kind(e);
        by_type.entry(kind).or_default().push(service);
    }
    let mut lines = vec!["VPC endpoints".to_string()];
    for (kind, services) in by_type {
        lines.push(format!("{} ({kind})", services.join(", ")));
    }
    lines
}

/// A VPC endpoint's service name and type (`gateway`, `interface`).
fn endpoint_kind(e: &Resource) -> (&str, &'static str) {
    let kind = match str_prop(e, "endpoint_type") {
        Some("Interface") => "interface",
        _ => "gateway",
    };
    let service = match str_prop(e, "service") {
        Some("dynamodb") => "DynamoDB",
        Some("s3") => "S3",
        Some("secretsmanager") => "Secrets Manager",
        Some(other) => other,
        None => "service",
    };
    (service, kind)
}

/// Every reference inside a JSON value.
fn refs_in(v: &Value) -> Vec<Ref> {
    let mut out = Vec::new();
    refs::collect(v, &mut String::new(), &mut out);
    out.into_iter().map(|(_, r)| r).collect()
}

/// The id of the first reference inside a property.
fn ref_id(r: &Resource, prop: &str) -> Option<String> {
    r.prop(prop)
        .and_then(|v| refs_in(v).into_iter().next())
        .map(|x| x.id)
}

fn ref_ids(v: Option<&Value>) -> Vec<String> {
    v.map(refs_in)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn str_prop<'a>(r: &'a Resource, name: &str) -> Option<&'a str> {
    r.prop(name).and_then(Value::as_str)
}

fn int_prop(r: &Resource, name: &str) -> Option<i64> {
    r.prop(name).and_then(Value::as_i64)
}

fn is(r: &Resource, kind: Kind) -> bool {
    r.kind == kind
}

struct Builder<'g> {
    graph: &'g Graph,
    scene: Scene,
    /// Resource id -> its box.
    node_of: IndexMap<String, usize>,
    /// Folded resource id -> the resource whose box shows it.
    folded_into: IndexMap<String, String>,
    cloud: usize,
    /// VPC id -> frame.
    vpc_frame: IndexMap<String, usize>,
    /// Subnet id -> tier frame.
    subnet_frame: IndexMap<String, usize>,
    /// VPC id -> security frame (made on first use).
    security_frame: IndexMap<String, usize>,
    internet: Option<usize>,
    /// Synthetic nodes by id (CIDR sources, external subscribers).
    extra: IndexMap<String, usize>,
    /// (from, to, flow) -> labels, in first-seen order.
    edges: IndexMap<(usize, usize, Flow), IndexSet<String>>,
}

pub fn build(graph: &Graph) -> Scene {
    let mut title = format!("stack {}", graph.stack.name);
    if graph.stack.blueprint != graph.stack.name {
        title.push_str(&format!(" (blueprint {})", graph.stack.blueprint));
    }
    let cloud_label = match &graph.stack.region {
        Some(region) => format!("AWS Cloud · {region} · {title}"),
        None => format!("AWS Cloud · {title}"),
    };
    let mut b = Builder {
        graph,
        scene: Scene {
            title,
            clusters: vec![Cluster {
                id: "c_aws".into(),
                label: cloud_label,
                parent: None,
                frame: Frame::Cloud,
            }],
            nodes: Vec::new(),
            edges: Vec::new(),
        },
        node_of: IndexMap::new(),
        folded_into: IndexMap::new(),
        cloud: 0,
        vpc_frame: IndexMap::new(),
        subnet_frame: IndexMap::new(),
        security_frame: IndexMap::new(),
        internet: None,
        extra: IndexMap::new(),
        edges: IndexMap::new(),
    };
    b.frames();
    b.boxes();
    b.entry_edges();
    b.listener_edges();
    b.api_edges();
    b.messaging_edges();
    b.access_edges();
    b.network_edges();
    b.guard_edges();
    b.finish()
}

impl<'g> Builder<'g> {
    fn resources(&self) -> impl Iterator<Item = &'g Resource> + use<'g> {
        self.graph.resources.values()
    }

    fn get(&self, id: &str) -> Option<&'g Resource> {
        self.graph.resources.get(id)
    }

    fn cluster(&mut self, id: String, label: String, parent: usize, frame: Frame) -> usize {
        self.scene.clusters.push(Cluster {
            id,
            label,
            parent: Some(parent),
            frame,
        });
        self.scene.clusters.len() - 1
    }

    fn node(
        &mut self,
        id: String,
        lines: Vec<String>,
        shape: Shape,
        tone: Tone,
        cluster: Option<usize>,
    ) -> usize {
        self.scene.nodes.push(Node {
            id,
            lines,
            shape,
            tone,
            cluster,
        });
        self.scene.nodes.len() - 1
    }

    /// The box that shows a resource: its own, or the one it is folded into.
    fn box_of(&self, id: &str) -> Option<usize> {
        let id = self.folded_into.get(id).map_or(id, String::as_str);
        self.node_of.get(id).copied()
    }

    fn edge(&mut self, from: usize, to: usize, flow: Flow, label: impl Into<String>) {
        if from == to {
            return;
        }
        let labels = self.edges.entry((from, to, flow)).or_default();
        let label = label.into();
        if !label.is_empty() {
            labels.insert(label);
        }
    }

    /// VPC frames and their subnet tier frames.
    fn frames(&mut self) {
        let vpcs: Vec<&Resource> = self.resources().filter(|r| is(r, Kind::Vpc)).collect();
        for vpc in vpcs {
            let mut label = format!("VPC {}", vpc.id);
            if let Some(cidr) = str_prop(vpc, "cidr_block") {
                label.push_str(&format!(" · {cidr}"));
            }
            let f = self.cluster(safe_id("c_vpc_", &vpc.id), label, self.cloud, Frame::Vpc);
            self.vpc_frame.insert(vpc.id.clone(), f);
            let subnets: Vec<&Resource> = self
                .resources()
                .filter(|r| is(r, Kind::Subnet) && ref_id(r, "vpc_id").as_deref() == Some(&vpc.id))
                .collect();
            for (tier, frame, name) in [
                (Some("public"), Frame::Public, "Public subnets"),
                (Some("private"), Frame::Private, "Private app subnets"),
                (Some("isolated"), Frame::Isolated, "Isolated data subnets"),
                (None, Frame::Subnets, "Subnets"),
            ] {
                let members: Vec<&Resource> = subnets
                    .iter()
                    .copied()
                    .filter(|s| str_prop(s, "tier") == tier)
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let azs: IndexSet<String> = members
                    .iter()
                    .map(|s| {
                        s.prop("availability_zone")
                            .map(Value::to_string)
                            .unwrap_or_else(|| s.id.clone())
                    })
                    .collect();
                let label = match azs.len() {
                    1 => format!("{name} · 1 AZ"),
                    n => format!("{name} · {n} AZs"),
                };
                let id = safe_id(
                    "c_tier_",
                    &format!("{}_{}", vpc.id, tier.unwrap_or("subnets")),
                );
                let t = self.cluster(id, label, f, frame);
                for s in members {
                    self.subnet_frame.insert(s.id.clone(), t);
                }
            }
        }
    }

    /// The frame a resource runs in, from the subnets it is placed in.
    fn placed_in(&self, r: &Resource) -> usize {
        let subnets: Vec<String> = match r.kind {
            Kind::Function => ref_ids(r.prop("vpc_config").and_then(|v| v.get("subnet_ids"))),
            Kind::LoadBalancer => ref_ids(r.prop("subnets")),
            Kind::NatGateway => ref_ids(r.prop("subnet_id")),
            Kind::DbInstance => ref_id(r, "db_subnet_group_name")
                .and_then(|g| self.get(&g))
                .map(|g| ref_ids(g.prop("subnet_ids")))
                .unwrap_or_default(),
            // Interface endpoints sit in subnets; gateway endpoints serve
            // the subnets of their route tables.
            Kind::VpcEndpoint => ref_ids(r.prop("subnet_ids"))
                .into_iter()
                .chain(
                    ref_ids(r.prop("route_table_ids"))
                        .iter()
                        .filter_map(|rt| self.get(rt))
                        .flat_map(|rt| ref_ids(rt.prop("subnet_ids"))),
                )
                .collect(),
            _ => Vec::new(),
        };
        // The tier most of its subnets are in (ties: the first seen).
        let mut counts: IndexMap<usize, usize> = IndexMap::new();
        for s in &subnets {
            if let Some(&f) = self.subnet_frame.get(s) {
                *counts.entry(f).or_default() += 1;
            }
        }
        let best = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
        if let Some((&f, _)) = best {
            return f;
        }
        // Not in a known subnet: the VPC it names, if any.
        ref_id(r, "vpc_id")
            .and_then(|v| self.vpc_frame.get(&v).copied())
            .unwrap_or(self.cloud)
    }

    /// The frame of a VPC's security groups. It sits beside the VPC rather
    /// than inside it: layouts then keep it clear of the request path.
    fn security_frame(&mut self, vpc: Option<String>) -> usize {
        let key = vpc.unwrap_or_default();
        if let Some(&f) = self.security_frame.get(&key) {
            return f;
        }
        let label = if self.vpc_frame.len() > 1 && !key.is_empty() {
            format!("Security groups of VPC {key} (ingress rules)")
        } else {
            "Security groups (ingress rules)".to_string()
        };
        let f = self.cluster(
            safe_id("c_sg_", if key.is_empty() { "groups" } else { &key }),
            label,
            self.cloud,
            Frame::Security,
        );
        self.security_frame.insert(key, f);
        f
    }

    /// One box per drawn resource, in blueprint order.
    fn boxes(&mut self) {
        // Stages fold into their API's box.
        for r in self.resources() {
            if part(r) == Part::Folded
                && let Some(api) = ref_id(r, "api_id")
            {
                self.folded_into.insert(r.id.clone(), api);
            }
        }
        let dlqs: IndexSet<String> = self
            .resources()
            .filter_map(|r| {
                r.prop("redrive_policy")
                    .and_then(|p| p.get("dead_letter_target_arn"))
                    .and_then(|v| refs_in(v).into_iter().next())
                    .map(|x| x.id)
            })
            .collect();
        // The VPC endpoints of a tier share one box, and so do its NAT gateways.
        let mut groups: IndexMap<(usize, &str), Vec<&Resource>> = IndexMap::new();
        for r in self
            .resources()
            .filter(|r| is(r, Kind::VpcEndpoint) || is(r, Kind::NatGateway))
        {
            groups
                .entry((self.placed_in(r), r.kind.name))
                .or_default()
                .push(r);
        }
        for group in groups.values() {
            for r in &group[1..] {
                self.folded_into.insert(r.id.clone(), group[0].id.clone());
            }
        }
        for r in self.resources() {
            if self.folded_into.contains_key(&r.id) {
                continue;
            }
            match part(r) {
                Part::Node(shape, tone) => {
                    let mut lines = self.describe(r, dlqs.contains(&r.id));
                    let cluster = self.placed_in(r);
                    if let Some(group) = groups
                        .get(&(cluster, r.kind.name))
                        .filter(|g| g.len() > 1 && g[0].id == r.id)
                    {
                        lines = group_lines(group);
                    }
                    let n = self.node(safe_id("n_", &r.id), lines, shape, tone, Some(cluster));
                    self.node_of.insert(r.id.clone(), n);
                }
                Part::Guard => {
                    let attached: Vec<String> = self
                        .resources()
                        .filter(|o| matches!(part(o), Part::Node(..)))
                        .filter(|o| o.references().iter().any(|(_, x)| x.id == r.id))
                        .map(|o| o.id.clone())
                        .collect();
                    let second = if attached.is_empty() {
                        "security group".to_string()
                    } else {
                        format!("security group of {}", attached.join(", "))
                    };
                    let frame = self.security_frame(ref_id(r, "vpc_id"));
                    let n = self.node(
                        safe_id("n_", &r.id),
                        vec![r.id.clone(), second],
                        Shape::Guard,
                        Tone::Security,
                        Some(frame),
                    );
                    self.node_of.insert(r.id.clone(), n);
                }
                Part::Frame | Part::Folded | Part::Hidden => {}
            }
        }
        // A tier with nothing running in it still shows its subnets.
        for c in 0..self.scene.clusters.len() {
            let frame = self.scene.clusters[c].frame;
            if !matches!(
                frame,
                Frame::Public | Frame::Private | Frame::Isolated | Frame::Subnets
            ) || self.scene.anchor(c).is_some()
            {
                continue;
            }
            let lines: Vec<String> = self
                .subnet_frame
                .iter()
                .filter(|(_, f)| **f == c)
                .filter_map(|(s, _)| self.get(s))
                .map(|s| match str_prop(s, "cidr_block") {
                    Some(cidr) => format!("{} {cidr}", s.id),
                    None => s.id.clone(),
                })
                .collect();
            let id = safe_id("s_", &self.scene.clusters[c].id);
            self.node(id, lines, Shape::Note, Tone::Plain, Some(c));
        }
    }

    /// The label lines of a resource's box: its id, then what it is.
    fn describe(&self, r: &Resource, dlq: bool) -> Vec<String> {
        let mut what: Vec<String> = Vec::new();
        match r.kind {
            Kind::Function => {
                what.push("Lambda function".into());
                let mut spec = Vec::new();
                if let Some(m) = int_prop(r, "memory_size") {
                    spec.push(format!("{m} MB"));
                }
                if let Some(t) = int_prop(r, "timeout") {
                    spec.push(format!("{t} s"));
                }
                if !spec.is_empty() {
                    what.push(spec.join(" · "));
                }
            }
            Kind::FunctionUrl => {
                what.push("Lambda function URL".into());
                if let Some(a) = str_prop(r, "auth_type") {
                    what.push(format!("auth {a}"));
                }
            }
            Kind::LoadBalancer => {
                what.push("Application Load Balancer".into());
                if let Some(s) = str_prop(r, "scheme") {
                    what.push(s.into());
                }
            }
            Kind::Api => {
                let proto = str_prop(r, "protocol_type").unwrap_or("HTTP");
                what.push(match proto {
                    "WEBSOCKET" => "API Gateway WebSocket API".into(),
                    p => format!("API Gateway {p} API"),
                });
                let stages: Vec<String> = self
                    .resources()
                    .filter(|s| is(s, Kind::Stage) && ref_id(s, "api_id").as_deref() == Some(&r.id))
                    .filter_map(|s| str_prop(s, "stage_name").map(String::from))
                    .collect();
                match stages.len() {
                    0 => {}
                    1 => what.push(format!("stage {}", stages[0])),
                    _ => what.push(format!("stages {}", stages.join(", "))),
                }
            }
            Kind::Table => {
                what.push("DynamoDB table".into());
                let mut extra = Vec::new();
                if let Some(n) = r
                    .prop("global_secondary_indexes")
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .filter(|n| *n > 0)
                {
                    extra.push(if n == 1 {
                        "1 GSI".to_string()
                    } else {
                        format!("{n} GSIs")
                    });
                }
                if r.prop("ttl_attribute").is_some() {
                    extra.push("TTL".into());
                }
                if !extra.is_empty() {
                    what.push(extra.join(" · "));
                }
            }
            Kind::Bucket => {
                what.push("S3 bucket".into());
                if r.prop("versioning").and_then(Value::as_bool) == Some(true) {
                    what.push("versioned".into());
                }
            }
            Kind::DbInstance => {
                let engine = str_prop(r, "engine").unwrap_or("db");
                let engine = match engine {
                    "postgres" => "PostgreSQL",
                    e => e,
                };
                match str_prop(r, "engine_version") {
                    Some(v) => what.push(format!("RDS {engine} {v}")),
                    None => what.push(format!("RDS {engine}")),
                }
                let mut spec = Vec::new();
                if let Some(c) = str_prop(r, "instance_class") {
                    spec.push(c.to_string());
                }
                if r.prop("multi_az").and_then(Value::as_bool) == Some(true) {
                    spec.push("Multi-AZ".into());
                }
                if !spec.is_empty() {
                    what.push(spec.join(" · "));
                }
            }
            Kind::Queue => what.push(if dlq {
                "SQS dead-letter queue".into()
            } else {
                "SQS queue".into()
            }),
            Kind::Topic => what.push("SNS topic".into()),
            Kind::EmailIdentity => what.push("SES sender identity".into()),
            Kind::Secret => what.push("Secrets Manager secret".into()),
            Kind::InternetGateway => what.push("Internet gateway".into()),
            Kind::NatGateway => what.push("NAT gateway".into()),
            Kind::VpcEndpoint => {
                let (service, kind) = endpoint_kind(r);
                what.push(format!("{service} {kind} endpoint"));
            }
            _ => what.push(r.kind.summary.split(" (").next().unwrap_or("").into()),
        }
        let mut lines = vec![r.id.clone()];
        lines.extend(what.into_iter().filter(|l| !l.is_empty()));
        lines
    }

    fn internet(&mut self) -> usize {
        if let Some(n) = self.internet {
            return n;
        }
        let n = self.node(
            "x_internet".into(),
            vec!["Internet".into(), "clients".into()],
            Shape::Client,
            Tone::External,
            None,
        );
        self.internet = Some(n);
        n
    }

    /// The internet gateway of the VPC a resource is placed in.
    fn gateway_of(&self, r: &Resource) -> Option<usize> {
        let mut frame = self.placed_in(r);
        while self.scene.clusters[frame].frame != Frame::Vpc {
            frame = self.scene.clusters[frame].parent?;
        }
        let vpc = self.vpc_frame.iter().find(|(_, f)| **f == frame)?.0;
        self.resources()
            .find(|g| is(g, Kind::InternetGateway) && ref_id(g, "vpc_id").as_deref() == Some(vpc))
            .and_then(|g| self.box_of(&g.id))
    }

    /// Clients reach internet-facing entry points (through the VPC's gateway).
    fn entry_edges(&mut self) {
        let graph = self.graph;
        for r in graph.resources.values() {
            let Some(entry) = self.box_of(&r.id) else {
                continue;
            };
            match r.kind {
                Kind::LoadBalancer if str_prop(r, "scheme") != Some("internal") => {
                    let listeners: Vec<String> = graph
                        .resources
                        .values()
                        .filter(|l| {
                            is(l, Kind::Listener)
                                && ref_id(l, "load_balancer_arn").as_deref() == Some(&r.id)
                        })
                        .map(|l| {
                            let proto = str_prop(l, "protocol").unwrap_or("");
                            match int_prop(l, "port") {
                                Some(p) => format!("{proto} :{p}"),
                                None => proto.to_string(),
                            }
                        })
                        .collect();
                    let internet = self.internet();
                    let label = listeners.join(", ");
                    match self.gateway_of(r) {
                        Some(igw) => {
                            self.edge(internet, igw, Flow::Request, "");
                            self.edge(igw, entry, Flow::Request, label);
                        }
                        None => self.edge(internet, entry, Flow::Request, label),
                    }
                }
                Kind::FunctionUrl => {
                    let internet = self.internet();
                    self.edge(internet, entry, Flow::Request, "HTTPS");
                    if let Some(f) = ref_id(r, "function_name").and_then(|f| self.box_of(&f)) {
                        self.edge(entry, f, Flow::Request, "");
                    }
                }
                Kind::Api => {
                    let internet = self.internet();
                    let label = match str_prop(r, "protocol_type") {
                        Some("WEBSOCKET") => "WebSocket (wss)",
                        _ => "HTTPS",
                    };
                    self.edge(internet, entry, Flow::Request, label);
                }
                _ => {}
            }
        }
    }

    /// Load balancer -> function, through listeners, rules, target groups and
    /// lambda targets; labelled with the rules' methods and path patterns.
    fn listener_edges(&mut self) {
        let graph = self.graph;
        // Target group -> functions registered in it.
        let mut targets: IndexMap<String, Vec<String>> = IndexMap::new();
        for t in graph
            .resources
            .values()
            .filter(|t| is(t, Kind::LambdaTarget))
        {
            if let (Some(tg), Some(f)) = (ref_id(t, "target_group_arn"), ref_id(t, "function_arn"))
            {
                targets.entry(tg).or_default().push(f);
            }
        }
        let alb_of_listener = |l: &str| -> Option<String> {
            graph
                .resources
                .get(l)
                .filter(|l| is(l, Kind::Listener))
                .and_then(|l| ref_id(l, "load_balancer_arn"))
        };
        // (priority, alb, target group, label); a listener's default comes last.
        let mut routes: Vec<(i64, String, String, String)> = Vec::new();
        for r in graph.resources.values() {
            match r.kind {
                Kind::Listener => {
                    let action = r.prop("default_action");
                    if let (Some(alb), Some(tg)) = (
                        ref_id(r, "load_balancer_arn"),
                        action
                            .and_then(|a| a.get("target_group_arn"))
                            .and_then(|v| refs_in(v).into_iter().next()),
                    ) {
                        routes.push((i64::MAX, alb, tg.id, "default".into()));
                    }
                }
                Kind::ListenerRule => {
                    let Some(alb) = ref_id(r, "listener_arn").and_then(|l| alb_of_listener(&l))
                    else {
                        continue;
                    };
                    let Some(tg) = r
                        .prop("action")
                        .and_then(|a| a.get("target_group_arn"))
                        .and_then(|v| refs_in(v).into_iter().next())
                    else {
                        continue;
                    };
                    let strings = |p: &str| -> Vec<String> {
                        r.prop(p)
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(String::from)
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let methods = strings("http_methods").join("|");
                    let paths = strings("path_patterns").join(" ");
                    let label = match (methods.is_empty(), paths.is_empty()) {
                        (true, true) => "rule".to_string(),
                        (true, false) => paths,
                        (false, true) => methods,
                        (false, false) => format!("{methods} {paths}"),
                    };
                    routes.push((int_prop(r, "priority").unwrap_or(0), alb, tg.id, label));
                }
                _ => {}
            }
        }
        routes.sort_by_key(|r| r.0);
        for (_, alb, tg, label) in routes {
            let Some(from) = self.box_of(&alb) else {
                continue;
            };
            for f in targets.get(&tg).cloned().unwrap_or_default() {
                if let Some(to) = self.box_of(&f) {
                    self.edge(from, to, Flow::Request, label.clone());
                }
            }
        }
    }

    /// API -> function through routes and integrations, labelled with route keys.
    fn api_edges(&mut self) {
        let graph = self.graph;
        for route in graph.resources.values().filter(|r| is(r, Kind::Route)) {
            let (Some(api), Some(integration)) =
                (ref_id(route, "api_id"), ref_id(route, "integration_id"))
            else {
                continue;
            };
            let Some(function) = self
                .get(&integration)
                .and_then(|i| ref_id(i, "integration_uri"))
            else {
                continue;
            };
            if let (Some(from), Some(to)) = (self.box_of(&api), self.box_of(&function)) {
                let key = str_prop(route, "route_key").unwrap_or("route");
                self.edge(from, to, Flow::Request, key);
            }
        }
    }

    /// Subscriptions, event source mappings and redrive policies.
    fn messaging_edges(&mut self) {
        let graph = self.graph;
        for r in graph.resources.values() {
            match r.kind {
                Kind::Subscription => {
                    let Some(topic) = ref_id(r, "topic_arn").and_then(|t| self.box_of(&t)) else {
                        continue;
                    };
                    let endpoint = match ref_id(r, "endpoint").and_then(|e| self.box_of(&e)) {
                        Some(e) => e,
                        None => {
                            let proto = str_prop(r, "protocol").unwrap_or("endpoint");
                            let text = str_prop(r, "endpoint").unwrap_or("");
                            self.external(&r.id, vec![format!("{proto} subscriber"), text.into()])
                        }
                    };
                    let label = r
                        .prop("filter_policy")
                        .map(labels::filter_policy)
                        .unwrap_or_default();
                    self.edge(topic, endpoint, Flow::Event, label);
                }
                Kind::EventSourceMapping => {
                    let (Some(source), Some(f)) = (
                        ref_id(r, "event_source_arn").and_then(|s| self.box_of(&s)),
                        ref_id(r, "function_name").and_then(|f| self.box_of(&f)),
                    ) else {
                        continue;
                    };
                    let label = int_prop(r, "batch_size")
                        .map(|b| format!("batch {b}"))
                        .unwrap_or_default();
                    self.edge(source, f, Flow::Event, label);
                }
                Kind::Queue => {
                    let Some(policy) = r.prop("redrive_policy") else {
                        continue;
                    };
                    let (Some(from), Some(dlq)) = (
                        self.box_of(&r.id),
                        policy
                            .get("dead_letter_target_arn")
                            .and_then(|v| refs_in(v).into_iter().next())
                            .and_then(|d| self.box_of(&d.id)),
                    ) else {
                        continue;
                    };
                    let label = policy
                        .get("max_receive_count")
                        .and_then(Value::as_i64)
                        .map(|n| format!("maxReceiveCount {n}"))
                        .unwrap_or_default();
                    self.edge(from, dlq, Flow::Redrive, label);
                }
                _ => {}
            }
        }
    }

    fn external(&mut self, key: &str, lines: Vec<String>) -> usize {
        if let Some(&n) = self.extra.get(key) {
            return n;
        }
        let lines = lines.into_iter().filter(|l| !l.is_empty()).collect();
        let n = self.node(
            safe_id("x_sub_", key),
            lines,
            Shape::Client,
            Tone::External,
            None,
        );
        self.extra.insert(key.into(), n);
        n
    }

    /// Function -> what it uses: the resources its role's policy statements
    /// name (labelled with what the actions do) and its environment references.
    fn access_edges(&mut self) {
        let graph = self.graph;
        for f in graph.resources.values().filter(|r| is(r, Kind::Function)) {
            let Some(from) = self.box_of(&f.id) else {
                continue;
            };
            // Target box -> verbs, in first-seen order.
            let mut uses: IndexMap<usize, IndexSet<String>> = IndexMap::new();
            if let Some(role) = ref_id(f, "role").and_then(|r| self.get(&r)) {
                for statement in labels::statements(role) {
                    for target in ref_ids(statement.get("Resource")) {
                        let Some(to) = self.box_of(&target) else {
                            continue;
                        };
                        let service = labels::service(self.get(&target).map(|t| t.kind.name));
                        let verbs = labels::verbs(statement.get("Action"), service);
                        uses.entry(to).or_default().extend(verbs);
                    }
                }
            }
            for target in ref_ids(f.prop("environment")) {
                let Some(to) = self.box_of(&target) else {
                    continue;
                };
                let t = self.get(&target);
                // Calling a load balancer is part of the request path.
                if t.is_some_and(|t| is(t, Kind::LoadBalancer)) {
                    self.edge(from, to, Flow::Request, "HTTP");
                    continue;
                }
                let entry = uses.entry(to).or_default();
                if let Some(db) = t.filter(|t| is(t, Kind::DbInstance)) {
                    let port = int_prop(db, "port").unwrap_or(match str_prop(db, "engine") {
                        Some("mysql") | Some("mariadb") => 3306,
                        _ => 5432,
                    });
                    entry.insert(format!("SQL :{port}"));
                }
            }
            for (to, verbs) in uses {
                if to == from {
                    continue;
                }
                let mut verbs: Vec<String> = verbs.into_iter().collect();
                // Consuming through an event source mapping is already an arrow.
                if self.edges.contains_key(&(to, from, Flow::Event)) {
                    verbs.retain(|v| v != "consume");
                    if verbs.is_empty() {
                        continue;
                    }
                }
                let label = labels::join_verbs(&verbs);
                self.edge(from, to, Flow::Access, label);
            }
        }
    }

    /// NAT gateways use the internet gateway; the tiers routing through them
    /// say so in their title (arrows from a whole frame confuse layouts).
    fn network_edges(&mut self) {
        let graph = self.graph;
        let mut via: IndexMap<usize, IndexSet<String>> = IndexMap::new();
        for rt in graph.resources.values().filter(|r| is(r, Kind::RouteTable)) {
            let routes = rt.prop("routes").and_then(Value::as_array);
            for route in routes.into_iter().flatten() {
                let Some(nat) = route
                    .get("nat_gateway_id")
                    .and_then(|v| refs_in(v).into_iter().next())
                else {
                    continue;
                };
                for s in ref_ids(rt.prop("subnet_ids")) {
                    if let Some(&tier) = self.subnet_frame.get(&s) {
                        via.entry(tier).or_default().insert(nat.id.clone());
                    }
                }
            }
        }
        for (tier, nats) in via {
            let nats: Vec<String> = nats.into_iter().collect();
            let label = &mut self.scene.clusters[tier].label;
            label.push_str(&format!(" · egress via {}", nats.join(", ")));
        }
        for nat in graph.resources.values().filter(|r| is(r, Kind::NatGateway)) {
            if let (Some(from), Some(igw)) = (self.box_of(&nat.id), self.gateway_of(nat)) {
                self.edge(from, igw, Flow::Egress, "");
            }
        }
    }

    /// Security group ingress rules: source group (or address range) -> group.
    fn guard_edges(&mut self) {
        let graph = self.graph;
        for sg in graph
            .resources
            .values()
            .filter(|r| is(r, Kind::SecurityGroup))
        {
            let Some(to) = self.box_of(&sg.id) else {
                continue;
            };
            let rules = sg.prop("ingress").and_then(Value::as_array);
            for rule in rules.into_iter().flatten() {
                let ports = labels::ports(rule);
                let source = rule
                    .get("source_security_group_id")
                    .and_then(|v| refs_in(v).into_iter().next())
                    .and_then(|s| self.box_of(&s.id));
                let from = match source {
                    Some(s) => s,
                    None => {
                        let Some(cidr) = rule.get("cidr").and_then(Value::as_str) else {
                            continue;
                        };
                        let frame = self.scene.nodes[to].cluster;
                        let key = format!("cidr:{cidr}:{}", frame.unwrap_or(0));
                        match self.extra.get(&key) {
                            Some(&n) => n,
                            None => {
                                let text = if cidr == "0.0.0.0/0" {
                                    "anywhere".to_string()
                                } else if ref_id(sg, "vpc_id")
                                    .and_then(|v| self.get(&v))
                                    .and_then(|v| str_prop(v, "cidr_block"))
                                    == Some(cidr)
                                {
                                    "the VPC".to_string()
                                } else {
                                    "addresses".to_string()
                                };
                                let n = self.node(
                                    safe_id("x_", &key),
                                    vec![text, cidr.to_string()],
                                    Shape::Cidr,
                                    Tone::External,
                                    frame,
                                );
                                self.extra.insert(key, n);
                                n
                            }
                        }
                    }
                };
                self.edge(from, to, Flow::Rule, ports);
            }
        }
    }

    fn finish(mut self) -> Scene {
        for ((from, to, flow), labels) in std::mem::take(&mut self.edges) {
            let labels: Vec<String> = labels.into_iter().collect();
            self.scene.edges.push(Edge {
                from,
                to,
                label: labels::merge(flow, &labels),
                flow,
            });
        }
        self.scene
    }
}
