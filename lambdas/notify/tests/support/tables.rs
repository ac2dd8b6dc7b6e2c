//! The service's DynamoDB tables, created directly for tests that run the
//! library against the emulator (the keys the README's "Tables" section
//! documents).

#![allow(dead_code)]

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// Table names for one test, unique per process and `prefix`.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub notifications: String,
    pub templates: String,
    pub preferences: String,
    pub idempotency: String,
    pub rate_limits: String,
}

impl TableNames {
    pub fn new(prefix: &str) -> Self {
        let unique = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % 1_000_000_000
        );
        Self {
            notifications: format!("{unique}-notifications"),
            templates: format!("{unique}-templates"),
            preferences: format!("{unique}-preferences"),
            idempotency: format!("{unique}-idempotency"),
            rate_limits: format!("{unique}-rate-limits"),
        }
    }
}

async fn table(client: &aws_sdk_dynamodb::Client, name: &str, keys: &[(&str, KeyType)]) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, kind) in keys {
        request = request
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*attribute)
                    .key_type(kind.clone())
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
}

pub async fn create(client: &aws_sdk_dynamodb::Client, names: &TableNames) {
    table(
        client,
        &names.notifications,
        &[("pk", KeyType::Hash), ("sk", KeyType::Range)],
    )
    .await;
    table(client, &names.templates, &[("name", KeyType::Hash)]).await;
    table(client, &names.preferences, &[("user_id", KeyType::Hash)]).await;
    table(client, &names.idempotency, &[("key", KeyType::Hash)]).await;
    table(client, &names.rate_limits, &[("pk", KeyType::Hash)]).await;
}
