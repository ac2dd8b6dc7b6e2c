//! Providers of the compute kinds: CloudWatch log groups and Lambda.

mod log_group;

use super::Handler;

static LOG_GROUP: Handler = handler!(log_group);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "logs.log_group" => Some(&LOG_GROUP),
        _ => None,
    }
}
