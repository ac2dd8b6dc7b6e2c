//! The [`crate::store`] traits on DynamoDB tables (one table per store; the
//! README's "Tables" section is the reference for keys and attributes).
//!
//! - Notifications (`pk` S, `sk` S): `sk = "notification"` holds the
//!   notification without its channels (`doc`, JSON) and `user_id`,
//!   `created_at`; `sk = "channel#<channel>"` holds one channel's status as
//!   plain attributes (`status`, `locale`, `updated_at`, and by status
//!   `not_before`, `provider_id`, `reason`, `attempts`, `next_attempt_at`)
//!   plus the worker's bookkeeping: `attempt_count` (claims so far) and
//!   `claimed_until` (the lease of a `sending` claim). A notification is
//!   one Query (consistent) of its partition; a claim or a status change
//!   is one conditional UpdateItem of one channel item.
//! - Templates (`name` S): `doc` (the template as JSON), `updated_at`.
//! - Preferences (`user_id` S): `doc` (JSON), `updated_at`.
//! - Idempotency (`key` S): `body_hash`, `response` (JSON), `created_at`,
//!   `expires_at` (Unix ms), `ttl` (Unix seconds, the table's TTL
//!   attribute, so DynamoDB deletes expired keys).
//! - Rate limits (`pk` S = `"<channel>#<unix second>"`): `used`, `ttl`.
//!   One conditional `ADD used :1` per send, refused once `used` reaches
//!   the cap, so every worker of every process shares one count per
//!   channel and second.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Map, Value};

use crate::idempotency::IdempotencyRecord;
use crate::model::{Channel, ChannelDelivery, Notification};
use crate::preferences::Preferences;
use crate::store::{
    BoxFuture, Claim, DeliveryClaim, IdempotencyStore, NotificationStore, PreferenceStore,
    RateLimiter, StoreError, TemplateStore,
};
use crate::templates::Template;

type Item = HashMap<String, AttributeValue>;

const NOTIFICATION_SK: &str = "notification";
const CHANNEL_PREFIX: &str = "channel#";
/// The channel status fields stored as attributes (see the module docs).
const STATUS_FIELDS: [&str; 7] = [
    "status",
    "not_before",
    "provider_id",
    "reason",
    "attempts",
    "next_attempt_at",
    "locale",
];
/// Rate-limit windows are kept this long after their second (then the
/// table's TTL deletes them).
const RATE_WINDOW_TTL_SECONDS: i64 = 120;

