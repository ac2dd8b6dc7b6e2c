//! The `webapp` command: `serve-app` (the app tier, the JSON API),
//! `serve-web` (the web tier, calling the app tier at `--app-url`) and
//! `serve` (both in one process, the web tier calling the app tier over
//! loopback HTTP: the quick start). Flags default to the environment
//! variables the blueprint gives the Lambda functions, with the same names.
//!
//! Each prints one stdout line, `listening on http://ADDR` (for `serve`,
//! the web tier's address), once bound; logs go to stderr. Exit status 2
//! for a configuration error, 1 for a runtime failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::{Args, Parser, Subcommand, ValueEnum};
use service_common::logging::{self, LogTarget};
use service_common::serving::{announce, shutdown_signal};

use crate::app_api::{self, AppState};
use crate::app_client::AppClient;
use crate::csrf::CsrfKey;
use crate::dynamodb::DynamoStore;
use crate::memory::MemoryStore;
use crate::postgres::config::{DEFAULT_APP_ROLE, DEFAULT_POOL_SIZE, fetch_secret};
use crate::postgres::{OpenError, PgSettings, PostgresStore, SecretCredentials, SslMode};
use crate::store::DataStore;
use crate::web::{self, WebState};

const CONFIG_ERROR: u8 = service_common::runtime::CONFIG_ERROR_EXIT;

#[derive(Debug, Parser)]
#[command(
    name = "webapp",
    version,
    about = "Three-tier orders-and-inventory app"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the app tier (the JSON API over the data store)
    ServeApp(ServeAppArgs),
    /// Serve the web tier (HTML pages), calling the app tier at --app-url
    ServeWeb(ServeWebArgs),
    /// Serve both tiers in one process (the web tier calls the app tier
    /// over loopback HTTP); the quick start
    Serve(ServeArgs),
}

/// The data tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// In-process maps: nothing kept after exit, one instance only
    Memory,
    /// PostgreSQL (RDS): --database-url, or --database-secret-arn with
    /// --database-host and --database-name
    Postgres,
    /// A DynamoDB table (partition key pk, sort key sk): --table-name
    Dynamodb,
}

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout)
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Longest wait for one app-tier call, connecting included, in ms
    #[arg(long, env = "APP_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub app_timeout_ms: u64,
    /// File holding the CSRF signing key (at least 32 bytes), the same for
    /// every web instance; without it a random key is made for this process
    #[arg(
        long,
        env = "CSRF_KEY_FILE",
        value_name = "PATH",
        conflicts_with = "csrf_key_secret_arn"
    )]
    pub csrf_key_file: Option<PathBuf>,
    /// Secrets Manager secret holding the CSRF signing key (what the
    /// blueprint generates for the web function), read once at start
    #[arg(long, env = "CSRF_KEY_SECRET_ARN", value_name = "ARN")]
    pub csrf_key_secret_arn: Option<String>,
}

/// Where the PostgreSQL store connects (`--store postgres`).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// postgres://USER:PASSWORD@HOST:PORT/DBNAME (standalone; instead of the
    /// secret). `?sslmode=` and `?sslrootcert=` are understood
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Secrets Manager secret holding `username` and `password` (the
    /// RDS-managed master user secret), read once at start
    #[arg(long, env = "DATABASE_SECRET_ARN", value_name = "ARN")]
    pub database_secret_arn: Option<String>,
    /// Database host, when the secret has none (DB_HOST is read too)
    #[arg(long, env = "DATABASE_HOST", value_name = "HOST")]
    pub database_host: Option<String>,
    /// Database port, when the secret has none (DB_PORT is read too) [default: 5432]
    #[arg(long, env = "DATABASE_PORT", value_name = "PORT")]
    pub database_port: Option<u16>,
    /// Database name, when the secret has none (DB_NAME is read too)
    #[arg(long, env = "DATABASE_NAME", value_name = "NAME")]
    pub database_name: Option<String>,
    /// require (TLS, the default), verify-full (TLS, the certificate checked
    /// against --database-ca-bundle; the default when a bundle is given) or
    /// disable (plain; only to a loopback host)
    #[arg(long, env = "DATABASE_SSLMODE", value_name = "MODE",
          value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<SslMode>()))]
    pub database_sslmode: Option<SslMode>,
    /// PEM file of the CA certificates that verify-full trusts, or
    /// `amazon-rds` for the Amazon RDS root CAs built into the binary (what
    /// the blueprint sets)
    #[arg(long, env = "DATABASE_CA_BUNDLE", value_name = "PATH")]
    pub database_ca_bundle: Option<PathBuf>,
    /// Role the app's sessions take after the migrations (only SELECT,
    /// INSERT, UPDATE, DELETE on the app's tables); empty to stay the
    /// connecting user
    #[arg(long, env = "DATABASE_APP_ROLE", value_name = "ROLE", default_value = DEFAULT_APP_ROLE)]
    pub database_app_role: String,
    /// Connections kept open at most
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "N", default_value_t = DEFAULT_POOL_SIZE as u16,
          value_parser = clap::value_parser!(u16).range(1..=100))]
    pub database_pool_size: u16,
}

