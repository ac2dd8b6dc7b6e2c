//! The `notify` command: `notify serve` runs the API and the workers (and
//! the expander) in one process, on the in-memory stores or on the
//! DynamoDB tables and SQS queues. Table and queue flags default to the
//! environment variables the Lambda functions read, with the same names;
//! the other settings (`NOTIFY_CATEGORIES`, `NOTIFY_RATE_*_PER_SECOND`,
//! ...) are read from the environment as on Lambda.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use service_common::MetricsSink;
use service_common::logging::{self, LogTarget};
use service_common::serving::{announce, shutdown_signal};

use crate::api::AppState;
use crate::aws::{self, AwsSettings};
use crate::config::{ServiceOptions, WorkerOptions};
use crate::expander::{ExpandError, Expander};
use crate::memory::{MemoryExpansionQueue, MemoryQueue, MemoryRateLimiter, MemoryStores};
use crate::model::{Channel, now_ms};
use crate::store::{DeliveryQueue, Stores};
use crate::templates::{RenderLimits, Renderer};
use crate::worker::{Outcome, Received, Worker};

const CONFIG_ERROR: u8 = service_common::runtime::CONFIG_ERROR_EXIT;

#[derive(Debug, Parser)]
#[command(name = "notify", version, about = "Notification service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run the delivery workers and the expander in
    /// this process; prints `listening on http://ADDR` once bound
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// In-process stores and queues: no AWS needed, nothing kept
    Memory,
    /// The DynamoDB tables and SQS queues (AWS, or an emulator through
    /// AWS_ENDPOINT_URL)
    Dynamodb,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Storage and queues: memory, or dynamodb (with SQS)
    #[arg(long, value_enum, default_value = "memory")]
    pub store: StoreKind,
    /// Send SMS and push through SNS, and email through SES v2 when
    /// NOTIFY_EMAIL_FROM is set, with --store memory too (always so with
    /// --store dynamodb)
    #[arg(long)]
    pub sns: bool,
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout)
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Notifications table (partition key pk, sort key sk)
    #[arg(long, env = "NOTIFY_NOTIFICATIONS_TABLE", value_name = "NAME")]
    pub notifications_table: Option<String>,
    /// Templates table (partition key name)
    #[arg(long, env = "NOTIFY_TEMPLATES_TABLE", value_name = "NAME")]
    pub templates_table: Option<String>,
    /// Preferences table (partition key user_id)
    #[arg(long, env = "NOTIFY_PREFERENCES_TABLE", value_name = "NAME")]
    pub preferences_table: Option<String>,
    /// Idempotency table (partition key key; TTL attribute ttl)
    #[arg(long, env = "NOTIFY_IDEMPOTENCY_TABLE", value_name = "NAME")]
    pub idempotency_table: Option<String>,
    /// Rate-limit table (partition key pk; TTL attribute ttl)
    #[arg(long, env = "NOTIFY_RATE_LIMIT_TABLE", value_name = "NAME")]
    pub rate_limit_table: Option<String>,
    /// Email delivery queue URL
    #[arg(long, env = "NOTIFY_EMAIL_QUEUE_URL", value_name = "URL")]
    pub email_queue_url: Option<String>,
    /// SMS delivery queue URL
    #[arg(long, env = "NOTIFY_SMS_QUEUE_URL", value_name = "URL")]
    pub sms_queue_url: Option<String>,
    /// Push delivery queue URL
    #[arg(long, env = "NOTIFY_PUSH_QUEUE_URL", value_name = "URL")]
    pub push_queue_url: Option<String>,
    /// Webhook delivery queue URL
    #[arg(long, env = "NOTIFY_WEBHOOK_QUEUE_URL", value_name = "URL")]
    pub webhook_queue_url: Option<String>,
    /// The expander's queue URL (requests above NOTIFY_MAX_RECIPIENTS users)
    #[arg(long, env = "NOTIFY_EXPANSION_QUEUE_URL", value_name = "URL")]
    pub expansion_queue_url: Option<String>,
    /// SQS long-polling wait of the local workers, in seconds
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(0..=20))]
    pub poll_wait_seconds: i32,
}

