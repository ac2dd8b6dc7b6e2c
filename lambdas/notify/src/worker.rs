//! The delivery worker: one batch of queued jobs in, each sent at most
//! once through its channel's provider, the channel's status updated, and
//! the jobs to hand back to the queue out.
//!
//! For each job, in this order:
//!
//! 1. the body must be a [`DeliveryJob`] (otherwise it is reported failed,
//!    so after the queue's `maxReceiveCount` it lands in the dead-letter
//!    queue, where someone can read it);
//! 2. a job whose `not_before` is still ahead is put back on the queue as a
//!    new message (SQS delays it up to 15 minutes a hop) and this one is
//!    done with;
//! 3. the user's preferences are read again and the rules applied at this
//!    instant: a later unsubscribe, opt-out or removed contact point wins
//!    (`suppressed`), and quiet hours that began meanwhile delay it (back on
//!    the queue with `not_before`, status `queued`);
//! 4. with a rate cap on the channel, one send is taken from the current
//!    second's window shared by every worker; over the cap the job goes
//!    back to the queue (reported failed, no attempt counted);
//! 5. the send claim ([`NotificationStore::claim_delivery`]): a conditional
//!    write that moves the channel to `sending` and counts the attempt. A
//!    channel already past sending (a redelivered job) is dropped unsent;
//!    one another worker is sending now comes back later;
//! 6. the provider sends it. Accepted: `sent`. A permanent error: `failed`
//!    with the reason. A transient one: `retrying` with the attempt count,
//!    and the job is reported failed so SQS delivers it again after the
//!    visibility timeout; on the last receive the queue allows
//!    (`ApproximateReceiveCount >= NOTIFY_MAX_RECEIVE_COUNT`) it is
//!    `dead_lettered` instead, and reported failed so SQS moves it to the
//!    dead-letter queue.
//!
//! A job that would go back to the queue on its last allowed receive for a
//! reason that is not a failure of its own (rate cap, another worker's
//! claim) is put back as a new message instead, so the redrive policy does
//! not dead-letter it.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use service_common::{MetricsSink, emf};

use crate::config::WorkerOptions;
use crate::model::{Channel, ChannelDelivery, ChannelStatus, SuppressionReason, now_ms};
use crate::provider::NotificationProvider;
use crate::rules::{Decision, decide};
use crate::store::{
    DeliveryClaim, DeliveryJob, DeliveryQueue, NotificationStore, PreferenceStore, RateLimiter,
};

/// Unix ms, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// One queue message as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The id to report in `batchItemFailures`.
    pub message_id: String,
    pub body: String,
    /// SQS's `ApproximateReceiveCount` (1 on the first receive).
    pub receive_count: u32,
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it.
    Sent { provider_id: Option<String> },
    /// The channel was already past sending (a redelivery); not sent.
    AlreadyDone { status: &'static str },
    /// The user's preferences now hold it back.
    Suppressed(SuppressionReason),
    /// Put back on the queue as a new message, not to be sent before
    /// `not_before` (quiet hours, or a hop of a long delay).
    Requeued { not_before: Option<i64> },
    /// Over the channel's rate cap: back to the queue, no attempt counted.
    RateLimited,
    /// Another worker holds the send claim.
    Busy,
    /// A transient failure: the queue delivers it again.
    Retrying { attempt: u32, reason: String },
    /// A permanent failure.
    Failed { reason: String },
    /// A transient failure on the last allowed receive.
    DeadLettered { attempt: u32, reason: String },
    /// Not a delivery job.
    Malformed(String),
    /// No such notification or channel (nothing to send or record).
    Unknown,
    /// A storage call failed before anything was sent: try again later.
    StoreFailed(String),
}

impl Outcome {
    /// Whether the message is to be reported in `batchItemFailures` (so
    /// the queue delivers it again, or dead-letters it).
    pub fn returns_to_queue(&self) -> bool {
        matches!(
            self,
            Outcome::RateLimited
                | Outcome::Busy
                | Outcome::Retrying { .. }
                | Outcome::DeadLettered { .. }
                | Outcome::Malformed(_)
                | Outcome::StoreFailed(_)
        )
    }

