//! The queues on SQS: one delivery queue per channel and the expander's
//! queue, written with `SendMessageBatch` (10 messages a call, failed
//! entries retried), and a poller that consumes a queue the way Lambda's
//! event source mapping does, for `notify serve --store dynamodb`.
//!
//! A delivery message's body is the [`DeliveryJob`] as JSON; its message
//! attributes are `priority` (`critical`, `transactional`, `bulk`),
//! `channel` and `notification_id`. A job with `not_before` ahead is sent
//! with `DelaySeconds` (at most 900, SQS's limit; a worker that receives it
//! early puts it back for the rest). SQS has no priorities within a
//! queue: bulk jobs go to a channel's bulk queue when one is configured
//! (its own event source mapping, so a bulk backlog never delays the
//! others), and a worker takes the highest priority first within each
//! batch it receives.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};

use crate::model::{Channel, Priority, now_ms};
use crate::store::{
    BoxFuture, DeliveryJob, DeliveryQueue, ExpansionJob, ExpansionQueue, StoreError,
};
use crate::worker::Received;

/// SQS's longest delivery delay.
pub const MAX_DELAY_SECONDS: i64 = 900;
const SEND_ATTEMPTS: u32 = 4;

/// One message to send.
struct Outgoing {
    body: String,
    attributes: Vec<(&'static str, String)>,
    delay_seconds: i32,
}

fn attribute(value: &str) -> Result<MessageAttributeValue, StoreError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|err| StoreError::backend("SendMessageBatch", err.to_string()))
}

/// Sends `messages` to `url` in batches of 10, retrying failed entries.
async fn send_all(client: &Client, url: &str, messages: Vec<Outgoing>) -> Result<(), StoreError> {
    for chunk in messages.chunks(10) {
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        for attempt in 0..SEND_ATTEMPTS {
            let mut entries = Vec::with_capacity(pending.len());
            for &index in &pending {
                let message = &chunk[index];
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(&message.body);
                if message.delay_seconds > 0 {
                    entry = entry.delay_seconds(message.delay_seconds);
                }
                for (name, value) in &message.attributes {
                    entry = entry.message_attributes(*name, attribute(value)?);
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|err| StoreError::backend("SendMessageBatch", err.to_string()))?,
                );
            }
            let output = client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| {
                    StoreError::backend("SendMessageBatch", DisplayErrorContext(err).to_string())
                })?;
            let failed = output.failed;
            if failed.is_empty() {
                pending.clear();
                break;
            }
            if let Some(permanent) = failed.iter().find(|f| f.sender_fault) {
                return Err(StoreError::backend(
                    "SendMessageBatch",
                    format!(
                        "{}: {}",
                        permanent.code,
                        permanent.message.as_deref().unwrap_or_default()
                    ),
                ));
            }
            pending = failed.iter().filter_map(|f| f.id.parse().ok()).collect();
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        if !pending.is_empty() {
            return Err(StoreError::backend(
                "SendMessageBatch",
                format!("{} messages still failing after retries", pending.len()),
            ));
        }
    }
    Ok(())
}

/// Seconds from `now_ms` until `not_before`, as SQS can delay them.
pub fn delay_seconds(not_before: Option<i64>, now_ms: i64) -> i32 {
    let Some(at) = not_before else { return 0 };
    let seconds = (at - now_ms + 999).div_euclid(1000);
    seconds.clamp(0, MAX_DELAY_SECONDS) as i32
}

/// One SQS queue per channel, and optionally a second one per channel for
/// bulk jobs.
#[derive(Clone, Debug)]
pub struct SqsDeliveryQueue {
    client: Client,
    urls: BTreeMap<Channel, String>,
    bulk_urls: BTreeMap<Channel, String>,
}

impl SqsDeliveryQueue {
    pub fn new(client: Client, urls: BTreeMap<Channel, String>) -> Self {
        Self {
            client,
            urls,
            bulk_urls: BTreeMap::new(),
        }
    }

    /// Bulk jobs of these channels go to these queues instead (a delayed
    /// job put back by a worker goes back to the queue of its priority).
    pub fn with_bulk_queues(mut self, bulk_urls: BTreeMap<Channel, String>) -> Self {
        self.bulk_urls = bulk_urls;
        self
    }

    fn url_for(&self, channel: Channel, bulk: bool) -> Result<&String, StoreError> {
        let bulk_url = bulk.then(|| self.bulk_urls.get(&channel)).flatten();
        bulk_url.or_else(|| self.urls.get(&channel)).ok_or_else(|| {
            StoreError::backend(
                "SendMessageBatch",
                format!(
                    "no queue is configured for the {channel} channel ({})",
                    crate::aws::queue_variable(channel)
                ),
            )
        })
    }
}

