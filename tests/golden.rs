//! Golden files of the embedded blueprints, plus targeted checks of what each
//! blueprint must build.
//!
//! For every case below, `archform render <blueprint> --format yaml --stack golden
//! [--set ...]` must print exactly tests/golden/<blueprint>[-<variant>].yaml. After an
//! intended change, regenerate the files and review their diff:
//!
//!     ARCHFORM_UPDATE_GOLDEN=1 cargo test --test golden
//!
//! The targeted checks go through the library (`archform_blueprint::compile`) and
//! state the properties a golden file only shows: the security group chain, NAT
//! gateways per mode, one queue + DLQ + worker + filtered subscription per channel,
//! the chat routes and the scope of every permission.

use archform_blueprint::{Graph, Resource, StackRequest, catalog, compile};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (blueprint, variant, --set arguments). The variant "" is the default parameter set.
const CASES: &[(&str, &str, &[&str])] = &[
    ("url-shortener", "", &[]),
    (
        "url-shortener",
        "https",
        &[
            "certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/0b6d2a3c-1f4e-4c5d-9a8b-7e6f5d4c3b2a",
        ],
    ),
    (
        "url-shortener",
        "function-url",
        &["front_door=function_url"],
    ),
    ("three-tier", "", &[]),
    ("three-tier", "3az-per-az", &["az_count=3", "nat=per_az"]),
    (
        "three-tier",
        "dynamodb-no-nat",
        &["nat=none", "data_store=dynamodb"],
    ),
    ("chat", "", &[]),
    (
        "chat",
        "per-route",
        &["function_layout=per_route", "stage_name=v1"],
    ),
    ("notifications", "", &[]),
    (
        "notifications",
        "all-channels",
        &[
            "channels=email,sms,push,webhook",
            "worker_timeout=60",
            "worker_batch_size=5",
            "worker_max_concurrency=20",
        ],
    ),
];

fn golden_path(blueprint: &str, variant: &str) -> PathBuf {
    let file = if variant.is_empty() {
        format!("{blueprint}.yaml")
    } else {
        format!("{blueprint}-{variant}.yaml")
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file)
}

fn render(blueprint: &str, set: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
    cmd.args(["render", blueprint, "--format", "yaml", "--stack", "golden"]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run archform");
    assert!(
        out.status.success(),
        "archform render {blueprint} {set:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("render prints UTF-8")
}

/// A line diff (longest common subsequence) in hunks with two lines of context
/// and line numbers of both files; only the first hunks, to stay readable.
fn diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 2;
    const MAX_LINES: usize = 60;
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of e[i..] and a[j..].
    let mut lcs = vec![vec![0u32; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Edit script: (' ' | '-' | '+', expected line no, actual line no, text).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            ops.push((' ', i + 1, j + 1, e[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i + 1, j, e[i]));
            i += 1;
        } else {
            ops.push(('+', i, j + 1, a[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|k| ops[*k].0 != ' ').collect();
    let mut out = format!(
        "{} line(s) differ (- golden file, + rendered):\n",
        changed.len()
    );
    let mut shown = 0;
    let mut last: Option<usize> = None;
    for &k in &changed {
        let from = k.saturating_sub(CONTEXT).max(last.map_or(0, |l| l + 1));
        let to = (k + CONTEXT).min(ops.len() - 1);
        if last.is_none_or(|l| from > l + 1) {
            let (_, el, al, _) = ops[from];
            out.push_str(&format!("@@ golden line {el}, rendered line {al} @@\n"));
        }
        for op in &ops[from..=to] {
            if shown == MAX_LINES {
                out.push_str("... (more differences not shown)\n");
                return out;
            }
            out.push_str(&format!("{} {}\n", op.0, op.3));
            shown += 1;
        }
        last = Some(to);
    }
    out
}

#[test]
fn rendered_blueprints_match_their_golden_files() {
    let update = std::env::var("ARCHFORM_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for (blueprint, variant, set) in CASES {
        let path = golden_path(blueprint, variant);
        let actual = render(blueprint, set);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &actual).unwrap();
            // Straight to stderr: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "ARCHFORM_UPDATE_GOLDEN=1: wrote {}",
                path.display()
            );
            continue;
        }
        let expected = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!(
                    "{}: cannot read ({e}); create it with ARCHFORM_UPDATE_GOLDEN=1",
                    path.display()
                ));
                continue;
            }
        };
        if expected != actual {
            failures.push(format!(
                "{} differs from `archform render {blueprint} --format yaml --stack golden{}`\n{}",
                path.display(),
                set.iter()
                    .map(|s| format!(" --set {s}"))
                    .collect::<String>(),
                diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended, run ARCHFORM_UPDATE_GOLDEN=1 cargo test --test golden and review the diff.",
        failures.join("\n")
    );
}

#[test]
fn every_embedded_blueprint_has_a_golden_file() {
    let covered: BTreeSet<&str> = CASES.iter().map(|(b, _, _)| *b).collect();
    for name in catalog::embedded_names() {
        assert!(
            covered.contains(name),
            "blueprint `{name}` has no golden case in tests/golden.rs"
        );
    }
}

// ---- Targeted checks through the library ----

fn graph(blueprint: &str, set: &[&str]) -> Graph {
    let req = StackRequest {
        blueprint: Some(blueprint.into()),
        stack: Some("golden".into()),
        set: set.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    match compile(&req) {
        Ok(g) => g,
        Err(e) => panic!("{blueprint} {set:?} does not compile:\n{e}"),
    }
}

fn res<'g>(g: &'g Graph, id: &str) -> &'g Resource {
    g.resources
        .get(id)
        .unwrap_or_else(|| panic!("no resource `{id}`"))
}

fn of_kind<'g>(g: &'g Graph, kind: &str) -> Vec<&'g Resource> {
    g.resources
        .values()
        .filter(|r| r.kind.name == kind)
        .collect()
}

