//! Providers of the messaging kinds: SQS queues and their policies, SNS
//! topics and subscriptions.

mod queue;
mod queue_policy;
mod subscription;
mod topic;

use super::Handler;

static QUEUE: Handler = handler!(queue);
static QUEUE_POLICY: Handler = handler!(queue_policy);
static TOPIC: Handler = handler!(topic);
static SUBSCRIPTION: Handler = handler!(subscription);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "sqs.queue" => Some(&QUEUE),
        "sqs.queue_policy" => Some(&QUEUE_POLICY),
        "sns.topic" => Some(&TOPIC),
        "sns.subscription" => Some(&SUBSCRIPTION),
        _ => None,
    }
}
