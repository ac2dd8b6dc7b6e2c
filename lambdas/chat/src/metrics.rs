//! Per-message metrics as CloudWatch EMF lines (namespace `archform/chat`,
//! dimension `Service=chat`): on Lambda they become metrics with no API
//! call; standalone they are log lines on stderr.

use serde_json::json;
use service_common::MetricsSink;
use service_common::emf;

use crate::transport::FanoutReport;

pub const NAMESPACE: &str = "archform/chat";

/// The line for one sent message: deliveries, gone and expired
/// connections, failed deliveries, and the DynamoDB calls it cost.
pub fn message_line(
    report: &FanoutReport,
    dynamodb_calls: u64,
    fanout_ms: f64,
    request_id: &str,
    epoch_millis: i64,
) -> String {
    emf::document(
        NAMESPACE,
        epoch_millis,
        &[("Service", "chat")],
        &[
            ("Deliveries", "Count", report.deliveries as f64),
            ("GoneConnections", "Count", report.gone as f64),
            ("ExpiredConnections", "Count", report.expired as f64),
            ("FailedDeliveries", "Count", report.failed as f64),
            ("DynamoDbCalls", "Count", dynamodb_calls as f64),
            ("FanoutLatency", "Milliseconds", fanout_ms),
        ],
        &[
            ("request_id", json!(request_id)),
            ("action", json!("sendmessage")),
        ],
    )
}

/// Writes the line of one message to `sink`.
pub fn record_message(
    sink: MetricsSink,
    report: &FanoutReport,
    dynamodb_calls: u64,
    fanout_ms: f64,
    request_id: &str,
) {
    if sink == MetricsSink::Off {
        return;
    }
    sink.write_line(&message_line(
        report,
        dynamodb_calls,
        fanout_ms,
        request_id,
        emf::epoch_millis(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lines_carry_the_fanout_figures() {
        let report = FanoutReport {
            deliveries: 3,
            gone: 1,
            expired: 2,
            failed: 0,
        };
        let line = message_line(&report, 4, 1.5, "r1", 7);
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["Deliveries"], 3.0);
        assert_eq!(doc["GoneConnections"], 1.0);
        assert_eq!(doc["ExpiredConnections"], 2.0);
        assert_eq!(doc["DynamoDbCalls"], 4.0);
        assert_eq!(doc["request_id"], "r1");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}
