//! The worker on the memory stores with scripted providers and a clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::memory::{MemoryRateLimiter, MemoryStores};
use crate::model::{Notification, Priority};
use crate::preferences::{OptOuts, Preferences, QuietAction, QuietHours};
use crate::provider::{Accepted, ProviderError};
use crate::store::BoxFuture;
use crate::templates::{Content, Rendered};

/// 2024-06-12 12:00 in New York (EDT).
const NOON_NY_MS: i64 = 1_718_208_000_000;

/// A provider that answers from a script (then accepts), records what it
/// was asked to send, and may take its time.
struct Scripted {
    channel: Channel,
    script: Mutex<VecDeque<Result<Accepted, ProviderError>>>,
    sent: Mutex<Vec<String>>,
    delay: Duration,
}

impl Scripted {
    fn new(channel: Channel) -> Arc<Self> {
        Self::answering(channel, [])
    }

    fn answering(
        channel: Channel,
        script: impl IntoIterator<Item = Result<Accepted, ProviderError>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            channel,
            script: Mutex::new(script.into_iter().collect()),
            sent: Mutex::default(),
            delay: Duration::ZERO,
        })
    }

    fn slow(channel: Channel, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            channel,
            script: Mutex::default(),
            sent: Mutex::default(),
            delay,
        })
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

impl NotificationProvider for Scripted {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        _preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(job.notification_id.clone());
            tokio::time::sleep(self.delay).await;
            self.script.lock().unwrap().pop_front().unwrap_or_else(|| {
                Ok(Accepted {
                    provider_id: Some(format!("p-{}", job.notification_id)),
                })
            })
        })
    }
}

struct Harness {
    memory: MemoryStores,
    clock: Arc<AtomicI64>,
    worker: Worker,
}

fn prefs(user: &str) -> Preferences {
    Preferences {
        user_id: user.into(),
        email: Some(format!("{user}@example.com")),
        phone: Some("+351912345678".into()),
        push: None,
        webhook: None,
        locale: None,
        timezone: None,
        quiet_hours: None,
        opt_out: OptOuts::default(),
        unsubscribed: false,
        updated_at: 0,
    }
}

impl Harness {
    fn new(providers: &[Arc<Scripted>], options: WorkerOptions) -> Self {
        let memory = MemoryStores::new();
        let clock = Arc::new(AtomicI64::new(NOON_NY_MS));
        let mut set = Providers::new();
        for provider in providers {
            set = set.with(provider.clone());
        }
        let time = clock.clone();
        let worker = Worker::new(
            memory.notifications.clone(),
            memory.preferences.clone(),
            memory.queue.clone(),
            Arc::new(MemoryRateLimiter::new()),
            set,
            options,
        )
        .with_clock(Arc::new(move || time.load(Ordering::SeqCst)));
        Self {
            memory,
            clock,
            worker,
        }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    async fn user(&self, preferences: Preferences) {
        use crate::store::PreferenceStore;
        self.memory
            .preferences
            .put_preferences(&preferences)
            .await
            .unwrap();
    }

    /// A stored notification with `channel` queued, and its job's message.
    async fn job(&self, id: &str, channel: Channel, priority: Priority) -> Received {
        use crate::store::NotificationStore;
        let content = match channel {
            Channel::Sms => Content::Sms {
                text: format!("hi {id}"),
                segments: 1,
            },
            Channel::Email => Content::Email {
                subject: "Hi".into(),
                html: None,
                text: Some("Hi".into()),
            },
            Channel::Push => Content::Push {
                title: "Hi".into(),
                body: "there".into(),
            },
            Channel::Webhook => Content::Webhook { body: json!({}) },
        };
        let notification = Notification {
            id: id.into(),
            user_id: "ana".into(),
            template: "t".into(),
            data: json!({}),
            category: Some("orders".into()),
            priority,
            locale: "en".into(),
            idempotency_key: None,
            created_at: self.now(),
            channels: BTreeMap::from([(
                channel,
                ChannelDelivery {
                    status: ChannelStatus::Queued { not_before: None },
                    locale: Some("en".into()),
                    updated_at: self.now(),
                },
            )]),
        };
        self.memory
            .notifications
            .put_notifications(std::slice::from_ref(&notification))
            .await
            .unwrap();
        let job = DeliveryJob {
            notification_id: id.into(),
            user_id: "ana".into(),
            channel,
            priority,
            category: Some("orders".into()),
            not_before: None,
            rendered: Rendered {
                locale: "en".into(),
                content,
            },
            attempt: 0,
            enqueued_at: self.now(),
        };
        Received {
            message_id: format!("m-{id}"),
            body: serde_json::to_string(&job).unwrap(),
            receive_count: 1,
        }
    }

    async fn status(&self, id: &str, channel: Channel) -> ChannelStatus {
        use crate::store::NotificationStore;
        self.memory
            .notifications
            .get_notification(id)
            .await
            .unwrap()
            .unwrap()
            .channels[&channel]
            .status
            .clone()
    }

    async fn one(&self, message: &Received) -> (Outcome, bool) {
        let report = self.worker.process_batch(vec![message.clone()]).await;
        let (_, outcome) = report.outcomes[0].clone();
        (outcome, report.failures == [message.message_id.clone()])
    }
}

fn again(message: &Received) -> Received {
    Received {
        receive_count: message.receive_count + 1,
        ..message.clone()
    }
}

#[tokio::test]
async fn a_job_is_sent_once_and_a_redelivery_is_dropped() {
    let sms = Scripted::new(Channel::Sms);
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let (outcome, failed) = h.one(&message).await;
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_id: Some("p-ntf_1".into())
        }
    );
    assert!(!failed);
    assert_eq!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::Sent {
            provider_id: Some("p-ntf_1".into())
        }
    );
    // SQS delivers it again (the delete was lost): nothing is sent.
    let (outcome, failed) = h.one(&again(&message)).await;
    assert_eq!(outcome, Outcome::AlreadyDone { status: "sent" });
    assert!(!failed);
    assert_eq!(sms.sent(), ["ntf_1"]);
}

