//! Providers of the messaging kinds: SQS queues and their policies, SNS
//! topics and subscriptions.

mod queue;
mod queue_policy;

use super::Handler;

static QUEUE: Handler = handler!(queue);
static QUEUE_POLICY: Handler = handler!(queue_policy);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "sqs.queue" => Some(&QUEUE),
        "sqs.queue_policy" => Some(&QUEUE_POLICY),
        _ => None,
    }
}
