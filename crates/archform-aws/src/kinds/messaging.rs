//! Providers of the messaging kinds: SQS queues and their policies, SNS
//! topics and subscriptions, SES sender identities.

mod email_identity;
mod queue;
mod queue_policy;
mod subscription;
mod topic;

use super::Handler;

pub(super) static QUEUE: Handler = provider!(queue);
pub(super) static QUEUE_POLICY: Handler = provider!(queue_policy);
pub(super) static TOPIC: Handler = provider!(topic);
pub(super) static SUBSCRIPTION: Handler = provider!(subscription);
pub(super) static EMAIL_IDENTITY: Handler = provider!(email_identity);
