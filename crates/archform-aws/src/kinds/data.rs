//! Providers of the data kinds: DynamoDB tables, S3 buckets, RDS.

mod bucket;
mod db_instance;
mod db_parameter_group;
mod db_subnet_group;
mod rds_tags;
mod table;

use super::Handler;

pub(super) static TABLE: Handler = provider!(table);
pub(super) static BUCKET: Handler = provider!(bucket);
pub(super) static DB_SUBNET_GROUP: Handler = provider!(db_subnet_group);
pub(super) static DB_PARAMETER_GROUP: Handler = provider!(db_parameter_group);
pub(super) static DB_INSTANCE: Handler = provider!(db_instance);