fn backend<E: std::error::Error + 'static>(operation: &'static str, err: E) -> StoreError {
    StoreError::backend(operation, DisplayErrorContext(err).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn is_condition_failure<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

fn malformed(key: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Malformed {
        key: key.into(),
        reason: reason.into(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::backend("serialize", err.to_string()))
}

fn from_doc<T: serde::de::DeserializeOwned>(item: &Item, key: &str) -> Result<T, StoreError> {
    let doc = get_s(item, "doc").ok_or_else(|| malformed(key, "no doc attribute"))?;
    serde_json::from_str(doc).map_err(|err| malformed(key, err.to_string()))
}

fn channel_sk(channel: Channel) -> String {
    format!("{CHANNEL_PREFIX}{channel}")
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// A channel delivery as attributes: every field of its JSON form (all
/// strings and whole numbers) under its own name, plus `updated_at`.
fn delivery_attributes(delivery: &ChannelDelivery) -> Result<Item, StoreError> {
    let value = serde_json::to_value(delivery)
        .map_err(|err| StoreError::backend("serialize", err.to_string()))?;
    let mut item = Item::new();
    if let Value::Object(map) = value {
        for (name, field) in map {
            let attribute = match field {
                Value::String(text) => s(text),
                Value::Number(number) => AttributeValue::N(number.to_string()),
                other => {
                    return Err(StoreError::backend(
                        "serialize",
                        format!("channel field {name} is {other}, not a string or number"),
                    ));
                }
            };
            item.insert(name, attribute);
        }
    }
    Ok(item)
}

/// The channel delivery of a channel item. A `sending` status takes its
/// attempt from the claim counter.
fn delivery_from(item: &Item, key: &str) -> Result<ChannelDelivery, StoreError> {
    let mut map = Map::new();
    for name in STATUS_FIELDS.iter().chain(["updated_at"].iter()) {
        match item.get(*name) {
            Some(AttributeValue::S(text)) => {
                map.insert((*name).to_owned(), Value::String(text.clone()));
            }
            Some(AttributeValue::N(number)) => {
                let number: i64 = number
                    .parse()
                    .map_err(|_| malformed(key, format!("{name} is not a whole number")))?;
                map.insert((*name).to_owned(), Value::from(number));
            }
            _ => {}
        }
    }
    if get_s(item, "status") == Some("sending") {
        map.insert(
            "attempts".into(),
            Value::from(get_n(item, "attempt_count").unwrap_or(0)),
        );
    }
    serde_json::from_value(Value::Object(map)).map_err(|err| malformed(key, err.to_string()))
}

fn channel_item(
    id: &str,
    channel: Channel,
    delivery: &ChannelDelivery,
) -> Result<Item, StoreError> {
    let mut item = delivery_attributes(delivery)?;
    item.extend(key(id, &channel_sk(channel)));
    item.insert("attempt_count".into(), n(0));
    Ok(item)
}

fn notification_items(notification: &Notification) -> Result<Vec<Item>, StoreError> {
    let mut bare = notification.clone();
    bare.channels.clear();
    let mut main = key(&notification.id, NOTIFICATION_SK);
    main.insert("doc".into(), s(to_json(&bare)?));
    main.insert("user_id".into(), s(&notification.user_id));
    main.insert("created_at".into(), n(notification.created_at));
    let mut items = vec![main];
    for (channel, delivery) in &notification.channels {
        items.push(channel_item(&notification.id, *channel, delivery)?);
    }
    Ok(items)
}

/// The notifications table.
#[derive(Clone, Debug)]
pub struct DynamoNotifications {
    client: Client,
    table: String,
}

impl DynamoNotifications {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// `PutItem` if no item has the key: whether it was created.
    async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(err) => Err(backend("PutItem", err)),
        }
    }

    /// Writes items in batches of 25, retrying what DynamoDB leaves
    /// unprocessed.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|err| StoreError::backend("BatchWriteItem", err.to_string()))
            })
            .collect::<Result<_, _>>()?;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(25));
            let mut batch = std::mem::replace(&mut requests, rest);
            for attempt in 0..6u32 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(|e| backend("BatchWriteItem", e))?;
                batch = output
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            if !batch.is_empty() {
                return Err(StoreError::backend(
                    "BatchWriteItem",
                    format!("{} items still unprocessed after retries", batch.len()),
                ));
            }
        }
        Ok(())
    }

    async fn get_channel_item(
        &self,
        id: &str,
        channel: Channel,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(id, &channel_sk(channel))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(output.item)
    }

    /// Sets the channel's status fields to `delivery`'s (removing the ones
    /// it lacks) and drops the claim lease, if `condition` holds.
    async fn update_channel(
        &self,
        id: &str,
        channel: Channel,
        delivery: &ChannelDelivery,
        condition: &str,
        mut values: Item,
    ) -> Result<bool, StoreError> {
        let attributes = delivery_attributes(delivery)?;
        let mut names = HashMap::new();
        if condition.contains("#pk") {
            names.insert("#pk".to_owned(), "pk".to_owned());
        }
        let mut sets = Vec::new();
        let mut removes = vec!["claimed_until".to_owned()];
        for field in STATUS_FIELDS.iter().chain(["updated_at"].iter()) {
            let name = format!("#{field}");
            names.insert(name.clone(), (*field).to_owned());
            match attributes.get(*field) {
                Some(value) => {
                    let placeholder = format!(":v_{field}");
                    sets.push(format!("{name} = {placeholder}"));
                    values.insert(placeholder, value.clone());
                }
                None => removes.push(name),
            }
        }
        let expression = format!("SET {} REMOVE {}", sets.join(", "), removes.join(", "));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, &channel_sk(channel))))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(err) => Err(backend("UpdateItem", err)),
        }
    }
}