#[tokio::test]
async fn two_workers_with_the_same_job_send_it_once() {
    let sms = Scripted::slow(Channel::Sms, Duration::from_millis(100));
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let (a, b) = tokio::join!(
        h.worker.process_batch(vec![message.clone()]),
        h.worker.process_batch(vec![message.clone()])
    );
    let mut outcomes: Vec<&str> = [&a, &b].iter().map(|r| r.outcomes[0].1.name()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["busy", "sent"]);
    assert_eq!(sms.sent().len(), 1);
    // The busy one came back to the queue and, later, finds it sent.
    let (outcome, _) = h.one(&again(&message)).await;
    assert_eq!(outcome, Outcome::AlreadyDone { status: "sent" });
    assert_eq!(sms.sent().len(), 1);
}

#[tokio::test]
async fn a_later_unsubscribe_or_opt_out_wins() {
    let sms = Scripted::new(Channel::Sms);
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    let mut unsubscribed = prefs("ana");
    unsubscribed.unsubscribed = true;
    h.user(unsubscribed).await;
    let message = h.job("ntf_1", Channel::Sms, Priority::Critical).await;
    let (outcome, failed) = h.one(&message).await;
    assert_eq!(
        outcome,
        Outcome::Suppressed(SuppressionReason::Unsubscribed)
    );
    assert!(!failed);
    assert_eq!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::Suppressed {
            reason: SuppressionReason::Unsubscribed
        }
    );

    let mut opted_out = prefs("ana");
    opted_out.opt_out.categories.insert("orders".into());
    h.user(opted_out).await;
    let message = h.job("ntf_2", Channel::Sms, Priority::Bulk).await;
    assert_eq!(
        h.one(&message).await.0,
        Outcome::Suppressed(SuppressionReason::OptedOut)
    );
    // A removed phone number.
    let mut no_phone = prefs("ana");
    no_phone.phone = None;
    h.user(no_phone).await;
    let message = h.job("ntf_3", Channel::Sms, Priority::Transactional).await;
    assert_eq!(
        h.one(&message).await.0,
        Outcome::Suppressed(SuppressionReason::NoContact)
    );
    assert!(sms.sent().is_empty());
}

