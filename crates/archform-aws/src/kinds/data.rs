//! Providers of the data kinds: DynamoDB tables, S3 buckets, RDS.

mod bucket;
mod table;

use super::Handler;

static TABLE: Handler = handler!(table);
static BUCKET: Handler = handler!(bucket);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "dynamodb.table" => Some(&TABLE),
        "s3.bucket" => Some(&BUCKET),
        _ => None,
    }
}