    /// How long the queue should hide the message before delivering it
    /// again, where that is not the queue's visibility timeout: a retry
    /// backs off exponentially, a rate-limited job comes back in the next
    /// second's window. `None`: the queue's own timeout.
    pub fn retry_after_seconds(&self) -> Option<i32> {
        match self {
            Outcome::Retrying { attempt, .. } => Some(backoff_seconds(*attempt)),
            Outcome::RateLimited => Some(1),
            // Storage trouble: soon, but not in a tight loop.
            Outcome::StoreFailed(_) => Some(5),
            // Nothing will change for these: back at once, so the next
            // receive moves them to the dead-letter queue.
            Outcome::DeadLettered { .. } | Outcome::Malformed(_) => Some(0),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::AlreadyDone { .. } => "already_done",
            Outcome::Suppressed(_) => "suppressed",
            Outcome::Requeued { .. } => "requeued",
            Outcome::RateLimited => "rate_limited",
            Outcome::Busy => "busy",
            Outcome::Retrying { .. } => "retrying",
            Outcome::Failed { .. } => "failed",
            Outcome::DeadLettered { .. } => "dead_lettered",
            Outcome::Malformed(_) => "malformed",
            Outcome::Unknown => "unknown",
            Outcome::StoreFailed(_) => "store_failed",
        }
    }
}

/// The wait before the attempt after `attempt` failed transiently: 2 s,
/// doubling, at most 5 minutes (a provider outage is not hammered, and a
/// blip costs seconds, not the queue's visibility timeout).
pub fn backoff_seconds(attempt: u32) -> i32 {
    const FIRST: i32 = 2;
    const MAX: i32 = 300;
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST << doublings).min(MAX)
}

/// What a batch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Every message's outcome, in the order they were handled (critical
    /// first, then transactional, then bulk; queue order within each).
    pub outcomes: Vec<(String, Outcome)>,
    /// The message ids to report as `batchItemFailures`.
    pub failures: Vec<String>,
}

impl BatchReport {
    /// The reported messages to hide for a time of their own
    /// ([`Outcome::retry_after_seconds`]), by message id.
    pub fn retry_after(&self) -> Vec<(String, i32)> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.returns_to_queue())
            .filter_map(|(id, o)| Some((id.clone(), o.retry_after_seconds()?)))
            .collect()
    }
}

impl BatchReport {
    pub fn count(&self, name: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.name() == name)
            .count()
    }
}

/// Each channel's provider.
#[derive(Clone, Default)]
pub struct Providers(BTreeMap<Channel, Arc<dyn NotificationProvider>>);

impl Providers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `provider` for its channel (replacing another).
    pub fn with(mut self, provider: Arc<dyn NotificationProvider>) -> Self {
        self.0.insert(provider.channel(), provider);
        self
    }

    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn NotificationProvider>> {
        self.0.get(&channel)
    }

    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.0.keys().copied()
    }
}

/// What a worker works with.
#[derive(Clone)]
pub struct Worker {
    pub notifications: Arc<dyn NotificationStore>,
    pub preferences: Arc<dyn PreferenceStore>,
    /// Where delayed jobs are put back.
    pub queue: Arc<dyn DeliveryQueue>,
    pub limiter: Arc<dyn RateLimiter>,
    pub providers: Providers,
    pub options: WorkerOptions,
    pub clock: Clock,
    pub metrics: MetricsSink,
}