#[tokio::test]
async fn quiet_hours_that_began_meanwhile_put_the_job_back() {
    let sms = Scripted::new(Channel::Sms);
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    let mut quiet = prefs("ana");
    quiet.timezone = Some("America/New_York".into());
    quiet.quiet_hours = Some(QuietHours {
        start: "11:00".to_string().try_into().unwrap(),
        end: "13:00".to_string().try_into().unwrap(),
        action: QuietAction::Delay,
    });
    h.user(quiet).await;
    let message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let one_pm = NOON_NY_MS + 3_600_000;
    let (outcome, failed) = h.one(&message).await;
    assert_eq!(
        outcome,
        Outcome::Requeued {
            not_before: Some(one_pm)
        }
    );
    assert!(!failed);
    assert_eq!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::Queued {
            not_before: Some(one_pm)
        }
    );
    assert!(
        h.memory
            .queue
            .take_ready(Channel::Sms, NOON_NY_MS)
            .is_none()
    );
    let requeued = h.memory.queue.take_ready(Channel::Sms, one_pm).unwrap();
    assert_eq!(requeued.not_before, Some(one_pm));
    // At 13:00 the requeued job goes out.
    h.clock.store(one_pm, Ordering::SeqCst);
    let message = Received {
        message_id: "m-again".into(),
        body: serde_json::to_string(&requeued).unwrap(),
        receive_count: 1,
    };
    assert!(matches!(h.one(&message).await.0, Outcome::Sent { .. }));
    assert_eq!(sms.sent(), ["ntf_1"]);
}

#[tokio::test]
async fn a_job_not_yet_due_goes_back_unsent() {
    let sms = Scripted::new(Channel::Sms);
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let mut message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let mut job: DeliveryJob = serde_json::from_str(&message.body).unwrap();
    job.not_before = Some(NOON_NY_MS + 5_000);
    message.body = serde_json::to_string(&job).unwrap();
    let (outcome, failed) = h.one(&message).await;
    assert_eq!(
        outcome,
        Outcome::Requeued {
            not_before: Some(NOON_NY_MS + 5_000)
        }
    );
    assert!(!failed);
    assert!(sms.sent().is_empty());
    assert_eq!(h.memory.queue.len(), 1);
}

#[tokio::test]
async fn transient_failures_retry_then_dead_letter_on_the_last_receive() {
    let transient = || Err(ProviderError::Transient("HTTP 503".into()));
    let sms = Scripted::answering(Channel::Sms, [transient(), transient(), transient()]);
    let options = WorkerOptions {
        max_receive_count: 3,
        ..WorkerOptions::default()
    };
    let h = Harness::new(std::slice::from_ref(&sms), options);
    h.user(prefs("ana")).await;
    let first = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let (outcome, failed) = h.one(&first).await;
    assert_eq!(
        outcome,
        Outcome::Retrying {
            attempt: 1,
            reason: "HTTP 503".into()
        }
    );
    assert!(failed, "reported so that SQS delivers it again");
    let after = crate::model::now_ms();
    match h.status("ntf_1", Channel::Sms).await {
        ChannelStatus::Retrying {
            attempts: 1,
            reason,
            next_attempt_at: Some(at),
        } => {
            assert_eq!(reason, "HTTP 503");
            // Hidden for the first backoff, 2 s, from the failed attempt.
            assert!(
                (after + 2_000 - 1_000..=after + 2_000).contains(&at),
                "next attempt at {at}, now {after}"
            );
        }
        other => panic!("not retrying with a next attempt: {other:?}"),
    }
    let second = again(&first);
    assert!(matches!(
        h.one(&second).await,
        (Outcome::Retrying { attempt: 2, .. }, true)
    ));
    let third = again(&second);
    let (outcome, failed) = h.one(&third).await;
    assert_eq!(
        outcome,
        Outcome::DeadLettered {
            attempt: 3,
            reason: "HTTP 503".into()
        }
    );
    assert!(failed, "reported so that the redrive policy moves it");
    assert_eq!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::DeadLettered {
            attempts: 3,
            reason: "HTTP 503".into()
        }
    );
    assert_eq!(sms.sent().len(), 3);
}

#[tokio::test]
async fn a_retry_that_succeeds_is_sent() {
    let sms = Scripted::answering(
        Channel::Sms,
        [Err(ProviderError::Transient("timed out".into()))],
    );
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let first = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    assert!(h.one(&first).await.1);
    assert!(matches!(
        h.one(&again(&first)).await,
        (Outcome::Sent { .. }, false)
    ));
    assert!(matches!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::Sent { .. }
    ));
}

