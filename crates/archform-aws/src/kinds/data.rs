//! Providers of the data kinds: DynamoDB tables, S3 buckets, RDS.

mod bucket;
mod db_instance;
mod db_subnet_group;
mod rds_tags;
mod table;

use super::Handler;

static TABLE: Handler = handler!(table);
static BUCKET: Handler = handler!(bucket);
static DB_SUBNET_GROUP: Handler = handler!(db_subnet_group);
static DB_INSTANCE: Handler = handler!(db_instance);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "dynamodb.table" => Some(&TABLE),
        "s3.bucket" => Some(&BUCKET),
        "rds.db_subnet_group" => Some(&DB_SUBNET_GROUP),
        "rds.db_instance" => Some(&DB_INSTANCE),
        _ => None,
    }
}
