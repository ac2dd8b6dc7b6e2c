//! Providers of the compute kinds: CloudWatch log groups and Lambda.

mod event_source_mapping;
mod function;
mod function_url;
mod log_group;
mod permission;

use super::Handler;

static LOG_GROUP: Handler = handler!(log_group);
static FUNCTION: Handler = handler!(function);
static PERMISSION: Handler = handler!(permission);
static EVENT_SOURCE_MAPPING: Handler = handler!(event_source_mapping);
static FUNCTION_URL: Handler = handler!(function_url);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "logs.log_group" => Some(&LOG_GROUP),
        "lambda.function" => Some(&FUNCTION),
        "lambda.permission" => Some(&PERMISSION),
        "lambda.event_source_mapping" => Some(&EVENT_SOURCE_MAPPING),
        "lambda.function_url" => Some(&FUNCTION_URL),
        _ => None,
    }
}