#[tokio::test]
async fn a_permanent_failure_is_final() {
    let sms = Scripted::answering(
        Channel::Sms,
        [Err(ProviderError::Permanent("invalid number".into()))],
    );
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    assert_eq!(
        h.one(&message).await,
        (
            Outcome::Failed {
                reason: "invalid number".into()
            },
            false
        )
    );
    assert_eq!(
        h.status("ntf_1", Channel::Sms).await,
        ChannelStatus::Failed {
            reason: "invalid number".into()
        }
    );
    assert_eq!(
        h.one(&again(&message)).await.0,
        Outcome::AlreadyDone { status: "failed" }
    );
}

#[tokio::test]
async fn over_the_rate_cap_jobs_go_back_without_an_attempt_critical_first() {
    let sms = Scripted::new(Channel::Sms);
    let options = WorkerOptions {
        rate_per_second: BTreeMap::from([(Channel::Sms, 2)]),
        concurrency: 1,
        ..WorkerOptions::default()
    };
    let h = Harness::new(std::slice::from_ref(&sms), options);
    h.user(prefs("ana")).await;
    let mut batch = Vec::new();
    for (id, priority) in [
        ("ntf_bulk1", Priority::Bulk),
        ("ntf_tx1", Priority::Transactional),
        ("ntf_bulk2", Priority::Bulk),
        ("ntf_crit", Priority::Critical),
        ("ntf_tx2", Priority::Transactional),
    ] {
        batch.push(h.job(id, Channel::Sms, priority).await);
    }
    let report = h.worker.process_batch(batch.clone()).await;
    assert_eq!(sms.sent(), ["ntf_crit", "ntf_tx1"]);
    assert_eq!(report.count("rate_limited"), 3);
    assert_eq!(report.failures, ["m-ntf_tx2", "m-ntf_bulk1", "m-ntf_bulk2"]);
    // No attempt was counted: they are still queued.
    assert_eq!(
        h.status("ntf_bulk1", Channel::Sms).await,
        ChannelStatus::Queued { not_before: None }
    );
    // The next second has room for two more, but bulk may use only one of
    // the two (the other is kept for transactional and critical).
    h.clock.fetch_add(1_000, Ordering::SeqCst);
    let back: Vec<Received> = batch
        .iter()
        .filter(|m| report.failures.contains(&m.message_id))
        .map(again)
        .collect();
    let report = h.worker.process_batch(back).await;
    assert_eq!(report.count("sent"), 1);
    assert_eq!(sms.sent()[2..], ["ntf_tx2"]);
    assert!(matches!(
        h.status("ntf_tx2", Channel::Sms).await,
        ChannelStatus::Sent { .. }
    ));
}

#[tokio::test]
async fn a_bulk_backlog_leaves_part_of_the_cap_to_transactional_messages() {
    assert_eq!(
        [1, 2, 5, 9, 10, 14, 100].map(|cap| crate::worker::share_of_cap(cap, Priority::Bulk)),
        [1, 1, 4, 8, 8, 12, 80]
    );
    assert_eq!(crate::worker::share_of_cap(14, Priority::Transactional), 14);
    let sms = Scripted::new(Channel::Sms);
    let options = WorkerOptions {
        rate_per_second: BTreeMap::from([(Channel::Sms, 5)]),
        concurrency: 1,
        ..WorkerOptions::default()
    };
    let h = Harness::new(std::slice::from_ref(&sms), options);
    h.user(prefs("ana")).await;
    // A worker on the bulk queue drains ten bulk jobs first ...
    let mut bulk = Vec::new();
    for i in 0..10 {
        bulk.push(
            h.job(&format!("ntf_bulk{i}"), Channel::Sms, Priority::Bulk)
                .await,
        );
    }
    let report = h.worker.process_batch(bulk).await;
    assert_eq!(report.count("sent"), 4);
    assert_eq!(report.count("rate_limited"), 6);
    // ... and in the same second another worker's transactional job still
    // gets the send bulk left, while a further bulk job does not.
    let tx = h.job("ntf_tx", Channel::Sms, Priority::Transactional).await;
    let late_bulk = h.job("ntf_bulk_late", Channel::Sms, Priority::Bulk).await;
    let report = h.worker.process_batch(vec![late_bulk]).await;
    assert_eq!(report.count("rate_limited"), 1);
    let report = h.worker.process_batch(vec![tx]).await;
    assert_eq!(report.count("sent"), 1);
    assert_eq!(sms.sent().last().map(String::as_str), Some("ntf_tx"));
}

