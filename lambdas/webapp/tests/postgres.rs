//! The PostgreSQL store on a real server (Debian's PostgreSQL, started per
//! test by `support::pg`, with TLS): the API scenarios every store passes,
//! then what only a database can show: contention counted in the tables,
//! migrations from several starters, the app role's rights, TLS refusals,
//! reconnection, and `webapp serve-app --store postgres`.

#[macro_use]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support::api_suite::{Fixture, Harness};
use support::pg::{DATABASE, OWNER, OWNER_PASSWORD, TestPg};
use webapp::DataStore;
use webapp::postgres::tls::{RustlsConnect, encrypting_config};
use webapp::postgres::{PgSettings, PostgresStore, SecretCredentials, SslMode, migrate};

/// A server, and the store on it over TLS with the certificate verified.
async fn postgres() -> Fixture {
    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    let store = PostgresStore::open(pg.settings(SslMode::VerifyFull))
        .await
        .unwrap_or_else(|err| panic!("{err}\n{}", pg.log()));
    Fixture {
        store: Arc::new(store),
        guard: Box::new(pg),
    }
}

api_suite!(postgres);

async fn server_and_store() -> (TestPg, Arc<PostgresStore>) {
    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    let store = PostgresStore::open(pg.settings(SslMode::VerifyFull))
        .await
        .unwrap_or_else(|err| panic!("{err}\n{}", pg.log()));
    (pg, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_orders_for_ten_in_stock_as_the_tables_show() {
    let (pg, store) = server_and_store().await;
    let h = Harness::with_store(store.clone());
    let id = h.create("HOT", 500, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, id) = (h.app.clone(), id.clone());
        tasks.spawn(async move {
            let h = Harness { app };
            h.order(json!([{"product_id": id, "quantity": 1}])).await
        });
    }
    let mut statuses = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        if answer.status == StatusCode::CONFLICT {
            assert_eq!(answer.body["available"], 0, "{}", answer.body);
        }
        statuses.push(answer.status);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (10, 40), "{statuses:?}");
    assert_eq!(
        pg.sql(&format!(
            "SELECT stock, version FROM products WHERE id = '{id}'"
        )),
        "0|11"
    );
    assert_eq!(
        pg.sql("SELECT count(*), count(DISTINCT id) FROM orders WHERE status = 'placed'"),
        "10|10"
    );
    assert_eq!(
        pg.sql("SELECT count(*), sum(quantity) FROM order_lines"),
        "10|10"
    );
}

