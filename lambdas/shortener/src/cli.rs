//! `shortener serve`: the API as a plain HTTP server, configured by flags
//! that default to the environment variables the blueprint sets on Lambda.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Args;

use crate::config::{Config, RawConfig, TRUST_FORWARDED_FOR};
use crate::metrics::MetricsSink;
use service_common::logging::{self, LogTarget};
use service_common::serving::announce;
pub use service_common::serving::shutdown_signal;

/// Flags of `shortener serve` (and of `shortener-api` outside Lambda).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one (printed on stdout)
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// DynamoDB table of links (partition key `code` S, TTL attribute `expires_at`)
    #[arg(long, env = "LINKS_TABLE", value_name = "NAME")]
    pub links_table: Option<String>,
    /// DynamoDB table of click counters (partition key `code` S)
    #[arg(long, env = "CLICKS_TABLE", value_name = "NAME")]
    pub clicks_table: Option<String>,
    /// URL of the SQS queue click events are sent to
    #[arg(long, env = "CLICKS_QUEUE_URL", value_name = "URL")]
    pub clicks_queue_url: Option<String>,
    /// Status of redirects: 302 (default) or 301
    #[arg(long, env = "REDIRECT_STATUS", value_name = "301|302")]
    pub redirect_status: Option<String>,
    /// Seconds a link stays in the in-process cache (default 60; 0 disables it)
    #[arg(long, env = "CACHE_TTL_SECONDS", value_name = "SECONDS")]
    pub cache_ttl_seconds: Option<String>,
    /// Links the cache holds at most (default 10000; 0 disables it)
    #[arg(long, env = "CACHE_MAX_ENTRIES", value_name = "N")]
    pub cache_max_entries: Option<String>,
    /// Link creations allowed per client address per minute (default 60; 0: unlimited)
    #[arg(long, env = "CREATE_RATE_PER_MINUTE", value_name = "N")]
    pub create_rate_per_minute: Option<String>,
    /// Base of short URLs, e.g. https://sho.rt (default: from each request's Host)
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "URL")]
    pub public_base_url: Option<String>,
    /// Milliseconds the first click event of a batch waits for more before
    /// it is sent to the queue (default 200)
    #[arg(long, env = "CLICK_BATCH_MAX_AGE_MS", value_name = "MS")]
    pub click_batch_max_age_ms: Option<String>,
    /// Behind a reverse proxy: client address from the last X-Forwarded-For
    /// entry and scheme from X-Forwarded-Proto [env: TRUST_FORWARDED_FOR=true]
    #[arg(long)]
    pub trust_forwarded_for: bool,
}

impl ServeArgs {
    /// The settings as text, for [`Config::from_raw`].
    pub fn raw_config(&self) -> RawConfig {
        RawConfig {
            links_table: self.links_table.clone(),
            clicks_table: self.clicks_table.clone(),
            clicks_queue_url: self.clicks_queue_url.clone(),
            redirect_status: self.redirect_status.clone(),
            cache_ttl_seconds: self.cache_ttl_seconds.clone(),
            cache_max_entries: self.cache_max_entries.clone(),
            create_rate_per_minute: self.create_rate_per_minute.clone(),
            public_base_url: self.public_base_url.clone(),
            click_batch_max_age_ms: self.click_batch_max_age_ms.clone(),
            trust_forwarded_for: if self.trust_forwarded_for {
                Some("true".to_owned())
            } else {
                std::env::var(TRUST_FORWARDED_FOR.env).ok()
            },
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then sends the pending clicks.
/// Exit status 2 for a configuration error, 1 for a runtime failure.
pub async fn serve(args: ServeArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let config = match Config::from_raw(args.raw_config()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // AWS_ENDPOINT_URL, credentials, region: the standard AWS environment.
    let sdk = match service_common::aws_sdk::load().await {
        Ok(sdk) => sdk,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };

    let addr = SocketAddr::new(args.bind, args.port);
    let (listener, bound) = match service_common::serving::bind(addr).await {
        Ok(bound) => bound,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };

    let service = crate::aws::connect(&config, &sdk, MetricsSink::Stderr);
    let app = crate::router(service.state.clone());
    if let Err(err) = announce(bound) {
        eprintln!("error: cannot write to stdout: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!(
        %bound,
        links_table = %config.links_table,
        clicks_table = %config.clicks_table,
        clicks_queue_url = %config.clicks_queue_url,
        "serving"
    );

    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;

    let stats = service.batcher.shutdown().await;
    tracing::info!(
        clicks_sent = stats.sent,
        clicks_dropped = stats.dropped,
        clicks_failed = stats.failed,
        "stopped; pending clicks flushed"
    );
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: server failed: {err}");
            ExitCode::FAILURE
        }
    }
}
