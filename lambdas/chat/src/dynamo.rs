//! The stores on the blueprint's DynamoDB tables.
//!
//! Connections table (`connection_id` S, `sk` S; TTL `expires_at`):
//! - `sk = "meta"`: the connection: `user_id` (so the `by_user` index finds
//!   it), `name`, `granted` and `joined` (lists), `connected_at`,
//!   `expires_at`, and the limit counters `rate_window`, `rate_count`,
//!   `typing_at`;
//! - `sk = "conv#<conversation>#<expires_at>#<user>"`, with
//!   `conversation_id` (so the `by_conversation` index finds it) and
//!   `expires_at`: one per joined conversation. The index is KEYS_ONLY, so
//!   what the fan-out needs from a member (its expiry and user) is in the
//!   key itself: one Query per conversation, no per-member read.
//!
//! Messages table (`conversation_id` S, `sk` S; TTL `expires_at`):
//! - `sk = "<13-digit ts>#<id>"`: a message (`id`, `sender`, `text`, `ts`,
//!   `expires_at` when retention is set);
//! - `sk = "idem#<sender>#<client_id>"`: a client id already used, with the
//!   message it stored (written in one transaction with the message);
//! - `sk = "read#<user>"`: the user's read marker (`message_id`, `at`).
//!   Message keys start with a digit, these with a letter, so a history
//!   Query between `"0"` and `"9999999999999#~"` reads messages only.
//!
//! Presence table (`user_id` S; TTL `expires_at`): `expires_at`,
//! `last_seen`, `status` (`online` | `offline`, the last announced one).
//!
//! Every call counts toward the frame's `DynamoDbCalls` ([`crate::calls`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, WriteRequest,
};

use crate::calls;
use crate::ids;
use crate::model::{ConnectionRecord, Member, Message, Presence};
use crate::store::{
    Admission, BoxFuture, ConnectionStore, Heartbeat, MessageStore, Page, PageBounds,
    PresenceStore, PutOutcome, StoreError, StoreResult,
};

type Item = HashMap<String, AttributeValue>;

const META: &str = "meta";
const BY_CONVERSATION: &str = "by_conversation";
const BY_USER: &str = "by_user";
/// Highest message sort key: 13 nines, `#`, then above every id character.
const LAST_MESSAGE_KEY: &str = "9999999999999#~";
const FIRST_MESSAGE_KEY: &str = "0";

fn backend<E: std::error::Error + 'static>(operation: &'static str, err: E) -> StoreError {
    StoreError::backend(operation, DisplayErrorContext(err).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn get_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn is_condition_failure<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// The connections table.
#[derive(Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn meta_key(connection_id: &str) -> Item {
        HashMap::from([
            ("connection_id".to_owned(), s(connection_id)),
            ("sk".to_owned(), s(META)),
        ])
    }

    fn membership_sk(record: &ConnectionRecord, conversation: &str) -> String {
        format!("conv#{conversation}#{}#{}", record.expires_at, record.user)
    }

    fn membership_item(record: &ConnectionRecord, conversation: &str) -> Item {
        HashMap::from([
            ("connection_id".to_owned(), s(&record.connection_id)),
            (
                "sk".to_owned(),
                s(Self::membership_sk(record, conversation)),
            ),
            ("conversation_id".to_owned(), s(conversation)),
            ("expires_at".to_owned(), n(record.expires_at)),
        ])
    }

    fn record_from(item: &Item) -> StoreResult<ConnectionRecord> {
        let connection_id = get_s(item, "connection_id").unwrap_or_default().to_owned();
        let malformed = |reason: &str| StoreError::Malformed {
            key: format!("connection {connection_id}"),
            reason: reason.to_owned(),
        };
        Ok(ConnectionRecord {
            user: get_s(item, "user_id")
                .ok_or_else(|| malformed("no user_id"))?
                .to_owned(),
            name: get_s(item, "name").map(str::to_owned),
            granted: get_list(item, "granted"),
            joined: get_list(item, "joined"),
            connected_at: get_n(item, "connected_at").unwrap_or(0),
            expires_at: get_n(item, "expires_at").ok_or_else(|| malformed("no expires_at"))?,
            connection_id: connection_id.clone(),
        })
    }

    /// Writes (or deletes) items in batches of 25, retrying what DynamoDB
    /// leaves unprocessed.
    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> StoreResult<()> {
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(25));
            let mut batch = std::mem::replace(&mut requests, rest);
            for attempt in 0..5u32 {
                calls::record();
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
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
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

    async fn get_meta(&self, connection_id: &str) -> StoreResult<Option<ConnectionRecord>> {
        calls::record();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::meta_key(connection_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        output.item.as_ref().map(Self::record_from).transpose()
    }

    /// One conditional update of the meta item; `Ok(None)` when the
    /// condition failed.
    async fn update_meta(
        &self,
        connection_id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<Option<ConnectionRecord>> {
        calls::record();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::meta_key(connection_id)))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => output
                .attributes
                .as_ref()
                .map(Self::record_from)
                .transpose(),
            Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(None),
            Err(err) => Err(backend("UpdateItem", err)),
        }
    }

    async fn refused_or_unknown(&self, connection_id: &str, now_ms: i64) -> StoreResult<Admission> {
        Ok(match self.get_meta(connection_id).await? {
            Some(record) if !record.is_expired(now_ms / 1000) => Admission::Refused(record),
            _ => Admission::Unknown,
        })
    }
}