fn ids(rs: &[&Resource]) -> Vec<String> {
    rs.iter().map(|r| r.id.clone()).collect()
}

fn ingress(g: &Graph, sg: &str) -> Vec<Value> {
    res(g, sg)
        .prop("ingress")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Every policy statement of every role, with the role's id.
fn statements(g: &Graph) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for role in of_kind(g, "iam.role") {
        for p in role
            .prop("policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for st in p["document"]["Statement"].as_array().into_iter().flatten() {
                out.push((role.id.clone(), st.clone()));
            }
        }
    }
    out
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

const THREE_TIER_VARIANTS: &[&[&str]] = &[
    &[],
    &["az_count=3"],
    &["nat=per_az"],
    &["az_count=3", "nat=per_az"],
    &["nat=none"],
    &["data_store=dynamodb"],
    &["nat=none", "data_store=dynamodb"],
];

#[test]
fn three_tier_security_groups_chain_tier_to_tier() {
    for set in THREE_TIER_VARIANTS {
        let g = graph("three-tier", set);
        let only_from = |sg: &str, source: &str| {
            let rules = ingress(&g, sg);
            assert!(!rules.is_empty(), "{set:?}: `{sg}` admits nothing");
            for r in &rules {
                assert_eq!(
                    r["source_security_group_id"],
                    json!(format!("${{{source}.id}}")),
                    "{set:?}: `{sg}` admits {r} instead of only `{source}`"
                );
                assert!(
                    r.get("cidr").is_none(),
                    "{set:?}: `{sg}` admits a CIDR: {r}"
                );
            }
        };
        // Internet -> public ALB: 80 and 443 only.
        let public: BTreeSet<(i64, String)> = ingress(&g, "public_alb_sg")
            .iter()
            .map(|r| {
                assert_eq!(r["from_port"], r["to_port"]);
                (
                    r["from_port"].as_i64().unwrap(),
                    r["cidr"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            public,
            BTreeSet::from([(80, "0.0.0.0/0".into()), (443, "0.0.0.0/0".into())])
        );
        only_from("web_sg", "public_alb_sg");
        only_from("internal_alb_sg", "web_sg");
        only_from("app_sg", "internal_alb_sg");
        // The functions carry their tier's group; the ALBs theirs.
        let sgs_of = |id: &str, pointer: &str| res(&g, id).properties.pointer(pointer).cloned();
        assert_eq!(
            sgs_of("web", "/vpc_config/security_group_ids"),
            Some(json!(["${web_sg.id}"]))
        );
        assert_eq!(
            sgs_of("app", "/vpc_config/security_group_ids"),
            Some(json!(["${app_sg.id}"]))
        );
        assert_eq!(
            sgs_of("public_alb", "/security_groups"),
            Some(json!(["${public_alb_sg.id}"]))
        );
        assert_eq!(
            sgs_of("internal_alb", "/security_groups"),
            Some(json!(["${internal_alb_sg.id}"]))
        );
        if set.contains(&"data_store=dynamodb") {
            assert!(!g.resources.contains_key("db_sg") && !g.resources.contains_key("db"));
        } else {
            let rules = ingress(&g, "db_sg");
            assert_eq!(
                rules,
                vec![json!({
                    "protocol": "tcp", "from_port": 5432, "to_port": 5432,
                    "source_security_group_id": "${app_sg.id}",
                    "description": "PostgreSQL from the app tier"
                })],
                "{set:?}: the database admits more than PostgreSQL from the app tier"
            );
            assert_eq!(
                sgs_of("db", "/vpc_security_group_ids"),
                Some(json!(["${db_sg.id}"]))
            );
        }
        // Nothing admits SSH, or anything but 80/443, from the internet.
        for sg in of_kind(&g, "ec2.security_group") {
            for r in ingress(&g, &sg.id) {
                if r.get("cidr").is_some() {
                    let port = r["from_port"].as_i64().unwrap();
                    assert!(
                        sg.id == "public_alb_sg" && (port == 80 || port == 443),
                        "{set:?}: `{}` admits {r}",
                        sg.id
                    );
                }
            }
        }
    }
}

#[test]
fn three_tier_network_follows_the_nat_mode() {
    for set in THREE_TIER_VARIANTS {
        let g = graph("three-tier", set);
        let azs = if set.contains(&"az_count=3") { 3 } else { 2 };
        let nat = set
            .iter()
            .find_map(|s| s.strip_prefix("nat="))
            .unwrap_or("single");
        let nats = of_kind(&g, "ec2.nat_gateway");
        let expected = match nat {
            "none" => 0,
            "single" => 1,
            _ => azs,
        };
        assert_eq!(
            nats.len(),
            expected,
            "{set:?}: NAT gateways {:?}",
            ids(&nats)
        );
        assert_eq!(
            of_kind(&g, "ec2.eip").len(),
            expected,
            "{set:?}: one EIP per NAT"
        );
        for n in &nats {
            let subnet = n.prop("subnet_id").and_then(Value::as_str).unwrap();
            assert!(
                subnet.starts_with("${public_"),
                "{set:?}: {} in {subnet}",
                n.id
            );
        }
        assert!(res(&g, "vpc").prop("enable_dns_support") == Some(&json!(true)));
        assert!(res(&g, "vpc").prop("enable_dns_hostnames") == Some(&json!(true)));
        let tiers = |tier: &str| {
            of_kind(&g, "ec2.subnet")
                .into_iter()
                .filter(|s| s.prop("tier") == Some(&json!(tier)))
                .count()
        };
        assert_eq!(
            (tiers("public"), tiers("private"), tiers("isolated")),
            (azs, azs, azs),
            "{set:?}: public, app and data subnets per AZ"
        );
        // public -> IGW; app -> its NAT (or nothing); data -> local only.
        assert_eq!(
            res(&g, "public_rt").prop("routes"),
            Some(&json!([{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "${igw.id}"}]))
        );
        for az in ["a", "b", "c"].into_iter().take(azs) {
            let routes = res(&g, &format!("app_rt_{az}")).prop("routes").cloned();
            let target = match nat {
                "none" => None,
                "single" => Some("${nat_a.id}".to_string()),
                _ => Some(format!("${{nat_{az}.id}}")),
            };
            assert_eq!(
                routes,
                target
                    .map(|t| json!([{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": t}])),
                "{set:?}: routes of app_rt_{az}"
            );
        }
        assert_eq!(
            res(&g, "data_rt").prop("routes"),
            None,
            "{set:?}: data tier routes"
        );
        // Gateway endpoints on the app route tables.
        for ep in ["dynamodb_endpoint", "s3_endpoint"] {
            assert_eq!(
                list(res(&g, ep).prop("route_table_ids").unwrap()).len(),
                azs,
                "{set:?}: {ep}"
            );
        }
        // Functions only in app subnets; the DB only in data subnets.
        for f in ["web", "app"] {
            for s in list(
                res(&g, f)
                    .properties
                    .pointer("/vpc_config/subnet_ids")
                    .unwrap(),
            ) {
                assert!(s.starts_with("${app_"), "{set:?}: `{f}` in {s}");
            }
        }
        assert_eq!(
            res(&g, "internal_alb").prop("scheme"),
            Some(&json!("internal"))
        );
        let web_env = res(&g, "web")
            .properties
            .pointer("/environment/APP_URL")
            .cloned();
        assert_eq!(web_env, Some(json!("http://${internal_alb.dns_name}")));
        let postgres = !set.contains(&"data_store=dynamodb");
        if postgres {
            let db = res(&g, "db");
            for (k, v) in [
                ("publicly_accessible", json!(false)),
                ("storage_encrypted", json!(true)),
                ("manage_master_user_password", json!(true)),
                ("engine", json!("postgres")),
            ] {
                assert_eq!(db.prop(k), Some(&v), "{set:?}: db {k}");
            }
            for s in list(res(&g, "db_subnets").prop("subnet_ids").unwrap()) {
                assert!(s.starts_with("${data_"), "{set:?}: db subnet {s}");
            }
        }
        // Without NAT, the functions reach Secrets Manager (CSRF key, database password)
        // through an interface endpoint that only they may use.
        assert_eq!(
            g.resources.contains_key("secrets_endpoint"),
            nat == "none",
            "{set:?}: secrets endpoint"
        );
        if nat == "none" {
            let sources: Vec<&str> = res(&g, "secrets_endpoint_sg")
                .prop("ingress")
                .and_then(Value::as_array)
                .unwrap()
                .iter()
                .map(|rule| rule["source_security_group_id"].as_str().unwrap())
                .collect();
            let expected: &[&str] = if postgres {
                &["${web_sg.id}", "${app_sg.id}"]
            } else {
                &["${web_sg.id}"]
            };
            assert_eq!(sources, expected, "{set:?}: who may use the endpoint");
        }
        if postgres {
            assert_eq!(
                res(&g, "app")
                    .properties
                    .pointer("/environment/DATABASE_CA_BUNDLE"),
                Some(&json!("amazon-rds")),
                "{set:?}: the app verifies the database's certificate"
            );
        }
    }
}

#[test]
fn three_tier_app_role_reaches_only_its_data() {
    let g = graph("three-tier", &[]);
    let app: Vec<Value> = statements(&g)
        .into_iter()
        .filter(|(r, _)| r == "app_role")
        .map(|(_, s)| s)
        .collect();
    assert!(
        app.iter()
            .any(|s| list(&s["Action"]) == ["secretsmanager:GetSecretValue"]
                && s["Resource"] == "${db.master_user_secret_arn}")
    );
    let web: Vec<Value> = statements(&g)
        .into_iter()
        .filter(|(r, _)| r == "web_role")
        .map(|(_, s)| s)
        .collect();
    // The web tier touches no data: its only secret is its own CSRF key.
    for s in &web {
        let actions = list(&s["Action"]);
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, ["secretsmanager:GetSecretValue"]);
            assert_eq!(s["Resource"], "${csrf_key.arn}");
        } else {
            assert!(
                actions
                    .iter()
                    .all(|a| a.starts_with("logs:") || a.starts_with("ec2:")),
                "the web tier touches no data: {web:?}"
            );
        }
    }
    let g = graph("three-tier", &["data_store=dynamodb"]);
    let data: Vec<Value> = statements(&g)
        .into_iter()
        .filter(|(r, s)| r == "app_role" && list(&s["Action"])[0].starts_with("dynamodb:"))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["Resource"], "${app_table.arn}");
}

/// The database refuses plain connections on every engine version: its
/// parameter group sets rds.force_ssl (PostgreSQL before 15 defaults to 0),
/// in the family of the engine's major version.
#[test]
fn three_tier_database_forces_tls_on_every_engine_version() {
    for (set, version, family) in [
        (&[][..], "16", "postgres16"),
        (&["db_engine_version=14.9"][..], "14.9", "postgres14"),
        (&["db_engine_version=13"][..], "13", "postgres13"),
        (
            &["db_engine_version=17.2", "az_count=3"][..],
            "17.2",
            "postgres17",
        ),
    ] {
        let g = graph("three-tier", set);
        let db = res(&g, "db");
        assert_eq!(db.prop("engine_version"), Some(&json!(version)), "{set:?}");
        let group = db
            .prop("db_parameter_group_name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{set:?}: the database has no parameter group"));
        let id = group
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix(".name}"))
            .unwrap_or_else(|| panic!("{set:?}: not a group's name: {group}"));
        let params = res(&g, id);
        assert_eq!(params.kind.name, "rds.db_parameter_group", "{set:?}");
        assert_eq!(params.prop("family"), Some(&json!(family)), "{set:?}");
        assert_eq!(
            params
                .prop("parameters")
                .and_then(|p| p.get("rds.force_ssl")),
            Some(&json!("1")),
            "{set:?}"
        );
    }
    // No database, no parameter group.
    let g = graph("three-tier", &["data_store=dynamodb"]);
    assert!(of_kind(&g, "rds.db_parameter_group").is_empty());
}

#[test]
fn chat_routes_and_permissions_are_scoped_to_the_api() {
    for (set, stage) in [
        (&[][..], "prod"),
        (&["function_layout=per_route"][..], "prod"),
        (&["function_layout=per_route", "stage_name=v1"][..], "v1"),
    ] {
        let g = graph("chat", set);
        assert_eq!(
            res(&g, "api").prop("route_selection_expression"),
            Some(&json!("$request.body.action"))
        );
        let routes = of_kind(&g, "apigatewayv2.route");
        let keys: BTreeSet<&str> = routes
            .iter()
            .map(|r| r.prop("route_key").and_then(Value::as_str).unwrap())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "$connect",
                "$disconnect",
                "$default",
                "sendmessage",
                "typing",
                "history",
                "join",
                "leave",
                "read",
                "presence"
            ])
        );
        // The deployment waits for every route, and its revision names them.
        let deployment = res(&g, "api_deployment");
        let waits: BTreeSet<String> = deployment.depends_on.iter().cloned().collect();
        assert_eq!(waits, ids(&routes).into_iter().collect(), "{set:?}");
        let revision = deployment.prop("revision").and_then(Value::as_str).unwrap();
        for k in &keys {
            assert!(
                revision.contains(k),
                "{set:?}: revision `{revision}` lacks {k}"
            );
        }
        assert_eq!(res(&g, "api_stage").prop("stage_name"), Some(&json!(stage)));
        // Invoke permissions: API Gateway, this API only, one route key or all of them
        // (the page's function URL permissions aside).
        let permissions: Vec<_> = of_kind(&g, "lambda.permission")
            .into_iter()
            .filter(|p| !p.id.starts_with("page_url"))
            .collect();
        let per_route = set.contains(&"function_layout=per_route");
        assert_eq!(permissions.len(), if per_route { 10 } else { 1 }, "{set:?}");
        // One function per route ($default shares sendmessage's), plus the page.
        assert_eq!(
            of_kind(&g, "lambda.function").len(),
            if per_route { 10 } else { 2 }
        );
        for p in &permissions {
            assert_eq!(
                p.prop("principal"),
                Some(&json!("apigateway.amazonaws.com"))
            );
            let arn = p.prop("source_arn").and_then(Value::as_str).unwrap();
            let scope = arn
                .strip_prefix("${api.execution_arn}/*/")
                .unwrap_or_else(|| panic!("{set:?}: `{}` is not scoped to the API: {arn}", p.id));
            assert!(
                if per_route {
                    keys.contains(scope)
                } else {
                    scope == "*"
                },
                "{set:?}: `{}` scope {scope}",
                p.id
            );
        }
        // Every ManageConnections grant is this API's stage's @connections, nothing wider.
        let manage: Vec<(String, Value)> = statements(&g)
            .into_iter()
            .filter(|(_, s)| {
                list(&s["Action"])
                    .iter()
                    .any(|a| a.starts_with("execute-api:"))
            })
            .collect();
        assert!(!manage.is_empty());
        for (role, st) in &manage {
            assert_eq!(
                list(&st["Action"]),
                ["execute-api:ManageConnections"],
                "{role}"
            );
            assert_eq!(
                list(&st["Resource"]),
                [format!(
                    "${{api.execution_arn}}/{stage}/POST/@connections/*"
                )],
                "{set:?}: {role}"
            );
        }
        // Tables: connections (TTL, indexes by conversation and user), messages
        // (conversation_id + timestamp#id sort key), presence (TTL).
        let connections = res(&g, "connections");
        assert_eq!(
            connections.prop("ttl_attribute"),
            Some(&json!("expires_at"))
        );
        let indexes: Vec<&str> = connections
            .prop("global_secondary_indexes")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(indexes, ["by_conversation", "by_user"]);
        let messages = res(&g, "messages");
        assert_eq!(
            messages.properties["partition_key"]["name"],
            "conversation_id"
        );
        assert_eq!(
            messages.properties["sort_key"],
            json!({"name": "sk", "type": "S"})
        );
        assert_eq!(
            res(&g, "presence").prop("ttl_attribute"),
            Some(&json!("expires_at"))
        );
    }
}

