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
use crate::memory::MemoryStore;
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
    /// RDS PostgreSQL (not built yet)
    Postgres,
    /// A DynamoDB table (not built yet)
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
    #[arg(long, env = "CSRF_KEY_FILE", value_name = "PATH")]
    pub csrf_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeAppArgs {
    /// Data store: memory (postgres and dynamodb are not built yet)
    #[arg(long, env = "DATA_STORE", value_enum)]
    pub store: Option<StoreKind>,
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

/// The store of `kind`, or why there is none.
fn open_store(kind: Option<StoreKind>) -> Result<Arc<dyn DataStore>, String> {
    match kind {
        Some(StoreKind::Memory) => Ok(Arc::new(MemoryStore::new())),
        Some(StoreKind::Postgres) => Err(
            "the PostgreSQL store is not built yet; use --store memory (DATA_STORE=memory)".into(),
        ),
        Some(StoreKind::Dynamodb) => Err(
            "the DynamoDB store is not built yet; use --store memory (DATA_STORE=memory)".into(),
        ),
        None => Err("no data store chosen: pass --store memory or set DATA_STORE=memory".into()),
    }
}

/// The CSRF key from its file, or a random one (with a warning: tokens
/// then only work on this process, and not after a restart).
fn csrf_key(args: &WebArgs) -> Result<CsrfKey, String> {
    match &args.csrf_key_file {
        Some(path) => CsrfKey::from_file(path).map_err(|err| err.to_string()),
        None => {
            tracing::warn!(
                "no CSRF key file: using a random key for this process (forms do not survive a restart, \
                 and several web instances need one shared key: --csrf-key-file / CSRF_KEY_FILE)"
            );
            Ok(CsrfKey::random())
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ExitCode> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        eprintln!("error: cannot listen on {addr}: {err} (choose another --port or --bind)");
        ExitCode::FAILURE
    })?;
    let bound = listener.local_addr().map_err(|err| {
        eprintln!("error: cannot read the bound address: {err}");
        ExitCode::FAILURE
    })?;
    Ok((listener, bound))
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
    let store = match open_store(args.store) {
        Ok(store) => store,
        Err(err) => return fail(err),
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
    let key = match csrf_key(&args.web) {
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
    let store = match open_store(Some(args.store)) {
        Ok(store) => store,
        Err(err) => return fail(err),
    };
    let key = match csrf_key(&args.web) {
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

    #[test]
    fn stores_not_built_say_so() {
        assert!(open_store(Some(StoreKind::Memory)).is_ok());
        for kind in [Some(StoreKind::Postgres), Some(StoreKind::Dynamodb), None] {
            let err = open_store(kind).err().unwrap();
            assert!(err.contains("--store memory"), "{err}");
        }
    }
}