impl ServeArgs {
    fn settings(&self) -> AwsSettings {
        let flags: HashMap<&str, Option<String>> = HashMap::from([
            (aws::NOTIFICATIONS_TABLE, self.notifications_table.clone()),
            (aws::TEMPLATES_TABLE, self.templates_table.clone()),
            (aws::PREFERENCES_TABLE, self.preferences_table.clone()),
            (aws::IDEMPOTENCY_TABLE, self.idempotency_table.clone()),
            (aws::RATE_LIMIT_TABLE, self.rate_limit_table.clone()),
            (
                aws::queue_variable(Channel::Email),
                self.email_queue_url.clone(),
            ),
            (
                aws::queue_variable(Channel::Sms),
                self.sms_queue_url.clone(),
            ),
            (
                aws::queue_variable(Channel::Push),
                self.push_queue_url.clone(),
            ),
            (
                aws::queue_variable(Channel::Webhook),
                self.webhook_queue_url.clone(),
            ),
            (aws::EXPANSION_QUEUE_URL, self.expansion_queue_url.clone()),
        ]);
        AwsSettings::from_lookup(|name| match flags.get(name) {
            Some(value) => value.clone(),
            None => std::env::var(name).ok(),
        })
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(CONFIG_ERROR)
}

/// How long a job the in-process queue failed waits before its next try:
/// 250 ms, doubling per attempt, at most 30 s.
fn backoff_ms(attempt: u32) -> i64 {
    (250i64 << attempt.saturating_sub(1).min(7)).min(30_000)
}

/// The in-process queue's workers: one loop per channel, each taking up to
/// `concurrency` ready jobs at a time (highest priority first) and doing
/// with the failures what SQS would: back on the queue after a backoff
/// (the receive count is the job's `attempt` + 1), dropped once they are
/// dead-lettered.
pub fn spawn_memory_workers(queue: Arc<MemoryQueue>, worker: Worker) {
    for channel in Channel::ALL {
        let (queue, worker) = (queue.clone(), worker.clone());
        tokio::spawn(async move {
            let mut sequence = 0u64;
            loop {
                let now = now_ms();
                let mut taken = HashMap::new();
                while taken.len() < worker.options.concurrency.max(1) {
                    let Some(job) = queue.take_ready(channel, now) else {
                        break;
                    };
                    sequence += 1;
                    taken.insert(format!("local-{channel}-{sequence}"), job);
                }
                if taken.is_empty() {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    continue;
                }
                let batch = taken
                    .iter()
                    .filter_map(|(id, job)| {
                        Some(Received {
                            message_id: id.clone(),
                            body: serde_json::to_string(job).ok()?,
                            receive_count: job.attempt + 1,
                        })
                    })
                    .collect();
                let report = worker.process_batch(batch).await;
                for (id, outcome) in report.outcomes {
                    if !outcome.returns_to_queue() {
                        continue;
                    }
                    let Some(mut job) = taken.remove(&id) else {
                        continue;
                    };
                    let now = now_ms();
                    match outcome {
                        Outcome::DeadLettered { .. } | Outcome::Malformed(_) => {
                            tracing::warn!(id = job.notification_id, %channel, "job dead-lettered (dropped: the in-process queue has no dead-letter queue)");
                            continue;
                        }
                        Outcome::RateLimited | Outcome::Busy => {
                            job.not_before = Some((now.div_euclid(1000) + 1) * 1000);
                        }
                        _ => {
                            job.attempt += 1;
                            if job.attempt >= worker.options.max_receive_count {
                                tracing::warn!(id = job.notification_id, %channel, "job dead-lettered after its last receive");
                                continue;
                            }
                            job.not_before = Some(now + backoff_ms(job.attempt));
                        }
                    }
                    if let Err(err) = queue.enqueue(std::slice::from_ref(&job)).await {
                        tracing::error!(error = %err, "could not put a job back");
                    }
                }
            }
        });
    }
}

/// The in-process expander: chunks in order; a storage failure puts the
/// chunk back after a second.
pub fn spawn_memory_expander(expansions: Arc<MemoryExpansionQueue>, expander: Arc<Expander>) {
    tokio::spawn(async move {
        use crate::store::ExpansionQueue;
        loop {
            let Some(chunk) = expansions.take() else {
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            };
            match expander.expand(&chunk).await {
                Ok(_) => {}
                Err(ExpandError::Unusable(reason)) => {
                    tracing::error!(batch_id = chunk.batch_id, reason, "chunk dropped");
                }
                Err(ExpandError::Store(err)) => {
                    tracing::warn!(batch_id = chunk.batch_id, error = %err, "chunk put back");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = expansions.enqueue(std::slice::from_ref(&chunk)).await;
                }
            }
        }
    });
}

fn renderer(options: &ServiceOptions) -> Renderer {
    Renderer::new(RenderLimits {
        max_sms_segments: options.max_sms_segments,
    })
}

/// `notify serve` on the AWS side: the stores, and a poller per queue.
async fn start_on_aws(
    args: &ServeArgs,
    options: &ServiceOptions,
    worker_options: WorkerOptions,
) -> Result<Stores, String> {
    let settings = args.settings();
    let sdk = service_common::aws_sdk::load()
        .await
        .map_err(|e| e.to_string())?;
    let stores = settings
        .api_stores(&sdk)
        .map_err(|e| format!("{e} (or use --store memory)"))?;
    let worker = settings
        .worker(&sdk, options, worker_options)?
        .with_metrics(MetricsSink::Stderr);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for (channel, url) in settings.queue_urls.iter().chain(&settings.bulk_queue_urls) {
        let worker = worker.clone();
        let handler: crate::sqs::BatchHandler = Arc::new(move |batch| {
            let worker = worker.clone();
            Box::pin(async move {
                let report = worker.process_batch(batch).await;
                let retry_after = report.retry_after();
                report
                    .failures
                    .into_iter()
                    .map(|id| {
                        let seconds = retry_after.iter().find(|(r, _)| *r == id).map(|(_, s)| *s);
                        (id, seconds)
                    })
                    .collect()
            })
        });
        tracing::info!(%channel, queue = url, "worker polling");
        tokio::spawn(crate::sqs::poll(
            sqs.clone(),
            url.clone(),
            args.poll_wait_seconds,
            handler,
        ));
    }
    if let Some(url) = &settings.expansion_queue_url {
        let expander = Arc::new(settings.expander(&sdk, options)?);
        let handler: crate::sqs::BatchHandler = Arc::new(move |batch| {
            let expander = expander.clone();
            Box::pin(async move {
                let mut failed = Vec::new();
                for message in batch {
                    let outcome = match Expander::parse(&message.body) {
                        Ok(chunk) => expander.expand(&chunk).await.map(|_| ()),
                        Err(err) => Err(err),
                    };
                    if let Err(err) = outcome {
                        tracing::error!(message_id = message.message_id, error = %err, "chunk not expanded");
                        failed.push((message.message_id, None));
                    }
                }
                failed
            })
        });
        tokio::spawn(crate::sqs::poll(
            sqs,
            url.clone(),
            args.poll_wait_seconds,
            handler,
        ));
    }
    Ok(stores)
}

/// `notify serve`: runs until Ctrl-C or SIGTERM. Exit status 2 for a
/// configuration error, 1 for a runtime failure.
pub async fn serve(args: ServeArgs) -> ExitCode {
    logging::init(LogTarget::Stderr);
    let options = match ServiceOptions::from_env() {
        Ok(options) => options,
        Err(err) => return fail(err),
    };
    let worker_options = match WorkerOptions::from_env() {
        Ok(options) => options,
        Err(err) => return fail(err),
    };
    if options.api_key.is_none() {
        eprintln!(
            "notify serve: no NOTIFY_API_KEY: the API answers anyone who can reach it (set one before exposing it)"
        );
    }
    let stores = match args.store {
        StoreKind::Memory => {
            let memory = MemoryStores::new();
            let settings = args.settings();
            let sdk = if args.sns {
                match service_common::aws_sdk::load().await {
                    Ok(sdk) => Some(sdk),
                    Err(err) => return fail(format!("{err} (--sns sends through SNS)")),
                }
            } else {
                None
            };
            let worker = Worker::new(
                memory.notifications.clone(),
                memory.preferences.clone(),
                memory.queue.clone(),
                Arc::new(MemoryRateLimiter::new()),
                match settings.providers(sdk.as_ref(), &options) {
                    Ok(providers) => providers,
                    Err(err) => return fail(err),
                },
                worker_options,
            )
            .with_metrics(MetricsSink::Stderr);
            spawn_memory_workers(memory.queue.clone(), worker);
            spawn_memory_expander(
                memory.expansions.clone(),
                Arc::new(Expander::new(memory.stores(), renderer(&options))),
            );
            memory.stores()
        }
        StoreKind::Dynamodb => match start_on_aws(&args, &options, worker_options).await {
            Ok(stores) => stores,
            Err(err) => return fail(err),
        },
    };
    let app = crate::router(AppState::new(options, stores));

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
    let served = axum::serve(listener, app)
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

/// `notify`'s main.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        assert_eq!(backoff_ms(1), 250);
        assert_eq!(backoff_ms(2), 500);
        assert_eq!(backoff_ms(4), 2_000);
        assert_eq!(backoff_ms(20), 30_000);
    }

    #[test]
    fn the_command_line_parses() {
        let cli =
            Cli::try_parse_from(["notify", "serve", "--store", "dynamodb", "--port", "0"]).unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.store, StoreKind::Dynamodb);
        assert_eq!(args.port, 0);
        assert!(Cli::try_parse_from(["notify", "serve", "--store", "redis"]).is_err());
    }
}
