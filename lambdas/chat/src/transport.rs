//! How frames leave the service: the one seam between the shared handlers
//! and where they run. On Lambda ([`crate::fanout::ApiTransport`]) frames
//! go out through the `@connections` API to connections found in the
//! connections table; under `chat serve` ([`crate::hub::HubTransport`])
//! they go straight to the WebSocket connections of this process and, with
//! Redis, to the other instances.

use crate::service::ChatService;
use crate::store::{Admission, BoxFuture, StoreResult};

/// Why a frame did not reach a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection no longer exists (API Gateway's 410 Gone).
    #[error("the connection is gone")]
    Gone,
    #[error("sending failed: {0}")]
    Failed(String),
}

/// Which connections a fan-out leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skip {
    /// This connection (the sender's).
    pub connection: Option<String>,
    /// Every connection of this user.
    pub user: Option<String>,
}

impl Skip {
    pub fn connection(id: &str) -> Self {
        Self {
            connection: Some(id.to_owned()),
            user: None,
        }
    }

    pub fn user(user: &str) -> Self {
        Self {
            connection: None,
            user: Some(user.to_owned()),
        }
    }

    pub fn skips(&self, connection_id: &str, user: &str) -> bool {
        self.connection.as_deref() == Some(connection_id) || self.user.as_deref() == Some(user)
    }
}

/// What one fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutReport {
    /// Frames handed to connections.
    pub deliveries: u64,
    /// Connections found gone (410) and deleted.
    pub gone: u64,
    /// Connection records found expired (TTL not yet applied) and deleted.
    pub expired: u64,
    /// Frames that could not be sent for another reason.
    pub failed: u64,
}

/// What a connection is admitted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitKind {
    /// A message: counted against the per-connection rate.
    Message,
    /// A typing event: throttled to one per interval.
    Typing,
    /// Anything else: only looked up.
    Other,
}

pub trait Transport: Send + Sync {
    /// The connection's record, counted against its limits for `kind`.
    fn admit<'a>(
        &'a self,
        service: &'a ChatService,
        connection_id: &'a str,
        kind: AdmitKind,
    ) -> BoxFuture<'a, StoreResult<Admission>>;

    /// One frame to one connection (answers to the sender).
    fn send<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>>;

    /// `frame` to every open connection in `conversation` but those in
    /// `skip`.
    fn fan_out<'a>(
        &'a self,
        service: &'a ChatService,
        conversation: &'a str,
        frame: &'a str,
        skip: &'a Skip,
    ) -> BoxFuture<'a, FanoutReport>;

    /// The connection joined (`true`) or left a conversation.
    fn membership_changed<'a>(
        &'a self,
        connection_id: &'a str,
        conversation: &'a str,
        joined: bool,
    ) -> BoxFuture<'a, ()>;
}
