//! What the emulator tests share: the tables and queue of one run, and
//! taking click events off the queue.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_json::{Value, json};

/// Tables and queue of one test run, named after the process and the time.
pub struct Resources {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub links_table: String,
    pub clicks_table: String,
    pub queue_url: String,
}

impl Resources {
    pub async fn create(endpoint: &str) -> Resources {
        let sdk = archform_testkit::sdk_config(endpoint).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let suffix = format!("{}-{nanos}", std::process::id());
        let links_table = format!("shortener-links-{suffix}");
        let clicks_table = format!("shortener-clicks-{suffix}");
        for table in [&links_table, &clicks_table] {
            dynamodb
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("code")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("code")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("creating {table}: {e:?}"));
        }
        dynamodb
            .update_time_to_live()
            .table_name(&links_table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enabling TTL on the links table");
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("shortener-clicks-{suffix}"))
            .send()
            .await
            .expect("creating the clicks queue")
            .queue_url
            .expect("queue URL");
        Resources {
            dynamodb,
            sqs,
            links_table,
            clicks_table,
            queue_url,
        }
    }

    pub async fn delete(&self) {
        for table in [&self.links_table, &self.clicks_table] {
            if let Err(e) = self.dynamodb.delete_table().table_name(table).send().await {
                eprintln!("deleting {table}: {e:?}");
            }
        }
        if let Err(e) = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
        {
            eprintln!("deleting {}: {e:?}", self.queue_url);
        }
    }
}

/// Receives messages until `want` arrived or `within` passed; returns
/// (message id, receipt handle, body) of each.
pub async fn receive(
    resources: &Resources,
    want: usize,
    within: Duration,
) -> Vec<(String, String, String)> {
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    while received.len() < want && Instant::now() < deadline {
        let output = resources
            .sqs
            .receive_message()
            .queue_url(&resources.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .send()
            .await
            .expect("ReceiveMessage");
        for message in output.messages.unwrap_or_default() {
            received.push((
                message.message_id.unwrap(),
                message.receipt_handle.unwrap(),
                message.body.unwrap(),
            ));
        }
    }
    received
}

/// The received messages as the SQS event Lambda would deliver.
pub fn sqs_event(messages: &[(String, String, String)]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, receipt, body)| {
            json!({"messageId": id, "receiptHandle": receipt, "body": body, "eventSource": "aws:sqs"})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}
