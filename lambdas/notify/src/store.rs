//! The narrow storage interfaces the API uses (and the workers will):
//! notifications, templates, preferences, idempotency records, and the
//! delivery queue between ingestion and the per-channel workers.
//!
//! Methods return boxed futures so the traits stay object safe: the router
//! state holds `Arc<dyn NotificationStore>` and friends, and another
//! backend (DynamoDB and SQS, not written yet) plugs in without a generic
//! parameter on everything. [`crate::memory`] implements them in process.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::idempotency::IdempotencyRecord;
use crate::model::{Channel, ChannelDelivery, ChannelStatus, Notification, Priority};
use crate::preferences::Preferences;
use crate::templates::{Rendered, Template};

/// A `Send` future borrowed for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage call that failed; the details go to the log, the client only
/// learns that the service is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    #[error("item {key:?} is malformed: {reason}")]
    Malformed { key: String, reason: String },
}

impl StoreError {
    pub fn backend(operation: &'static str, message: impl Into<String>) -> Self {
        Self::Backend {
            operation,
            message: message.into(),
        }
    }
}

pub trait NotificationStore: Send + Sync {
    /// Stores new notifications (their ids are fresh, so this never
    /// overwrites another request's).
    fn put_notifications<'a>(
        &'a self,
        notifications: &'a [Notification],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn get_notification<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Notification>, StoreError>>;

    /// Replaces the status of one channel of a notification, whatever it
    /// was. `false` if the notification or the channel is unknown.
    fn set_channel_status<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Stores `notification` unless a notification with its id exists
    /// (`false` then, and nothing is written): the expander's write, whose
    /// ids are derived from the batch, so a redelivered chunk cannot reset
    /// a channel a worker already sent.
    fn create_notification<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// A worker's claim on sending one channel of one notification (one
    /// recipient: a notification has one user). Succeeds only from
    /// `queued` or `retrying`, or from `sending` whose claim expired (its
    /// worker died mid-send); it sets `sending`, adds one to the channel's
    /// attempt counter and holds the claim until `now_ms + lease_ms`. A
    /// conditional write, so of two deliveries of one job only one sends.
    fn claim_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<DeliveryClaim, StoreError>>;

    /// Records the outcome of a delivery. With `claim = Some(attempt)`,
    /// only if the channel is still `sending` under that claim (a worker
    /// whose claim expired and was taken over does not overwrite the new
    /// one's outcome); with `None` (a decision made without sending:
    /// suppressed, delayed), only if the channel is `queued` or
    /// `retrying`. `false` when the condition did not hold.
    fn finish_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        claim: Option<u32>,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// What [`NotificationStore::claim_delivery`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// The caller may send; this is attempt `attempt` (1 for the first).
    Claimed { attempt: u32 },
    /// Another worker holds an unexpired claim (it is sending now).
    Busy { until_ms: i64 },
    /// The channel is past sending (`sent`, `failed`, `suppressed`, ...):
    /// a redelivered job, to be dropped without sending.
    Done(ChannelStatus),
    /// No such notification or channel.
    Unknown,
}

impl DeliveryClaim {
    /// The claim decision on a channel in `status` with `claimed_until`
    /// (the lease of a `sending` claim), shared by the stores.
    pub fn decide(status: &ChannelStatus, claimed_until: Option<i64>, now_ms: i64) -> Option<Self> {
        match status {
            ChannelStatus::Queued { .. } | ChannelStatus::Retrying { .. } => None,
            ChannelStatus::Sending { .. } => match claimed_until {
                Some(until) if until > now_ms => Some(Self::Busy { until_ms: until }),
                _ => None,
            },
            done => Some(Self::Done(done.clone())),
        }
    }
}

/// A per-channel send-rate cap shared by every worker (of every process):
/// at most `per_second` sends of a channel in one wall-clock second.
pub trait RateLimiter: Send + Sync {
    /// Takes one send of `channel` in the second of `now_ms` if fewer than
    /// `per_second` were taken; `false` (nothing taken) otherwise.
    fn try_acquire<'a>(
        &'a self,
        channel: Channel,
        per_second: u32,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

pub trait TemplateStore: Send + Sync {
    /// Creates or replaces the template of its name.
    fn put_template<'a>(&'a self, template: &'a Template) -> BoxFuture<'a, Result<(), StoreError>>;

    fn get_template<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Template>, StoreError>>;
}

pub trait PreferenceStore: Send + Sync {
    /// Creates or replaces the user's preferences.
    fn put_preferences<'a>(
        &'a self,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn get_preferences<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Preferences>, StoreError>>;

    /// The preferences of several users (those without none are left
    /// out). One call per user unless the store reads many at once.
    fn get_many_preferences<'a>(
        &'a self,
        user_ids: &'a [String],
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, Preferences>, StoreError>> {
        Box::pin(async move {
            let mut found = std::collections::BTreeMap::new();
            for user in user_ids {
                if let Some(preferences) = self.get_preferences(user).await? {
                    found.insert(user.clone(), preferences);
                }
            }
            Ok(found)
        })
    }
}

/// What claiming an idempotency key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or its record had expired); the record is stored.
    Claimed,
    /// A live record holds the key; nothing was written.
    Held(IdempotencyRecord),
}

pub trait IdempotencyStore: Send + Sync {
    /// Stores `record` unless a live record (at `now_ms`) holds its key: a
    /// conditional write, so two concurrent requests with one key cannot
    /// both proceed.
    fn claim<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Frees a key whose request failed after claiming it, so a retry can
    /// run instead of replaying an answer about notifications that were
    /// never stored.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// One channel of one notification, for that channel's workers. It
/// carries the rendered message but not the address: workers read the
/// user's preferences when they send, so an unsubscribe or a new address
/// that arrives while a message waits (in quiet hours, say) is honoured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub notification_id: String,
    pub user_id: String,
    pub channel: Channel,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Not to be sent before this instant (Unix ms): the end of quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    pub rendered: Rendered,
    /// Attempts made so far (0 for a new job).
    pub attempt: u32,
    pub enqueued_at: i64,
}

pub trait DeliveryQueue: Send + Sync {
    /// Queues jobs for their channels' workers. An `Err` means none of
    /// them may be assumed queued.
    fn enqueue<'a>(&'a self, jobs: &'a [DeliveryJob]) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// One chunk of a request fanned out to many users: everything the
/// expander needs to plan, store and queue the notifications of `users`
/// as the API would have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpansionJob {
    pub batch_id: String,
    pub template: String,
    pub data: serde_json::Value,
    pub channels: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When the request was accepted (the notifications' `created_at`).
    pub accepted_at: i64,
    pub users: Vec<String>,
}

pub trait ExpansionQueue: Send + Sync {
    /// Queues chunks for the expander. An `Err` means none of them may be
    /// assumed queued.
    fn enqueue<'a>(&'a self, jobs: &'a [ExpansionJob]) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The storage the API works against.
#[derive(Clone)]
pub struct Stores {
    pub notifications: Arc<dyn NotificationStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub preferences: Arc<dyn PreferenceStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub queue: Arc<dyn DeliveryQueue>,
    /// The expander's queue; without it a request may address at most
    /// `NOTIFY_MAX_RECIPIENTS` users.
    pub expansions: Option<Arc<dyn ExpansionQueue>>,
}