impl NotificationStore for DynamoNotifications {
    fn put_notifications<'a>(
        &'a self,
        notifications: &'a [Notification],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut items = Vec::new();
            for notification in notifications {
                items.extend(notification_items(notification)?);
            }
            self.batch_put(items).await
        })
    }

    fn get_notification<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Notification>, StoreError>> {
        Box::pin(async move {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(id))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| backend("Query", e))?;
                items.extend(output.items.unwrap_or_default());
                start = output.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            let Some(main) = items
                .iter()
                .find(|item| get_s(item, "sk") == Some(NOTIFICATION_SK))
            else {
                return Ok(None);
            };
            let label = format!("notification {id}");
            let mut notification: Notification = from_doc(main, &label)?;
            for item in &items {
                let Some(name) = get_s(item, "sk").and_then(|sk| sk.strip_prefix(CHANNEL_PREFIX))
                else {
                    continue;
                };
                let channel: Channel =
                    name.parse().map_err(|err: crate::model::UnknownChannel| {
                        malformed(&label, err.to_string())
                    })?;
                notification
                    .channels
                    .insert(channel, delivery_from(item, &label)?);
            }
            Ok(Some(notification))
        })
    }

    fn set_channel_status<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.update_channel(id, channel, &delivery, "attribute_exists(#pk)", Item::new())
                .await
        })
    }

    fn create_notification<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        // Conditional puts, the channels first and the notification item
        // last, instead of one transaction: each put only creates, so a
        // second delivery of a chunk (or one after a crash half-way)
        // completes what is missing and never resets a channel a worker
        // moved on; readers see nothing until the notification item, the
        // last, exists. Half the write cost of a transaction, too.
        Box::pin(async move {
            let mut items = notification_items(notification)?;
            let main = items.remove(0);
            let channels = items.into_iter().map(|item| self.put_if_absent(item));
            for created in futures_util::future::join_all(channels).await {
                created?;
            }
            self.put_if_absent(main).await
        })
    }

    fn claim_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<DeliveryClaim, StoreError>> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(id, &channel_sk(channel))))
                .update_expression(
                    "SET #status = :sending, claimed_until = :until, updated_at = :now \
                     ADD attempt_count :one \
                     REMOVE not_before, provider_id, reason, attempts, next_attempt_at",
                )
                .condition_expression(
                    "attribute_exists(pk) AND (#status IN (:queued, :retrying) \
                     OR (#status = :sending AND claimed_until <= :now))",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":sending", s("sending"))
                .expression_attribute_values(":queued", s("queued"))
                .expression_attribute_values(":retrying", s("retrying"))
                .expression_attribute_values(":until", n(now_ms.saturating_add(lease_ms)))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":one", n(1))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let attempt = output
                        .attributes
                        .as_ref()
                        .and_then(|item| get_n(item, "attempt_count"))
                        .unwrap_or(1);
                    Ok(DeliveryClaim::Claimed {
                        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                    })
                }
                Err(err) if err.as_service_error().is_some_and(is_condition_failure) => {
                    let label = format!("notification {id}");
                    let Some(item) = self.get_channel_item(id, channel).await? else {
                        return Ok(DeliveryClaim::Unknown);
                    };
                    let delivery = delivery_from(&item, &label)?;
                    Ok(DeliveryClaim::decide(
                        &delivery.status,
                        get_n(&item, "claimed_until"),
                        now_ms,
                    )
                    // The condition failed a moment ago but the item
                    // now looks claimable: someone's claim just
                    // ended. Let the job come back rather than race.
                    .unwrap_or(DeliveryClaim::Busy { until_ms: now_ms }))
                }
                Err(err) => Err(backend("UpdateItem", err)),
            }
        })
    }

    fn finish_delivery<'a>(
        &'a self,
        id: &'a str,
        channel: Channel,
        claim: Option<u32>,
        delivery: ChannelDelivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            match claim {
                Some(attempt) => {
                    let values = HashMap::from([
                        (":sending".to_owned(), s("sending")),
                        (":attempt".to_owned(), n(i64::from(attempt))),
                    ]);
                    self.update_channel(
                        id,
                        channel,
                        &delivery,
                        "#status = :sending AND attempt_count = :attempt",
                        values,
                    )
                    .await
                }
                None => {
                    let values = HashMap::from([
                        (":queued".to_owned(), s("queued")),
                        (":retrying".to_owned(), s("retrying")),
                    ]);
                    self.update_channel(
                        id,
                        channel,
                        &delivery,
                        "#status IN (:queued, :retrying)",
                        values,
                    )
                    .await
                }
            }
        })
    }
}

