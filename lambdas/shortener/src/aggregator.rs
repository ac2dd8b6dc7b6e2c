//! The click aggregator: one SQS batch of click events in, one counter
//! update per distinct link out, failures reported per message.
//!
//! Clicks of one code are summed first, so a popular link costs one
//! `UpdateItem ... ADD clicks :n` per batch instead of one per click. If that
//! update fails, every message of that code is reported in
//! `batchItemFailures` and comes back later; the other codes' messages are
//! deleted. A message that is not a click event can never succeed: it is
//! reported too, so after `maxReceiveCount` receives the queue's redrive
//! policy moves it to the dead-letter queue.
//!
//! Counting is at least once: if the function dies after some updates
//! succeeded, their messages are delivered again and counted twice. Click
//! counts are analytics, and that is accepted rather than paying for a
//! deduplication table.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tokio::task::JoinSet;

use crate::alias::could_be_link_code;
use crate::clicks::ClickEvent;
use crate::store::ClickCounter;

/// Counter updates running at once.
pub const MAX_CONCURRENT_UPDATES: usize = 16;

/// Clicks of one code within a batch.
#[derive(Debug, Default)]
struct CodeClicks {
    clicks: u64,
    message_ids: Vec<String>,
}

/// Adds the batch's clicks to the counters and returns the messages to
/// retry (all messages of codes whose update failed, and every message that
/// is not a click event).
pub async fn aggregate(event: SqsEvent, counter: Arc<dyn ClickCounter>) -> SqsBatchResponse {
    let mut by_code: HashMap<String, CodeClicks> = HashMap::new();
    // Keeps failures in the order of the batch, which makes them easy to read.
    let mut order: HashMap<String, usize> = HashMap::new();
    let mut failed: Vec<(usize, String)> = Vec::new();

    for (position, record) in event.records.into_iter().enumerate() {
        let Some(message_id) = record.message_id.filter(|id| !id.is_empty()) else {
            // Cannot be reported, so it will be deleted; say so loudly.
            tracing::error!(position, "SQS record without a message id; skipped");
            continue;
        };
        order.insert(message_id.clone(), position);
        match parse_click(record.body.as_deref()) {
            Ok(click) => {
                let entry = by_code.entry(click.code).or_default();
                entry.clicks += 1;
                entry.message_ids.push(message_id);
            }
            Err(reason) => {
                tracing::warn!(message_id, reason, "not a click event; reported as failed");
                failed.push((position, message_id));
            }
        }
    }

    // The task ids map results (and panics) back to their code, whose
    // message ids stay here so that a failed task can still report them.
    let mut updates = JoinSet::new();
    let mut task_codes = HashMap::new();
    let mut finished = Vec::new();
    for (code, clicks) in &by_code {
        while updates.len() >= MAX_CONCURRENT_UPDATES {
            if let Some(result) = updates.join_next_with_id().await {
                finished.push(result);
            }
        }
        let (counter, code_owned, n) = (counter.clone(), code.clone(), clicks.clicks);
        let handle = updates.spawn(async move { counter.add_clicks(&code_owned, n).await });
        task_codes.insert(handle.id(), code.clone());
    }
    while let Some(result) = updates.join_next_with_id().await {
        finished.push(result);
    }

    let mut counted = 0u64;
    for result in finished {
        let (task, outcome) = match result {
            Ok((task, outcome)) => (task, outcome.map_err(|err| err.to_string())),
            Err(join_error) => (
                join_error.id(),
                Err(format!("update task failed: {join_error}")),
            ),
        };
        let Some(clicks) = task_codes.get(&task).and_then(|code| by_code.get(code)) else {
            continue;
        };
        match outcome {
            Ok(()) => counted += clicks.clicks,
            Err(error) => {
                let code = &task_codes[&task];
                tracing::error!(
                    code,
                    clicks = clicks.clicks,
                    error,
                    "click counter update failed; messages will be retried"
                );
                for id in &clicks.message_ids {
                    failed.push((order.get(id).copied().unwrap_or(usize::MAX), id.clone()));
                }
            }
        }
    }

    failed.sort();
    let mut response = SqsBatchResponse::default();
    for (_, id) in &failed {
        response.add_failure(id.clone());
    }
    tracing::info!(counted, failed = failed.len(), "click batch aggregated");
    response
}

