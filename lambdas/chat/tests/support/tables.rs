//! The blueprint's three tables, created directly for tests that run the
//! library without deploying (same keys and indexes as blueprints/chat.yaml).

#![allow(dead_code)]

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

/// The logical tables, as the blueprint names them.
pub const TABLES: [&str; 3] = ["connections", "messages", "presence"];

/// `names`: logical table -> table name.
pub async fn create(client: &aws_sdk_dynamodb::Client, names: &HashMap<&str, String>) {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let index = |name: &str, pk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash))
            .key_schema(key("connection_id", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&names["connections"])
        .key_schema(key("connection_id", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("connection_id"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("conversation_id"))
        .attribute_definitions(attr("user_id"))
        .global_secondary_indexes(index("by_conversation", "conversation_id"))
        .global_secondary_indexes(index("by_user", "user_id"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    client
        .create_table()
        .table_name(&names["messages"])
        .key_schema(key("conversation_id", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("conversation_id"))
        .attribute_definitions(attr("sk"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    client
        .create_table()
        .table_name(&names["presence"])
        .key_schema(key("user_id", KeyType::Hash))
        .attribute_definitions(attr("user_id"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}
