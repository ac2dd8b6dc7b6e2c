//! The `chat` command: `chat serve` (the WebSocket server) and `chat token`
//! (a development token). Flags default to the environment variables the
//! Lambda functions read, with the same names.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use service_common::MetricsSink;
use service_common::logging::{self, LogTarget};
use service_common::serving::{announce, shutdown_signal};

use crate::config::{self, Config};
use crate::dynamo::{DynamoConnections, DynamoMessages, DynamoPresence};
use crate::hub::Hub;
use crate::service::ChatService;
use crate::store::Stores;
use crate::token::{self, SigningKey};

const CONFIG_ERROR: u8 = service_common::runtime::CONFIG_ERROR_EXIT;

#[derive(Debug, Parser)]
#[command(name = "chat", version, about = "Real-time chat service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the chat over WebSocket (ws://HOST:PORT/ws?token=...) and the
    /// web page (/); prints `listening on http://ADDR` once bound
    Serve(Box<ServeArgs>),
    /// Print a signed token for a user (development and tests)
    Token(TokenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// In-process maps: no AWS needed, nothing kept, one instance
    Memory,
    /// The DynamoDB tables (AWS, or an emulator through AWS_ENDPOINT_URL)
    Dynamodb,
}

/// Where the signing key comes from.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Secrets Manager secret whose SecretString is the HMAC key (or a JSON
    /// object with a `key` field)
    #[arg(long, env = "SIGNING_SECRET_ARN", value_name = "ARN")]
    pub signing_secret_arn: Option<String>,
    /// File holding the HMAC key (or a JSON object with a `key` field)
    #[arg(long, value_name = "PATH", conflicts_with = "signing_secret_arn")]
    pub signing_secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Storage: dynamodb (the tables below) or memory
    #[arg(long, value_enum, default_value = "dynamodb")]
    pub store: StoreKind,
    #[command(flatten)]
    pub secret: SecretArgs,
    /// Mint tokens at /dev/token (development only; a random key is used
    /// when no secret is given)
    #[arg(long)]
    pub dev_tokens: bool,
    /// Redis URL (redis://HOST:PORT) to exchange messages with other instances
    #[arg(long, env = "REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout)
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Connections table (partition key connection_id, sort key sk)
    #[arg(long, env = "CONNECTIONS_TABLE", value_name = "NAME")]
    pub connections_table: Option<String>,
    /// Messages table (partition key conversation_id, sort key sk)
    #[arg(long, env = "MESSAGES_TABLE", value_name = "NAME")]
    pub messages_table: Option<String>,
    /// Presence table (partition key user_id)
    #[arg(long, env = "PRESENCE_TABLE", value_name = "NAME")]
    pub presence_table: Option<String>,
    /// Lifetime of a connection record in seconds (default 7200)
    #[arg(long, env = "CONNECTION_TTL_SECONDS", value_name = "S")]
    pub connection_ttl_seconds: Option<String>,
    /// A user is online this long after a heartbeat, in seconds (default 90)
    #[arg(long, env = "PRESENCE_TTL_SECONDS", value_name = "S")]
    pub presence_ttl_seconds: Option<String>,
    /// Messages per history page (default 50)
    #[arg(long, env = "HISTORY_PAGE_SIZE", value_name = "N")]
    pub history_page_size: Option<String>,
    /// Days messages are kept; 0 keeps them (default 0)
    #[arg(long, env = "MESSAGE_RETENTION_DAYS", value_name = "DAYS")]
    pub message_retention_days: Option<String>,
    /// Longest message text in characters (default 4000)
    #[arg(long, env = "MAX_MESSAGE_CHARS", value_name = "N")]
    pub max_message_chars: Option<String>,
    /// Messages per connection per minute; 0: unlimited (default 120)
    #[arg(long, env = "MESSAGE_RATE_PER_MINUTE", value_name = "N")]
    pub message_rate_per_minute: Option<String>,
    /// Shortest interval between typing events of a connection (default 2000)
    #[arg(long, env = "TYPING_MIN_INTERVAL_MS", value_name = "MS")]
    pub typing_min_interval_ms: Option<String>,
    /// Deliveries in flight per fan-out (default 32)
    #[arg(long, env = "FANOUT_CONCURRENCY", value_name = "N")]
    pub fanout_concurrency: Option<String>,
}