/// Where the DynamoDB store keeps its data (`--store dynamodb`). Region,
/// credentials and endpoint come from the AWS SDK's usual settings
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Debug, Clone, Args)]
pub struct DynamoArgs {
    /// The DynamoDB table (partition key pk, sort key sk, both strings)
    #[arg(long, env = "TABLE_NAME", value_name = "NAME")]
    pub table_name: Option<String>,
}

/// The blueprint's older names (`DB_HOST`...), read when the flag and its
/// `DATABASE_` variable are absent.
fn env_fallback(value: Option<String>, name: &str) -> Option<String> {
    value.or_else(|| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

impl DatabaseArgs {
    /// The secret the login comes from (none with a URL, which wins).
    pub fn secret_arn(&self) -> Option<String> {
        if self.database_url.is_some() {
            return None;
        }
        env_fallback(self.database_secret_arn.clone(), "DB_SECRET_ARN")
    }

    /// The settings: from the URL, else from the secret (read now) and the
    /// host, port and name.
    pub async fn settings(&self) -> Result<PgSettings, String> {
        let secret_arn = self.secret_arn();
        let mut settings = match (&self.database_url, secret_arn) {
            (Some(url), _) => {
                PgSettings::from_url(url, self.database_sslmode, self.database_ca_bundle.clone())
                    .map_err(|err| format!("{err} (--database-url / DATABASE_URL)"))?
            }
            (None, Some(arn)) => {
                let secret = fetch_secret("database", &arn).await?;
                let port = match self.database_port {
                    Some(port) => Some(port),
                    None => env_fallback(None, "DB_PORT")
                        .map(|p| p.trim().parse::<u16>())
                        .transpose()
                        .map_err(|_| "DB_PORT is not a port number".to_owned())?,
                };
                PgSettings::from_secret(
                    &secret,
                    env_fallback(self.database_host.clone(), "DB_HOST").as_deref(),
                    port,
                    env_fallback(self.database_name.clone(), "DB_NAME").as_deref(),
                    self.database_sslmode,
                    self.database_ca_bundle.clone(),
                )?
            }
            (None, None) => {
                return Err(
                    "--store postgres needs a database: pass --database-url (DATABASE_URL), \
                     or --database-secret-arn (DATABASE_SECRET_ARN) with --database-host \
                     (DATABASE_HOST) and --database-name (DATABASE_NAME)"
                        .into(),
                );
            }
        };
        let role = self.database_app_role.trim();
        settings.app_role = (!role.is_empty()).then(|| role.to_owned());
        settings.pool_size = usize::from(self.database_pool_size);
        settings.check()?;
        Ok(settings)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeAppArgs {
    /// Data store: memory, postgres or dynamodb
    #[arg(long, env = "DATA_STORE", value_enum)]
    pub store: Option<StoreKind>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub dynamodb: DynamoArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeWebArgs {
    /// The app tier's base URL (http://host:port)
    #[arg(long, env = "APP_URL", value_name = "URL")]
    pub app_url: Option<String>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Data store of the app tier
    #[arg(long, env = "DATA_STORE", value_enum, default_value = "memory")]
    pub store: StoreKind,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub dynamodb: DynamoArgs,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
}

pub const DEFAULT_WEB_PORT: u16 = 8080;
pub const DEFAULT_APP_PORT: u16 = 8081;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(CONFIG_ERROR)
}

/// The store of `kind`, or why there is none and the exit status to end
/// with: 2 for settings, 1 for a database that cannot be reached or
/// migrated (or a table that cannot be read).
pub(crate) async fn open_store(
    kind: Option<StoreKind>,
    database: &DatabaseArgs,
    dynamodb: &DynamoArgs,
) -> Result<Arc<dyn DataStore>, (u8, String)> {
    match kind {
        Some(StoreKind::Memory) => Ok(Arc::new(MemoryStore::new())),
        Some(StoreKind::Postgres) => {
            let settings = database
                .settings()
                .await
                .map_err(|err| (CONFIG_ERROR, err))?;
            tracing::info!(
                host = %settings.host,
                port = settings.port,
                dbname = %settings.dbname,
                user = %settings.user,
                sslmode = settings.sslmode.as_str(),
                app_role = ?settings.app_role,
                "opening the PostgreSQL store"
            );
            match PostgresStore::open(settings).await {
                // RDS rotates its secret; a refused login re-reads it.
                Ok(store) => Ok(match database.secret_arn() {
                    Some(arn) => {
                        Arc::new(store.with_rotation(SecretCredentials::from_env(arn).await))
                    }
                    None => Arc::new(store),
                }),
                Err(OpenError::Settings(err)) => Err((CONFIG_ERROR, err)),
                Err(OpenError::Database(err)) => Err((1, err)),
            }
        }
        Some(StoreKind::Dynamodb) => {
            let Some(table) = dynamodb
                .table_name
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            else {
                return Err((
                    CONFIG_ERROR,
                    "--store dynamodb needs its table: pass --table-name or set TABLE_NAME".into(),
                ));
            };
            tracing::info!(table, "opening the DynamoDB store");
            let store = DynamoStore::connect(table).await;
            store.check().await.map_err(|err| (1, err.to_string()))?;
            Ok(Arc::new(store))
        }
        None => Err((
            CONFIG_ERROR,
            "no data store chosen: pass --store memory|postgres|dynamodb or set DATA_STORE".into(),
        )),
    }
}

fn store_failed((code, message): (u8, String)) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// The CSRF key from its file or its secret, or a random one (with a
/// warning: tokens then only work on this process, and not after a
/// restart).
pub(crate) async fn csrf_key(args: &WebArgs) -> Result<CsrfKey, String> {
    let secret_arn = args
        .csrf_key_secret_arn
        .as_deref()
        .map(str::trim)
        .filter(|arn| !arn.is_empty());
    match (&args.csrf_key_file, secret_arn) {
        (Some(path), _) => CsrfKey::from_file(path).map_err(|err| err.to_string()),
        (None, Some(arn)) => {
            let value = fetch_secret("CSRF key", arn).await?;
            CsrfKey::from_secret_value(arn, &value).map_err(|err| err.to_string())
        }
        (None, None) => {
            tracing::warn!(
                "no CSRF key file: using a random key for this process (forms do not survive a restart, \
                 and several web instances need one shared key: --csrf-key-file / CSRF_KEY_FILE)"
            );
            Ok(CsrfKey::random())
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ExitCode> {
    service_common::serving::bind(addr).await.map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::FAILURE
    })
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM.
async fn run(listener: tokio::net::TcpListener, router: Router) -> ExitCode {
    match axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: server failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn say_listening(bound: SocketAddr) -> Result<(), ExitCode> {
    announce(bound).map_err(|err| {
        eprintln!("error: cannot write to stdout: {err}");
        ExitCode::FAILURE
    })
}

/// `webapp serve-app`
pub async fn serve_app(args: ServeAppArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let store = match open_store(args.store, &args.database, &args.dynamodb).await {
        Ok(store) => store,
        Err(err) => return store_failed(err),
    };
    let addr = SocketAddr::new(
        args.listen.bind,
        args.listen.port.unwrap_or(DEFAULT_APP_PORT),
    );
    let (listener, bound) = match bind(addr).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    if let Err(code) = say_listening(bound) {
        return code;
    }
    tracing::info!(%bound, store = ?args.store, "app tier serving");
    run(listener, app_api::router(AppState::new(store))).await
}

/// `webapp serve-web`
pub async fn serve_web(args: ServeWebArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let Some(app_url) = args
        .app_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return fail(
            "APP_URL is not set: pass --app-url http://HOST:PORT or set the environment variable APP_URL",
        );
    };
    let client = match AppClient::new(app_url, Duration::from_millis(args.web.app_timeout_ms)) {
        Ok(client) => client,
        Err(err) => return fail(err),
    };
    let key = match csrf_key(&args.web).await {
        Ok(key) => key,
        Err(err) => return fail(err),
    };
    let addr = SocketAddr::new(
        args.listen.bind,
        args.listen.port.unwrap_or(DEFAULT_WEB_PORT),
    );
    let (listener, bound) = match bind(addr).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    if let Err(code) = say_listening(bound) {
        return code;
    }
    tracing::info!(%bound, app_url = client.base_url(), "web tier serving");
    run(listener, web::router(WebState::new(client, key))).await
}

/// `webapp serve`: the app tier on a free loopback port, the web tier on
/// the given one, calling it over HTTP exactly as across the two ALBs.
pub async fn serve(args: ServeArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let store = match open_store(Some(args.store), &args.database, &args.dynamodb).await {
        Ok(store) => store,
        Err(err) => return store_failed(err),
    };
    let key = match csrf_key(&args.web).await {
        Ok(key) => key,
        Err(err) => return fail(err),
    };
    let (app_listener, app_bound) =
        match bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await {
            Ok(bound) => bound,
            Err(code) => return code,
        };
    let app_url = format!("http://{app_bound}");
    let client = match AppClient::new(&app_url, Duration::from_millis(args.web.app_timeout_ms)) {
        Ok(client) => client,
        Err(err) => return fail(err),
    };
    let web_addr = SocketAddr::new(
        args.listen.bind,
        args.listen.port.unwrap_or(DEFAULT_WEB_PORT),
    );
    let (web_listener, web_bound) = match bind(web_addr).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };

    // The app tier stops after the web tier, so requests the web tier
    // finishes during shutdown still reach it.
    let (stop_app, app_stopped) = tokio::sync::oneshot::channel::<()>();
    let app_task = tokio::spawn(async move {
        axum::serve(app_listener, app_api::router(AppState::new(store)))
            .with_graceful_shutdown(async {
                let _ = app_stopped.await;
            })
            .await
    });
    if let Err(code) = say_listening(web_bound) {
        return code;
    }
    tracing::info!(web = %web_bound, app = %app_url, store = ?args.store, "both tiers serving");
    let web_result = run(web_listener, web::router(WebState::new(client, key))).await;
    let _ = stop_app.send(());
    match app_task.await {
        Ok(Ok(())) => web_result,
        Ok(Err(err)) => {
            eprintln!("error: app tier failed: {err}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: app tier task failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `webapp`'s main.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::ServeApp(args) => serve_app(args).await,
        Command::ServeWeb(args) => serve_web(args).await,
        Command::Serve(args) => serve(args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[tokio::test]
    async fn stores_and_their_settings() {
        let cli = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::ServeApp(args) => args,
            _ => unreachable!(),
        };
        let memory = cli(&["webapp", "serve-app", "--store", "memory"]);
        assert!(
            open_store(memory.store, &memory.database, &memory.dynamodb)
                .await
                .is_ok()
        );
        let none = cli(&["webapp", "serve-app"]);
        let (code, err) = open_store(none.store, &none.database, &none.dynamodb)
            .await
            .err()
            .unwrap();
        assert_eq!(code, CONFIG_ERROR);
        assert!(err.contains("--store memory|postgres|dynamodb"), "{err}");
        let dynamo = cli(&["webapp", "serve-app", "--store", "dynamodb"]);
        if std::env::var_os("TABLE_NAME").is_none() {
            let (code, err) = open_store(dynamo.store, &dynamo.database, &dynamo.dynamodb)
                .await
                .err()
                .unwrap();
            assert_eq!(code, CONFIG_ERROR);
            assert!(err.contains("TABLE_NAME"), "{err}");
        }
        let named = cli(&[
            "webapp",
            "serve-app",
            "--store",
            "dynamodb",
            "--table-name",
            "t",
        ]);
        assert_eq!(named.dynamodb.table_name.as_deref(), Some("t"));
        let args = cli(&["webapp", "serve-app", "--store", "postgres"]);
        if std::env::var_os("DATABASE_URL").is_none()
            && std::env::var_os("DATABASE_SECRET_ARN").is_none()
            && std::env::var_os("DB_SECRET_ARN").is_none()
        {
            let (code, err) = open_store(args.store, &args.database, &args.dynamodb)
                .await
                .err()
                .unwrap();
            assert_eq!(code, CONFIG_ERROR);
            assert!(err.contains("DATABASE_URL"), "{err}");
        }
        let plain = cli(&[
            "webapp",
            "serve-app",
            "--store",
            "postgres",
            "--database-url",
            "postgres://u:secret-pw@db.example/shop",
            "--database-sslmode",
            "disable",
        ]);
        let (code, err) = open_store(plain.store, &plain.database, &plain.dynamodb)
            .await
            .err()
            .unwrap();
        assert_eq!(code, CONFIG_ERROR);
        assert!(
            err.contains("only allowed for a server on this machine"),
            "{err}"
        );
        assert!(!err.contains("secret-pw"));
    }
}