fn admitted(record: Option<ConnectionRecord>, now_ms: i64) -> Option<Admission> {
    let record = record?;
    Some(if record.is_expired(now_ms / 1000) {
        Admission::Unknown
    } else {
        Admission::Admitted(record)
    })
}

impl ConnectionStore for DynamoConnections {
    fn put<'a>(&'a self, record: &'a ConnectionRecord) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut meta = Self::meta_key(&record.connection_id);
            meta.insert("user_id".into(), s(&record.user));
            if let Some(name) = &record.name {
                meta.insert("name".into(), s(name));
            }
            meta.insert("granted".into(), list(&record.granted));
            meta.insert("joined".into(), list(&record.joined));
            meta.insert("connected_at".into(), n(record.connected_at));
            meta.insert("expires_at".into(), n(record.expires_at));
            let mut items = vec![meta];
            items.extend(
                record
                    .joined
                    .iter()
                    .map(|c| Self::membership_item(record, c)),
            );
            let requests = items
                .into_iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| backend("BatchWriteItem", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(requests).await
        })
    }

    fn get<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>> {
        Box::pin(async move {
            Ok(self
                .get_meta(connection_id)
                .await?
                .filter(|record| !record.is_expired(now_ms / 1000)))
        })
    }

    fn admit_message<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Admission>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(admitted(self.get_meta(connection_id).await?, now_ms)
                    .unwrap_or(Admission::Unknown));
            }
            let window = crate::limits::minute_window(now_ms);
            // Usually one call: count in the current window. The first
            // message of a window resets it (a second call); two messages
            // racing over the reset retry.
            for _ in 0..3 {
                let counted = self
                    .update_meta(
                        connection_id,
                        "SET rate_count = rate_count + :one",
                        "attribute_exists(user_id) AND rate_window = :w AND rate_count < :limit",
                        vec![
                            (":one", n(1)),
                            (":w", n(window)),
                            (":limit", n(limit as i64)),
                        ],
                    )
                    .await?;
                if let Some(admission) = admitted(counted, now_ms) {
                    return Ok(admission);
                }
                let reset = self
                    .update_meta(
                        connection_id,
                        "SET rate_window = :w, rate_count = :one",
                        "attribute_exists(user_id) AND (attribute_not_exists(rate_window) OR rate_window <> :w)",
                        vec![(":one", n(1)), (":w", n(window))],
                    )
                    .await?;
                if let Some(admission) = admitted(reset, now_ms) {
                    return Ok(admission);
                }
                // Neither: over the limit in this window, or no such
                // connection, or a race with another reset.
                let current = self.get_meta(connection_id).await?;
                match current {
                    None => return Ok(Admission::Unknown),
                    Some(record) if record.is_expired(now_ms / 1000) => {
                        return Ok(Admission::Unknown);
                    }
                    Some(record) => {
                        let item_window = self.rate_window_of(connection_id).await?;
                        if item_window == Some(window) {
                            return Ok(Admission::Refused(record));
                        }
                    }
                }
            }
            self.refused_or_unknown(connection_id, now_ms).await
        })
    }

    fn admit_typing<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Admission>> {
        Box::pin(async move {
            let updated = self
                .update_meta(
                    connection_id,
                    "SET typing_at = :now",
                    "attribute_exists(user_id) AND (attribute_not_exists(typing_at) OR typing_at <= :cutoff)",
                    vec![(":now", n(now_ms)), (":cutoff", n(now_ms - min_interval_ms))],
                )
                .await?;
            match admitted(updated, now_ms) {
                Some(admission) => Ok(admission),
                None => self.refused_or_unknown(connection_id, now_ms).await,
            }
        })
    }

    fn join<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut joined = record.joined.clone();
            if !joined.iter().any(|c| c == conversation) {
                joined.push(conversation.to_owned());
            }
            self.update_meta(
                &record.connection_id,
                "SET joined = :joined",
                "attribute_exists(user_id)",
                vec![(":joined", list(&joined))],
            )
            .await?;
            calls::record();
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::membership_item(record, conversation)))
                .send()
                .await
                .map_err(|e| backend("PutItem", e))?;
            Ok(())
        })
    }

    fn leave<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let joined: Vec<String> = record
                .joined
                .iter()
                .filter(|c| *c != conversation)
                .cloned()
                .collect();
            self.update_meta(
                &record.connection_id,
                "SET joined = :joined",
                "attribute_exists(user_id)",
                vec![(":joined", list(&joined))],
            )
            .await?;
            calls::record();
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("connection_id", s(&record.connection_id))
                .key("sk", s(Self::membership_sk(record, conversation)))
                .send()
                .await
                .map_err(|e| backend("DeleteItem", e))?;
            Ok(())
        })
    }

    fn delete<'a>(
        &'a self,
        connection_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>> {
        Box::pin(async move {
            let mut items = Vec::new();
            let mut start: Option<Item> = None;
            loop {
                calls::record();
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("connection_id = :c")
                    .expression_attribute_values(":c", s(connection_id))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| backend("Query", e))?;
                items.extend(output.items.unwrap_or_default());
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
            let record = items
                .iter()
                .find(|item| get_s(item, "sk") == Some(META))
                .map(Self::record_from)
                .transpose()?;
            let requests = items
                .iter()
                .map(|item| {
                    let key: Item = ["connection_id", "sk"]
                        .into_iter()
                        .filter_map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
                        .collect();
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .map_err(|e| backend("BatchWriteItem", e))?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(requests).await?;
            Ok(record)
        })
    }

    fn members<'a>(&'a self, conversation: &'a str) -> BoxFuture<'a, StoreResult<Vec<Member>>> {
        Box::pin(async move {
            let mut members = Vec::new();
            let mut start: Option<Item> = None;
            loop {
                calls::record();
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(BY_CONVERSATION)
                    .key_condition_expression("conversation_id = :c")
                    .expression_attribute_values(":c", s(conversation))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| backend("Query", e))?;
                for item in output.items.unwrap_or_default() {
                    let (Some(connection_id), Some(sk)) =
                        (get_s(&item, "connection_id"), get_s(&item, "sk"))
                    else {
                        continue;
                    };
                    // conv#<conversation>#<expires_at>#<user>
                    let mut parts = sk.splitn(4, '#').skip(2);
                    let (Some(expires_at), Some(user)) = (parts.next(), parts.next()) else {
                        tracing::warn!(connection_id, sk, "membership item with an unexpected key");
                        continue;
                    };
                    members.push(Member {
                        connection_id: connection_id.to_owned(),
                        user: user.to_owned(),
                        expires_at: expires_at.parse().unwrap_or(0),
                    });
                }
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
            Ok(members)
        })
    }

    fn user_connections<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move {
            let mut ids = Vec::new();
            let mut start: Option<Item> = None;
            loop {
                calls::record();
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(BY_USER)
                    .key_condition_expression("user_id = :u")
                    .expression_attribute_values(":u", s(user))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| backend("Query", e))?;
                ids.extend(
                    output
                        .items
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|item| get_s(item, "connection_id").map(str::to_owned)),
                );
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
            Ok(ids)
        })
    }
}