/// Four instances starting at once, then a fifth, then `migrate` by hand:
/// one schema, each migration recorded once, no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_are_idempotent_and_safe_from_concurrent_starters() {
    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    let mut starting = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let settings = pg.settings(SslMode::Require);
        starting.spawn(async move { PostgresStore::open(settings).await });
    }
    while let Some(opened) = starting.join_next().await {
        opened.unwrap().unwrap_or_else(|err| panic!("{err}"));
    }
    let migrations = webapp::postgres::migrate::MIGRATIONS.len();
    assert_eq!(
        pg.sql("SELECT count(*), count(DISTINCT version) FROM schema_migrations"),
        format!("{migrations}|{migrations}")
    );
    PostgresStore::open(pg.settings(SslMode::Require))
        .await
        .unwrap();

    let settings = pg.settings(SslMode::Require);
    let (mut client, connection) = settings
        .client_config()
        .connect(RustlsConnect::new(encrypting_config()))
        .await
        .unwrap();
    tokio::spawn(connection);
    let report = migrate(&mut client, Some("webapp_app")).await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.current, migrations as i32);
    assert_eq!(
        pg.sql(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
             WHERE schemaname = 'public'"
        ),
        "order_lines,orders,products,schema_migrations"
    );
    assert_eq!(
        pg.sql("SELECT count(*) FROM schema_migrations"),
        migrations.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_works_as_a_role_that_can_only_read_and_write_rows() {
    let (pg, store) = server_and_store().await;
    assert_eq!(store.session_role().await.unwrap(), "webapp_app");
    assert_eq!(
        pg.sql(
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) \
             FROM information_schema.role_table_grants \
             WHERE grantee = 'webapp_app' AND table_name = 'products'"
        ),
        "DELETE,INSERT,SELECT,UPDATE"
    );
    assert_eq!(
        pg.sql(
            "SELECT has_table_privilege('webapp_app', 'schema_migrations', 'SELECT'), \
                    has_table_privilege('webapp_app', 'products', 'TRUNCATE'), \
                    has_schema_privilege('webapp_app', 'public', 'CREATE'), \
                    (SELECT rolcanlogin OR rolsuper OR rolcreaterole FROM pg_roles \
                     WHERE rolname = 'webapp_app')"
        ),
        "f|f|f|f"
    );
    // The owner that migrated is no superuser either.
    assert_eq!(
        pg.sql(&format!(
            "SELECT rolsuper FROM pg_roles WHERE rolname = '{OWNER}'"
        )),
        "f"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_required_and_the_certificate_checked() {
    // A server without TLS: refused, unless sslmode=disable (loopback).
    let plain = tokio::task::spawn_blocking(|| TestPg::start_with(false))
        .await
        .unwrap();
    let err = PostgresStore::open(plain.settings(SslMode::Require))
        .await
        .err()
        .expect("a server without TLS is refused")
        .to_string();
    assert!(err.contains("TLS"), "{err}");
    assert!(!err.contains(support::pg::OWNER_PASSWORD), "{err}");
    PostgresStore::open(plain.settings(SslMode::Disable))
        .await
        .unwrap();
    drop(plain);

    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    // verify-full against a CA that did not sign the server's certificate.
    let wrong_ca = PgSettings::from_url(
        &pg.url(),
        Some(SslMode::VerifyFull),
        Some(pg.other_ca_bundle()),
    )
    .unwrap();
    let err = PostgresStore::open(wrong_ca)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // The right CA, by IP address and by name.
    PostgresStore::open(pg.settings(SslMode::VerifyFull))
        .await
        .unwrap();
    let by_name = PgSettings::from_url(
        &pg.url().replace("127.0.0.1", "localhost"),
        None,
        Some(pg.ca_bundle()),
    )
    .unwrap();
    assert_eq!(by_name.sslmode, SslMode::VerifyFull);
    let store = PostgresStore::open(by_name).await.unwrap();
    store.list_products(&all_products()).await.unwrap();
    // Every session of the app is encrypted.
    assert_eq!(
        pg.psql(&format!(
            "SELECT bool_and(s.ssl), count(*) > 0 FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.usename = '{OWNER}'"
        )),
        "t|t"
    );
}

fn all_products() -> webapp::store::ProductQuery {
    webapp::store::ProductQuery {
        page: webapp::store::PageRequest {
            limit: 100,
            after: None,
        },
        search: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_is_reopened_after_it_was_killed_or_the_server_restarted() {
    let (mut pg, store) = server_and_store().await;
    let h = Harness::with_store(store.clone());
    let id = h.create("R-1", 100, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The server ends the app's sessions (as a failover or an idle timeout
    // would).
    let killed = pg.sql(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = '{OWNER}' AND datname = '{DATABASE}'"
    ));
    assert_ne!(killed, "0");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for _ in 0..3 {
        assert_eq!(h.stock(&id).await, 5);
    }

    // Down: a clear 503. Back: served again, without restarting the app.
    tokio::task::block_in_place(|| pg.stop());
    let down = h.get(&format!("/api/products/{id}")).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    tokio::task::block_in_place(|| pg.restart());
    let placed = h.order(json!([{"product_id": id, "quantity": 2}])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(h.stock(&id).await, 3);
}

/// RDS rotates the master password in its secret while the app runs: a
/// new connection refused for its password re-reads the secret (in the
/// shared moto emulator) and logs in with the new one; a store without the
/// secret to re-read keeps failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_is_read_again_from_the_secret() {
    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    let config = archform_testkit::sdk_config(&archform_testkit::test_endpoint()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let name = format!("webapp-rotation-{}-{}", std::process::id(), pg.port);
    let arn = secrets
        .create_secret()
        .name(&name)
        .secret_string(json!({"username": OWNER, "password": OWNER_PASSWORD}).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let open = || async {
        let mut settings = pg.settings(SslMode::VerifyFull);
        settings.pool_size = 1;
        PostgresStore::open(settings)
            .await
            .unwrap_or_else(|err| panic!("{err}\n{}", pg.log()))
    };
    let rotating = Arc::new(
        open()
            .await
            .with_rotation(SecretCredentials::new(secrets.clone(), arn.clone())),
    );
    let fixed = Arc::new(open().await);
    let (rotating_api, fixed_api) = (
        Harness::with_store(rotating.clone()),
        Harness::with_store(fixed.clone()),
    );
    let id = rotating_api.create("ROT-1", 100, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The rotation: a new password in the database and in the secret, and
    // the old sessions gone (RDS does not end them, a failover or an idle
    // timeout does; here it forces new logins now).
    pg.psql(&format!("ALTER ROLE {OWNER} PASSWORD 'rotated-Pa55-word'"));
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(json!({"username": OWNER, "password": "rotated-Pa55-word"}).to_string())
        .send()
        .await
        .unwrap();
    pg.sql(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = '{OWNER}' AND datname = '{DATABASE}'"
    ));
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    assert_eq!(
        rotating_api.stock(&id).await,
        5,
        "served with the new password"
    );
    let refused = fixed_api.get(&format!("/api/products/{id}")).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "without the secret the old password keeps failing: {}",
        refused.body
    );
    assert!(
        !refused.body.to_string().contains("Pa55"),
        "{}",
        refused.body
    );
    let _ = secrets
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await;
}

/// `webapp serve-app --store postgres` over real HTTP, and its refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_app_on_postgres() {
    let pg = tokio::task::spawn_blocking(TestPg::start).await.unwrap();
    let ca = pg.ca_bundle();
    let url = pg.url();
    let (mut child, base) = support::serve_app(
        &[
            "--store",
            "postgres",
            "--database-ca-bundle",
            ca.to_str().unwrap(),
        ],
        &[("DATABASE_URL", url.as_str())],
        &["DATA_STORE", "DATABASE_SSLMODE"],
    );
    assert_eq!(support::post_bin_product(&base).await, StatusCode::CREATED);
    assert_eq!(pg.sql("SELECT sku FROM products"), "BIN-1");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("PostgreSQL schema is current"), "{logs}");
    assert!(!logs.contains(support::pg::OWNER_PASSWORD), "{logs}");

    // Unreachable: exit 1 naming the server; a plain connection to another
    // host: exit 2.
    let port = pg.port;
    drop(pg);
    let out = Command::new(env!("CARGO_BIN_EXE_webapp"))
        .args(["serve-app", "--store", "postgres", "--port", "0"])
        .env(
            "DATABASE_URL",
            format!("postgres://u:pw-not-shown@127.0.0.1:{port}/d"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("pw-not-shown"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_webapp"))
        .args(["serve-app", "--store", "postgres", "--port", "0"])
        .env("DATABASE_URL", "postgres://u:p@db.example/d")
        .env("DATABASE_SSLMODE", "disable")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