/// A table of JSON documents keyed by one string attribute (templates,
/// preferences).
#[derive(Clone, Debug)]
struct DocTable {
    client: Client,
    table: String,
    key: &'static str,
}

impl DocTable {
    async fn put(&self, id: &str, doc: String, updated_at: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(self.key, s(id))
            .item("doc", s(doc))
            .item("updated_at", n(updated_at))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(self.key, s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        output
            .item
            .map(|item| from_doc(&item, &format!("{} {id}", self.key)))
            .transpose()
    }
}

impl DocTable {
    /// `BatchGetItem`, 100 keys a call (DynamoDB's limit), strongly
    /// consistent like `get`; keys DynamoDB leaves unprocessed (throttling,
    /// the 16 MB answer limit) are asked again with a short backoff.
    async fn get_many<T: serde::de::DeserializeOwned>(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, T>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = BTreeMap::new();
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| Item::from([(self.key.to_string(), s(id.as_str()))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|err| StoreError::backend("BatchGetItem", err.to_string()))?,
            );
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| backend("BatchGetItem", e))?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let id = get_s(&item, self.key).unwrap_or_default().to_owned();
                    let doc = from_doc(&item, &format!("{} {id}", self.key))?;
                    found.insert(id, doc);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::backend(
                            "BatchGetItem",
                            "keys still unprocessed after 8 attempts",
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
            }
        }
        Ok(found)
    }
}

/// The templates table (`name`).
#[derive(Clone, Debug)]
pub struct DynamoTemplates(DocTable);

impl DynamoTemplates {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self(DocTable {
            client,
            table: table.into(),
            key: "name",
        })
    }
}

impl TemplateStore for DynamoTemplates {
    fn put_template<'a>(&'a self, template: &'a Template) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0
                .put(&template.name, to_json(template)?, template.updated_at)
                .await
        })
    }

    fn get_template<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Template>, StoreError>> {
        Box::pin(self.0.get(name))
    }
}

/// The preferences table (`user_id`).
#[derive(Clone, Debug)]
pub struct DynamoPreferences(DocTable);

impl DynamoPreferences {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self(DocTable {
            client,
            table: table.into(),
            key: "user_id",
        })
    }
}

impl PreferenceStore for DynamoPreferences {
    fn put_preferences<'a>(
        &'a self,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0
                .put(
                    &preferences.user_id,
                    to_json(preferences)?,
                    preferences.updated_at,
                )
                .await
        })
    }

    fn get_preferences<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Preferences>, StoreError>> {
        Box::pin(self.0.get(user_id))
    }

    fn get_many_preferences<'a>(
        &'a self,
        user_ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Preferences>, StoreError>> {
        Box::pin(self.0.get_many(user_ids))
    }
}

