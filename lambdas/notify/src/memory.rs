//! In-process implementations of the [`crate::store`] traits: for tests,
//! and for a single-process server. Nothing survives a restart.
//!
//! [`MemoryQueue`] keeps one queue per channel and hands out jobs as the
//! workers should take them: ready ones only (`not_before` passed),
//! critical before transactional before bulk, oldest first within a
//! priority.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::idempotency::IdempotencyRecord;
use crate::model::{Channel, ChannelDelivery, ChannelStatus, Notification};
use crate::preferences::Preferences;
use crate::store::{
    BoxFuture, Claim, DeliveryClaim, DeliveryJob, DeliveryQueue, ExpansionJob, ExpansionQueue,
    IdempotencyStore, NotificationStore, PreferenceStore, RateLimiter, StoreError, Stores,
    TemplateStore,
};
use crate::templates::Template;

/// A poisoned lock only means another thread panicked mid-update of a
/// plain map; the map itself is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A channel's worker bookkeeping: attempts so far and the lease of a
/// `sending` claim.
#[derive(Debug, Default, Clone, Copy)]
struct Attempts {
    count: u32,
    claimed_until: Option<i64>,
}

#[derive(Debug, Default)]
struct NotificationMaps {
    notifications: HashMap<String, Notification>,
    attempts: HashMap<(String, Channel), Attempts>,
}

#[derive(Debug, Default)]
pub struct MemoryNotifications(Mutex<NotificationMaps>);

impl MemoryNotifications {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        lock(&self.0).notifications.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored notification, oldest id first.
    pub fn all(&self) -> Vec<Notification> {
        let mut all: Vec<Notification> = lock(&self.0).notifications.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }
}

impl NotificationStore for MemoryNotifications {
    fn put_notifications<'a>(
        &'a self,
        notifications: &'a [Notification],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut maps = lock(&self.0);
            for n in notifications {
                maps.notifications.insert(n.id.clone(), n.clone());
            }
            Ok(())
        })
    }

    fn get_notification<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Notification>, StoreError>> {
        Box::pin(async move { Ok(lock(&self.0).notifications.get(id).cloned()) })
    }

    fn set_channel_status<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut maps = lock(&self.0);
            let Some(slot) = maps
                .notifications
                .get_mut(id)
                .and_then(|n| n.channels.get_mut(&channel))
            else {
                return Ok(false);
            };
            *slot = delivery;
            Ok(true)
        })
    }

    fn create_notification<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut maps = lock(&self.0);
            if maps.notifications.contains_key(&notification.id) {
                return Ok(false);
            }
            maps.notifications
                .insert(notification.id.clone(), notification.clone());
            Ok(true)
        })
    }

    fn claim_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<DeliveryClaim, StoreError>> {
        Box::pin(async move {
            let mut guard = lock(&self.0);
            let maps = &mut *guard;
            let Some(slot) = maps
                .notifications
                .get_mut(id)
                .and_then(|n| n.channels.get_mut(&channel))
            else {
                return Ok(DeliveryClaim::Unknown);
            };
            let attempts = maps.attempts.entry((id.to_owned(), channel)).or_default();
            if let Some(refused) =
                DeliveryClaim::decide(&slot.status, attempts.claimed_until, now_ms)
            {
                return Ok(refused);
            }
            attempts.count += 1;
            attempts.claimed_until = Some(now_ms.saturating_add(lease_ms));
            slot.status = ChannelStatus::Sending {
                attempts: attempts.count,
            };
            slot.updated_at = now_ms;
            Ok(DeliveryClaim::Claimed {
                attempt: attempts.count,
            })
        })
    }

    fn finish_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        claim: Option<u32>,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut guard = lock(&self.0);
            let maps = &mut *guard;
            let Some(slot) = maps
                .notifications
                .get_mut(id)
                .and_then(|n| n.channels.get_mut(&channel))
            else {
                return Ok(false);
            };
            let attempts = maps.attempts.entry((id.to_owned(), channel)).or_default();
            let holds = match claim {
                Some(attempt) => {
                    matches!(slot.status, ChannelStatus::Sending { .. })
                        && attempts.count == attempt
                }
                None => matches!(
                    slot.status,
                    ChannelStatus::Queued { .. } | ChannelStatus::Retrying { .. }
                ),
            };
            if !holds {
                return Ok(false);
            }
            attempts.claimed_until = None;
            *slot = delivery;
            Ok(true)
        })
    }
}

