//! An SNS subscription with the `lambda` protocol: the notification event.

use serde_json::{Value, json};

/// `{"Records": [{"EventSource": "aws:sns", ..., "Sns": {...}}]}` for one
/// notification. `message_attributes` is `{name: {Type, Value}}` (null for
/// none); `timestamp` is ISO 8601 UTC with milliseconds, as SNS writes it.
/// The signature fields have SNS's shape but nothing signs them locally:
/// the certificate and unsubscribe URLs point at the topic's regional
/// endpoint.
pub fn event(
    topic_arn: &str,
    subscription_arn: &str,
    message_id: &str,
    subject: Option<&str>,
    message: &str,
    message_attributes: &Value,
    timestamp: &str,
) -> Value {
    let region = topic_arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1");
    let attributes = if message_attributes.is_null() {
        json!({})
    } else {
        message_attributes.clone()
    };
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic_arn,
                "Subject": subject,
                "Message": message,
                "Timestamp": timestamp,
                "SignatureVersion": "1",
                "Signature": crate::events::base64::encode(b"archform-local: not signed"),
                "SigningCertUrl": format!(
                    "https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem"
                ),
                "UnsubscribeUrl": format!(
                    "https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                ),
                "MessageAttributes": attributes,
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_shape() {
        let e = event(
            "arn:aws:sns:eu-west-1:123456789012:topic",
            "arn:aws:sns:eu-west-1:123456789012:topic:sub-1",
            "m-1",
            None,
            "hello",
            &json!({"Test": {"Type": "String", "Value": "TestString"}}),
            "2026-01-02T12:45:07.000Z",
        );
        let r = &e["Records"][0];
        assert_eq!(r["EventSource"], "aws:sns");
        assert_eq!(r["Sns"]["Subject"], Value::Null);
        assert_eq!(r["Sns"]["MessageAttributes"]["Test"]["Value"], "TestString");
        assert!(
            r["Sns"]["UnsubscribeUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://sns.eu-west-1.amazonaws.com/")
        );
    }
}
