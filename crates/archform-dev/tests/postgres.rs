//! dev's local PostgreSQL for an `rds.db_instance`, for real: Debian's
//! server (tests/run installs `postgresql` and `openssl`; without them these
//! tests fail with dev's message naming the package, they do not skip), an
//! instance created in the shared emulator with a managed master-user
//! secret, the credentials read back from that secret, and a client that
//! connects over TLS checking the server against the cluster's CA
//! (`psql` with `sslmode=verify-full`).

use archform_dev::database::{self, Databases};
use archform_dev::postgres::LocalPostgres;
use archform_dev::topology::DatabaseSpec;
use archform_testkit::{sdk_config, test_endpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("archform-dev-pg-{}", unique(name)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The newest psql of Debian's packages (the server's own client).
fn psql_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let psql = e.path().join("bin/psql");
            psql.exists().then_some((v, psql))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| "psql".into())
}

/// Runs `sql` as `user` over TLS, the server's certificate checked against
/// `ca` for the host name `localhost`; `Err` is psql's message.
fn psql(
    port: u16,
    user: &str,
    password: &str,
    db: &str,
    sslmode: &str,
    ca: &Path,
    sql: &str,
) -> Result<String, String> {
    let out = Command::new(psql_bin())
        .env("PGPASSWORD", password)
        .env("PGSSLROOTCERT", ca)
        .env("PGCONNECT_TIMEOUT", "10")
        .arg(format!(
            "host=localhost hostaddr=127.0.0.1 port={port} user={user} dbname={db} sslmode={sslmode}"
        ))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Processes whose command line names `needle` (the cluster's folder).
fn processes_naming(needle: &str) -> Vec<String> {
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
            cmd.contains(needle)
                .then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for our purposes (its parent has not reaped it yet).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

async fn secret_value(client: &aws_sdk_secretsmanager::Client, arn: &str) -> (String, String) {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
    (
        v["username"].as_str().unwrap().to_string(),
        v["password"].as_str().unwrap().to_string(),
    )
}

async fn serve(
    dir: &Path,
    spec: &DatabaseSpec,
    client: &aws_sdk_secretsmanager::Client,
) -> Databases {
    database::serve(std::slice::from_ref(spec), dir, Some(client))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instance_is_served_locally_with_the_secrets_credentials_over_verified_tls() {
    let config = sdk_config(&test_endpoint()).await;
    let rds = aws_sdk_rds::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let identifier = unique("devpg");
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
    let spec = DatabaseSpec {
        id: "db".into(),
        engine: "postgres".into(),
        endpoint_address: instance
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .into(),
        endpoint_port: "5432".into(),
        master_user_secret_arn: instance
            .master_user_secret()
            .and_then(|s| s.secret_arn())
            .expect("the emulator made a master-user secret")
            .into(),
        master_username: "app_admin".into(),
        db_name: Some("app".into()),
    };
    let dir = scratch("served");

    let dbs = serve(&dir, &spec, &secrets).await;
    assert_eq!(dbs.endpoints.len(), 1);
    let endpoint = &dbs.endpoints[0];
    assert_eq!(endpoint.kind, "postgres");
    let rewrite = dbs.rewrites[0].clone();
    assert_eq!(
        endpoint.url,
        format!("postgres://localhost:{}/app", rewrite.local_port)
    );
    // The emulator's RDS-managed secret got the local credentials.
    assert_eq!(
        rewrite.written_secret_arn, None,
        "the instance's own secret is written"
    );
    let (user, password) = secret_value(&secrets, &spec.master_user_secret_arn).await;
    assert_eq!(user, "app_admin");
    let port = rewrite.local_port;
    let ca = rewrite.ca_bundle.clone();
    let sql = |sql: &str| psql(port, &user, &password, "app", "verify-full", &ca, sql);

    // Connected over TLS, as the master user: CREATEROLE, not superuser,
    // owning the database.
    assert_eq!(
        sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").unwrap(),
        "t"
    );
    assert_eq!(
        sql("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").unwrap(),
        "f|t"
    );
    assert_eq!(
        sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            .unwrap(),
        "app_admin"
    );
    sql("CREATE ROLE app_reader NOLOGIN").unwrap();
    assert!(sql("ALTER ROLE app_admin SUPERUSER").is_err());
    // Plain connections and wrong passwords are refused.
    let plain = psql(port, &user, &password, "app", "disable", &ca, "SELECT 1").unwrap_err();
    assert!(plain.contains("no pg_hba.conf entry"), "{plain}");
    let wrong = psql(port, &user, "wrong", "app", "verify-full", &ca, "SELECT 1").unwrap_err();
    assert!(wrong.contains("password authentication failed"), "{wrong}");
    sql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')").unwrap();

    // Stopping leaves no process of the cluster behind.
    let cluster = dir.join("postgres/db").canonicalize().unwrap();
    let needle = cluster.display().to_string();
    assert!(!processes_naming(&needle).is_empty(), "the server runs");
    dbs.stop().await;
    let left = processes_naming(&needle);
    assert!(left.is_empty(), "left behind: {left:?}");

    // Started again: the same cluster, its data and the same credentials.
    let dbs = serve(&dir, &spec, &secrets).await;
    let again = secret_value(&secrets, &spec.master_user_secret_arn).await;
    assert_eq!(again, (user.clone(), password.clone()));
    let port = dbs.rewrites[0].local_port;
    assert_eq!(
        psql(
            port,
            &user,
            &password,
            "app",
            "verify-full",
            &ca,
            "SELECT body FROM notes"
        )
        .unwrap(),
        "kept"
    );
    dbs.stop().await;
    assert!(processes_naming(&needle).is_empty());

    let _ = rds
        .delete_db_instance()
        .db_instance_identifier(&identifier)
        .skip_final_snapshot(true)
        .send()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_left_running_by_a_killed_dev_is_stopped_on_the_next_start() {
    let dir = scratch("leftover").join("cluster");
    let first = LocalPostgres::start(&dir, "owner", "app")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let old = first.pid().unwrap();
    // As if dev had died without stopping it: the server keeps running.
    std::mem::forget(first);
    assert!(alive(old));

    let second = LocalPostgres::start(&dir, "owner", "app")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(old) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(old), "the leftover server {old} still runs");
    let new = second.pid().unwrap();
    assert!(alive(new));
    let password = second.master_password().to_string();
    let ca = second.ca_cert();
    assert_eq!(
        psql(
            second.port(),
            "owner",
            &password,
            "app",
            "verify-full",
            &ca,
            "SELECT 1"
        )
        .unwrap(),
        "1"
    );
    second.stop().await;
    assert!(!alive(new));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_the_emulator_lacks_is_created_under_the_name_in_its_arn() {
    let config = sdk_config(&test_endpoint()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("rds!db-missing");
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbC123");
    let written = database::write_secret(&secrets, &arn, "u", "p1")
        .await
        .unwrap();
    assert_ne!(written, arn);
    assert!(written.contains(&format!(":secret:{name}-")), "{written}");
    assert_eq!(
        secret_value(&secrets, &written).await,
        ("u".into(), "p1".into())
    );
    // The next run finds it by name and writes a new value.
    let again = database::write_secret(&secrets, &arn, "u", "p2")
        .await
        .unwrap();
    assert_eq!(again, written);
    assert_eq!(
        secret_value(&secrets, &written).await,
        ("u".into(), "p2".into())
    );
    let _ = secrets
        .delete_secret()
        .secret_id(&written)
        .force_delete_without_recovery(true)
        .send()
        .await;
}
