//! The two Lambda functions' entry points: `app` (the JSON API behind the
//! internal ALB) and `web` (the pages behind the public ALB), each the same
//! router as standalone, run by `lambda_http` (ALB events).
//!
//! Settings come from the environment the blueprint gives the functions,
//! read through the standalone commands' own argument definitions (every
//! flag has an environment variable of the same meaning), so the two ways
//! of running cannot drift apart. A bad setting ends the process with exit
//! status 2 before the runtime starts, so the first invocation fails with
//! the reason in the log instead of every request failing later.

use std::time::Duration;

use clap::Parser;
use service_common::logging::{self, LogTarget};

use crate::app_api::{self, AppState};
use crate::app_client::AppClient;
use crate::cli::{DatabaseArgs, ServeAppArgs, StoreKind, WebArgs, csrf_key, open_store};
use crate::web::{self, WebState};

pub use service_common::runtime::in_lambda;

/// One request at a time reaches an execution environment, so one
/// connection is all it can use; more would only hold RDS connection
/// slots (a `db.t4g.micro` has about 80) idle across many instances.
const LAMBDA_POOL_SIZE: u16 = 1;
const POOL_SIZE_ENV: &str = "DATABASE_POOL_SIZE";

#[derive(Debug, Parser)]
#[command(name = "app", no_binary_name = true)]
struct AppEnv {
    #[command(flatten)]
    app: ServeAppArgs,
}

#[derive(Debug, Parser)]
#[command(name = "web", no_binary_name = true)]
struct WebEnv {
    /// The app tier's base URL (the internal ALB)
    #[arg(long, env = "APP_URL")]
    app_url: Option<String>,
    #[command(flatten)]
    web: WebArgs,
}

fn config_error(function: &str, message: impl std::fmt::Display) -> ! {
    tracing::error!(function, error = %message, "bad configuration");
    eprintln!("error: {message}");
    std::process::exit(i32::from(service_common::runtime::CONFIG_ERROR_EXIT));
}

/// The Lambda pool size unless the environment sets one.
fn lambda_database(mut database: DatabaseArgs) -> DatabaseArgs {
    if std::env::var_os(POOL_SIZE_ENV).is_none() {
        database.database_pool_size = LAMBDA_POOL_SIZE;
    }
    database
}

/// `app` on Lambda: the store named by `DATA_STORE`, opened (and, for
/// PostgreSQL, migrated) once per execution environment.
pub async fn run_app() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let args = AppEnv::try_parse_from(std::iter::empty::<String>())
        .unwrap_or_else(|err| config_error("app", err))
        .app;
    let Some(kind) = args.store else {
        config_error(
            "app",
            "DATA_STORE is not set: the blueprint sets postgres or dynamodb",
        );
    };
    if kind == StoreKind::Memory {
        config_error(
            "app",
            "DATA_STORE=memory keeps data per execution environment, so Lambda would lose it: use postgres or dynamodb",
        );
    }
    let database = lambda_database(args.database);
    let store = open_store(Some(kind), &database, &args.dynamodb)
        .await
        .unwrap_or_else(|(_, err)| config_error("app", err));
    lambda_http::run(app_api::router(AppState::new(store))).await
}

/// `web` on Lambda: the pages, calling the app tier at `APP_URL` with the
/// CSRF key from `CSRF_KEY_SECRET_ARN` (shared by every instance).
pub async fn run_web() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let args = WebEnv::try_parse_from(std::iter::empty::<String>())
        .unwrap_or_else(|err| config_error("web", err));
    let app_url = args
        .app_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            config_error(
                "web",
                "APP_URL is not set: the blueprint sets it to the internal ALB",
            )
        });
    if args.web.csrf_key_file.is_none() && args.web.csrf_key_secret_arn.is_none() {
        // A random key per execution environment would make a form served
        // by one instance fail on another.
        config_error(
            "web",
            "no CSRF key: set CSRF_KEY_SECRET_ARN (the blueprint's csrf_key secret) or CSRF_KEY_FILE",
        );
    }
    let client = AppClient::new(app_url, Duration::from_millis(args.web.app_timeout_ms))
        .unwrap_or_else(|err| config_error("web", err));
    let key = csrf_key(&args.web)
        .await
        .unwrap_or_else(|err| config_error("web", err));
    lambda_http::run(web::router(WebState::new(client, key))).await
}