impl DynamoConnections {
    async fn rate_window_of(&self, connection_id: &str) -> StoreResult<Option<i64>> {
        calls::record();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::meta_key(connection_id)))
            .projection_expression("rate_window")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| get_n(item, "rate_window")))
    }
}

/// The messages table.
#[derive(Clone)]
pub struct DynamoMessages {
    client: Client,
    table: String,
}

impl DynamoMessages {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn message_from(conversation: &str, item: &Item) -> StoreResult<Message> {
        let malformed = |reason: &str| StoreError::Malformed {
            key: format!("message in {conversation}"),
            reason: reason.to_owned(),
        };
        Ok(Message {
            id: get_s(item, "id")
                .or_else(|| get_s(item, "message_id"))
                .ok_or_else(|| malformed("no id"))?
                .to_owned(),
            conversation: conversation.to_owned(),
            sender: get_s(item, "sender").unwrap_or_default().to_owned(),
            text: get_s(item, "text").unwrap_or_default().to_owned(),
            ts: get_n(item, "ts").ok_or_else(|| malformed("no ts"))?,
        })
    }

    fn message_item(message: &Message, expires_at: Option<i64>) -> Item {
        let mut item = HashMap::from([
            ("conversation_id".to_owned(), s(&message.conversation)),
            (
                "sk".to_owned(),
                s(ids::message_sort_key(message.ts, &message.id)),
            ),
            ("id".to_owned(), s(&message.id)),
            ("sender".to_owned(), s(&message.sender)),
            ("text".to_owned(), s(&message.text)),
            ("ts".to_owned(), n(message.ts)),
        ]);
        if let Some(at) = expires_at {
            item.insert("expires_at".into(), n(at));
        }
        item
    }

