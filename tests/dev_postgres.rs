//! `archform dev` on blueprints/three-tier.yaml deployed to the emulator
//! (web -> internal ALB -> app -> RDS PostgreSQL), every function deployed
//! with one stand-in that answers each request with its own environment (a
//! Python bootstrap speaking the Lambda Runtime API). Through dev's public
//! listener the web function sees `APP_URL` leading to dev's internal
//! listener; through that one the app function sees the local PostgreSQL,
//! whose credentials in the instance's secret connect over verified TLS.
//! Data survives a dev restart; neither Ctrl-C nor SIGKILL of dev leaves
//! a server behind.

mod support;

use archform_testkit::{sdk_config, test_endpoint};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Dev, archform, text, workdir};

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

/// GET `url` (`http://127.0.0.1:port[/path]`); the JSON body.
fn get_json(url: &str) -> Value {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{url}: {response}");
    let body = &response[response.find('{').unwrap()..=response.rfind('}').unwrap()];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn var(env: &Value, k: &str) -> String {
    env[k]
        .as_str()
        .unwrap_or_else(|| panic!("no {k} in {env}"))
        .to_string()
}

fn alb_url(dev: &Dev, id: &str) -> String {
    dev.ready["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "alb" && e["id"] == id)
        .and_then(|e| e["url"].as_str())
        .unwrap_or_else(|| panic!("no listener {id} in {}", dev.ready))
        .to_string()
}

/// `sql` as the app would connect: the secret's credentials, the app's
/// host, port and database, TLS checked against its CA bundle.
fn psql(app: &Value, user: &str, password: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .env("PGPASSWORD", password)
        .env("PGSSLROOTCERT", var(app, "DATABASE_CA_BUNDLE"))
        .arg(format!(
            "host={} port={} user={user} dbname={} sslmode=verify-full",
            var(app, "DB_HOST"),
            var(app, "DB_PORT"),
            var(app, "DB_NAME")
        ))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn processes_naming(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then_some(cmd)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tier_runs_against_the_local_internal_alb_and_postgres() {
    let endpoint = test_endpoint();
    let dir = workdir("dev-three-tier");
    let zip = dir.join("env.zip");
    std::fs::write(
        &zip,
        archform_testkit::zip::build(&[("bootstrap", BOOTSTRAP.as_bytes(), 0o755)]),
    )
    .unwrap();
    let stack = format!("tt-{}", std::process::id());
    let deploy = archform(
        &dir,
        &[
            "deploy",
            "three-tier",
            "--stack",
            &stack,
            "--endpoint",
            &endpoint,
            "--code-override",
            zip.to_str().unwrap(),
        ],
    );
    assert!(deploy.status.success(), "deploy: {}", text(&deploy.stderr));

    let mut dev = Dev::start(&dir, &stack, &endpoint);
    let web = get_json(&alb_url(&dev, "public_alb_http"));
    let internal = alb_url(&dev, "internal_alb_http");
    assert_eq!(
        var(&web, "APP_URL"),
        internal,
        "web -> dev's internal listener"
    );
    assert!(
        web.get("DATABASE_CA_BUNDLE").is_none(),
        "web does not name the db"
    );
    let app = get_json(&var(&web, "APP_URL"));
    assert_eq!(var(&app, "DB_HOST"), "localhost");
    let pg = dev.url("postgres");
    assert_eq!(
        pg,
        format!("postgres://localhost:{}/app", var(&app, "DB_PORT"))
    );
    let cluster = dir
        .join(format!(".archform/state/{stack}.dev/postgres/db"))
        .canonicalize()
        .unwrap();
    assert!(Path::new(&var(&app, "DATABASE_CA_BUNDLE")).starts_with(&cluster));

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config(&endpoint).await);
    let secret = secrets
        .get_secret_value()
        .secret_id(var(&app, "DB_SECRET_ARN"))
        .send()
        .await
        .unwrap();
    let secret: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    let (user, password) = (
        secret["username"].as_str().unwrap().to_string(),
        secret["password"].as_str().unwrap().to_string(),
    );
    assert_eq!(user, "app_admin");
    psql(
        &app,
        &user,
        &password,
        "CREATE TABLE visits (n int); INSERT INTO visits VALUES (7)",
    );

    assert!(dev.interrupt().success());
    let left = processes_naming(&cluster);
    assert!(left.is_empty(), "left behind after Ctrl-C: {left:?}");

    // Again: the same cluster and data.
    let dev = Dev::start(&dir, &stack, &endpoint);
    let web = get_json(&alb_url(&dev, "public_alb_http"));
    let app = get_json(&var(&web, "APP_URL"));
    assert_eq!(psql(&app, &user, &password, "SELECT n FROM visits"), "7");

    // dev killed outright: the kernel tells the server to stop (it was
    // asked for SIGINT when its parent goes), and the next dev starts on
    // the same cluster.
    let status = Command::new("kill")
        .args(["-KILL", &dev.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !processes_naming(&cluster).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = processes_naming(&cluster);
    assert!(left.is_empty(), "left behind after SIGKILL: {left:?}");
    drop(dev);
    let dev = Dev::start(&dir, &stack, &endpoint);
    let web = get_json(&alb_url(&dev, "public_alb_http"));
    let app = get_json(&var(&web, "APP_URL"));
    assert_eq!(psql(&app, &user, &password, "SELECT n FROM visits"), "7");
    drop(dev);
    assert!(processes_naming(&cluster).is_empty());

    let destroy = archform(
        &dir,
        &[
            "destroy",
            "--stack",
            &stack,
            "--endpoint",
            &endpoint,
            "--yes",
        ],
    );
    assert!(
        destroy.status.success(),
        "destroy: {}",
        text(&destroy.stderr)
    );
    // The stack is gone, and so is what dev kept for it.
    assert!(
        !cluster.exists(),
        "destroy deleted the local database: {}",
        text(&destroy.stderr)
    );
    assert!(!dir.join(format!(".archform/state/{stack}.dev")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