#[test]
fn notifications_have_two_queues_and_a_worker_per_channel_and_least_privilege() {
    // The grants of one role, as (actions, resources) per statement after the logs one.
    fn grants(g: &Graph, role: &str) -> Vec<(Vec<String>, Vec<String>)> {
        statements(g)
            .into_iter()
            .filter(|(r, _)| r == role)
            .map(|(_, s)| {
                let resources = if s.get("NotResource").is_some() {
                    vec![format!("not {}", s["NotResource"].as_str().unwrap())]
                } else {
                    list(&s["Resource"])
                };
                (list(&s["Action"]), resources)
            })
            .skip(1)
            .collect()
    }
    fn g_(actions: &[&str], resources: &[&str]) -> (Vec<String>, Vec<String>) {
        (
            actions.iter().map(|a| a.to_string()).collect(),
            resources.iter().map(|r| r.to_string()).collect(),
        )
    }
    for (set, channels, timeout) in [
        (&[][..], &["email", "sms", "push"][..], 30),
        (&["channels=email"][..], &["email"][..], 30),
        (&["channels=webhook"][..], &["webhook"][..], 30),
        (
            &[
                "channels=email,sms,push,webhook",
                "worker_timeout=120",
                "max_receive_count=7",
                "email_rate_per_second=0",
                "webhook_rate_per_second=50",
                "apns_platform_application_arn=arn:aws:sns:us-east-1:123456789012:app/APNS/shop",
            ][..],
            &["email", "sms", "push", "webhook"][..],
            120,
        ),
    ] {
        let g = graph("notifications", set);
        let n = channels.len();
        let receives = if set.iter().any(|s| s.starts_with("max_receive_count=")) {
            7
        } else {
            5
        };
        assert_eq!(
            of_kind(&g, "sqs.queue").len(),
            2 * (2 * n + 1),
            "{set:?}: priority and bulk queue + DLQ per channel, and for the expander"
        );
        assert!(of_kind(&g, "sns.topic").is_empty(), "{set:?}");
        assert!(of_kind(&g, "sns.subscription").is_empty(), "{set:?}");
        assert!(of_kind(&g, "sqs.queue_policy").is_empty(), "{set:?}");
        assert_eq!(
            of_kind(&g, "lambda.event_source_mapping").len(),
            2 * n + 1,
            "{set:?}"
        );
        assert_eq!(
            of_kind(&g, "lambda.function").len(),
            n + 2,
            "{set:?}: workers + ingest + expander"
        );
        // The SES identity exists exactly when email is a channel.
        let identities = ids(&of_kind(&g, "ses.email_identity"));
        if channels.contains(&"email") {
            assert_eq!(identities, ["email_sender"], "{set:?}");
            assert_eq!(
                res(&g, "email_sender").prop("email_identity"),
                Some(&json!("notifications@example.com"))
            );
        } else {
            assert!(identities.is_empty(), "{set:?}");
        }
        // Tables as lambdas/notify/README.md describes them.
        let key = |t: &str| res(&g, t).properties["partition_key"]["name"].clone();
        assert_eq!(key("notifications"), "pk");
        assert_eq!(
            res(&g, "notifications").properties["sort_key"],
            json!({"name": "sk", "type": "S"})
        );
        assert_eq!(
            res(&g, "notifications").prop("point_in_time_recovery"),
            Some(&json!(true))
        );
        assert_eq!(key("templates"), "name");
        assert_eq!(key("preferences"), "user_id");
        assert_eq!(key("idempotency"), "key");
        assert_eq!(key("rate_limits"), "pk");
        for t in ["idempotency", "rate_limits"] {
            assert_eq!(res(&g, t).prop("ttl_attribute"), Some(&json!("ttl")), "{t}");
        }
        for t in [
            "notifications",
            "templates",
            "preferences",
            "idempotency",
            "rate_limits",
        ] {
            assert_eq!(res(&g, t).prop("sse_enabled"), Some(&json!(true)), "{t}");
        }
        // The expander and its queue.
        let eq = res(&g, "expansion_queue");
        assert_eq!(
            eq.properties["redrive_policy"]["dead_letter_target_arn"],
            json!("${expansion_queue_dlq.arn}")
        );
        let expander = res(&g, "expander");
        assert_eq!(expander.properties["code"]["bin"], json!("expander"));
        assert!(expander.prop("timeout").unwrap().as_i64().unwrap() >= 60);
        let esm = res(&g, "expander_events");
        assert_eq!(esm.prop("batch_size"), Some(&json!(1)));
        assert_eq!(
            esm.prop("event_source_arn"),
            Some(&json!("${expansion_queue.arn}"))
        );
        assert_eq!(esm.prop("report_batch_item_failures"), Some(&json!(true)));
        let queue_arns: Vec<String> = channels
            .iter()
            .flat_map(|c| {
                [
                    format!("${{{c}_queue.arn}}"),
                    format!("${{{c}_bulk_queue.arn}}"),
                ]
            })
            .collect();
        let queue_arns: Vec<&str> = queue_arns.iter().map(String::as_str).collect();
        assert_eq!(
            grants(&g, "expander_role"),
            [
                g_(&["dynamodb:PutItem"], &["${notifications.arn}"]),
                g_(&["dynamodb:GetItem"], &["${templates.arn}"]),
                g_(&["dynamodb:BatchGetItem"], &["${preferences.arn}"]),
                g_(
                    &[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes"
                    ],
                    &["${expansion_queue.arn}"]
                ),
                g_(&["sqs:SendMessage"], &queue_arns),
            ],
            "{set:?}"
        );
        // The ingest: every enabled channel's queue and the expansion queue.
        let ingest = res(&g, "ingest");
        assert_eq!(ingest.properties["code"]["bin"], json!("ingest"));
        let env = &ingest.properties["environment"];
        for c in ["email", "sms", "push", "webhook"] {
            for (var, queue) in [
                (
                    format!("NOTIFY_{}_QUEUE_URL", c.to_uppercase()),
                    format!("{c}_queue"),
                ),
                (
                    format!("NOTIFY_{}_BULK_QUEUE_URL", c.to_uppercase()),
                    format!("{c}_bulk_queue"),
                ),
            ] {
                if channels.contains(&c) {
                    assert_eq!(env[&var], json!(format!("${{{queue}.url}}")), "{set:?}");
                    assert_eq!(
                        res(&g, "expander").properties["environment"][&var],
                        json!(format!("${{{queue}.url}}"))
                    );
                } else {
                    assert!(env.get(&var).is_none(), "{set:?}: {var}");
                }
            }
        }
        assert_eq!(
            env["NOTIFY_EXPANSION_QUEUE_URL"],
            json!("${expansion_queue.url}")
        );
        assert_eq!(env["NOTIFY_ALLOW_HTTP_WEBHOOKS"], json!("false"));
        // The API wants the generated key; only the ingest may read it.
        assert_eq!(env["NOTIFY_API_KEY_SECRET_ARN"], json!("${api_key.arn}"));
        assert_eq!(res(&g, "api_key").kind.name, "secretsmanager.secret");
        for (role, _) in statements(&g) {
            let reads_key = grants(&g, &role)
                .iter()
                .any(|(_, resources)| resources.iter().any(|r| r == "${api_key.arn}"));
            assert_eq!(reads_key, role == "ingest_role", "{role}");
        }
        let mut ingest_queues = queue_arns.clone();
        ingest_queues.push("${expansion_queue.arn}");
        assert_eq!(
            grants(&g, "ingest_role"),
            [
                g_(
                    &[
                        "dynamodb:BatchWriteItem",
                        "dynamodb:Query",
                        "dynamodb:UpdateItem"
                    ],
                    &["${notifications.arn}"]
                ),
                g_(
                    &["dynamodb:GetItem", "dynamodb:PutItem"],
                    &["${templates.arn}"]
                ),
                g_(
                    &["dynamodb:GetItem", "dynamodb:PutItem"],
                    &["${preferences.arn}"]
                ),
                g_(
                    &[
                        "dynamodb:PutItem",
                        "dynamodb:GetItem",
                        "dynamodb:DeleteItem"
                    ],
                    &["${idempotency.arn}"]
                ),
                g_(&["sqs:SendMessage"], &ingest_queues),
                g_(&["secretsmanager:GetSecretValue"], &["${api_key.arn}"]),
            ],
            "{set:?}"
        );
        for c in channels {
            // The priority path and the bulk path: each queue its own DLQ
            // and its own mapping (with its own concurrency) to the worker.
            for (queue_id, esm_id, concurrency) in [
                (format!("{c}_queue"), format!("{c}_worker_events"), 5),
                (
                    format!("{c}_bulk_queue"),
                    format!("{c}_worker_bulk_events"),
                    2,
                ),
            ] {
                let queue = res(&g, &queue_id);
                assert_eq!(
                    queue.properties["redrive_policy"]["dead_letter_target_arn"],
                    json!(format!("${{{queue_id}_dlq.arn}}"))
                );
                assert_eq!(
                    queue.properties["redrive_policy"]["max_receive_count"],
                    json!(receives)
                );
                assert_eq!(queue.prop("visibility_timeout"), Some(&json!(6 * timeout)));
                assert_eq!(queue.prop("sqs_managed_sse"), Some(&json!(true)));
                let esm = res(&g, &esm_id);
                assert_eq!(
                    esm.prop("function_name"),
                    Some(&json!(format!("${{{c}_worker.name}}")))
                );
                assert_eq!(
                    esm.prop("event_source_arn"),
                    Some(&json!(format!("${{{queue_id}.arn}}")))
                );
                assert_eq!(esm.prop("report_batch_item_failures"), Some(&json!(true)));
                assert_eq!(esm.prop("maximum_concurrency"), Some(&json!(concurrency)));
            }
            let worker = res(&g, &format!("{c}_worker"));
            assert_eq!(worker.properties["code"]["bin"], json!("worker"));
            assert_eq!(worker.prop("timeout"), Some(&json!(timeout)));
            let env = &worker.properties["environment"];
            let upper = c.to_uppercase();
            assert_eq!(
                env[format!("NOTIFY_{upper}_QUEUE_URL")],
                json!(format!("${{{c}_queue.url}}"))
            );
            assert_eq!(
                env[format!("NOTIFY_{upper}_BULK_QUEUE_URL")],
                json!(format!("${{{c}_bulk_queue.url}}"))
            );
            assert_eq!(env["NOTIFY_MAX_RECEIVE_COUNT"], json!(receives.to_string()));
            // Only its own queues' URLs.
            let urls = env
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.ends_with("_QUEUE_URL"))
                .count();
            assert_eq!(urls, 2, "{c}");
            let rate = match (*c, set.len()) {
                ("email", 1) | ("email", 0) => Some("14"),
                ("sms", _) => Some("20"),
                ("webhook", 6) => Some("50"),
                _ => None,
            };
            let rate_var = format!("NOTIFY_RATE_{upper}_PER_SECOND");
            assert_eq!(
                env.get(&rate_var).and_then(Value::as_str),
                rate,
                "{c} {set:?}"
            );
            let mut expected = vec![
                g_(
                    &["dynamodb:UpdateItem", "dynamodb:GetItem"],
                    &["${notifications.arn}"],
                ),
                g_(&["dynamodb:GetItem"], &["${preferences.arn}"]),
            ];
            if rate.is_some() {
                assert_eq!(env["NOTIFY_RATE_LIMIT_TABLE"], json!("${rate_limits.name}"));
                expected.push(g_(&["dynamodb:UpdateItem"], &["${rate_limits.arn}"]));
            } else {
                assert!(env.get("NOTIFY_RATE_LIMIT_TABLE").is_none());
            }
            let q = format!("${{{c}_queue.arn}}");
            let bulk = format!("${{{c}_bulk_queue.arn}}");
            expected.push(g_(
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                    "sqs:ChangeMessageVisibility",
                ],
                &[&q, &bulk],
            ));
            match *c {
                "email" => {
                    assert_eq!(env["NOTIFY_EMAIL_FROM"], json!("${email_sender.name}"));
                    expected.push(g_(&["ses:SendEmail"], &["${email_sender.arn}"]));
                }
                "sms" => expected.push(g_(
                    &["sns:Publish"],
                    &["not arn:${aws.partition}:sns:*:*:*"],
                )),
                "push" => {
                    let apns = set
                        .iter()
                        .find_map(|s| s.strip_prefix("apns_platform_application_arn="));
                    if let Some(apns) = apns {
                        assert_eq!(env["NOTIFY_APNS_PLATFORM_APPLICATION_ARN"], json!(apns));
                        expected.push(g_(&["sns:CreatePlatformEndpoint"], &[apns]));
                    } else {
                        assert!(env.get("NOTIFY_APNS_PLATFORM_APPLICATION_ARN").is_none());
                    }
                    expected.push(g_(
                        &["sns:Publish"],
                        &["arn:${aws.partition}:sns:${aws.region}:${aws.account_id}:endpoint/*"],
                    ));
                }
                _ => {}
            }
            assert_eq!(
                grants(&g, &format!("{c}_worker_role")),
                expected,
                "{c} {set:?}"
            );
        }
    }
}

