//! `testfn-sqs`: an SQS batch consumer that forwards each message body to
//! another queue and reports the ones it cannot take as batch item failures,
//! so the local SQS poller's partial-batch handling can be tested.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;

/// Where good messages go: the URL of the output queue.
pub const OUT_QUEUE_ENV: &str = "OUT_QUEUE_URL";

/// True when `body` contains the word `poison` (any case, on its own, not
/// inside a longer word like `poisonous`): such a message always fails.
pub fn is_poison(body: &str) -> bool {
    body.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("poison"))
}

/// What the consumer does with each record.
pub struct Forwarder {
    pub sqs: aws_sdk_sqs::Client,
    /// `None` when `OUT_QUEUE_URL` is unset: every good message then fails
    /// with that reason, which the log line says.
    pub out_queue_url: Option<String>,
}

impl Forwarder {
    /// A client configured from the environment (region, credentials and
    /// `AWS_ENDPOINT_URL`, which archform's local runtime sets) and the
    /// output queue from `OUT_QUEUE_URL`.
    pub async fn from_env() -> Self {
        let config = aws_config::load_from_env().await;
        Forwarder {
            sqs: aws_sdk_sqs::Client::new(&config),
            out_queue_url: std::env::var(OUT_QUEUE_ENV)
                .ok()
                .filter(|url| !url.is_empty()),
        }
    }

    /// Handles one batch: poison messages and failed forwards are listed in
    /// `batchItemFailures` (by message id), so only they are retried.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.payload.records {
            let id = record.message_id.clone().unwrap_or_default();
            match self.forward(record).await {
                Ok(()) => println!("testfn-sqs: message {id} forwarded"),
                Err(reason) => {
                    println!("testfn-sqs: message {id} failed: {reason}");
                    response.add_failure(id);
                }
            }
        }
        response
    }

    async fn forward(&self, record: &SqsMessage) -> Result<(), String> {
        let body = record.body.as_deref().unwrap_or_default();
        if is_poison(body) {
            return Err("poison message".into());
        }
        let queue = self
            .out_queue_url
            .as_deref()
            .ok_or_else(|| format!("{OUT_QUEUE_ENV} is not set"))?;
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "SendMessage to {queue}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&err)
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_poison;

    #[test]
    fn poison_is_a_whole_word_in_any_case() {
        assert!(is_poison("poison"));
        assert!(is_poison("this is POISON, drop it"));
        assert!(is_poison(r#"{"kind":"poison"}"#));
        assert!(!is_poison("poisonous mushrooms"));
        assert!(!is_poison("fine message"));
        assert!(!is_poison(""));
    }
}