impl Worker {
    pub fn new(
        notifications: Arc<dyn NotificationStore>,
        preferences: Arc<dyn PreferenceStore>,
        queue: Arc<dyn DeliveryQueue>,
        limiter: Arc<dyn RateLimiter>,
        providers: Providers,
        options: WorkerOptions,
    ) -> Self {
        Self {
            notifications,
            preferences,
            queue,
            limiter,
            providers,
            options,
            clock: Arc::new(now_ms),
            metrics: MetricsSink::Off,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Handles a batch: the highest priority first, up to
    /// `options.concurrency` jobs at once.
    pub async fn process_batch(&self, messages: Vec<Received>) -> BatchReport {
        let started = (self.clock)();
        let mut ranked: Vec<(u8, Received)> = messages
            .into_iter()
            .map(|message| {
                let rank = serde_json::from_str::<serde_json::Value>(&message.body)
                    .ok()
                    .and_then(|v| v.get("priority").cloned())
                    .and_then(|p| serde_json::from_value::<crate::model::Priority>(p).ok())
                    .map_or(u8::MAX, |p| p.rank());
                (rank, message)
            })
            .collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        let outcomes: Vec<(String, Outcome)> = futures_util::stream::iter(ranked)
            .map(|(_, message)| async move {
                let outcome = self.process_one(&message).await;
                (message.message_id, outcome)
            })
            .buffered(self.options.concurrency.max(1))
            .collect()
            .await;
        let failures = outcomes
            .iter()
            .filter(|(_, o)| o.returns_to_queue())
            .map(|(id, _)| id.clone())
            .collect();
        let report = BatchReport { outcomes, failures };
        self.record_metrics(&report, (self.clock)() - started);
        report
    }

    fn record_metrics(&self, report: &BatchReport, elapsed_ms: i64) {
        if self.metrics == MetricsSink::Off {
            return;
        }
        let names = [
            ("Sent", "sent"),
            ("Retrying", "retrying"),
            ("Failed", "failed"),
            ("DeadLettered", "dead_lettered"),
            ("Suppressed", "suppressed"),
            ("RateLimited", "rate_limited"),
            ("Requeued", "requeued"),
            ("AlreadyDone", "already_done"),
        ];
        let metrics: Vec<emf::Metric<'_>> = names
            .iter()
            .map(|(metric, name)| (*metric, "Count", report.count(name) as f64))
            .chain([("BatchLatency", "Milliseconds", elapsed_ms as f64)])
            .collect();
        let line = emf::document(
            "archform/notify",
            (self.clock)(),
            &[("Service", "notify")],
            &metrics,
            &[("messages", json!(report.outcomes.len()))],
        );
        self.metrics.write_line(&line);
    }

    /// Puts `job` back on the queue as a new message, not before
    /// `not_before`.
    async fn requeue(&self, job: &DeliveryJob, not_before: Option<i64>) -> Outcome {
        let mut again = job.clone();
        again.not_before = not_before;
        match self.queue.enqueue(std::slice::from_ref(&again)).await {
            Ok(()) => Outcome::Requeued { not_before },
            Err(err) => Outcome::StoreFailed(err.to_string()),
        }
    }

    async fn finish(&self, job: &DeliveryJob, claim: Option<u32>, status: ChannelStatus) {
        let delivery = ChannelDelivery {
            status,
            locale: Some(job.rendered.locale.clone()),
            updated_at: (self.clock)(),
        };
        match self
            .notifications
            .finish_delivery(&job.notification_id, job.channel, claim, delivery)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                id = job.notification_id,
                channel = %job.channel,
                ?claim,
                "the channel changed meanwhile; this worker's status was not recorded"
            ),
            Err(err) => tracing::error!(
                id = job.notification_id,
                channel = %job.channel,
                error = %err,
                "could not record the channel's status"
            ),
        }
    }

