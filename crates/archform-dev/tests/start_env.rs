//! `archform_dev::start` on a stack shaped like blueprints/three-tier.yaml
//! (an internal ALB in front of a function whose environment names the ALB's
//! DNS name and an RDS PostgreSQL instance), with a function that answers
//! every request with its own environment (a Python bootstrap speaking the
//! Lambda Runtime API). The environment the function sees leads to dev's
//! local listener and local database, and the credentials the function
//! would read from the secret connect over verified TLS.

use archform_dev::topology::{
    Action, DatabaseSpec, FunctionSpec, ListenerSpec, LoadBalancerSpec, RuleSpec, Topology,
};
use archform_dev::{DATABASE_CA_BUNDLE_ENV, DevOptions};
use archform_local::AwsEndpoint;
use archform_testkit::{sdk_config, test_endpoint};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BOOTSTRAP: &str = r#"#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        r.read()
    body = json.dumps({"statusCode": 200, "isBase64Encoded": False,
                       "headers": {"content-type": "application/json"},
                       "body": json.dumps(dict(os.environ))}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
"#;

const DNS: &str = "internal-three-tier-internal-1234567890.us-east-1.elb.amazonaws.com";

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// GET `path` from `addr` (`127.0.0.1:port`); the JSON body.
fn get_json(addr: &str, path: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {DNS}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = &response[response.find('{').unwrap()..=response.rfind('}').unwrap()];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_see_the_local_listener_and_database_in_their_environment() {
    let endpoint = test_endpoint();
    let config = sdk_config(&endpoint).await;
    let rds = aws_sdk_rds::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let identifier = unique("devenv");
    let created = rds
        .create_db_instance()
        .db_instance_identifier(&identifier)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app_admin")
        .manage_master_user_password(true)
        .db_name("app")
        .send()
        .await
        .unwrap();
    let instance = created.db_instance().unwrap();
    let address = instance.endpoint().and_then(|e| e.address()).unwrap();
    let secret_arn = instance
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .unwrap()
        .to_string();

    let work = std::env::temp_dir().join(format!("archform-dev-env-{}", unique("t")));
    std::fs::create_dir_all(&work).unwrap();
    let zip = work.join("app.zip");
    std::fs::write(
        &zip,
        archform_testkit::zip::build(&[("bootstrap", BOOTSTRAP.as_bytes(), 0o755)]),
    )
    .unwrap();
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let topology = Topology {
        stack: "three-tier".into(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        functions: vec![FunctionSpec {
            id: "app".into(),
            name: "three-tier-app".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:three-tier-app".into(),
            zip: zip.clone(),
            environment: env(&[
                ("APP_URL", &format!("http://{DNS}")),
                ("DATA_STORE", "postgres"),
                ("DB_HOST", address),
                ("DB_PORT", "5432"),
                ("DB_NAME", "app"),
                ("DB_SECRET_ARN", &secret_arn),
            ]),
            timeout: Duration::from_secs(10),
            memory_mb: 128,
        }],
        listeners: vec![ListenerSpec {
            id: "internal_alb_http".into(),
            port: 80,
            rules: vec![RuleSpec {
                id: "app_route".into(),
                priority: 10,
                path_patterns: vec!["/*".into()],
                http_methods: Vec::new(),
                action: Action::Forward {
                    target_group_arn:
                        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/1"
                            .into(),
                    multi_value_headers: false,
                    function: Some("app".into()),
                },
            }],
            default_action: Action::FixedResponse {
                status: 404,
                content_type: None,
                body: String::new(),
            },
        }],
        function_urls: Vec::new(),
        pollers: Vec::new(),
        websockets: Vec::new(),
        load_balancers: vec![LoadBalancerSpec {
            id: "internal_alb".into(),
            dns_name: DNS.into(),
            listeners: vec![("internal_alb_http".into(), 80)],
        }],
        databases: vec![DatabaseSpec {
            id: "db".into(),
            engine: "postgres".into(),
            endpoint_address: address.into(),
            endpoint_port: "5432".into(),
            master_user_secret_arn: secret_arn.clone(),
            master_username: "app_admin".into(),
            db_name: Some("app".into()),
        }],
    };
    archform_dev::set_quiet(true);
    let running = archform_dev::start(
        topology,
        DevOptions {
            bind: [127, 0, 0, 1].into(),
            port: 0,
            concurrency: 1,
            endpoint: Some(AwsEndpoint::emulator(endpoint.clone())),
            extra_env: Vec::new(),
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: None,
            work_dir: work.join("work"),
            dev_state_dir: work.join("three-tier.dev"),
            secrets: secrets.clone(),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let url = |kind: &str| {
        running
            .endpoints
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} endpoint in {:?}", running.endpoints))
            .url
            .clone()
    };
    let alb = url("alb");
    let pg_url = url("postgres");
    let alb_addr = alb.trim_start_matches("http://").to_string();
    let seen = tokio::task::spawn_blocking(move || get_json(&alb_addr, "/env"))
        .await
        .unwrap();
    let var = |k: &str| {
        seen[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {seen}"))
            .to_string()
    };

    assert_eq!(
        var("APP_URL"),
        alb,
        "the ALB's DNS name leads to dev's listener"
    );
    assert_eq!(var("DB_HOST"), "localhost");
    let port: u16 = var("DB_PORT").parse().unwrap();
    assert_eq!(pg_url, format!("postgres://localhost:{port}/app"));
    assert_eq!(var("DB_NAME"), "app");
    assert_eq!(var("DB_SECRET_ARN"), secret_arn);
    let ca = PathBuf::from(var(DATABASE_CA_BUNDLE_ENV));
    assert!(
        ca.starts_with(
            work.join("three-tier.dev/postgres/db")
                .canonicalize()
                .unwrap()
        )
    );

    // What the app does with that environment: the secret's credentials,
    // the host and port, TLS checked against the bundle.
    let value = secrets
        .get_secret_value()
        .secret_id(var("DB_SECRET_ARN"))
        .send()
        .await
        .unwrap();
    let secret: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let out = Command::new("psql")
        .env("PGPASSWORD", secret["password"].as_str().unwrap())
        .env("PGSSLROOTCERT", &ca)
        .arg(format!(
            "host={} port={port} user={} dbname={} sslmode=verify-full",
            var("DB_HOST"),
            secret["username"].as_str().unwrap(),
            var("DB_NAME")
        ))
        .args(["-X", "-At", "-c", "SELECT current_user"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "app_admin");

    running.stop().await;
    let _ = rds
        .delete_db_instance()
        .db_instance_identifier(&identifier)
        .skip_final_snapshot(true)
        .send()
        .await;
    let _ = std::fs::remove_dir_all(&work);
}
