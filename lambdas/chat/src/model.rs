//! The records the service keeps.

use serde::{Deserialize, Serialize};

/// A stored chat message, as frames carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sortable, time-based id (see [`crate::ids`]).
    pub id: String,
    pub conversation: String,
    /// The sender's user id (the token's `sub`).
    pub sender: String,
    pub text: String,
    /// Server time of the message, Unix milliseconds (the id's own time).
    pub ts: i64,
}

/// One open connection: who it belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub user: String,
    pub name: Option<String>,
    /// Conversations the token grants.
    pub granted: Vec<String>,
    /// Conversations the connection is in (receives their messages).
    pub joined: Vec<String>,
    /// Unix milliseconds.
    pub connected_at: i64,
    /// Unix seconds (the connections table's TTL attribute): the record is
    /// ignored from then on, whether or not DynamoDB has deleted it yet.
    pub expires_at: i64,
}

impl ConnectionRecord {
    pub fn has_joined(&self, conversation: &str) -> bool {
        self.joined.iter().any(|c| c == conversation)
    }

    pub fn is_granted(&self, conversation: &str) -> bool {
        self.granted.iter().any(|c| c == conversation)
    }

    pub fn is_expired(&self, now_secs: i64) -> bool {
        self.expires_at <= now_secs
    }
}

/// A connection in a conversation, as the fan-out sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub connection_id: String,
    pub user: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A user's presence record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user: String,
    /// Unix seconds: online while it is in the future.
    pub expires_at: i64,
    /// Whether the last announced status was online (so that expiry is
    /// announced once).
    pub announced_online: bool,
}

impl Presence {
    pub fn is_online(&self, now_secs: i64) -> bool {
        self.expires_at > now_secs
    }
}
