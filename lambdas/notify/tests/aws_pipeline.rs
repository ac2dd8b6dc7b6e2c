//! The AWS side end to end against the emulator, without Lambda: the API
//! on the DynamoDB tables and SQS queues, the queued messages as the
//! worker and expander functions receive them (`SqsEvent`s built from
//! ReceiveMessage), and their partial batch failures.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use archform_testkit::test_endpoint;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use notify::aws::AwsSettings;
use notify::model::Channel;
use notify::preferences::Preferences;
use notify::provider::{Accepted, NotificationProvider, ProviderError};
use notify::store::{BoxFuture, DeliveryJob};
use notify::worker::Providers;
use notify::{AppState, ServiceOptions, WorkerOptions};
use serde_json::{Value, json};
use support::tables::{self, TableNames};
use tower::ServiceExt;

struct Env {
    settings: AwsSettings,
    sdk: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn env(prefix: &str) -> Env {
    let sdk = archform_testkit::sdk_config(&test_endpoint()).await;
    let names = TableNames::new(prefix);
    tables::create(&aws_sdk_dynamodb::Client::new(&sdk), &names).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let unique = names
        .notifications
        .trim_end_matches("-notifications")
        .to_owned();
    let mut queue_urls = BTreeMap::new();
    for channel in Channel::ALL {
        queue_urls.insert(channel, queue(&sqs, &format!("{unique}-{channel}")).await);
    }
    let expansion = queue(&sqs, &format!("{unique}-expand")).await;
    let settings = AwsSettings {
        notifications_table: Some(names.notifications),
        templates_table: Some(names.templates),
        preferences_table: Some(names.preferences),
        idempotency_table: Some(names.idempotency),
        rate_limit_table: Some(names.rate_limits),
        queue_urls,
        expansion_queue_url: Some(expansion),
        ..AwsSettings::default()
    };
    Env { settings, sdk, sqs }
}

/// Receives what is on `url` (at most 10) as a Lambda SQS event.
async fn event(sqs: &aws_sdk_sqs::Client, url: &str) -> SqsEvent {
    let arn = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let output = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let mut event = SqsEvent::default();
    for message in output.messages.unwrap_or_default() {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id.clone();
        record.body = message.body.clone();
        record.receipt_handle = message.receipt_handle.clone();
        record.event_source_arn = Some(arn.clone());
        for (name, value) in message.attributes.unwrap_or_default() {
            record.attributes.insert(name.as_str().to_owned(), value);
        }
        if let Some(priority) = message
            .message_attributes
            .as_ref()
            .and_then(|a| a.get("priority"))
            .and_then(|v| v.string_value.clone())
        {
            record.attributes.insert("test.priority".into(), priority);
        }
        event.records.push(record);
    }
    event
}

async fn call(app: &axum::Router, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Accepts SMS jobs, failing transiently first when told to.
#[derive(Default)]
struct FakeSms {
    fail_first: bool,
    sent: Mutex<Vec<String>>,
}

impl NotificationProvider for FakeSms {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        _preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            let mut sent = self.sent.lock().unwrap();
            sent.push(job.notification_id.clone());
            if self.fail_first && sent.len() == 1 {
                return Err(ProviderError::Transient("the gateway timed out".into()));
            }
            Ok(Accepted {
                provider_id: Some(format!("sms-{}", sent.len())),
            })
        })
    }
}

