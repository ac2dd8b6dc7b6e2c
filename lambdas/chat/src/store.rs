//! The storage the service works against, as small traits with boxed
//! futures (so `Arc<dyn ...>` works): DynamoDB in [`crate::dynamo`],
//! in-process maps in [`crate::memory`].
//!
//! Times: `now_ms` arguments are Unix milliseconds; `expires_at` values
//! are Unix seconds, as DynamoDB TTL attributes are. Every read ignores
//! records whose `expires_at` has passed: TTL deletes them late.

use std::future::Future;
use std::pin::Pin;

use crate::model::{ConnectionRecord, Member, Message, Presence};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    #[error("item {key} is malformed: {reason}")]
    Malformed { key: String, reason: String },
    #[error(
        "{0} is not set, so this function cannot do that (see the chat README for the settings each route needs)"
    )]
    NotConfigured(&'static str),
}

impl StoreError {
    pub fn backend(operation: &'static str, message: impl Into<String>) -> Self {
        Self::Backend {
            operation,
            message: message.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A connection looked up while counting a message against its rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Counted; here is the connection.
    Admitted(ConnectionRecord),
    /// Over the limit (not counted, not to be done).
    Refused(ConnectionRecord),
    /// No such connection (closed, expired or never opened).
    Unknown,
}

/// Connections and the conversations they joined (the connections table).
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection and its memberships.
    fn put<'a>(&'a self, record: &'a ConnectionRecord) -> BoxFuture<'a, StoreResult<()>>;

    /// The connection, unless missing or expired.
    fn get<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>>;

    /// Looks the connection up and counts one message in the current
    /// one-minute window, unless `limit` (> 0) messages are counted there
    /// already.
    fn admit_message<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Admission>>;

    /// Looks the connection up and records a typing event at `now_ms`,
    /// unless the previous one is less than `min_interval_ms` old.
    fn admit_typing<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Admission>>;

    /// Adds `conversation` to the connection's joined list and index.
    fn join<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Removes `conversation` from the connection's joined list and index.
    fn leave<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Deletes every item of the connection; returns its record if it had
    /// one (expired or not).
    fn delete<'a>(
        &'a self,
        connection_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>>;

    /// Every connection in `conversation`, expired ones included (the
    /// caller skips and deletes those). Work proportional to the
    /// conversation, never to all connections.
    fn members<'a>(&'a self, conversation: &'a str) -> BoxFuture<'a, StoreResult<Vec<Member>>>;

    /// Ids of the user's connections.
    fn user_connections<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>>;
}

/// What storing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    /// The sender already sent this `client_id` in this conversation: the
    /// message stored then.
    Duplicate(Message),
}

/// One history page, newest first; `more` when older messages remain in
/// the asked range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// Bounds of a history read, as messages-table sort keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageBounds {
    /// Only keys greater than this.
    pub after_key: Option<String>,
    /// Only keys at or above this.
    pub from_key: Option<String>,
    /// Only keys less than this.
    pub before_key: Option<String>,
    pub limit: u32,
}

/// Messages, idempotency records and read markers (the messages table).
pub trait MessageStore: Send + Sync {
    /// Stores `message`; with a `client_id`, at most once per sender,
    /// conversation and client id (for `idempotency_ttl_secs`).
    /// `expires_at` (Unix seconds) is the message's retention TTL.
    fn put<'a>(
        &'a self,
        message: &'a Message,
        client_id: Option<&'a str>,
        expires_at: Option<i64>,
        idempotency_expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<PutOutcome>>;

    /// A page of the conversation, newest first, expired messages left out.
    fn page<'a>(
        &'a self,
        conversation: &'a str,
        bounds: &'a PageBounds,
        now_secs: i64,
    ) -> BoxFuture<'a, StoreResult<Page>>;

    /// Whether the message exists (and has not expired).
    fn exists<'a>(
        &'a self,
        conversation: &'a str,
        message_id: &'a str,
        now_secs: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Moves the user's read marker forward to `message_id`; false if it
    /// was there or further already.
    fn mark_read<'a>(
        &'a self,
        conversation: &'a str,
        user: &'a str,
        message_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// The user was online (unexpired) before this heartbeat.
    pub was_online: bool,
}

/// Users' presence (the presence table).
pub trait PresenceStore: Send + Sync {
    /// The user is online until `expires_at` (Unix seconds).
    fn heartbeat<'a>(
        &'a self,
        user: &'a str,
        now_secs: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<Heartbeat>>;

    /// Marks the user offline now; true if this call changed an announced
    /// online status (so the caller announces it, once).
    fn set_offline<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>>;

    /// Marks an expired-but-announced-online user offline; true if this
    /// call did it (the expiry is announced once).
    fn expire<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>>;

    /// The presence records of `users` (missing users have none).
    fn get_many<'a>(&'a self, users: &'a [String]) -> BoxFuture<'a, StoreResult<Vec<Presence>>>;
}

/// The three stores of one service.
#[derive(Clone)]
pub struct Stores {
    pub connections: std::sync::Arc<dyn ConnectionStore>,
    pub messages: std::sync::Arc<dyn MessageStore>,
    pub presence: std::sync::Arc<dyn PresenceStore>,
}

/// A store for a table this function was not given: every call fails
/// with [`StoreError::NotConfigured`] naming the variable.
pub struct Unconfigured(pub &'static str);

impl MessageStore for Unconfigured {
    fn put<'a>(
        &'a self,
        _: &'a Message,
        _: Option<&'a str>,
        _: Option<i64>,
        _: i64,
    ) -> BoxFuture<'a, StoreResult<PutOutcome>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn page<'a>(
        &'a self,
        _: &'a str,
        _: &'a PageBounds,
        _: i64,
    ) -> BoxFuture<'a, StoreResult<Page>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn exists<'a>(&'a self, _: &'a str, _: &'a str, _: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn mark_read<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
}

impl PresenceStore for Unconfigured {
    fn heartbeat<'a>(
        &'a self,
        _: &'a str,
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, StoreResult<Heartbeat>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn set_offline<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn expire<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
    fn get_many<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, StoreResult<Vec<Presence>>> {
        Box::pin(async move { Err(StoreError::NotConfigured(self.0)) })
    }
}