#[test]
fn every_variant_encrypts_and_tags_everything() {
    let variants: &[(&str, &[&str])] = &[
        ("three-tier", &[]),
        ("three-tier", &["nat=none", "data_store=dynamodb"]),
        ("chat", &[]),
        ("chat", &["function_layout=per_route"]),
        ("notifications", &["channels=email,sms,push,webhook"]),
    ];
    for (bp, set) in variants {
        let g = graph(bp, set);
        for r in g.resources.values() {
            assert_eq!(
                r.tags.get("archform:stack").map(String::as_str),
                Some("golden")
            );
            let encrypted = match r.kind.name {
                "dynamodb.table" => r.prop("sse_enabled") == Some(&json!(true)),
                "sqs.queue" => r.prop("sqs_managed_sse") == Some(&json!(true)),
                "sns.topic" => r.prop("kms_master_key_id") == Some(&json!("alias/aws/sns")),
                "rds.db_instance" => r.prop("storage_encrypted") == Some(&json!(true)),
                _ => true,
            };
            assert!(
                encrypted,
                "{bp} {set:?}: `{}` is not encrypted at rest",
                r.id
            );
        }
        // Least privilege: no wildcard resource except the VPC networking actions.
        for (role, st) in statements(&g) {
            if list(&st["Resource"]).contains(&"*".to_string()) {
                assert!(
                    list(&st["Action"]).iter().all(|a| a.starts_with("ec2:")),
                    "{bp} {set:?}: {role} {st}"
                );
            }
            // The one exception: SMS. A phone number has no ARN, so the SMS worker's
            // sns:Publish is on everything but SNS's own ARNs (topics, endpoints).
            if st.get("NotResource").is_some() {
                assert_eq!(
                    (
                        bp,
                        role.as_str(),
                        list(&st["Action"]),
                        list(&st["NotResource"])
                    ),
                    (
                        &"notifications",
                        "sms_worker_role",
                        vec!["sns:Publish".to_string()],
                        vec!["arn:${aws.partition}:sns:*:*:*".to_string()]
                    ),
                    "{bp} {set:?}: {st}"
                );
            }
        }
    }
}