    /// One job, through the steps of the module docs.
    pub async fn process_one(&self, message: &Received) -> Outcome {
        let job: DeliveryJob = match serde_json::from_str(&message.body) {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(message_id = message.message_id, error = %err, "not a delivery job");
                return Outcome::Malformed(err.to_string());
            }
        };
        let outcome = self.deliver(&job, message.receive_count).await;
        let last_receive = message.receive_count >= self.options.max_receive_count;
        let outcome = match outcome {
            // Not the job's own failure: do not let the redrive policy
            // dead-letter it.
            Outcome::RateLimited | Outcome::Busy if last_receive => {
                let next_second = ((self.clock)().div_euclid(1000) + 1) * 1000;
                self.requeue(&job, Some(next_second)).await
            }
            other => other,
        };
        match &outcome {
            Outcome::Sent { .. } | Outcome::Suppressed(_) => tracing::info!(
                id = job.notification_id, channel = %job.channel,
                receive_count = message.receive_count, outcome = ?outcome, "job done"
            ),
            Outcome::Failed { .. }
            | Outcome::DeadLettered { .. }
            | Outcome::StoreFailed(_)
            | Outcome::Unknown => tracing::warn!(
                id = job.notification_id, channel = %job.channel,
                receive_count = message.receive_count, outcome = ?outcome, "job not sent"
            ),
            _ => tracing::debug!(
                id = job.notification_id, channel = %job.channel,
                receive_count = message.receive_count, outcome = ?outcome, "job"
            ),
        }
        outcome
    }

    async fn deliver(&self, job: &DeliveryJob, receive_count: u32) -> Outcome {
        let now = (self.clock)();
        if let Some(not_before) = job.not_before.filter(|t| *t > now) {
            return self.requeue(job, Some(not_before)).await;
        }
        let preferences = match self.preferences.get_preferences(&job.user_id).await {
            Ok(preferences) => preferences,
            Err(err) => return Outcome::StoreFailed(err.to_string()),
        };
        match decide(
            preferences.as_ref(),
            job.channel,
            job.category.as_deref(),
            job.priority,
            now,
        ) {
            Decision::Send => {}
            Decision::Suppress(reason) => {
                self.finish(job, None, ChannelStatus::Suppressed { reason })
                    .await;
                return Outcome::Suppressed(reason);
            }
            Decision::Delay { until_ms } => {
                let outcome = self.requeue(job, Some(until_ms)).await;
                if matches!(outcome, Outcome::Requeued { .. }) {
                    self.finish(
                        job,
                        None,
                        ChannelStatus::Queued {
                            not_before: Some(until_ms),
                        },
                    )
                    .await;
                }
                return outcome;
            }
        }
        // `decide` said send, so there are preferences.
        let Some(preferences) = preferences else {
            return Outcome::Unknown;
        };
        let Some(provider) = self.providers.get(job.channel) else {
            let reason = format!(
                "no {} provider is configured for this deployment",
                job.channel
            );
            self.finish(
                job,
                None,
                ChannelStatus::Failed {
                    reason: reason.clone(),
                },
            )
            .await;
            return Outcome::Failed { reason };
        };
        if let Some(&cap) = self.options.rate_per_second.get(&job.channel) {
            let cap = share_of_cap(cap, job.priority);
            match self.limiter.try_acquire(job.channel, cap, now).await {
                Ok(true) => {}
                Ok(false) => return Outcome::RateLimited,
                Err(err) => return Outcome::StoreFailed(err.to_string()),
            }
        }
        let attempt = match self
            .notifications
            .claim_delivery(
                &job.notification_id,
                job.channel,
                now,
                self.options.send_lease_ms,
            )
            .await
        {
            Ok(DeliveryClaim::Claimed { attempt }) => attempt,
            Ok(DeliveryClaim::Busy { .. }) => return Outcome::Busy,
            Ok(DeliveryClaim::Done(status)) => {
                return Outcome::AlreadyDone {
                    status: status.name(),
                };
            }
            Ok(DeliveryClaim::Unknown) => return Outcome::Unknown,
            Err(err) => return Outcome::StoreFailed(err.to_string()),
        };
        match provider.send(job, &preferences).await {
            Ok(accepted) => {
                self.finish(
                    job,
                    Some(attempt),
                    ChannelStatus::Sent {
                        provider_id: accepted.provider_id.clone(),
                    },
                )
                .await;
                Outcome::Sent {
                    provider_id: accepted.provider_id,
                }
            }
            Err(err) if !err.is_transient() => {
                let reason = err.to_string();
                self.finish(
                    job,
                    Some(attempt),
                    ChannelStatus::Failed {
                        reason: reason.clone(),
                    },
                )
                .await;
                Outcome::Failed { reason }
            }
            Err(err) => {
                let reason = err.to_string();
                if receive_count >= self.options.max_receive_count {
                    self.finish(
                        job,
                        Some(attempt),
                        ChannelStatus::DeadLettered {
                            attempts: attempt,
                            reason: reason.clone(),
                        },
                    )
                    .await;
                    Outcome::DeadLettered { attempt, reason }
                } else {
                    self.finish(
                        job,
                        Some(attempt),
                        ChannelStatus::Retrying {
                            attempts: attempt,
                            reason: reason.clone(),
                            // The queue hides the message for the backoff
                            // (Outcome::retry_after_seconds): the earliest
                            // time it comes back.
                            next_attempt_at: Some(
                                now_ms() + i64::from(backoff_seconds(attempt)) * 1000,
                            ),
                        },
                    )
                    .await;
                    Outcome::Retrying { attempt, reason }
                }
            }
        }
    }
}

/// The part of a channel's per-second cap `priority` may use. Bulk jobs
/// stop a fifth short of the cap (one send, for caps from 2 to 9), so a
/// bulk backlog never takes the sends transactional and critical messages
/// need, whichever worker asks first; they share one counter, so the cap
/// itself still holds.
pub fn share_of_cap(cap: u32, priority: crate::model::Priority) -> u32 {
    match priority {
        crate::model::Priority::Bulk => cap.saturating_sub((cap / 5).max(1)).max(1),
        _ => cap,
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
