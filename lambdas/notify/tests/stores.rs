//! The storage contract, checked the same way on the in-memory stores and
//! on the DynamoDB stores against the emulator (tables created here).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use archform_testkit::test_endpoint;
use notify::dynamo::{
    DynamoIdempotency, DynamoNotifications, DynamoPreferences, DynamoRateLimiter, DynamoTemplates,
};
use notify::idempotency::IdempotencyRecord;
use notify::memory::{
    MemoryIdempotency, MemoryNotifications, MemoryPreferences, MemoryRateLimiter, MemoryTemplates,
};
use notify::model::{
    Channel, ChannelDelivery, ChannelStatus, Notification, Priority, SuppressionReason,
};
use notify::preferences::{Preferences, PreferencesSpec};
use notify::store::{
    Claim, DeliveryClaim, IdempotencyStore, NotificationStore, PreferenceStore, RateLimiter,
    TemplateStore,
};
use notify::templates::{Template, TemplateSpec};
use serde_json::json;
use support::tables::{self, TableNames};

struct Under {
    notifications: Arc<dyn NotificationStore>,
    templates: Arc<dyn TemplateStore>,
    preferences: Arc<dyn PreferenceStore>,
    idempotency: Arc<dyn IdempotencyStore>,
    rate: Arc<dyn RateLimiter>,
}

fn memory() -> Under {
    Under {
        notifications: Arc::new(MemoryNotifications::new()),
        templates: Arc::new(MemoryTemplates::new()),
        preferences: Arc::new(MemoryPreferences::new()),
        idempotency: Arc::new(MemoryIdempotency::new()),
        rate: Arc::new(MemoryRateLimiter::new()),
    }
}

