//! The URL shortener service: short links in a DynamoDB table, redirects
//! with a read-through cache, click events batched to SQS off the hot path,
//! and an aggregator that turns them into per-link counters.
//!
//! The same [`router`] runs on Lambda (through `lambda_http`, behind an ALB
//! or a function URL), standalone (`shortener serve`), or inside another
//! axum application:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = shortener::Config::from_env()?;
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let service = shortener::aws::connect(&config, &sdk, shortener::MetricsSink::Stderr);
//! let app = axum::Router::new().merge(shortener::router(service.state.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! service.batcher.shutdown().await; // send the clicks still pending
//! # Ok(())
//! # }
//! ```

pub mod aggregator;
pub mod alias;
pub mod api_error;
pub mod app;
pub mod aws;
pub mod base62;
pub mod cache;
pub mod cli;
pub mod clicks;
pub mod config;
pub mod handlers;
pub mod lambda;
pub mod link;
pub mod memory;
pub mod metrics;
pub mod page;
pub mod rate_limit;
pub mod request_meta;
pub mod store;
pub mod target_url;

pub use app::{AppState, Stores, router};
pub use clicks::{BatcherConfig, ClickBatcher, ClickEvent, ClickSender};
pub use config::{Config, ConfigError, RedirectStatus, ServiceOptions};
pub use link::Link;
pub use service_common::MetricsSink;
/// JSON log lines (shared by every service in lambdas/).
pub use service_common::logging;
pub use store::{ClickCounter, ClickQueue, LinkStore, RateCounter, StoreError};

#[cfg(test)]
mod router_tests;