async fn template_and_users(app: &axum::Router, users: &[&str]) {
    let (status, body) = call(
        app,
        "PUT",
        "/v1/templates/order-shipped",
        Some(json!({"default_locale": "en", "category": "orders", "locales": {"en": {"sms": {"text": "Hi {{name}}, order {{order}} shipped."}}}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for user in users {
        let (status, body) = call(
            app,
            "PUT",
            &format!("/v1/users/{user}/preferences"),
            Some(json!({"phone": "+14155550123"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test]
async fn sent_through_sqs_to_the_worker_function_once_with_a_retry() {
    let env = env("notify-pipeline").await;
    let options = ServiceOptions::default();
    let stores = env.settings.api_stores(&env.sdk).unwrap();
    let app = notify::router(AppState::new(options.clone(), stores));
    template_and_users(&app, &["ana"]).await;
    let (status, body) = call(
        &app,
        "POST",
        "/v1/notifications",
        Some(json!({"user_id": "ana", "template": "order-shipped", "data": {"name": "Ana", "order": "A-17"}, "priority": "critical"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    let sms_queue = env.settings.queue_urls[&Channel::Sms].clone();
    let first = event(&env.sqs, &sms_queue).await;
    assert_eq!(first.records.len(), 1);
    assert_eq!(first.records[0].attributes["test.priority"], "critical");
    let job: DeliveryJob = serde_json::from_str(first.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job.notification_id, id);

    let fake = Arc::new(FakeSms {
        fail_first: true,
        ..FakeSms::default()
    });
    let mut worker = env
        .settings
        .worker(&env.sdk, &options, WorkerOptions::default())
        .unwrap();
    worker.providers = Providers::new().with(fake.clone());

    // The first try fails transiently: reported, status retrying, and
    // the message hidden for the first backoff (2 s) by the worker itself.
    let visibility = notify::lambda::QueueVisibility::new(
        env.sqs.clone(),
        env.settings.queue_urls.values().cloned(),
    );
    let response =
        notify::lambda::handle_deliveries(&worker, Some(&visibility), first.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        first.records[0].message_id.clone().unwrap()
    );
    let (_, shown) = call(&app, "GET", &format!("/v1/notifications/{id}"), None).await;
    assert_eq!(shown["channels"]["sms"]["status"], "retrying", "{shown}");
    assert_eq!(shown["channels"]["sms"]["attempts"], 1);

    // The queue's own visibility timeout is 0 here, so only the backoff
    // keeps it away; SQS delivers it again once that passed: sent.
    assert!(event(&env.sqs, &sms_queue).await.records.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let second = event(&env.sqs, &sms_queue).await;
    assert_eq!(second.records.len(), 1);
    assert_eq!(second.records[0].attributes["ApproximateReceiveCount"], "2");
    let response =
        notify::lambda::handle_deliveries(&worker, Some(&visibility), second.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let (_, shown) = call(&app, "GET", &format!("/v1/notifications/{id}"), None).await;
    assert_eq!(shown["channels"]["sms"]["status"], "sent", "{shown}");
    assert_eq!(shown["channels"]["sms"]["provider_id"], "sms-2");

    // A duplicate delivery of the same message sends nothing.
    let response = notify::lambda::handle_deliveries(&worker, Some(&visibility), second).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(fake.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_large_request_goes_through_the_expander_function() {
    let env = env("notify-expand").await;
    let options = ServiceOptions {
        max_recipients: 2,
        ..ServiceOptions::default()
    };
    let stores = env.settings.api_stores(&env.sdk).unwrap();
    let app = notify::router(AppState::new(options.clone(), stores));
    template_and_users(&app, &["ana", "bob", "eve"]).await;
    let users: Vec<String> = ["ana", "bob", "eve"]
        .iter()
        .map(|u| u.to_string())
        .chain((0..120).map(|i| format!("nobody{i}")))
        .collect();
    let (status, body) = call(
        &app,
        "POST",
        "/v1/notifications",
        Some(json!({"user_ids": users, "template": "order-shipped", "data": {"name": "all", "order": "A-1"}, "priority": "bulk"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let batch = body["batch_id"].as_str().unwrap().to_owned();

    let chunks = event(
        &env.sqs,
        env.settings.expansion_queue_url.as_deref().unwrap(),
    )
    .await;
    assert_eq!(chunks.records.len(), 2);
    let expander = env.settings.expander(&env.sdk, &options).unwrap();
    let response = notify::lambda::handle_expansions(&expander, chunks).await;
    assert!(response.batch_item_failures.is_empty());
    let (status, shown) = call(&app, "GET", &format!("/v1/batches/{batch}/users/bob"), None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["channels"]["sms"]["status"], "queued");
    let (_, nobody) = call(
        &app,
        "GET",
        &format!("/v1/batches/{batch}/users/nobody7"),
        None,
    )
    .await;
    assert_eq!(nobody["channels"]["sms"]["reason"], "no_contact");

    // Three SMS jobs, one per user with a phone number.
    let jobs = event(&env.sqs, &env.settings.queue_urls[&Channel::Sms]).await;
    let mut ids: Vec<String> = jobs
        .records
        .iter()
        .map(|r| {
            assert_eq!(r.attributes["test.priority"], "bulk");
            serde_json::from_str::<DeliveryJob>(r.body.as_deref().unwrap())
                .unwrap()
                .user_id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["ana", "bob", "eve"]);

    // A chunk that is not one is reported (and so, in the end,
    // dead-lettered).
    let mut bad = SqsEvent::default();
    let mut record = SqsMessage::default();
    record.message_id = Some("m-bad".into());
    record.body = Some("{}".into());
    bad.records.push(record);
    let response = notify::lambda::handle_expansions(&expander, bad).await;
    assert_eq!(response.batch_item_failures[0].item_identifier, "m-bad");
}