#[tokio::test]
async fn rate_limited_on_the_last_receive_is_put_back_as_a_new_message() {
    let sms = Scripted::new(Channel::Sms);
    let options = WorkerOptions {
        rate_per_second: BTreeMap::from([(Channel::Sms, 1)]),
        max_receive_count: 2,
        ..WorkerOptions::default()
    };
    let h = Harness::new(std::slice::from_ref(&sms), options);
    h.user(prefs("ana")).await;
    let first = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    let second = h.job("ntf_2", Channel::Sms, Priority::Transactional).await;
    assert!(matches!(h.one(&first).await.0, Outcome::Sent { .. }));
    let (outcome, failed) = h.one(&again(&second)).await;
    assert_eq!(
        outcome,
        Outcome::Requeued {
            not_before: Some(NOON_NY_MS + 1_000)
        }
    );
    assert!(!failed);
    assert_eq!(h.memory.queue.len(), 1);
}

#[tokio::test]
async fn malformed_bodies_fail_and_unknown_notifications_are_dropped() {
    let sms = Scripted::new(Channel::Sms);
    let h = Harness::new(std::slice::from_ref(&sms), WorkerOptions::default());
    h.user(prefs("ana")).await;
    let bad = Received {
        message_id: "m-bad".into(),
        body: "{\"nope\": 1}".into(),
        receive_count: 1,
    };
    let (outcome, failed) = h.one(&bad).await;
    assert!(matches!(outcome, Outcome::Malformed(_)));
    assert!(failed);
    let mut message = h.job("ntf_1", Channel::Sms, Priority::Transactional).await;
    message.body = message.body.replace("ntf_1", "ntf_gone");
    assert_eq!(h.one(&message).await, (Outcome::Unknown, false));
    assert!(sms.sent().is_empty());
}

#[tokio::test]
async fn a_channel_without_a_provider_fails_with_the_reason() {
    let h = Harness::new(&[], WorkerOptions::default());
    h.user(prefs("ana")).await;
    let message = h
        .job("ntf_1", Channel::Email, Priority::Transactional)
        .await;
    let (outcome, failed) = h.one(&message).await;
    assert!(!failed);
    let reason = "no email provider is configured for this deployment".to_string();
    assert_eq!(
        outcome,
        Outcome::Failed {
            reason: reason.clone()
        }
    );
    assert_eq!(
        h.status("ntf_1", Channel::Email).await,
        ChannelStatus::Failed { reason }
    );
}

#[test]
fn retries_back_off_exponentially_and_hopeless_jobs_come_back_at_once() {
    use crate::worker::backoff_seconds;
    assert_eq!(
        [1, 2, 3, 4, 8, 9, 100].map(backoff_seconds),
        [2, 4, 8, 16, 256, 300, 300]
    );
    let retrying = |attempt| Outcome::Retrying {
        attempt,
        reason: "503".into(),
    };
    assert_eq!(retrying(3).retry_after_seconds(), Some(8));
    assert_eq!(Outcome::RateLimited.retry_after_seconds(), Some(1));
    assert_eq!(
        Outcome::Malformed("x".into()).retry_after_seconds(),
        Some(0)
    );
    assert_eq!(
        Outcome::DeadLettered {
            attempt: 5,
            reason: "503".into()
        }
        .retry_after_seconds(),
        Some(0)
    );
    // Another worker's claim: the queue's own timeout (beyond its lease).
    assert_eq!(Outcome::Busy.retry_after_seconds(), None);
    let report = crate::worker::BatchReport {
        outcomes: vec![
            ("a".into(), retrying(1)),
            ("b".into(), Outcome::Sent { provider_id: None }),
            ("c".into(), Outcome::Busy),
        ],
        failures: vec!["a".into(), "c".into()],
    };
    assert_eq!(report.retry_after(), [("a".to_string(), 2)]);
}