/// The click event in a message body, if it is one.
fn parse_click(body: Option<&str>) -> Result<ClickEvent, &'static str> {
    let body = body.ok_or("message has no body")?;
    let click: ClickEvent = serde_json::from_str(body).map_err(|_| "body is not a click event")?;
    if !could_be_link_code(&click.code) {
        return Err("click event has an invalid code");
    }
    Ok(click)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::memory::MemoryClicks;

    fn event(records: &[(&str, &str)]) -> SqsEvent {
        let records: Vec<_> = records
            .iter()
            .map(|(id, body)| json!({"messageId": id, "body": body, "eventSource": "aws:sqs"}))
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn click(code: &str) -> String {
        serde_json::to_string(&ClickEvent::new(code, 1, None, None)).unwrap()
    }

    fn failures(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn sums_per_code_with_one_update_each() {
        let counter = Arc::new(MemoryClicks::new());
        let (a, b) = (click("aaaaaaa"), click("bbb"));
        let batch = event(&[("1", &a), ("2", &b), ("3", &a), ("4", &a)]);
        let response = aggregate(batch, counter.clone()).await;
        assert!(failures(&response).is_empty());
        assert_eq!(counter.count("aaaaaaa"), 3);
        assert_eq!(counter.count("bbb"), 1);
        assert_eq!(counter.updates.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Another batch adds to the same counters.
        aggregate(event(&[("5", &b)]), counter.clone()).await;
        assert_eq!(counter.count("bbb"), 2);
    }

    #[tokio::test]
    async fn a_failed_update_reports_every_message_of_that_code_only() {
        let counter = Arc::new(MemoryClicks::new());
        counter.fail_code("bad1234");
        let (good, bad) = (click("good123"), click("bad1234"));
        let batch = event(&[("m1", &bad), ("m2", &good), ("m3", &bad), ("m4", &good)]);
        let response = aggregate(batch, counter.clone()).await;
        assert_eq!(failures(&response), vec!["m1", "m3"]);
        assert_eq!(counter.count("good123"), 2);
        assert_eq!(counter.count("bad1234"), 0);
    }

    #[tokio::test]
    async fn poison_messages_are_reported_for_the_dead_letter_queue() {
        let counter = Arc::new(MemoryClicks::new());
        let good = click("good123");
        let bad_code = click("!rate#x#1");
        let batch = event(&[
            ("p1", "not json"),
            ("ok", &good),
            ("p2", r#"{"code": 5, "at": 1}"#),
            ("p3", r#"{"at": 1}"#),
            ("p4", &bad_code),
            ("p5", "[]"),
        ]);
        let response = aggregate(batch, counter.clone()).await;
        assert_eq!(failures(&response), vec!["p1", "p2", "p3", "p4", "p5"]);
        assert_eq!(counter.count("good123"), 1);
    }

    #[tokio::test]
    async fn response_serializes_as_lambda_expects() {
        let counter = Arc::new(MemoryClicks::new());
        let response = aggregate(event(&[("x", "junk")]), counter).await;
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "x"}]})
        );
    }

    #[tokio::test]
    async fn many_codes_are_all_updated() {
        let counter = Arc::new(MemoryClicks::new());
        let bodies: Vec<(String, String)> = (0..100)
            .map(|i| (format!("m{i}"), click(&format!("code{:03}", i % 40))))
            .collect();
        let records: Vec<(&str, &str)> = bodies
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let response = aggregate(event(&records), counter.clone()).await;
        assert!(failures(&response).is_empty());
        let total: u64 = (0..40).map(|i| counter.count(&format!("code{i:03}"))).sum();
        assert_eq!(total, 100);
        assert_eq!(
            counter.updates.load(std::sync::atomic::Ordering::SeqCst),
            40
        );
    }
}
