//! An SQS event source mapping: the batch event Lambda sends and how it
//! reads the function's answer when `ReportBatchItemFailures` is on.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One received message, as the poller got it from `ReceiveMessage`.
#[derive(Clone, Debug)]
pub struct SqsMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    /// System attributes (`ApproximateReceiveCount`, `SentTimestamp`,
    /// `SenderId`, `ApproximateFirstReceiveTimestamp`, ...).
    pub attributes: BTreeMap<String, String>,
    /// Already in Lambda's shape: `{name: {stringValue, binaryValue,
    /// stringListValues: [], binaryListValues: [], dataType}}`.
    pub message_attributes: Value,
}

/// `{"Records": [...]}` for a batch from the queue `queue_arn`. The
/// `md5OfMessageAttributes` field SQS computes is left out.
pub fn batch_event(messages: &[SqsMessage], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes = if m.message_attributes.is_null() {
                json!({})
            } else {
                m.message_attributes.clone()
            };
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": m.attributes,
                "messageAttributes": attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What happened to a batch the function processed without an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Every message is deleted from the queue.
    AllSucceeded,
    /// These message ids stay on the queue; the others are deleted.
    ItemsFailed(Vec<String>),
    /// No message is deleted; the whole batch is retried.
    WholeBatchFailed(String),
}

/// How Lambda reads a function's (successful) response to a batch.
///
/// With `report_batch_item_failures` on, per the SQS event source
/// documentation: an empty or null response, `{}`, or a null or empty
/// `batchItemFailures` means every message succeeded; listed
/// `itemIdentifier`s failed; a response that is not of that shape, or an
/// item whose `itemIdentifier` is missing, null, empty, not a string or not
/// a message of this batch fails the whole batch. With it off, any
/// successful response means every message succeeded.
pub fn batch_outcome(
    payload: &[u8],
    batch_message_ids: &[&str],
    report_batch_item_failures: bool,
) -> BatchOutcome {
    if !report_batch_item_failures || payload.iter().all(u8::is_ascii_whitespace) {
        return BatchOutcome::AllSucceeded;
    }
    let whole = |reason: &str| BatchOutcome::WholeBatchFailed(reason.to_string());
    let response: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) => return whole("the function response is not valid JSON"),
    };
    let items = match &response {
        Value::Null => return BatchOutcome::AllSucceeded,
        Value::Object(o) => match o.get("batchItemFailures") {
            None | Some(Value::Null) => return BatchOutcome::AllSucceeded,
            Some(Value::Array(items)) => items,
            Some(_) => return whole("batchItemFailures is not a list"),
        },
        _ => return whole("the function response is not a JSON object"),
    };
    let mut failed: Vec<String> = Vec::new();
    for item in items {
        let id = match item.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(Value::String(_)) => return whole("an itemIdentifier is empty"),
            Some(Value::Null) | None => return whole("a batch item failure has no itemIdentifier"),
            Some(_) => return whole("an itemIdentifier is not a string"),
        };
        if !batch_message_ids.contains(&id.as_str()) {
            return whole(&format!(
                "itemIdentifier {id:?} is not a message of this batch"
            ));
        }
        if !failed.contains(id) {
            failed.push(id.clone());
        }
    }
    if failed.is_empty() {
        BatchOutcome::AllSucceeded
    } else {
        BatchOutcome::ItemsFailed(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 3] = ["m1", "m2", "m3"];

    fn outcome(payload: &str) -> BatchOutcome {
        batch_outcome(payload.as_bytes(), &IDS, true)
    }

    #[test]
    fn success_shapes() {
        for p in [
            "",
            "  ",
            "null",
            "{}",
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
            r#"{"other":1}"#,
        ] {
            assert_eq!(outcome(p), BatchOutcome::AllSucceeded, "{p:?}");
        }
    }

    #[test]
    fn listed_items_fail() {
        assert_eq!(
            outcome(
                r#"{"batchItemFailures":[{"itemIdentifier":"m2"},{"itemIdentifier":"m3"},{"itemIdentifier":"m2"}]}"#
            ),
            BatchOutcome::ItemsFailed(vec!["m2".into(), "m3".into()])
        );
    }

    #[test]
    fn invalid_items_fail_the_whole_batch() {
        for p in [
            "not json",
            r#""m1""#,
            r#"[{"itemIdentifier":"m1"}]"#,
            r#"{"batchItemFailures":{"itemIdentifier":"m1"}}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"itemId":"m1"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":7}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"m9"}]}"#,
            r#"{"batchItemFailures":["m1"]}"#,
        ] {
            assert!(
                matches!(outcome(p), BatchOutcome::WholeBatchFailed(_)),
                "{p}"
            );
        }
    }

    #[test]
    fn without_reporting_any_response_succeeds() {
        let p = br#"{"batchItemFailures":[{"itemIdentifier":"m9"}]}"#;
        assert_eq!(batch_outcome(p, &IDS, false), BatchOutcome::AllSucceeded);
        assert_eq!(
            batch_outcome(b"garbage", &IDS, false),
            BatchOutcome::AllSucceeded
        );
    }

    #[test]
    fn batch_event_shape() {
        let m = SqsMessage {
            message_id: "m1".into(),
            receipt_handle: "rh".into(),
            body: "hello".into(),
            md5_of_body: "5d41402abc4b2a76b9719d911017c592".into(),
            attributes: [("ApproximateReceiveCount".to_string(), "1".to_string())].into(),
            message_attributes: Value::Null,
        };
        let e = batch_event(&[m], "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1");
        let r = &e["Records"][0];
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:eu-west-1:123456789012:q");
        assert_eq!(r["messageAttributes"], json!({}));
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    }
}
