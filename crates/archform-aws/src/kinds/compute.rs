//! Providers of the compute kinds: CloudWatch log groups and Lambda.

mod event_source_mapping;
mod function;
mod function_url;
mod log_group;
mod permission;

use super::Handler;

pub(super) static LOG_GROUP: Handler = handler!(log_group);
pub(super) static FUNCTION: Handler = handler!(function);
pub(super) static PERMISSION: Handler = handler!(permission);
pub(super) static EVENT_SOURCE_MAPPING: Handler = handler!(event_source_mapping);
pub(super) static FUNCTION_URL: Handler = handler!(function_url);
