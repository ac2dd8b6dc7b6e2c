//! Architecture diagrams (`archform render --format mermaid|dot`) of every
//! embedded blueprint, with its defaults and with each value of each enum
//! parameter: wiring resources are arrows, not boxes; the arrows the wiring
//! implies are there, with their labels; resources sit in the subnet tier
//! they run in; output is deterministic; Graphviz accepts the DOT (when `dot`
//! is installed) and the Mermaid text is structurally sound.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};

fn archform(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_archform"))
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Kinds that never become boxes (their meaning is drawn as arrows, frames or not at all).
const HIDDEN: &[&str] = &[
    "iam.role",
    "logs.log_group",
    "lambda.permission",
    "lambda.event_source_mapping",
    "ec2.route_table",
    "ec2.eip",
    "ec2.subnet",
    "ec2.vpc",
    "elbv2.listener",
    "elbv2.listener_rule",
    "elbv2.target_group",
    "elbv2.lambda_target",
    "apigatewayv2.integration",
    "apigatewayv2.route",
    "apigatewayv2.deployment",
    "apigatewayv2.stage",
    "sns.subscription",
    "sqs.queue_policy",
    "rds.db_subnet_group",
    "rds.db_parameter_group",
];

/// Kinds that always get a box of their own.
const SHOWN: &[&str] = &[
    "lambda.function",
    "lambda.function_url",
    "elbv2.load_balancer",
    "apigatewayv2.api",
    "dynamodb.table",
    "s3.bucket",
    "rds.db_instance",
    "sqs.queue",
    "sns.topic",
    "ec2.internet_gateway",
    "ec2.security_group",
];

/// A diagram read back: boxes (with the frame holding them), frames, arrows.
#[derive(Debug, Default)]
struct Picture {
    /// Node id -> innermost frame id ("" at top level).
    nodes: BTreeMap<String, String>,
    /// Frame id -> parent frame id ("" at top level).
    frames: BTreeMap<String, String>,
    /// (from, to) -> label.
    edges: BTreeMap<(String, String), String>,
}

impl Picture {
    fn edge(&self, from: &str, to: &str) -> Option<&str> {
        self.edges
            .get(&(from.to_string(), to.to_string()))
            .map(String::as_str)
    }

    /// The frames holding a node, innermost first.
    fn frames_of(&self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut f = self.nodes.get(node).cloned().unwrap_or_default();
        while !f.is_empty() {
            out.push(f.clone());
            f = self.frames.get(&f).cloned().unwrap_or_default();
        }
        out
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a Mermaid flowchart, checking its structure on the way.
fn read_mermaid(text: &str, what: &str) -> Picture {
    let mut p = Picture::default();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart LR"), "{what}: first line");
    let mut stack: Vec<String> = Vec::new();
    let mut edge_count = 0;
    let mut class_members: Vec<String> = Vec::new();
    let mut link_styles: Vec<usize> = Vec::new();
    for line in lines {
        let t = line.trim();
        assert_eq!(
            t.matches('"').count() % 2,
            0,
            "{what}: unbalanced quotes: {t}"
        );
        if t.is_empty() || t.starts_with("%%") || t.starts_with("direction ") {
            continue;
        }
        if let Some(rest) = t.strip_prefix("subgraph ") {
            let id = rest.split('[').next().unwrap();
            assert!(is_id(id), "{what}: subgraph id {id}");
            assert!(
                rest[id.len()..].starts_with("[\"") && rest.ends_with("\"]"),
                "{what}: {t}"
            );
            let parent = stack.last().cloned().unwrap_or_default();
            assert!(
                p.frames.insert(id.to_string(), parent).is_none(),
                "{what}: frame {id} twice"
            );
            stack.push(id.to_string());
            continue;
        }
        if t == "end" {
            assert!(stack.pop().is_some(), "{what}: `end` without subgraph");
            continue;
        }
        if let Some(rest) = t.strip_prefix("classDef ") {
            assert!(rest.contains(" fill:"), "{what}: {t}");
            continue;
        }
        if let Some(rest) = t.strip_prefix("class ") {
            let (members, _class) = rest.rsplit_once(' ').unwrap();
            class_members.extend(members.split(',').map(String::from));
            continue;
        }
        if let Some(rest) = t.strip_prefix("style ") {
            let id = rest.split(' ').next().unwrap();
            assert!(
                p.frames.contains_key(id),
                "{what}: style of unknown frame {id}"
            );
            continue;
        }
        if let Some(rest) = t.strip_prefix("linkStyle ") {
            let idx = rest.split(' ').next().unwrap();
            link_styles.extend(idx.split(',').map(|i| i.parse::<usize>().unwrap()));
            continue;
        }
        let arrow = [" ==>", " -->", " -.->"]
            .into_iter()
            .find(|a| t.contains(a));
        if let Some(arrow) = arrow {
            let (from, rest) = t.split_once(arrow).unwrap();
            let (label, to) = match rest.strip_prefix("|\"") {
                Some(r) => {
                    let (label, to) = r.split_once("\"| ").expect("closed label");
                    (label.to_string(), to)
                }
                None => (String::new(), rest.trim_start()),
            };
            assert!(is_id(from) && is_id(to), "{what}: edge {t}");
            assert!(!label.contains('|'), "{what}: raw `|` in a label: {t}");
            p.edges.insert((from.into(), to.into()), label);
            edge_count += 1;
            continue;
        }
        // A node: id, then a shape with a quoted label.
        let id_len = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(t.len());
        let (id, shape) = t.split_at(id_len);
        assert!(is_id(id), "{what}: cannot read line: {t}");
        let ok = [
            ("((\"", "\"))"),
            ("{{\"", "\"}}"),
            ("[/\"", "\"\\]"),
            ("[/\"", "\"/]"),
            ("[(\"", "\")]"),
            ("[[\"", "\"]]"),
            ("([\"", "\"])"),
            ("(\"", "\")"),
            (">\"", "\"]"),
            ("[\"", "\"]"),
        ]
        .iter()
        .any(|(open, close)| shape.starts_with(open) && shape.ends_with(close));
        assert!(ok, "{what}: unknown node shape: {t}");
        let frame = stack.last().cloned().unwrap_or_default();
        assert!(
            p.nodes.insert(id.into(), frame).is_none(),
            "{what}: node {id} twice"
        );
    }
    assert!(stack.is_empty(), "{what}: unclosed subgraph {stack:?}");
    for (from, to) in p.edges.keys() {
        assert!(
            p.nodes.contains_key(from),
            "{what}: edge from unknown {from}"
        );
        assert!(p.nodes.contains_key(to), "{what}: edge to unknown {to}");
    }
    for m in class_members {
        assert!(
            p.nodes.contains_key(&m),
            "{what}: class of unknown node {m}"
        );
    }
    assert_eq!(
        link_styles.len(),
        edge_count,
        "{what}: every edge gets one linkStyle"
    );
    assert!(
        link_styles.iter().all(|i| *i < edge_count),
        "{what}: linkStyle index"
    );
    p
}

/// The text of a double-quoted DOT string at the start of `s`, and the rest.
fn dot_string(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Reads the DOT this exporter writes (one statement per line).
fn read_dot(text: &str, what: &str) -> Picture {
    let mut p = Picture::default();
    let mut stack: Vec<String> = Vec::new();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with("digraph \""),
        "{what}: first line"
    );
    for line in lines {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("subgraph ") {
            let (name, _) = dot_string(rest).expect("quoted subgraph name");
            let id = name
                .strip_prefix("cluster_")
                .expect("clusters only")
                .to_string();
            let parent = stack.last().cloned().unwrap_or_default();
            p.frames.insert(id.clone(), parent);
            stack.push(id);
        } else if t == "}" {
            stack.pop();
        } else if t.starts_with('"') {
            let (a, rest) = dot_string(t).unwrap();
            if let Some(rest) = rest.strip_prefix(" -> ") {
                let (b, attrs) = dot_string(rest).unwrap();
                let label = attrs
                    .find("label=")
                    .and_then(|i| dot_string(&attrs[i + 6..]))
                    .map(|(l, _)| l)
                    .unwrap_or_default();
                p.edges.insert((a, b), label);
            } else {
                let frame = stack.last().cloned().unwrap_or_default();
                p.nodes.insert(a, frame);
            }
        }
    }
    for (from, to) in p.edges.keys() {
        assert!(
            p.nodes.contains_key(from),
            "{what}: edge from unknown {from}"
        );
        assert!(p.nodes.contains_key(to), "{what}: edge to unknown {to}");
    }
    p
}

/// Ids referenced (`${id.attr}`) anywhere in a JSON value.
fn refs(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split("${")
            .skip(1)
            .filter_map(|r| r.split_once('.').map(|(id, _)| id.to_string()))
            .collect(),
        Value::Array(a) => a.iter().flat_map(refs).collect(),
        Value::Object(m) => m.values().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

fn first_ref(v: &Value, key: &str) -> Option<String> {
    v.get(key).map(refs).and_then(|r| r.into_iter().next())
}

struct Stack {
    what: String,
    kinds: BTreeMap<String, String>,
    props: BTreeMap<String, Value>,
}

impl Stack {
    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.kinds
            .iter()
            .filter(move |(_, k)| *k == kind)
            .map(|(id, _)| (id, &self.props[id]))
    }
}

fn node(id: &str) -> String {
    format!("n_{id}")
}

/// The arrows the wiring resources of a stack imply, with a text their label must contain.
fn expected_edges(s: &Stack) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (_, p) in s.of_kind("lambda.event_source_mapping") {
        let (q, f) = (
            first_ref(p, "event_source_arn").unwrap(),
            first_ref(p, "function_name").unwrap(),
        );
        let label = p
            .get("batch_size")
            .map(|b| format!("batch {b}"))
            .unwrap_or_default();
        out.push((node(&q), node(&f), label));
    }
    for (_, p) in s.of_kind("sns.subscription") {
        let (t, e) = (first_ref(p, "topic_arn").unwrap(), first_ref(p, "endpoint"));
        if let Some(e) = e {
            let label = match p.get("filter_policy").and_then(Value::as_object) {
                Some(m) => {
                    let (k, v) = m.iter().next().unwrap();
                    match v.get(0).and_then(Value::as_str) {
                        Some(first) => format!("{k}={first}"),
                        None => k.clone(),
                    }
                }
                None => String::new(),
            };
            out.push((node(&t), node(&e), label));
        }
    }
    for (id, p) in s.of_kind("sqs.queue") {
        if let Some(r) = p.get("redrive_policy") {
            let dlq = first_ref(r, "dead_letter_target_arn").unwrap();
            let n = &r["max_receive_count"];
            out.push((node(id), node(&dlq), format!("maxReceiveCount {n}")));
        }
    }
    // Load balancer -> function through listener, rule, target group, lambda target.
    let listener_alb: BTreeMap<String, String> = s
        .of_kind("elbv2.listener")
        .map(|(id, p)| (id.clone(), first_ref(p, "load_balancer_arn").unwrap()))
        .collect();
    let tg_fns: Vec<(String, String)> = s
        .of_kind("elbv2.lambda_target")
        .map(|(_, p)| {
            (
                first_ref(p, "target_group_arn").unwrap(),
                first_ref(p, "function_arn").unwrap(),
            )
        })
        .collect();
    for (_, p) in s.of_kind("elbv2.listener_rule") {
        let alb = &listener_alb[&first_ref(p, "listener_arn").unwrap()];
        let tg = first_ref(&p["action"], "target_group_arn").unwrap();
        let path = p["path_patterns"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for (_, f) in tg_fns.iter().filter(|(t, _)| *t == tg) {
            out.push((node(alb), node(f), path.clone()));
        }
    }
    // API -> function through route and integration, labelled with the route key.
    for (_, p) in s.of_kind("apigatewayv2.route") {
        let api = first_ref(p, "api_id").unwrap();
        let integration = &s.props[&first_ref(p, "integration_id").unwrap()];
        let f = first_ref(integration, "integration_uri").unwrap();
        out.push((
            node(&api),
            node(&f),
            p["route_key"].as_str().unwrap().to_string(),
        ));
    }
    // Security group chain: source group -> group, labelled with the port.
    for (id, p) in s.of_kind("ec2.security_group") {
        for rule in p
            .get("ingress")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(src) = first_ref(rule, "source_security_group_id") {
                let label = match (rule["protocol"].as_str(), rule["from_port"].as_i64()) {
                    (Some("tcp"), Some(port)) => format!("tcp {port}"),
                    _ => String::new(),
                };
                out.push((node(&src), node(id), label));
            }
        }
    }
    // Function -> what its role's policy names (unless it is the queue it consumes).
    let consumed: BTreeSet<(String, String)> = s
        .of_kind("lambda.event_source_mapping")
        .map(|(_, p)| {
            (
                first_ref(p, "function_name").unwrap(),
                first_ref(p, "event_source_arn").unwrap(),
            )
        })
        .collect();
    for (f, p) in s.of_kind("lambda.function") {
        let role = &s.props[&first_ref(p, "role").unwrap()];
        for target in refs(&role["policies"]) {
            let kind = s.kinds.get(&target).map(String::as_str).unwrap_or("");
            let data = [
                "dynamodb.table",
                "sqs.queue",
                "sns.topic",
                "s3.bucket",
                "rds.db_instance",
            ];
            if data.contains(&kind) && !consumed.contains(&(f.clone(), target.clone())) {
                out.push((node(f), node(&target), String::new()));
            }
        }
    }
    out
}

/// Subnet tier frames a resource runs in, from the subnet ids under `pointer`.
fn tier_frames(s: &Stack, subnets: &[String]) -> BTreeSet<String> {
    subnets
        .iter()
        .map(|sn| {
            let p = &s.props[sn];
            let vpc = first_ref(p, "vpc_id").unwrap();
            let tier = p.get("tier").and_then(Value::as_str).unwrap_or("subnets");
            format!("c_tier_{vpc}_{tier}")
        })
        .collect()
}

fn check_picture(s: &Stack, pic: &Picture, format: &str) {
    let what = format!("{} ({format})", s.what);
    for (id, kind) in &s.kinds {
        if HIDDEN.contains(&kind.as_str()) {
            assert!(
                !pic.nodes.contains_key(&node(id)),
                "{what}: {kind} `{id}` drawn as a box"
            );
        }
        if SHOWN.contains(&kind.as_str()) {
            assert!(
                pic.nodes.contains_key(&node(id)),
                "{what}: {kind} `{id}` has no box"
            );
        }
    }
    for (from, to, label) in expected_edges(s) {
        let got = pic
            .edge(&from, &to)
            .unwrap_or_else(|| panic!("{what}: no arrow {from} -> {to}"));
        assert!(
            got.contains(&label),
            "{what}: arrow {from} -> {to} is `{got}`, wants `{label}`"
        );
    }
    // VPC frames exist exactly when there are VPCs.
    let vpcs: Vec<&String> = s.of_kind("ec2.vpc").map(|(id, _)| id).collect();
    for v in &vpcs {
        assert!(
            pic.frames.contains_key(&format!("c_vpc_{v}")),
            "{what}: no frame for VPC {v}"
        );
    }
    if vpcs.is_empty() {
        assert!(
            !pic.frames.keys().any(|f| f.starts_with("c_vpc_")),
            "{what}: VPC frame without a VPC"
        );
    }
    // Placement: load balancers, VPC functions and databases sit in their subnets' tier.
    let mut placed: Vec<(String, Vec<String>)> = Vec::new();
    for (id, p) in s.of_kind("elbv2.load_balancer") {
        placed.push((id.clone(), refs(&p["subnets"])));
    }
    for (id, p) in s.of_kind("lambda.function") {
        if let Some(v) = p.get("vpc_config") {
            placed.push((id.clone(), refs(&v["subnet_ids"])));
        }
    }
    for (id, p) in s.of_kind("rds.db_instance") {
        let group = &s.props[&first_ref(p, "db_subnet_group_name").unwrap()];
        placed.push((id.clone(), refs(&group["subnet_ids"])));
    }
    for (id, subnets) in placed {
        let frames = pic.frames_of(&node(&id));
        let tiers = tier_frames(s, &subnets);
        assert!(
            frames.first().is_some_and(|f| tiers.contains(f)),
            "{what}: `{id}` is in {frames:?}, not in its subnets' tier {tiers:?}"
        );
    }
}

/// `dot -Tsvg` must accept the DOT without errors or warnings.
fn check_with_graphviz(dot: &str, what: &str) {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: dot -Tsvg failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "{what}: dot -Tsvg warned: {stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("<svg"),
        "{what}: no SVG"
    );
}

fn graphviz() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Parameter sets per blueprint: the defaults, and each value of each enum
/// parameter (all values at once for lists of enums).
fn variants() -> Vec<(String, Vec<String>)> {
    let list: Value =
        serde_json::from_str(&archform(&["blueprints", "--output", "json"]).unwrap()).unwrap();
    let mut out = Vec::new();
    for bp in list.as_array().unwrap() {
        let name = bp["name"].as_str().unwrap().to_string();
        out.push((name.clone(), Vec::new()));
        for p in bp["parameters"].as_array().unwrap() {
            let pname = p["name"].as_str().unwrap();
            let values = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        x.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect()
            };
            match p["type"].as_str() {
                Some("enum") => {
                    for v in values(&p["values"]) {
                        if Some(v.as_str()) != p["default"].as_str() {
                            out.push((name.clone(), vec![format!("{pname}={v}")]));
                        }
                    }
                }
                Some("list") if p["items"]["type"] == "enum" => {
                    let all = values(&p["items"]["values"]).join(",");
                    out.push((name.clone(), vec![format!("{pname}={all}")]));
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn every_blueprint_draws_its_architecture() {
    let names = archform_blueprint::catalog::embedded_names();
    assert!(names.contains(&"url-shortener"));
    // tests/run installs Graphviz (Debian's graphviz): without it the dot
    // pictures would go unchecked, so that is a failure.
    assert!(
        graphviz(),
        "Graphviz `dot` is not installed: apt-get install graphviz (tests/run does)"
    );
    let mut drawn = 0;
    for (bp, sets) in variants() {
        let what = format!("{bp} {}", sets.join(" "));
        let mut args: Vec<&str> = vec!["render", &bp];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let json = match archform(&[args.as_slice(), &["--format", "json"]].concat()) {
            Ok(j) => j,
            Err(e) => panic!("{what}: the variant does not validate:\n{e}"),
        };
        let graph: Value = serde_json::from_str(&json).unwrap();
        let resources = graph["resources"].as_object().unwrap();
        let stack = Stack {
            what: what.clone(),
            kinds: resources
                .iter()
                .map(|(id, r)| (id.clone(), r["kind"].as_str().unwrap().to_string()))
                .collect(),
            props: resources
                .iter()
                .map(|(id, r)| (id.clone(), r["properties"].clone()))
                .collect(),
        };
        let mermaid = archform(&[args.as_slice(), &["--format", "mermaid"]].concat()).unwrap();
        let dot = archform(&[args.as_slice(), &["--format", "dot"]].concat()).unwrap();
        let again = archform(&[args.as_slice(), &["--format", "mermaid"]].concat()).unwrap();
        assert_eq!(
            mermaid, again,
            "{what}: mermaid output is not deterministic"
        );
        check_picture(&stack, &read_mermaid(&mermaid, &what), "mermaid");
        check_picture(&stack, &read_dot(&dot, &what), "dot");
        check_with_graphviz(&dot, &what);
        drawn += 1;
    }
    assert!(drawn >= names.len(), "only {drawn} diagrams drawn");
}

#[test]
fn url_shortener_behind_an_alb() {
    let text = archform(&["render", "url-shortener", "--format", "mermaid"]).unwrap();
    let m = read_mermaid(&text, "url-shortener");
    let d = read_dot(
        &archform(&["render", "url-shortener", "--format", "dot"]).unwrap(),
        "url-shortener",
    );
    for p in [&m, &d] {
        assert_eq!(p.edge("n_clicks", "n_aggregator"), Some("batch 100"));
        assert_eq!(p.edge("n_alb", "n_api"), Some("/*"));
        assert_eq!(
            p.edge("n_clicks", "n_clicks_dlq"),
            Some("maxReceiveCount 5")
        );
        assert_eq!(p.edge("n_api", "n_links"), Some("read/write"));
        assert_eq!(p.edge("n_api", "n_clicks"), Some("send"));
        assert_eq!(p.edge("n_aggregator", "n_clicks_table"), Some("write"));
        // Consuming is the event source mapping's arrow, not a second one back.
        assert_eq!(p.edge("n_aggregator", "n_clicks"), None);
        // The internet reaches the ALB through the VPC's internet gateway.
        assert!(p.edge("x_internet", "n_igw").is_some());
        assert_eq!(p.edge("n_igw", "n_alb"), Some("HTTP :80"));
        assert_eq!(
            p.frames_of("n_alb"),
            ["c_tier_vpc_public", "c_vpc_vpc", "c_aws"]
        );
        assert_eq!(p.frames_of("n_api"), ["c_aws"]);
        assert_eq!(p.frames_of("x_internet"), Vec::<String>::new());
        for hidden in [
            "n_api_role",
            "n_api_logs",
            "n_alb_http",
            "n_api_route_tg",
            "n_public_rt",
        ] {
            assert!(!p.nodes.contains_key(hidden), "{hidden} drawn");
        }
    }
    // Tiers are summarised, not one box per subnet.
    assert!(
        text.contains("subgraph c_tier_vpc_public[\"Public subnets · 2 AZs\"]"),
        "{text}"
    );
}

#[test]
fn url_shortener_with_a_function_url_has_no_vpc() {
    let args = [
        "render",
        "url-shortener",
        "--set",
        "front_door=function_url",
        "--format",
    ];
    let mermaid = archform(&[&args[..], &["mermaid"]].concat()).unwrap();
    let dot = archform(&[&args[..], &["dot"]].concat()).unwrap();
    assert!(
        !mermaid.contains("c_vpc_") && !mermaid.contains("c_sg_"),
        "{mermaid}"
    );
    assert!(
        !dot.contains("cluster_c_vpc_") && !dot.contains("cluster_c_sg_"),
        "{dot}"
    );
    for p in [
        read_mermaid(&mermaid, "function url"),
        read_dot(&dot, "function url"),
    ] {
        assert_eq!(p.edge("x_internet", "n_api_url"), Some("HTTPS"));
        assert!(p.edge("n_api_url", "n_api").is_some());
        assert!(!p.nodes.contains_key("n_api_url_invoke"));
        assert_eq!(p.edge("n_clicks", "n_aggregator"), Some("batch 100"));
    }
}

/// Kinds and corners the embedded blueprints do not use: a bucket, a secret,
/// a subnet without a tier, an email subscription, a filter policy with `|`,
/// quotes and `#`, a rule from the VPC's own range.
const CORNERS: &str = r##"name: corners
description: Diagram corners
parameters: {}
---
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.9.0.0/16}
  sub_a:
    kind: ec2.subnet
    properties: {vpc_id: "${vpc.id}", cidr_block: 10.9.1.0/24, availability_zone: "${aws.az0}"}
  fn_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: worker
      ingress:
        - {protocol: "-1", from_port: -1, to_port: -1, cidr: 10.9.0.0/16}
  bucket:
    kind: s3.bucket
    properties: {versioning: true, encryption: AES256}
  secret:
    kind: secretsmanager.secret
    properties: {description: x}
  topic:
    kind: sns.topic
    properties: {kms_master_key_id: alias/aws/sns}
  q:
    kind: sqs.queue
    properties: {sqs_managed_sse: true}
  q_policy:
    kind: sqs.queue_policy
    properties:
      queue_url: ${q.url}
      policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: ${q.arn}
            Condition: {ArnEquals: {"aws:SourceArn": "${topic.arn}"}}
  worker_role:
    kind: iam.role
    properties:
      assume_role_policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: "sts:AssumeRole"}]}
      policies:
        - name: p
          document:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: ["s3:GetObject", "s3:PutObject"], Resource: "${bucket.arn}/*"}
              - {Effect: Allow, Action: "secretsmanager:GetSecretValue", Resource: "${secret.arn}"}
              - {Effect: Allow, Action: "sns:Publish", Resource: "${topic.arn}"}
  worker:
    kind: lambda.function
    properties:
      role: ${worker_role.arn}
      code: {zip: x.zip}
      runtime: provided.al2023
      handler: bootstrap
      vpc_config: {subnet_ids: ["${sub_a.id}"], security_group_ids: ["${fn_sg.id}"]}
  sub_q:
    kind: sns.subscription
    depends_on: [q_policy]
    properties:
      topic_arn: ${topic.arn}
      protocol: sqs
      endpoint: ${q.arn}
      filter_policy: {channel: [sms, push], "#tag": ["a\"b"]}
  sub_mail:
    kind: sns.subscription
    properties:
      topic_arn: ${topic.arn}
      protocol: email
      endpoint: ops@example.com
