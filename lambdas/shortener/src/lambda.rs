//! The two Lambda functions' entry points.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::aggregator::aggregate;
use crate::aws::DynamoClicks;
use crate::clicks::ClickBatcher;
use crate::config::{Config, clicks_table_from_env};
use crate::metrics::MetricsSink;
use crate::store::ClickCounter;
use service_common::logging::{self, LogTarget};

pub use service_common::runtime::{RUNTIME_API_ENV, in_lambda};

/// Exit status for a configuration error, as standalone.
const CONFIG_ERROR_EXIT: i32 = service_common::runtime::CONFIG_ERROR_EXIT as i32;

/// `shortener-api` on Lambda: the router through `lambda_http` (ALB and
/// function URL events), with the click batch flushed on SIGTERM.
pub async fn run_api() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let config = Config::from_env().unwrap_or_else(|err| {
        tracing::error!(error = %err, "bad configuration");
        std::process::exit(CONFIG_ERROR_EXIT);
    });
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let service = crate::aws::connect(&config, &sdk, MetricsSink::Stdout);
    flush_clicks_on_shutdown(service.batcher).await;
    lambda_http::run(crate::router(service.state)).await
}

/// Lambda only sends SIGTERM to functions with an extension registered;
/// `spawn_graceful_shutdown_handler` registers a no-op one. It panics if the
/// Extensions API is missing (an older local emulator), so it runs in its
/// own task and the function carries on without a shutdown flush then
/// (dropping the batcher handle leaves the pipeline running).
async fn flush_clicks_on_shutdown(batcher: ClickBatcher) {
    let hook = move || async move {
        let stats = batcher.shutdown().await;
        tracing::info!(
            clicks_sent = stats.sent,
            clicks_dropped = stats.dropped,
            clicks_failed = stats.failed,
            "shutdown: pending clicks flushed"
        );
    };
    let registration = tokio::spawn(lambda_runtime::spawn_graceful_shutdown_handler(hook));
    if let Err(err) = registration.await {
        tracing::warn!(
            error = %err,
            "graceful shutdown unavailable (no Extensions API?); pending clicks are flushed only by their 200 ms timer"
        );
    }
}

/// `click-aggregator`: SQS batches in, counter updates and partial batch
/// failures out.
pub async fn run_aggregator() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let table = clicks_table_from_env().unwrap_or_else(|err| {
        tracing::error!(error = %err, "bad configuration");
        std::process::exit(CONFIG_ERROR_EXIT);
    });
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let counter: Arc<dyn ClickCounter> = Arc::new(DynamoClicks::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let counter = counter.clone();
        async move {
            Ok::<SqsBatchResponse, lambda_runtime::Error>(aggregate(event.payload, counter).await)
        }
    }))
    .await
}