impl DeliveryQueue for SqsDeliveryQueue {
    fn enqueue<'a>(&'a self, jobs: &'a [DeliveryJob]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = now_ms();
            let mut by_queue: BTreeMap<&String, Vec<Outgoing>> = BTreeMap::new();
            for job in jobs {
                let url = self.url_for(job.channel, job.priority == Priority::Bulk)?;
                let body = serde_json::to_string(job)
                    .map_err(|err| StoreError::backend("serialize", err.to_string()))?;
                by_queue.entry(url).or_default().push(Outgoing {
                    body,
                    attributes: vec![
                        ("priority", job.priority.as_str().to_owned()),
                        ("channel", job.channel.as_str().to_owned()),
                        ("notification_id", job.notification_id.clone()),
                    ],
                    delay_seconds: delay_seconds(job.not_before, now),
                });
            }
            for (url, messages) in by_queue {
                send_all(&self.client, url, messages).await?;
            }
            Ok(())
        })
    }
}

/// The expander's queue.
#[derive(Clone, Debug)]
pub struct SqsExpansionQueue {
    client: Client,
    url: String,
}

impl SqsExpansionQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl ExpansionQueue for SqsExpansionQueue {
    fn enqueue<'a>(&'a self, jobs: &'a [ExpansionJob]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut messages = Vec::with_capacity(jobs.len());
            for job in jobs {
                messages.push(Outgoing {
                    body: serde_json::to_string(job)
                        .map_err(|err| StoreError::backend("serialize", err.to_string()))?,
                    attributes: vec![
                        ("priority", job.priority.as_str().to_owned()),
                        ("batch_id", job.batch_id.clone()),
                    ],
                    delay_seconds: 0,
                });
            }
            send_all(&self.client, &self.url, messages).await
        })
    }
}

/// What a poller does with a batch: the message ids to leave on the queue
/// (they come back after the visibility timeout).
pub type BatchHandler =
    Arc<dyn Fn(Vec<Received>) -> BoxFuture<'static, Vec<(String, Option<i32>)>> + Send + Sync>;

/// Hides received messages for the given seconds each
/// (`ChangeMessageVisibilityBatch`, 10 a call): how a worker backs off a
/// retry. A failure is logged and not fatal: the message then comes back
/// after the queue's visibility timeout instead.
pub async fn change_visibility(client: &Client, url: &str, entries: &[(String, i32)]) {
    use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
    for chunk in entries.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (handle, seconds))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(*seconds)
                    .build()
                    .ok()
            })
            .collect();
        match client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) if !output.failed.is_empty() => {
                tracing::warn!(
                    queue = url,
                    failed = output.failed.len(),
                    "ChangeMessageVisibilityBatch failed for some messages; they come back after the queue's visibility timeout"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(queue = url, error = %DisplayErrorContext(err), "ChangeMessageVisibilityBatch failed; the messages come back after the queue's visibility timeout");
            }
        }
    }
}

/// Receives from `url` until the process ends, hands each batch to
/// `handler` and deletes the messages it did not return. Long polling (up
/// to `wait_seconds`), with `ApproximateReceiveCount`, like Lambda's SQS
/// event source.
pub async fn poll(client: Client, url: String, wait_seconds: i32, handler: BatchHandler) {
    loop {
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(queue = url, error = %DisplayErrorContext(err), "ReceiveMessage failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut handles = BTreeMap::new();
        let batch: Vec<Received> = messages
            .into_iter()
            .filter_map(|message| {
                let id = message.message_id?;
                let receive_count = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                handles.insert(id.clone(), message.receipt_handle?);
                Some(Received {
                    message_id: id,
                    body: message.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect();
        let kept = handler(batch).await;
        let hide: Vec<(String, i32)> = kept
            .iter()
            .filter_map(|(id, seconds)| Some((handles.get(id)?.clone(), (*seconds)?)))
            .collect();
        change_visibility(&client, &url, &hide).await;
        let entries: Vec<DeleteMessageBatchRequestEntry> = handles
            .iter()
            .filter(|(id, _)| !kept.iter().any(|(k, _)| k == *id))
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        if let Err(err) = client
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(queue = url, error = %DisplayErrorContext(err), "DeleteMessageBatch failed; the messages come back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_and_stop_at_fifteen_minutes() {
        assert_eq!(delay_seconds(None, 1_000), 0);
        assert_eq!(delay_seconds(Some(500), 1_000), 0);
        assert_eq!(delay_seconds(Some(1_001), 1_000), 1);
        assert_eq!(delay_seconds(Some(61_000), 1_000), 60);
        assert_eq!(delay_seconds(Some(100_000_000), 0), 900);
    }
}