/// Sends per channel and second, for one process.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter(Mutex<HashMap<Channel, (i64, u32)>>);

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn try_acquire<'a>(
        &'a self,
        channel: Channel,
        per_second: u32,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let second = now_ms.div_euclid(1000);
            let mut windows = lock(&self.0);
            let window = windows.entry(channel).or_insert((second, 0));
            if window.0 != second {
                *window = (second, 0);
            }
            if window.1 >= per_second {
                return Ok(false);
            }
            window.1 += 1;
            Ok(true)
        })
    }
}

#[derive(Debug, Default)]
pub struct MemoryTemplates(Mutex<HashMap<String, Template>>);

impl MemoryTemplates {
    pub fn new() -> Self {
        Self::default()
    }
}

impl TemplateStore for MemoryTemplates {
    fn put_template<'a>(&'a self, template: &'a Template) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            lock(&self.0).insert(template.name.clone(), template.clone());
            Ok(())
        })
    }

    fn get_template<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Template>, StoreError>> {
        Box::pin(async move { Ok(lock(&self.0).get(name).cloned()) })
    }
}

#[derive(Debug, Default)]
pub struct MemoryPreferences(Mutex<HashMap<String, Preferences>>);

impl MemoryPreferences {
    pub fn new() -> Self {
        Self::default()
    }
}

impl PreferenceStore for MemoryPreferences {
    fn put_preferences<'a>(
        &'a self,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            lock(&self.0).insert(preferences.user_id.clone(), preferences.clone());
            Ok(())
        })
    }

    fn get_preferences<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Preferences>, StoreError>> {
        Box::pin(async move { Ok(lock(&self.0).get(user_id).cloned()) })
    }
}

#[derive(Debug, Default)]
pub struct MemoryIdempotency(Mutex<HashMap<String, IdempotencyRecord>>);

impl MemoryIdempotency {
    pub fn new() -> Self {
        Self::default()
    }
}

impl IdempotencyStore for MemoryIdempotency {
    fn claim<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let mut map = lock(&self.0);
            if let Some(existing) = map.get(&record.key).filter(|r| r.is_live(now_ms)) {
                return Ok(Claim::Held(existing.clone()));
            }
            map.insert(record.key.clone(), record.clone());
            Ok(Claim::Claimed)
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            lock(&self.0).remove(key);
            Ok(())
        })
    }
}

/// One channel's jobs keyed by (priority rank, enqueue sequence), which is
/// the order workers take them in.
type ChannelQueue = BTreeMap<(u8, u64), DeliveryJob>;

/// Per-channel queues; see the module docs for the order jobs come out in.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    queues: Mutex<BTreeMap<Channel, ChannelQueue>>,
    sequence: Mutex<u64>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every queued job of `channel`, in the order [`MemoryQueue::take_ready`]
    /// would consider them.
    pub fn jobs(&self, channel: Channel) -> Vec<DeliveryJob> {
        lock(&self.queues)
            .get(&channel)
            .map(|q| q.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        lock(&self.queues).values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns the job a worker of `channel` should send next
    /// at `now_ms`: the highest priority, then the oldest, among those
    /// whose `not_before` has passed.
    pub fn take_ready(&self, channel: Channel, now_ms: i64) -> Option<DeliveryJob> {
        let mut queues = lock(&self.queues);
        let queue = queues.get_mut(&channel)?;
        let key = *queue
            .iter()
            .find(|(_, job)| job.not_before.is_none_or(|t| t <= now_ms))?
            .0;
        queue.remove(&key)
    }
}

impl DeliveryQueue for MemoryQueue {
    fn enqueue<'a>(&'a self, jobs: &'a [DeliveryJob]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut queues = lock(&self.queues);
            let mut sequence = lock(&self.sequence);
            for job in jobs {
                *sequence += 1;
                queues
                    .entry(job.channel)
                    .or_default()
                    .insert((job.priority.rank(), *sequence), job.clone());
            }
            Ok(())
        })
    }
}

/// The expander's queue, in order.
#[derive(Debug, Default)]
pub struct MemoryExpansionQueue(Mutex<std::collections::VecDeque<ExpansionJob>>);

impl MemoryExpansionQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn take(&self) -> Option<ExpansionJob> {
        lock(&self.0).pop_front()
    }

    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ExpansionQueue for MemoryExpansionQueue {
    fn enqueue<'a>(&'a self, jobs: &'a [ExpansionJob]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            lock(&self.0).extend(jobs.iter().cloned());
            Ok(())
        })
    }
}