#[test]
fn a_certificate_gives_each_public_alb_https_and_a_redirect() {
    let cert =
        "arn:aws:acm:us-east-1:123456789012:certificate/0b6d2a3c-1f4e-4c5d-9a8b-7e6f5d4c3b2a";
    let with = format!("certificate_arn={cert}");
    for (bp, alb, sg, route, output) in [
        ("url-shortener", "alb", "alb_sg", "api_route", "base_url"),
        ("notifications", "alb", "alb_sg", "ingest_route", "base_url"),
        (
            "three-tier",
            "public_alb",
            "public_alb_sg",
            "web_route",
            "url",
        ),
    ] {
        // Without one: plain HTTP, and validate says so.
        let g = graph(bp, &[]);
        assert!(!g.resources.contains_key(&format!("{alb}_https")), "{bp}");
        let warnings = archform_blueprint::advice::warnings(&g);
        assert_eq!(warnings.len(), 1, "{bp}: {warnings:?}");
        assert!(
            warnings[0].contains(&format!("`{alb}`")) && warnings[0].contains("certificate_arn"),
            "{bp}: {warnings:?}"
        );
        assert!(g.outputs[output].value.starts_with("http://"), "{bp}");

        let g = graph(bp, &[&with]);
        assert!(
            archform_blueprint::advice::warnings(&g).is_empty(),
            "{bp}: HTTPS needs no warning"
        );
        let https = res(&g, &format!("{alb}_https"));
        assert_eq!(https.kind.name, "elbv2.listener");
        assert_eq!(https.prop("port"), Some(&json!(443)), "{bp}");
        assert_eq!(https.prop("protocol"), Some(&json!("HTTPS")), "{bp}");
        assert_eq!(https.prop("certificate_arn"), Some(&json!(cert)), "{bp}");
        assert_eq!(
            https.prop("ssl_policy"),
            Some(&json!("ELBSecurityPolicy-TLS13-1-2-2021-06")),
            "{bp}: TLS 1.3 and 1.2 only"
        );
        let redirect = &res(&g, &format!("{alb}_http")).properties["default_action"];
        assert_eq!(redirect["type"], "redirect", "{bp}");
        assert_eq!(redirect["status_code"], 301, "{bp}");
        assert_eq!(redirect["redirect_protocol"], "HTTPS", "{bp}");
        assert_eq!(redirect["redirect_port"], 443, "{bp}");
        // The service is routed on the HTTPS listener only.
        let rules: Vec<&Resource> = of_kind(&g, "elbv2.listener_rule")
            .into_iter()
            .filter(|r| r.prop("listener_arn") == Some(&json!(format!("${{{alb}_http.arn}}"))))
            .collect();
        assert!(rules.is_empty(), "{bp}: a rule on the redirecting listener");
        assert_eq!(
            res(&g, &format!("{route}_rule")).prop("listener_arn"),
            Some(&json!(format!("${{{alb}_https.arn}}"))),
            "{bp}"
        );
        let ingress = res(&g, sg).properties["ingress"].to_string();
        assert!(ingress.contains("\"from_port\":443"), "{bp}: {ingress}");
        assert!(g.outputs[output].value.starts_with("https://"), "{bp}");
    }
}