    fn idempotency_sk(sender: &str, client_id: &str) -> String {
        format!("idem#{sender}#{client_id}")
    }

    async fn original(&self, message: &Message, client_id: &str) -> StoreResult<Option<Message>> {
        calls::record();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("conversation_id", s(&message.conversation))
            .key("sk", s(Self::idempotency_sk(&message.sender, client_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        output
            .item
            .as_ref()
            .map(|item| Self::message_from(&message.conversation, item))
            .transpose()
    }
}

impl MessageStore for DynamoMessages {
    fn put<'a>(
        &'a self,
        message: &'a Message,
        client_id: Option<&'a str>,
        expires_at: Option<i64>,
        idempotency_expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<PutOutcome>> {
        Box::pin(async move {
            let item = Self::message_item(message, expires_at);
            let Some(client_id) = client_id else {
                calls::record();
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(sk)")
                    .send()
                    .await
                    .map_err(|e| backend("PutItem", e))?;
                return Ok(PutOutcome::Stored);
            };
            let mut idempotency = Self::message_item(message, None);
            idempotency.insert(
                "sk".into(),
                s(Self::idempotency_sk(&message.sender, client_id)),
            );
            idempotency.insert("expires_at".into(), n(idempotency_expires_at));
            let now_secs = message.ts / 1000;
            let put = |item: Item, condition: &str| {
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
                    .map_err(|e| backend("TransactWriteItems", e))
            };
            // The client id and the message are written together or not at
            // all: a retry can never find the id without its message. An
            // id past its TTL (not yet deleted) no longer counts.
            let mut client_put = put(
                idempotency,
                "attribute_not_exists(sk) OR expires_at <= :now",
            )?;
            if let Some(p) = client_put.put.as_mut() {
                p.expression_attribute_values =
                    Some(HashMap::from([(":now".to_owned(), n(now_secs))]));
            }
            calls::record();
            let result = self
                .client
                .transact_write_items()
                .transact_items(client_put)
                .transact_items(put(item, "attribute_not_exists(sk)")?)
                .send()
                .await;
            match result {
                Ok(_) => Ok(PutOutcome::Stored),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    match self.original(message, client_id).await? {
                        Some(original) => Ok(PutOutcome::Duplicate(original)),
                        None => Err(backend("TransactWriteItems", err)),
                    }
                }
                Err(err) => Err(backend("TransactWriteItems", err)),
            }
        })
    }

    fn page<'a>(
        &'a self,
        conversation: &'a str,
        bounds: &'a PageBounds,
        now_secs: i64,
    ) -> BoxFuture<'a, StoreResult<Page>> {
        Box::pin(async move {
            let low = bounds
                .after_key
                .clone()
                .or_else(|| bounds.from_key.clone())
                .unwrap_or_else(|| FIRST_MESSAGE_KEY.to_owned());
            let high = bounds
                .before_key
                .clone()
                .unwrap_or_else(|| LAST_MESSAGE_KEY.to_owned());
            let wanted = bounds.limit as usize + 1;
            let mut in_range: Vec<Item> = Vec::new();
            let mut start: Option<Item> = None;
            if low <= high {
                loop {
                    calls::record();
                    let output = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("conversation_id = :c AND sk BETWEEN :lo AND :hi")
                        .expression_attribute_values(":c", s(conversation))
                        .expression_attribute_values(":lo", s(&low))
                        .expression_attribute_values(":hi", s(&high))
                        .scan_index_forward(false)
                        // Two more than wanted: the exclusive bounds may be
                        // among the results.
                        .limit((wanted + 2) as i32)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| backend("Query", e))?;
                    for item in output.items.unwrap_or_default() {
                        let key = get_s(&item, "sk").unwrap_or_default();
                        let excluded = bounds.before_key.as_deref() == Some(key)
                            || bounds.after_key.as_deref() == Some(key);
                        if !excluded && in_range.len() < wanted {
                            in_range.push(item);
                        }
                    }
                    match output.last_evaluated_key {
                        Some(key) if !key.is_empty() && in_range.len() < wanted => {
                            start = Some(key)
                        }
                        _ => break,
                    }
                }
            }
            let more = in_range.len() > bounds.limit as usize;
            in_range.truncate(bounds.limit as usize);
            let messages = in_range
                .iter()
                .filter(|item| get_n(item, "expires_at").is_none_or(|at| at > now_secs))
                .map(|item| Self::message_from(conversation, item))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Page { messages, more })
        })
    }

    fn exists<'a>(
        &'a self,
        conversation: &'a str,
        message_id: &'a str,
        now_secs: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let Some(key) = ids::sort_key_of(message_id) else {
                return Ok(false);
            };
            calls::record();
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("conversation_id", s(conversation))
                .key("sk", s(key))
                .projection_expression("expires_at, id")
                .send()
                .await
                .map_err(|e| backend("GetItem", e))?;
            Ok(output
                .item
                .is_some_and(|item| get_n(&item, "expires_at").is_none_or(|at| at > now_secs)))
        })
    }

    fn mark_read<'a>(
        &'a self,
        conversation: &'a str,
        user: &'a str,
        message_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            calls::record();
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("conversation_id", s(conversation))
                .key("sk", s(format!("read#{user}")))
                .update_expression("SET message_id = :m, read_at = :now")
                .condition_expression("attribute_not_exists(message_id) OR message_id < :m")
                .expression_attribute_values(":m", s(message_id))
                .expression_attribute_values(":now", n(now_ms))
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

