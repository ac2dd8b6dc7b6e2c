//! The store traits on DynamoDB and SQS, and the wiring of a whole service
//! from a [`Config`] and an SDK configuration.
//!
//! Calls and the IAM actions they need (see blueprints/url-shortener.yaml):
//! - links table: `GetItem` (redirects, metadata), `PutItem` (create),
//!   `UpdateItem` (rate-limit windows);
//! - clicks table: `GetItem` (metadata) from the API, `UpdateItem` from the
//!   aggregator;
//! - clicks queue: `SendMessageBatch`, authorised by `sqs:SendMessage`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::app::{AppState, Stores};
use crate::clicks::{BatcherConfig, ClickBatcher};
use crate::config::Config;
use crate::link::Link;
use crate::metrics::MetricsSink;
use crate::store::{
    BoxFuture, ClickCounter, ClickQueue, LinkStore, PutOutcome, RateCounter, RateOutcome,
    StoreError,
};

fn backend_error<E>(operation: &'static str, err: E) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError::backend(operation, DisplayErrorContext(err).to_string())
}

/// The links table (`code` S partition key, `expires_at` TTL attribute).
#[derive(Clone)]
pub struct DynamoLinks {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLinks {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// `N` attribute as an integer.
fn number<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn link_from_item(code: &str, item: &HashMap<String, AttributeValue>) -> Result<Link, StoreError> {
    let malformed = |reason: &str| StoreError::Malformed {
        key: code.to_owned(),
        reason: reason.to_owned(),
    };
    let url = item
        .get("url")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| malformed("no url (S) attribute"))?;
    Ok(Link {
        code: code.to_owned(),
        url: url.clone(),
        created_at: number(item, "created_at").unwrap_or(0),
        expires_at: number(item, "expires_at"),
    })
}

impl LinkStore for DynamoLinks {
    fn get_link<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<Option<Link>, StoreError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("code", AttributeValue::S(code.to_owned()))
                // A link created through another instance a moment ago must
                // be found, or it would be cached as absent.
                .consistent_read(true)
                .send()
                .await
                .map_err(|err| backend_error("GetItem", err))?;
            match output.item {
                None => Ok(None),
                Some(item) => match link_from_item(code, &item) {
                    Ok(link) => Ok(Some(link)),
                    Err(err) => {
                        // Not a link this service wrote; treat it as absent.
                        tracing::warn!(error = %err, "ignoring malformed links item");
                        Ok(None)
                    }
                },
            }
        })
    }

    fn put_link_if_absent<'a>(
        &'a self,
        link: &'a Link,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("code", AttributeValue::S(link.code.clone()))
                .item("url", AttributeValue::S(link.url.clone()))
                .item("created_at", AttributeValue::N(link.created_at.to_string()))
                .condition_expression("attribute_not_exists(code)");
            if let Some(expires_at) = link.expires_at {
                request = request.item("expires_at", AttributeValue::N(expires_at.to_string()));
            }
            match request.send().await {
                Ok(_) => Ok(PutOutcome::Created),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(PutOutcome::AlreadyExists)
                }
                Err(err) => Err(backend_error("PutItem", err)),
            }
        })
    }
}

impl RateCounter for DynamoLinks {
    fn count_in_window<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<RateOutcome, StoreError>> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("code", AttributeValue::S(key.to_owned()))
                .update_expression("ADD #n :one SET #exp = :exp")
                .condition_expression("attribute_not_exists(#n) OR #n < :limit")
                .expression_attribute_names("#n", "n")
                .expression_attribute_names("#exp", "expires_at")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
                .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(RateOutcome::Allowed),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(RateOutcome::Limited)
                }
                Err(err) => Err(backend_error("UpdateItem", err)),
            }
        })
    }
}

/// The clicks table (`code` S partition key, `clicks` N).
#[derive(Clone)]
pub struct DynamoClicks {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoClicks {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl ClickCounter for DynamoClicks {
    fn get_clicks<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("code", AttributeValue::S(code.to_owned()))
                .projection_expression("clicks")
                .send()
                .await
                .map_err(|err| backend_error("GetItem", err))?;
            Ok(output
                .item
                .and_then(|item| number(&item, "clicks"))
                .unwrap_or(0))
        })
    }

    fn add_clicks<'a>(
        &'a self,
        code: &'a str,
        clicks: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("code", AttributeValue::S(code.to_owned()))
                .update_expression("ADD clicks :n")
                .expression_attribute_values(":n", AttributeValue::N(clicks.to_string()))
                .send()
                .await
                .map_err(|err| backend_error("UpdateItem", err))?;
            Ok(())
        })
    }
}

/// The clicks queue.
#[derive(Clone)]
pub struct SqsClickQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsClickQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl ClickQueue for SqsClickQueue {
    fn send_batch<'a>(
        &'a self,
        bodies: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<usize>, StoreError>> {
        Box::pin(async move {
            if bodies.is_empty() {
                return Ok(Vec::new());
            }
            let entries = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|err| StoreError::backend("SendMessageBatch", err.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| backend_error("SendMessageBatch", err))?;
            let refused = output
                .failed
                .iter()
                .filter_map(|entry| {
                    tracing::warn!(
                        code = entry.code,
                        message = entry.message.as_deref().unwrap_or(""),
                        sender_fault = entry.sender_fault,
                        "SQS refused a click event"
                    );
                    entry.id.parse().ok()
                })
                .collect();
            Ok(refused)
        })
    }
}

/// The service on AWS: the router state and the click batcher feeding it.
pub struct AwsService {
    pub state: AppState,
    /// Call [`ClickBatcher::shutdown`] before exiting to send pending clicks.
    pub batcher: ClickBatcher,
}

/// Builds the stores from `config` and `sdk`, starts the click batcher on
/// the current tokio runtime and returns the router state.
pub fn connect(config: &Config, sdk: &SdkConfig, metrics: MetricsSink) -> AwsService {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let links = Arc::new(DynamoLinks::new(dynamodb.clone(), &config.links_table));
    let stores = Stores {
        links: links.clone(),
        rate: links,
        clicks: Arc::new(DynamoClicks::new(dynamodb, &config.clicks_table)),
    };
    let queue = Arc::new(SqsClickQueue::new(sqs, &config.clicks_queue_url));
    let batching = BatcherConfig {
        max_age: config.click_batch_max_age,
        ..BatcherConfig::default()
    };
    let (sender, batcher) = ClickBatcher::spawn(queue, batching);
    AwsService {
        state: AppState::new(config.service.clone(), stores, sender, metrics),
        batcher,
    }
}