/// One of each memory store, kept by type for inspection in tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStores {
    pub notifications: Arc<MemoryNotifications>,
    pub templates: Arc<MemoryTemplates>,
    pub preferences: Arc<MemoryPreferences>,
    pub idempotency: Arc<MemoryIdempotency>,
    pub queue: Arc<MemoryQueue>,
    pub expansions: Arc<MemoryExpansionQueue>,
}

impl MemoryStores {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stores(&self) -> Stores {
        Stores {
            notifications: self.notifications.clone(),
            templates: self.templates.clone(),
            preferences: self.preferences.clone(),
            idempotency: self.idempotency.clone(),
            queue: self.queue.clone(),
            expansions: Some(self.expansions.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Priority;
    use crate::templates::{Content, Rendered};
    use serde_json::json;

    fn job(id: &str, priority: Priority, not_before: Option<i64>) -> DeliveryJob {
        DeliveryJob {
            notification_id: id.into(),
            user_id: "u1".into(),
            channel: Channel::Sms,
            priority,
            category: None,
            not_before,
            rendered: Rendered {
                locale: "en".into(),
                content: Content::Sms {
                    text: id.into(),
                    segments: 1,
                },
            },
            attempt: 0,
            enqueued_at: 0,
        }
    }

    #[tokio::test]
    async fn workers_take_ready_jobs_by_priority_then_age() {
        let queue = MemoryQueue::new();
        queue
            .enqueue(&[
                job("bulk-1", Priority::Bulk, None),
                job("tx-1", Priority::Transactional, None),
                job("bulk-2", Priority::Bulk, None),
                job("tx-later", Priority::Transactional, Some(100)),
                job("critical", Priority::Critical, None),
                job("tx-2", Priority::Transactional, None),
            ])
            .await
            .unwrap();
        assert_eq!(queue.len(), 6);
        assert!(queue.take_ready(Channel::Email, 0).is_none());
        let order: Vec<String> = std::iter::from_fn(|| queue.take_ready(Channel::Sms, 50))
            .map(|j| j.notification_id)
            .collect();
        assert_eq!(order, ["critical", "tx-1", "tx-2", "bulk-1", "bulk-2"]);
        // The delayed job waits for its time.
        assert_eq!(queue.len(), 1);
        assert_eq!(
            queue.take_ready(Channel::Sms, 100).unwrap().notification_id,
            "tx-later"
        );
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_live_claim_holds_its_key_until_it_expires_or_is_released() {
        let store = MemoryIdempotency::new();
        let record = |hash: &str| IdempotencyRecord {
            key: "k1".into(),
            body_hash: hash.into(),
            response: json!({"id": hash}),
            created_at: 0,
            expires_at: 1_000,
        };
        assert_eq!(store.claim(&record("a"), 0).await.unwrap(), Claim::Claimed);
        assert_eq!(
            store.claim(&record("b"), 999).await.unwrap(),
            Claim::Held(record("a"))
        );
        // Expired: the key is free again.
        assert_eq!(
            store.claim(&record("c"), 1_000).await.unwrap(),
            Claim::Claimed
        );
        store.release("k1").await.unwrap();
        assert_eq!(store.claim(&record("d"), 0).await.unwrap(), Claim::Claimed);
    }

    #[tokio::test]
    async fn channel_statuses_are_updated_in_place() {
        let store = MemoryNotifications::new();
        let queued = ChannelDelivery {
            status: ChannelStatus::Queued { not_before: None },
            locale: Some("en".into()),
            updated_at: 1,
        };
        let n = Notification {
            id: "ntf_1".into(),
            user_id: "u1".into(),
            template: "t".into(),
            data: json!({}),
            category: None,
            priority: Priority::Bulk,
            locale: "en".into(),
            idempotency_key: None,
            created_at: 1,
            channels: [(Channel::Email, queued)].into(),
        };
        store
            .put_notifications(std::slice::from_ref(&n))
            .await
            .unwrap();
        let sent = ChannelDelivery {
            status: ChannelStatus::Sent {
                provider_id: Some("ses-1".into()),
            },
            locale: Some("en".into()),
            updated_at: 2,
        };
        assert!(
            store
                .set_channel_status("ntf_1", Channel::Email, sent.clone())
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_channel_status("ntf_1", Channel::Sms, sent.clone())
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_channel_status("ntf_2", Channel::Email, sent.clone())
                .await
                .unwrap()
        );
        let stored = store.get_notification("ntf_1").await.unwrap().unwrap();
        assert_eq!(stored.channels[&Channel::Email], sent);
        assert_eq!(store.get_notification("nope").await.unwrap(), None);
    }
}
