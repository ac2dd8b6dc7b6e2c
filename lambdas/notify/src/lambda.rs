//! The Lambda functions:
//!
//! - `ingest`: the HTTP API ([`crate::router`]) through `lambda_http`
//!   (an ALB target, or a function URL);
//! - `worker`: SQS batches of delivery jobs, answered with
//!   `batchItemFailures` (the event source mapping needs
//!   `ReportBatchItemFailures`);
//! - `expander`: SQS batches of fan-out chunks, likewise.
//!
//! Each reads its settings from the environment and exits with status 2
//! on a bad or missing one, before taking any event.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};
use service_common::MetricsSink;
use service_common::logging::{self, LogTarget};

use crate::api::AppState;
use crate::aws::AwsSettings;
use crate::config::{ServiceOptions, WorkerOptions};
use crate::expander::Expander;
use crate::worker::{Received, Worker};

const CONFIG_ERROR_EXIT: i32 = service_common::runtime::CONFIG_ERROR_EXIT as i32;

fn config_error(function: &str, message: impl std::fmt::Display) -> ! {
    tracing::error!(error = %message, function, "bad configuration");
    std::process::exit(CONFIG_ERROR_EXIT);
}

async fn sdk(function: &str) -> aws_config::SdkConfig {
    service_common::aws_sdk::load()
        .await
        .unwrap_or_else(|err| config_error(function, err))
}

fn options(function: &str) -> ServiceOptions {
    ServiceOptions::from_env().unwrap_or_else(|err| config_error(function, err))
}

/// `ingest` on Lambda.
pub async fn run_ingest() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let mut options = options("ingest");
    let sdk = sdk("ingest").await;
    if let Some(arn) = std::env::var(crate::config::API_KEY_SECRET_ARN)
        .ok()
        .filter(|arn| !arn.trim().is_empty())
    {
        let key = crate::api_key::ApiKey::from_secrets_manager(&sdk, arn.trim())
            .await
            .unwrap_or_else(|err| config_error("ingest", err));
        options.api_key = Some(key);
    }
    let stores = AwsSettings::from_env()
        .api_stores(&sdk)
        .unwrap_or_else(|err| config_error("ingest", err));
    lambda_http::run(crate::router(AppState::new(options, stores))).await
}

/// An SQS record as the worker sees it; `None` without a message id
/// (which could not be reported as failed).
pub fn received(record: SqsMessage) -> Option<Received> {
    let message_id = record.message_id.filter(|id| !id.is_empty())?;
    Some(Received {
        message_id,
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        body: record.body.unwrap_or_default(),
    })
}

/// The worker's own queues, to back off retries with
/// `ChangeMessageVisibility` on the messages of an event.
#[derive(Clone, Debug)]
pub struct QueueVisibility {
    client: aws_sdk_sqs::Client,
    urls: Vec<String>,
}

impl QueueVisibility {
    pub fn new(client: aws_sdk_sqs::Client, urls: impl IntoIterator<Item = String>) -> Self {
        Self {
            client,
            urls: urls.into_iter().collect(),
        }
    }

    /// The URL of the queue an event record came from: the configured URL
    /// whose last path segment is the queue name ending the record's ARN.
    fn url_for_arn(&self, arn: &str) -> Option<&String> {
        let name = arn.rsplit(':').next()?;
        self.urls
            .iter()
            .find(|url| url.trim_end_matches('/').rsplit('/').next() == Some(name))
    }
}

/// One SQS event through the worker. With `visibility`, the messages it
/// reports are hidden for their own backoff ([`crate::worker::Outcome::retry_after_seconds`])
/// instead of the queue's whole visibility timeout.
pub async fn handle_deliveries(
    worker: &Worker,
    visibility: Option<&QueueVisibility>,
    event: SqsEvent,
) -> SqsBatchResponse {
    // Receipt handle and queue of each message, for the backoff.
    let origins: std::collections::HashMap<String, (String, String)> = event
        .records
        .iter()
        .filter_map(|r| {
            Some((
                r.message_id.clone()?,
                (r.receipt_handle.clone()?, r.event_source_arn.clone()?),
            ))
        })
        .collect();
    let batch: Vec<Received> = event.records.into_iter().filter_map(received).collect();
    let report = worker.process_batch(batch).await;
    if let Some(visibility) = visibility {
        let mut by_queue: std::collections::BTreeMap<&String, Vec<(String, i32)>> =
            std::collections::BTreeMap::new();
        for (id, seconds) in report.retry_after() {
            let Some((handle, arn)) = origins.get(&id) else {
                continue;
            };
            match visibility.url_for_arn(arn) {
                Some(url) => by_queue
                    .entry(url)
                    .or_default()
                    .push((handle.clone(), seconds)),
                None => tracing::warn!(
                    queue = arn,
                    "a message from a queue this worker has no URL for; it comes back after the queue's visibility timeout"
                ),
            }
        }
        for (url, entries) in by_queue {
            crate::sqs::change_visibility(&visibility.client, url, &entries).await;
        }
    }
    let mut response = SqsBatchResponse::default();
    for id in report.failures {
        response.add_failure(id);
    }
    response
}

/// `worker` on Lambda.
pub async fn run_worker() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let options = options("worker");
    let worker_options =
        WorkerOptions::from_env().unwrap_or_else(|err| config_error("worker", err));
    let sdk = sdk("worker").await;
    let settings = AwsSettings::from_env();
    let worker = settings
        .worker(&sdk, &options, worker_options)
        .unwrap_or_else(|err| config_error("worker", err))
        .with_metrics(MetricsSink::Stdout);
    let visibility = QueueVisibility::new(
        aws_sdk_sqs::Client::new(&sdk),
        settings
            .queue_urls
            .values()
            .chain(settings.bulk_queue_urls.values())
            .cloned(),
    );
    let (worker, visibility) = (&worker, &visibility);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(
            handle_deliveries(worker, Some(visibility), event.payload).await,
        )
    }))
    .await
}

/// One SQS event through the expander: chunks that failed (storage, or
/// not usable at all, which the redrive policy then dead-letters) are
/// reported.
pub async fn handle_expansions(expander: &Expander, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(message) = received(record) else {
            tracing::error!("SQS record without a message id; skipped");
            continue;
        };
        let outcome = match Expander::parse(&message.body) {
            Ok(chunk) => expander.expand(&chunk).await,
            Err(err) => Err(err),
        };
        if let Err(err) = outcome {
            tracing::error!(message_id = message.message_id, error = %err, "chunk not expanded");
            response.add_failure(message.message_id);
        }
    }
    response
}

/// `expander` on Lambda.
pub async fn run_expander() -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let options = options("expander");
    let sdk = sdk("expander").await;
    let expander = AwsSettings::from_env()
        .expander(&sdk, &options)
        .unwrap_or_else(|err| config_error("expander", err));
    let expander = &expander;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_expansions(expander, event.payload).await)
    }))
    .await
}

/// A function binary started outside Lambda: there is nothing to serve.
pub fn not_in_lambda(binary: &str) -> std::process::ExitCode {
    eprintln!(
        "error: `{binary}` is a Lambda function (it needs AWS_LAMBDA_RUNTIME_API); \
         to run the notification service standalone use `notify serve` \
         (the API and the workers in one process)"
    );
    std::process::ExitCode::from(service_common::runtime::CONFIG_ERROR_EXIT)
}

/// Runs `run` on Lambda, or says to use `notify serve`.
pub async fn main_for<F, Fut>(binary: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    if !service_common::in_lambda() {
        return not_in_lambda(binary);
    }
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "Lambda runtime failed");
            std::process::ExitCode::FAILURE
        }
    }
}