/// The idempotency table (`key`).
#[derive(Clone, Debug)]
pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let label = format!("idempotency key {key}");
        let response = get_s(&item, "response").ok_or_else(|| malformed(&label, "no response"))?;
        Ok(Some(IdempotencyRecord {
            key: key.to_owned(),
            body_hash: get_s(&item, "body_hash")
                .ok_or_else(|| malformed(&label, "no body_hash"))?
                .to_owned(),
            response: serde_json::from_str(response)
                .map_err(|err| malformed(&label, err.to_string()))?,
            created_at: get_n(&item, "created_at").unwrap_or(0),
            expires_at: get_n(&item, "expires_at")
                .ok_or_else(|| malformed(&label, "no expires_at"))?,
        }))
    }
}

impl IdempotencyStore for DynamoIdempotency {
    fn claim<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            // A record that expires between the failed put and the read is
            // gone or dead on the second pass, which then claims it.
            for _ in 0..3 {
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("key", s(&record.key))
                    .item("body_hash", s(&record.body_hash))
                    .item("response", s(to_json(&record.response)?))
                    .item("created_at", n(record.created_at))
                    .item("expires_at", n(record.expires_at))
                    .item("ttl", n(record.expires_at.div_euclid(1000) + 1))
                    .condition_expression("attribute_not_exists(#key) OR expires_at <= :now")
                    .expression_attribute_names("#key", "key")
                    .expression_attribute_values(":now", n(now_ms))
                    .send()
                    .await;
                match result {
                    Ok(_) => return Ok(Claim::Claimed),
                    Err(err) if err.as_service_error().is_some_and(is_condition_failure) => {
                        if let Some(existing) = self.get(&record.key).await?
                            && existing.is_live(now_ms)
                        {
                            return Ok(Claim::Held(existing));
                        }
                    }
                    Err(err) => return Err(backend("PutItem", err)),
                }
            }
            Err(StoreError::backend(
                "PutItem",
                format!("the idempotency key {:?} kept changing", record.key),
            ))
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("key", s(key))
                .send()
                .await
                .map_err(|e| backend("DeleteItem", e))?;
            Ok(())
        })
    }
}

/// The rate-limit table (`pk`).
#[derive(Clone, Debug)]
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl RateLimiter for DynamoRateLimiter {
    fn try_acquire<'a>(
        &'a self,
        channel: Channel,
        per_second: u32,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let second = now_ms.div_euclid(1000);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(format!("{channel}#{second}")))
                .update_expression("SET #ttl = :ttl ADD used :one")
                .condition_expression("attribute_not_exists(used) OR used < :cap")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":ttl", n(second + RATE_WINDOW_TTL_SECONDS))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":cap", n(i64::from(per_second)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(false),
                Err(err) => Err(backend("UpdateItem", err)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelStatus, SuppressionReason};

    #[test]
    fn every_status_survives_the_attribute_form() {
        let statuses = [
            ChannelStatus::Queued { not_before: None },
            ChannelStatus::Queued {
                not_before: Some(17),
            },
            ChannelStatus::Sent {
                provider_id: Some("m-1".into()),
            },
            ChannelStatus::Delivered,
            ChannelStatus::Failed {
                reason: "HTTP 410".into(),
            },
            ChannelStatus::Retrying {
                attempts: 2,
                reason: "timeout".into(),
                next_attempt_at: Some(99),
            },
            ChannelStatus::Suppressed {
                reason: SuppressionReason::OptedOut,
            },
            ChannelStatus::DeadLettered {
                attempts: 5,
                reason: "HTTP 503".into(),
            },
        ];
        for status in statuses {
            let delivery = ChannelDelivery {
                status,
                locale: Some("pt-BR".into()),
                updated_at: 42,
            };
            let item = delivery_attributes(&delivery).unwrap();
            assert_eq!(delivery_from(&item, "t").unwrap(), delivery);
        }
        // `sending` counts from the claim counter.
        let mut item = delivery_attributes(&ChannelDelivery {
            status: ChannelStatus::Sending { attempts: 0 },
            locale: None,
            updated_at: 1,
        })
        .unwrap();
        item.remove("attempts");
        item.insert("attempt_count".into(), n(3));
        assert_eq!(
            delivery_from(&item, "t").unwrap().status,
            ChannelStatus::Sending { attempts: 3 }
        );
    }
}