"##;

#[test]
fn corners_render_and_escape() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("diagram-corners");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("corners.yaml");
    std::fs::write(&file, CORNERS).unwrap();
    let file = file.to_str().unwrap();
    let mermaid = archform(&["render", file, "--format", "mermaid"]).unwrap();
    let dot = archform(&["render", file, "--format", "dot"]).unwrap();
    let m = read_mermaid(&mermaid, "corners");
    let d = read_dot(&dot, "corners");
    // Escaped for Mermaid: `|`, `"` and `#` are entity codes.
    assert_eq!(
        m.edge("n_topic", "n_q"),
        Some("channel=sms#124;push, #35;tag=a#quot;b")
    );
    assert_eq!(
        d.edge("n_topic", "n_q"),
        Some("channel=sms|push, #tag=a\"b")
    );
    for p in [&m, &d] {
        assert_eq!(p.edge("n_worker", "n_bucket"), Some("read/write"));
        assert_eq!(p.edge("n_worker", "n_secret"), Some("read secret"));
        assert_eq!(p.edge("n_worker", "n_topic"), Some("publish"));
        assert!(p.edge("n_topic", "x_sub_sub_mail").is_some());
        assert_eq!(p.frames_of("n_worker")[0], "c_tier_vpc_subnets");
        let rule = p
            .edges
            .iter()
            .find(|((_, to), _)| to == "n_fn_sg")
            .map(|(_, l)| l.as_str());
        assert_eq!(rule, Some("all traffic"));
    }
    assert!(graphviz(), "Graphviz `dot` is not installed");
    check_with_graphviz(&dot, "corners");
}
