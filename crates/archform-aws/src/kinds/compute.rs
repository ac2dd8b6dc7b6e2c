//! Providers of the compute kinds: CloudWatch log groups and Lambda.

mod function;
mod log_group;

use super::Handler;

static LOG_GROUP: Handler = handler!(log_group);
static FUNCTION: Handler = handler!(function);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "logs.log_group" => Some(&LOG_GROUP),
        "lambda.function" => Some(&FUNCTION),
        _ => None,
    }
}