async fn dynamo(prefix: &str) -> Under {
    let sdk = archform_testkit::sdk_config(&test_endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let names = TableNames::new(prefix);
    tables::create(&client, &names).await;
    Under {
        notifications: Arc::new(DynamoNotifications::new(
            client.clone(),
            &names.notifications,
        )),
        templates: Arc::new(DynamoTemplates::new(client.clone(), &names.templates)),
        preferences: Arc::new(DynamoPreferences::new(client.clone(), &names.preferences)),
        idempotency: Arc::new(DynamoIdempotency::new(client.clone(), &names.idempotency)),
        rate: Arc::new(DynamoRateLimiter::new(client, &names.rate_limits)),
    }
}

fn delivery(status: ChannelStatus, at: i64) -> ChannelDelivery {
    ChannelDelivery {
        status,
        locale: Some("pt-BR".into()),
        updated_at: at,
    }
}

fn queued() -> ChannelStatus {
    ChannelStatus::Queued { not_before: None }
}

fn notification(id: &str) -> Notification {
    Notification {
        id: id.into(),
        user_id: "ana".into(),
        template: "order-shipped".into(),
        data: json!({"name": "Ana", "order": "A-17", "nested": {"n": [1, 2]}}),
        category: Some("orders".into()),
        priority: Priority::Critical,
        locale: "pt-BR".into(),
        idempotency_key: Some("k-1".into()),
        created_at: 1_000,
        channels: BTreeMap::from([
            (Channel::Email, delivery(queued(), 1_000)),
            (
                Channel::Sms,
                delivery(
                    ChannelStatus::Suppressed {
                        reason: SuppressionReason::OptedOut,
                    },
                    1_000,
                ),
            ),
            (
                Channel::Push,
                delivery(
                    ChannelStatus::Queued {
                        not_before: Some(5_000),
                    },
                    1_000,
                ),
            ),
        ]),
    }
}

async fn status(store: &dyn NotificationStore, id: &str, channel: Channel) -> ChannelStatus {
    store.get_notification(id).await.unwrap().unwrap().channels[&channel]
        .status
        .clone()
}

async fn notifications_contract(under: &Under) {
    let store = under.notifications.as_ref();
    let n = notification("ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TX");
    store
        .put_notifications(std::slice::from_ref(&n))
        .await
        .unwrap();
    assert_eq!(
        store.get_notification(&n.id).await.unwrap(),
        Some(n.clone())
    );
    assert_eq!(store.get_notification("ntf_nope").await.unwrap(), None);

    // A plain status change, and what it refuses.
    let failed = delivery(
        ChannelStatus::Failed {
            reason: "the delivery queue was unavailable".into(),
        },
        2_000,
    );
    assert!(
        store
            .set_channel_status(&n.id, Channel::Push, failed.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_channel_status(&n.id, Channel::Webhook, failed.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_channel_status("ntf_nope", Channel::Email, failed.clone())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_notification(&n.id)
            .await
            .unwrap()
            .unwrap()
            .channels[&Channel::Push],
        failed
    );

    // Claims: one sender at a time; a finished channel is never claimed again.
    let id = n.id.as_str();
    assert_eq!(
        store
            .claim_delivery(id, Channel::Email, 10_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Claimed { attempt: 1 }
    );
    assert_eq!(
        status(store, id, Channel::Email).await,
        ChannelStatus::Sending { attempts: 1 }
    );
    assert_eq!(
        store
            .claim_delivery(id, Channel::Email, 10_001, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Busy { until_ms: 40_000 }
    );
    let retrying = ChannelStatus::Retrying {
        attempts: 1,
        reason: "HTTP 503".into(),
        next_attempt_at: None,
    };
    assert!(
        store
            .finish_delivery(
                id,
                Channel::Email,
                Some(1),
                delivery(retrying.clone(), 10_100)
            )
            .await
            .unwrap()
    );
    assert_eq!(status(store, id, Channel::Email).await, retrying);
    // The retry claims attempt 2; its worker dies; after the lease the
    // next delivery takes over as attempt 3, and the dead one's late
    // report is refused.
    assert_eq!(
        store
            .claim_delivery(id, Channel::Email, 20_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Claimed { attempt: 2 }
    );
    assert_eq!(
        store
            .claim_delivery(id, Channel::Email, 50_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Claimed { attempt: 3 }
    );
    let sent = ChannelStatus::Sent {
        provider_id: Some("msg-1".into()),
    };
    assert!(
        !store
            .finish_delivery(id, Channel::Email, Some(2), delivery(sent.clone(), 50_001))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_delivery(id, Channel::Email, Some(3), delivery(sent.clone(), 50_002))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_notification(id).await.unwrap().unwrap().channels[&Channel::Email],
        delivery(sent.clone(), 50_002)
    );
    // A redelivered job finds it sent.
    assert_eq!(
        store
            .claim_delivery(id, Channel::Email, 60_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Done(sent.clone())
    );
    assert!(
        !store
            .finish_delivery(
                id,
                Channel::Email,
                Some(3),
                delivery(retrying.clone(), 60_001)
            )
            .await
            .unwrap()
    );
    // Suppressed and failed channels are done too; unknown ones unknown.
    assert!(matches!(
        store
            .claim_delivery(id, Channel::Sms, 60_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Done(ChannelStatus::Suppressed { .. })
    ));
    assert_eq!(
        store
            .claim_delivery(id, Channel::Webhook, 60_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Unknown
    );
    assert_eq!(
        store
            .claim_delivery("ntf_nope", Channel::Email, 60_000, 30_000)
            .await
            .unwrap(),
        DeliveryClaim::Unknown
    );

    // Decisions without a claim apply to waiting channels only.
    let other = notification("ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TY");
    assert!(store.create_notification(&other).await.unwrap());
    let suppressed = delivery(
        ChannelStatus::Suppressed {
            reason: SuppressionReason::Unsubscribed,
        },
        70_000,
    );
    assert!(
        store
            .finish_delivery(&other.id, Channel::Email, None, suppressed.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_delivery(&other.id, Channel::Email, None, delivery(queued(), 70_001))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_notification(&other.id)
            .await
            .unwrap()
            .unwrap()
            .channels[&Channel::Email],
        suppressed
    );
    // Creating it again changes nothing.
    assert!(!store.create_notification(&other).await.unwrap());
    assert_eq!(
        status(store, &other.id, Channel::Email).await,
        suppressed.status
    );
    assert_eq!(
        store
            .get_notification(&other.id)
            .await
            .unwrap()
            .unwrap()
            .data,
        other.data
    );
}

async fn documents_contract(under: &Under) {
    let spec: TemplateSpec = serde_json::from_value(json!({
        "default_locale": "en",
        "category": "orders",
        "locales": {"en": {"sms": {"text": "Hi {{name}}"}}, "pt": {"sms": {"text": "Olá {{name}}"}}}
    }))
    .unwrap();
    let template = Template::from_spec("order-shipped", spec, 5).unwrap();
    assert_eq!(
        under.templates.get_template("order-shipped").await.unwrap(),
        None
    );
    under.templates.put_template(&template).await.unwrap();
    assert_eq!(
        under.templates.get_template("order-shipped").await.unwrap(),
        Some(template)
    );

    let spec: PreferencesSpec = serde_json::from_value(json!({
        "email": "ana@example.com", "phone": "+351912345678", "locale": "pt-BR",
        "timezone": "Europe/Lisbon", "quiet_hours": {"start": "22:00", "end": "07:00"},
        "opt_out": {"categories": ["marketing"]}
    }))
    .unwrap();
    let categories = ["marketing".to_string(), "orders".to_string()].into();
    let prefs = Preferences::from_spec(
        "ana",
        spec,
        None,
        &categories,
        notify::validate::UrlPolicy::HttpsOnly,
        9,
    )
    .unwrap();
    under.preferences.put_preferences(&prefs).await.unwrap();
    assert_eq!(
        under.preferences.get_preferences("ana").await.unwrap(),
        Some(prefs.clone())
    );
    assert_eq!(
        under.preferences.get_preferences("bob").await.unwrap(),
        None
    );
    // Many at once: the ones that exist, each once; more than one
    // BatchGetItem's 100 keys.
    let mut users: Vec<String> = (0..150).map(|i| format!("nobody-{i}")).collect();
    users.extend(["ana".to_string(), "bob".to_string(), "ana".to_string()]);
    let mut zed = prefs.clone();
    zed.user_id = "zed".into();
    under.preferences.put_preferences(&zed).await.unwrap();
    users.push("zed".into());
    let found = under
        .preferences
        .get_many_preferences(&users)
        .await
        .unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["ana", "zed"]);
    assert_eq!(found["ana"], prefs);
    assert_eq!(found["zed"], zed);
}

async fn idempotency_contract(under: &Under) {
    let store = under.idempotency.as_ref();
    let record = |hash: &str| IdempotencyRecord {
        key: "order-A-17".into(),
        body_hash: hash.into(),
        response: json!({"id": hash, "user_id": "ana"}),
        created_at: 0,
        expires_at: 100_000,
    };
    assert_eq!(store.claim(&record("a"), 0).await.unwrap(), Claim::Claimed);
    assert_eq!(
        store.claim(&record("b"), 99_999).await.unwrap(),
        Claim::Held(record("a"))
    );
    assert_eq!(
        store.claim(&record("c"), 100_000).await.unwrap(),
        Claim::Claimed
    );
    store.release("order-A-17").await.unwrap();
    assert_eq!(store.claim(&record("d"), 0).await.unwrap(), Claim::Claimed);
    store.release("never-claimed").await.unwrap();
}

async fn rate_contract(under: &Under) {
    let rate = under.rate.as_ref();
    let second = 1_700_000_000_000;
    assert!(rate.try_acquire(Channel::Sms, 2, second).await.unwrap());
    assert!(
        rate.try_acquire(Channel::Sms, 2, second + 500)
            .await
            .unwrap()
    );
    assert!(
        !rate
            .try_acquire(Channel::Sms, 2, second + 999)
            .await
            .unwrap()
    );
    // Another channel has its own count; the next second starts afresh.
    assert!(
        rate.try_acquire(Channel::Email, 2, second + 999)
            .await
            .unwrap()
    );
    assert!(
        rate.try_acquire(Channel::Sms, 2, second + 1_000)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_memory_stores_keep_the_contract() {
    let under = memory();
    notifications_contract(&under).await;
    documents_contract(&under).await;
    idempotency_contract(&under).await;
    rate_contract(&under).await;
}

#[tokio::test]
async fn the_dynamodb_stores_keep_the_contract() {
    let under = dynamo("notify-stores").await;
    notifications_contract(&under).await;
    documents_contract(&under).await;
    idempotency_contract(&under).await;
    rate_contract(&under).await;
}

#[tokio::test]
async fn concurrent_claims_on_dynamodb_let_one_worker_send() {
    let under = dynamo("notify-claims").await;
    let n = notification("ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TZ");
    under
        .notifications
        .put_notifications(std::slice::from_ref(&n))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = under.notifications.clone();
        let id = n.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_delivery(&id, Channel::Email, 1_000, 60_000)
                .await
                .unwrap()
        }));
    }
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap() {
            DeliveryClaim::Claimed { attempt } => {
                assert_eq!(attempt, 1);
                claimed += 1;
            }
            DeliveryClaim::Busy { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

#[tokio::test]
async fn concurrent_rate_takes_on_dynamodb_stop_at_the_cap() {
    let under = dynamo("notify-rate").await;
    let now = 1_800_000_000_000;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let rate = under.rate.clone();
        tasks.push(tokio::spawn(async move {
            rate.try_acquire(Channel::Push, 5, now).await.unwrap()
        }));
    }
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap());
    }
    assert_eq!(taken, 5);
}

/// A creation cut short after the channel items (the notification item is
/// written last): readers see nothing, and creating it again completes it
/// without resetting a channel that moved on meanwhile.
#[tokio::test]
async fn a_creation_cut_short_on_dynamodb_is_completed_by_the_next() {
    let sdk = archform_testkit::sdk_config(&test_endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let names = TableNames::new("notify-halfway");
    tables::create(&client, &names).await;
    let store = DynamoNotifications::new(client.clone(), &names.notifications);
    let n = notification("ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TW");
    assert!(store.create_notification(&n).await.unwrap());
    let suppressed = delivery(
        ChannelStatus::Suppressed {
            reason: SuppressionReason::Unsubscribed,
        },
        9_000,
    );
    assert!(
        store
            .finish_delivery(&n.id, Channel::Email, None, suppressed.clone())
            .await
            .unwrap()
    );
    // The state a crash between the channel puts and the last one leaves.
    client
        .delete_item()
        .table_name(&names.notifications)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(n.id.clone()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("notification".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(store.get_notification(&n.id).await.unwrap(), None);
    assert!(store.create_notification(&n).await.unwrap());
    let shown = store.get_notification(&n.id).await.unwrap().unwrap();
    assert_eq!(shown.channels[&Channel::Email], suppressed);
    assert_eq!(shown.channels[&Channel::Push], n.channels[&Channel::Push]);
    assert!(!store.create_notification(&n).await.unwrap());
}
