//! A local stand-in for an SQS event source mapping, doing what Lambda's
//! poller does: long-poll the queue, gather up to the batch size within the
//! batching window, invoke the function with the batch, delete what
//! succeeded. Failed messages are left alone: they become visible again when
//! the queue's visibility timeout passes, and the queue's own redrive policy
//! moves them to the DLQ after maxReceiveCount receives (done by SQS, or by
//! the emulator, never faked here).

use crate::console;
use crate::error::DevError;
use crate::pool::FunctionPool;
use crate::topology::PollerSpec;
use archform_local::InvokeResult;
use archform_local::events::base64;
use archform_local::events::sqs::{self, BatchOutcome, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// SQS returns at most 10 messages per receive.
const MAX_PER_RECEIVE: i32 = 10;
/// Long-poll length: short enough that Ctrl-C is answered promptly.
const LONG_POLL_SECONDS: i32 = 2;

pub struct Poller {
    pub spec: PollerSpec,
    pub queue_url: String,
    pub region: String,
    pub client: Client,
    pub pool: Arc<FunctionPool>,
}

/// The queue URL of an event source: from the stack when the queue is in it,
/// else from SQS by the name in the ARN.
pub async fn queue_url(client: &Client, spec: &PollerSpec) -> Result<String, DevError> {
    if let Some(url) = &spec.queue_url {
        return Ok(url.clone());
    }
    let mut parts = spec.queue_arn.split(':');
    let (name, account) = (parts.nth(5), spec.queue_arn.split(':').nth(4));
    let name = name.unwrap_or_default();
    let mut req = client.get_queue_url().queue_name(name);
    if let Some(account) = account {
        req = req.queue_owner_aws_account_id(account);
    }
    let out = req.send().await.map_err(|e| DevError::Sqs {
        operation: "GetQueueUrl",
        queue: spec.queue_arn.clone(),
        message: aws_message(&e),
    })?;
    out.queue_url.ok_or_else(|| DevError::Sqs {
        operation: "GetQueueUrl",
        queue: spec.queue_arn.clone(),
        message: "no URL in the answer".into(),
    })
}

fn aws_message<E: aws_sdk_sqs::error::ProvideErrorMetadata>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "request failed".into(),
    }
}

/// Lambda's shape of a message's attributes: system attributes by name,
/// message attributes as `{stringValue, binaryValue, stringListValues,
/// binaryListValues, dataType}`.
fn to_event_message(m: Message) -> SqsMessage {
    let attributes = m
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    let mut message_attributes = Map::new();
    for (name, v) in m.message_attributes.unwrap_or_default() {
        let b64 = |b: &aws_sdk_sqs::primitives::Blob| base64::encode(b.as_ref());
        message_attributes.insert(
            name,
            json!({
                "stringValue": v.string_value,
                "binaryValue": v.binary_value.as_ref().map(b64),
                "stringListValues": v.string_list_values.unwrap_or_default(),
                "binaryListValues": v.binary_list_values.unwrap_or_default().iter().map(b64).collect::<Vec<_>>(),
                "dataType": v.data_type,
            }),
        );
    }
    SqsMessage {
        message_id: m.message_id.unwrap_or_default(),
        receipt_handle: m.receipt_handle.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        md5_of_body: m.md5_of_body.unwrap_or_default(),
        attributes,
        message_attributes: Value::Object(message_attributes),
    }
}

impl Poller {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if !self.spec.enabled {
            return;
        }
        let mut backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let batch = tokio::select! {
                _ = shutdown.changed() => return,
                b = self.gather() => b,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    backoff = Duration::from_millis(200);
                    // A batch in hand is always finished, even on Ctrl-C,
                    // so no message is left half-processed.
                    self.process(batch).await;
                }
                Err(e) => {
                    console::warn(&self.spec.id, &e.to_string());
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn receive(&self, max: i32, wait: i32) -> Result<Vec<Message>, DevError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_PER_RECEIVE))
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| DevError::Sqs {
                operation: "ReceiveMessage",
                queue: self.queue_url.clone(),
                message: aws_message(&e),
            })?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Up to `batch_size` messages: the first long poll waits for any, then
    /// the batching window (if any) is used to fill the batch.
    async fn gather(&self) -> Result<Vec<Message>, DevError> {
        let size = self.spec.batch_size as usize;
        let mut batch = self.receive(size as i32, LONG_POLL_SECONDS).await?;
        if batch.is_empty() || self.spec.batching_window.is_zero() {
            return Ok(batch);
        }
        let until = Instant::now() + self.spec.batching_window;
        while batch.len() < size {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = left.as_secs().min(LONG_POLL_SECONDS as u64) as i32;
            let more = self.receive((size - batch.len()) as i32, wait).await?;
            if more.is_empty() && wait == 0 {
                tokio::time::sleep(left.min(Duration::from_millis(100))).await;
            }
            batch.extend(more);
        }
        Ok(batch)
    }

    async fn process(&self, batch: Vec<Message>) {
        let started = Instant::now();
        let messages: Vec<SqsMessage> = batch.into_iter().map(to_event_message).collect();
        let event = sqs::batch_event(&messages, &self.spec.queue_arn, &self.region);
        let ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let what = format!("SQS batch of {}", messages.len());
        let outcome = match self.pool.invoke(Bytes::from(event.to_string())).await {
            Ok(o) => o,
            Err(e) => {
                console::warn(&self.spec.function, &e.to_string());
                return;
            }
        };
        let failed: Vec<String> = match &outcome.result {
            InvokeResult::Response(payload) => {
                let bytes = serde_json::to_vec(payload).unwrap_or_default();
                match sqs::batch_outcome(&bytes, &ids, self.spec.report_batch_item_failures) {
                    BatchOutcome::AllSucceeded => Vec::new(),
                    BatchOutcome::ItemsFailed(ids) => ids,
                    BatchOutcome::WholeBatchFailed(reason) => {
                        console::warn(
                            &self.spec.function,
                            &format!("whole batch failed: {reason}"),
                        );
                        ids.iter().map(|s| s.to_string()).collect()
                    }
                }
            }
            InvokeResult::Error(_) | InvokeResult::InitError(_) => {
                ids.iter().map(|s| s.to_string()).collect()
            }
        };
        let done: Vec<&SqsMessage> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .collect();
        let answer = match failed.len() {
            0 => format!("{} deleted", done.len()),
            n => format!("{} deleted, {n} left for retry", done.len()),
        };
        console::request(
            &self.spec.function,
            &what,
            &answer,
            started.elapsed(),
            Some(&outcome),
        );
        for chunk in done.chunks(MAX_PER_RECEIVE as usize) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt_handle)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(out) if !out.failed.is_empty() => {
                    let reasons: Vec<String> = out
                        .failed
                        .iter()
                        .map(|f| format!("{}: {}", f.code, f.message.as_deref().unwrap_or("")))
                        .collect();
                    console::warn(
                        &self.spec.id,
                        &format!(
                            "{} processed messages could not be deleted and will be delivered again ({})",
                            out.failed.len(),
                            reasons.join("; ")
                        ),
                    )
                }
                Ok(_) => {}
                Err(e) => console::warn(
                    &self.spec.id,
                    &format!("DeleteMessageBatch: {}", aws_message(&e)),
                ),
            }
        }
    }
}