impl ServeArgs {
    fn config(&self) -> Result<Config, config::ConfigError> {
        Config::from_lookup(|name| match name {
            "CONNECTIONS_TABLE" => self.connections_table.clone(),
            "MESSAGES_TABLE" => self.messages_table.clone(),
            "PRESENCE_TABLE" => self.presence_table.clone(),
            "SIGNING_SECRET_ARN" => self.secret.signing_secret_arn.clone(),
            "CONNECTION_TTL_SECONDS" => self.connection_ttl_seconds.clone(),
            "PRESENCE_TTL_SECONDS" => self.presence_ttl_seconds.clone(),
            "HISTORY_PAGE_SIZE" => self.history_page_size.clone(),
            "MESSAGE_RETENTION_DAYS" => self.message_retention_days.clone(),
            "MAX_MESSAGE_CHARS" => self.max_message_chars.clone(),
            "MESSAGE_RATE_PER_MINUTE" => self.message_rate_per_minute.clone(),
            "TYPING_MIN_INTERVAL_MS" => self.typing_min_interval_ms.clone(),
            "FANOUT_CONCURRENCY" => self.fanout_concurrency.clone(),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id (the token's `sub`)
    #[arg(long)]
    pub user: String,
    /// A conversation the user may join (repeat for more)
    #[arg(long = "conversation", required = true)]
    pub conversations: Vec<String>,
    /// Display name
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime of the token in seconds
    #[arg(long, default_value_t = 3600)]
    pub ttl_seconds: i64,
    #[command(flatten)]
    pub secret: SecretArgs,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(CONFIG_ERROR)
}

async fn load_key(secret: &SecretArgs) -> Result<Option<SigningKey>, String> {
    if let Some(path) = &secret.signing_secret_file {
        return crate::secret::key_from_file(path)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if let Some(arn) = &secret.signing_secret_arn {
        let sdk = service_common::aws_sdk::load()
            .await
            .map_err(|e| e.to_string())?;
        return crate::secret::key_from_secrets_manager(&sdk, arn)
            .await
            .map(Some)
            .map_err(|e| e.to_string());
    }
    Ok(None)
}

/// `chat token`: prints the token on stdout.
pub async fn token(args: TokenArgs) -> ExitCode {
    if let Err(err) = crate::ids::check_user(&args.user) {
        return fail(err);
    }
    for conversation in &args.conversations {
        if let Err(err) = crate::ids::check_conversation(conversation) {
            return fail(err);
        }
    }
    if args.ttl_seconds <= 0 {
        return fail("--ttl-seconds must be positive");
    }
    let key = match load_key(&args.secret).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            return fail(
                "no signing secret: pass --signing-secret-arn ARN or --signing-secret-file PATH",
            );
        }
        Err(err) => return fail(err),
    };
    let now = service_common::emf::epoch_millis() / 1000;
    let claims = token::claims_for(
        &args.user,
        &args.conversations,
        args.name.as_deref(),
        now,
        args.ttl_seconds,
    );
    println!("{}", token::sign(&key, &claims));
    ExitCode::SUCCESS
}

/// `chat serve`: runs until Ctrl-C or SIGTERM. Exit status 2 for a
/// configuration error, 1 for a runtime failure.
pub async fn serve(args: ServeArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let config = match args.config() {
        Ok(config) => config,
        Err(err) => return fail(err),
    };
    let key = match load_key(&args.secret).await {
        Ok(Some(key)) => key,
        Ok(None) if args.dev_tokens => {
            tracing::warn!(
                "no signing secret given: using a random key for this run (dev tokens only)"
            );
            SigningKey::random()
        }
        Ok(None) => {
            return fail(
                "no signing secret: pass --signing-secret-arn ARN or --signing-secret-file PATH \
                 (or --dev-tokens for a throw-away key)",
            );
        }
        Err(err) => return fail(err),
    };
    let stores = match args.store {
        StoreKind::Memory => crate::memory::stores(),
        StoreKind::Dynamodb => {
            let tables = (|| {
                Ok::<_, config::ConfigError>((
                    Config::require(&config.connections_table, config::CONNECTIONS_TABLE)?,
                    Config::require(&config.messages_table, config::MESSAGES_TABLE)?,
                    Config::require(&config.presence_table, config::PRESENCE_TABLE)?,
                ))
            })();
            let (connections, messages, presence) = match tables {
                Ok(tables) => tables,
                Err(err) => return fail(format!("{err} (or use --store memory)")),
            };
            let sdk = match service_common::aws_sdk::load().await {
                Ok(sdk) => sdk,
                Err(err) => return fail(err),
            };
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            Stores {
                connections: Arc::new(DynamoConnections::new(client.clone(), connections)),
                messages: Arc::new(DynamoMessages::new(client.clone(), messages)),
                presence: Arc::new(DynamoPresence::new(client, presence)),
            }
        }
    };
    let hub = Hub::new();
    if let Some(url) = &args.redis_url {
        if let Err(err) = hub.attach_redis(url).await {
            eprintln!("error: cannot use Redis at {url}: {err}");
            return ExitCode::FAILURE;
        }
        tracing::info!(redis = %url, "exchanging messages with other instances through Redis");
    }
    let service = ChatService::new(
        config.limits,
        stores,
        Some(key.clone()),
        MetricsSink::Stderr,
    );
    let state = crate::serve::state(service, hub, args.dev_tokens.then_some(key));

    let addr = SocketAddr::new(args.bind, args.port);
    let (listener, bound) = match service_common::serving::bind(addr).await {
        Ok(bound) => bound,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = announce(bound) {
        eprintln!("error: cannot write to stdout: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!(%bound, store = ?args.store, "serving");
    let served = axum::serve(listener, crate::serve::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: server failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `chat`'s main.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Token(args) => token(args).await,
    }
}

/// `router` outside Lambda: `chat serve` with the same flags.
#[derive(Debug, Parser)]
#[command(
    name = "router",
    version,
    about = "Chat router function (Lambda), or `chat serve` outside Lambda"
)]
pub struct RouterCli {
    #[command(flatten)]
    pub serve: ServeArgs,
}