/// The presence table.
#[derive(Clone)]
pub struct DynamoPresence {
    client: Client,
    table: String,
}

impl DynamoPresence {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A conditional status change; true if it happened.
    async fn change(
        &self,
        user: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<bool> {
        calls::record();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#s", "status");
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(err) => Err(backend("UpdateItem", err)),
        }
    }
}

impl PresenceStore for DynamoPresence {
    fn heartbeat<'a>(
        &'a self,
        user: &'a str,
        now_secs: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<Heartbeat>> {
        Box::pin(async move {
            calls::record();
            let output = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("user_id", s(user))
                .update_expression("SET expires_at = :e, last_seen = :now, #s = :online")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":e", n(expires_at))
                .expression_attribute_values(":now", n(now_secs))
                .expression_attribute_values(":online", s("online"))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| backend("UpdateItem", e))?;
            let was_online = output.attributes.as_ref().is_some_and(|old| {
                get_s(old, "status") == Some("online")
                    && get_n(old, "expires_at").is_some_and(|at| at > now_secs)
            });
            Ok(Heartbeat { was_online })
        })
    }

    fn set_offline<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.change(
                user,
                "SET #s = :offline, expires_at = :now",
                "#s = :online",
                vec![
                    (":offline", s("offline")),
                    (":online", s("online")),
                    (":now", n(now_secs)),
                ],
            )
            .await
        })
    }

    fn expire<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.change(
                user,
                "SET #s = :offline",
                "#s = :online AND expires_at <= :now",
                vec![
                    (":offline", s("offline")),
                    (":online", s("online")),
                    (":now", n(now_secs)),
                ],
            )
            .await
        })
    }

    fn get_many<'a>(&'a self, users: &'a [String]) -> BoxFuture<'a, StoreResult<Vec<Presence>>> {
        Box::pin(async move {
            let mut found = Vec::new();
            for chunk in users.chunks(100) {
                let mut keys: Vec<Item> = chunk
                    .iter()
                    .map(|u| HashMap::from([("user_id".to_owned(), s(u))]))
                    .collect();
                for attempt in 0..5u32 {
                    if keys.is_empty() {
                        break;
                    }
                    let request = KeysAndAttributes::builder()
                        .set_keys(Some(std::mem::take(&mut keys)))
                        .consistent_read(true)
                        .build()
                        .map_err(|e| backend("BatchGetItem", e))?;
                    calls::record();
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
                        if let Some(user) = get_s(&item, "user_id") {
                            found.push(Presence {
                                user: user.to_owned(),
                                expires_at: get_n(&item, "expires_at").unwrap_or(0),
                                announced_online: get_s(&item, "status") == Some("online"),
                            });
                        }
                    }
                    keys = output
                        .unprocessed_keys
                        .and_then(|mut r| r.remove(&self.table))
                        .map(|k| k.keys)
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                    }
                }
            }
            Ok(found)
        })
    }
}
