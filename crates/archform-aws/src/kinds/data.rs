//! Providers of the data kinds: DynamoDB tables, S3 buckets, RDS.

mod table;

use super::Handler;

static TABLE: Handler = handler!(table);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "dynamodb.table" => Some(&TABLE),
        _ => None,
    }
}
