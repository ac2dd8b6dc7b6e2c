//! `chat serve`'s delivery: the WebSocket connections of this process,
//! indexed by conversation, and with Redis the other instances.
//!
//! A fan-out delivers to the local connections of the conversation
//! directly and, with Redis, publishes the frame on the conversation's
//! channel (`chat:conv:<conversation>`); each instance subscribes to the
//! channels of the conversations its connections are in and delivers what
//! other instances publish to its own connections. Without Redis one
//! instance works alone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::limits::ConnectionLimits;
use crate::model::ConnectionRecord;
use crate::service::ChatService;
use crate::store::{Admission, BoxFuture, StoreResult};
use crate::transport::{AdmitKind, FanoutReport, SendError, Skip, Transport};

/// Frames a connection may have waiting to be written; a client that
/// falls this far behind is disconnected rather than buffered without end.
pub const OUTBOX_FRAMES: usize = 1024;

pub type Outbox = mpsc::Sender<Arc<str>>;

struct Local {
    user: String,
    record: Option<ConnectionRecord>,
    limits: ConnectionLimits,
    outbox: Outbox,
}

#[derive(Default)]
struct Inner {
    local: HashMap<String, Local>,
    by_conversation: HashMap<String, HashSet<String>>,
}

/// What instances publish to each other.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The publishing instance (which ignores its own publications).
    origin: String,
    conversation: String,
    frame: String,
    #[serde(default)]
    skip_connection: Option<String>,
    #[serde(default)]
    skip_user: Option<String>,
}

pub struct Hub {
    instance: String,
    inner: Mutex<Inner>,
    redis: OnceLock<Relay>,
}

struct Relay {
    publisher: tokio::sync::Mutex<redis::aio::MultiplexedConnection>,
    subscriber: tokio::sync::Mutex<redis::aio::PubSubSink>,
}

fn channel(conversation: &str) -> String {
    format!("chat:conv:{conversation}")
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            instance: crate::ids::connection_id(),
            inner: Mutex::new(Inner::default()),
            redis: OnceLock::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to Redis: one connection publishes, one subscribes. If the
    /// subscription connection drops, this instance goes on serving its
    /// own connections and logs an error for each lost publication.
    pub async fn attach_redis(self: &Arc<Self>, url: &str) -> Result<(), redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = client.get_multiplexed_async_connection().await?;
        let (subscriber, mut stream) = client.get_async_pubsub().await?.split();
        let hub: Weak<Hub> = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                let Some(hub) = hub.upgrade() else { break };
                let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(envelope) if envelope.origin != hub.instance => {
                        let skip = Skip {
                            connection: envelope.skip_connection,
                            user: envelope.skip_user,
                        };
                        hub.deliver_local(&envelope.conversation, &envelope.frame, &skip);
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "unreadable message on a chat channel")
                    }
                }
            }
            tracing::error!(
                "the Redis subscription ended: this instance no longer hears the others"
            );
        });
        let relay = Relay {
            publisher: tokio::sync::Mutex::new(publisher),
            subscriber: tokio::sync::Mutex::new(subscriber),
        };
        // Subscribe to what local connections are already in.
        let conversations: Vec<String> = self.lock().by_conversation.keys().cloned().collect();
        for conversation in conversations {
            relay
                .subscriber
                .lock()
                .await
                .subscribe(channel(&conversation))
                .await?;
        }
        let _ = self.redis.set(relay);
        Ok(())
    }

    /// A new local connection; frames for it go to `outbox`.
    pub fn register(&self, connection_id: &str, user: &str, outbox: Outbox) {
        self.lock().local.insert(
            connection_id.to_owned(),
            Local {
                user: user.to_owned(),
                record: None,
                limits: ConnectionLimits::default(),
                outbox,
            },
        );
    }

    /// The connection's record once `$connect` stored it.
    pub fn set_record(&self, record: ConnectionRecord) {
        if let Some(local) = self.lock().local.get_mut(&record.connection_id) {
            local.record = Some(record);
        }
    }

    /// Forgets a closed connection (its memberships went with
    /// [`Transport::membership_changed`]).
    pub fn unregister(&self, connection_id: &str) {
        let mut inner = self.lock();
        inner.local.remove(connection_id);
    }

    /// How many connections this instance holds.
    pub fn connections(&self) -> usize {
        self.lock().local.len()
    }

    /// Delivers to this instance's connections; returns how many got it.
    fn deliver_local(&self, conversation: &str, frame: &str, skip: &Skip) -> u64 {
        let frame: Arc<str> = Arc::from(frame);
        let inner = self.lock();
        let Some(members) = inner.by_conversation.get(conversation) else {
            return 0;
        };
        let mut delivered = 0;
        for connection_id in members {
            let Some(local) = inner.local.get(connection_id) else {
                continue;
            };
            if skip.skips(connection_id, &local.user) {
                continue;
            }
            match local.outbox.try_send(frame.clone()) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(%connection_id, "client too slow: its outbox is full; frame dropped");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        delivered
    }

    async fn publish(&self, conversation: &str, frame: &str, skip: &Skip) -> bool {
        let Some(relay) = self.redis.get() else {
            return true;
        };
        let envelope = Envelope {
            origin: self.instance.clone(),
            conversation: conversation.to_owned(),
            frame: frame.to_owned(),
            skip_connection: skip.connection.clone(),
            skip_user: skip.user.clone(),
        };
        let payload = serde_json::to_string(&envelope).unwrap_or_default();
        let mut publisher = relay.publisher.lock().await;
        let published: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel(conversation))
            .arg(payload)
            .query_async(&mut *publisher)
            .await;
        match published {
            Ok(_) => true,
            Err(err) => {
                tracing::error!(conversation, error = %err, "publishing to Redis failed: other instances miss this frame");
                false
            }
        }
    }

    async fn membership(&self, connection_id: &str, conversation: &str, joined: bool) {
        let (subscribe, unsubscribe) = {
            let mut inner = self.lock();
            let Some(local) = inner.local.get_mut(connection_id) else {
                return;
            };
            if let Some(record) = local.record.as_mut() {
                if joined && !record.has_joined(conversation) {
                    record.joined.push(conversation.to_owned());
                } else if !joined {
                    record.joined.retain(|c| c != conversation);
                }
            }
            if joined {
                let members = inner
                    .by_conversation
                    .entry(conversation.to_owned())
                    .or_default();
                let first = members.is_empty();
                members.insert(connection_id.to_owned());
                (first, false)
            } else {
                let mut last = false;
                if let Some(members) = inner.by_conversation.get_mut(conversation) {
                    members.remove(connection_id);
                    last = members.is_empty();
                }
                if last {
                    inner.by_conversation.remove(conversation);
                }
                (false, last)
            }
        };
        if let Some(relay) = self.redis.get() {
            let mut subscriber = relay.subscriber.lock().await;
            let result = if subscribe {
                subscriber.subscribe(channel(conversation)).await
            } else if unsubscribe {
                subscriber.unsubscribe(channel(conversation)).await
            } else {
                Ok(())
            };
            if let Err(err) = result {
                tracing::error!(conversation, error = %err, "Redis (un)subscribe failed");
            }
        }
    }
}

/// The transport of one `chat serve` process.
#[derive(Clone)]
pub struct HubTransport {
    hub: Arc<Hub>,
}

impl HubTransport {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Transport for HubTransport {
    fn admit<'a>(
        &'a self,
        service: &'a ChatService,
        connection_id: &'a str,
        kind: AdmitKind,
    ) -> BoxFuture<'a, StoreResult<Admission>> {
        Box::pin(async move {
            // The connection lives in this process: its record and limits
            // are here, no table read needed.
            let now_ms = service.now_ms();
            let limits = service.limits();
            let mut inner = self.hub.lock();
            let Some(local) = inner.local.get_mut(connection_id) else {
                return Ok(Admission::Unknown);
            };
            let Some(record) = local.record.clone() else {
                return Ok(Admission::Unknown);
            };
            if record.is_expired(now_ms / 1000) {
                return Ok(Admission::Unknown);
            }
            let allowed = match kind {
                AdmitKind::Message => local
                    .limits
                    .admit_message(now_ms, limits.message_rate_per_minute),
                AdmitKind::Typing => local
                    .limits
                    .admit_typing(now_ms, limits.typing_min_interval),
                AdmitKind::Other => true,
            };
            Ok(if allowed {
                Admission::Admitted(record)
            } else {
                Admission::Refused(record)
            })
        })
    }

    fn send<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let outbox = self
                .hub
                .lock()
                .local
                .get(connection_id)
                .map(|local| local.outbox.clone());
            let Some(outbox) = outbox else {
                return Err(SendError::Gone);
            };
            outbox.try_send(Arc::from(frame)).map_err(|err| match err {
                mpsc::error::TrySendError::Closed(_) => SendError::Gone,
                mpsc::error::TrySendError::Full(_) => {
                    SendError::Failed("the client's outbox is full".into())
                }
            })
        })
    }

    fn fan_out<'a>(
        &'a self,
        _service: &'a ChatService,
        conversation: &'a str,
        frame: &'a str,
        skip: &'a Skip,
    ) -> BoxFuture<'a, FanoutReport> {
        Box::pin(async move {
            let deliveries = self.hub.deliver_local(conversation, frame, skip);
            let published = self.hub.publish(conversation, frame, skip).await;
            FanoutReport {
                deliveries,
                failed: u64::from(!published),
                ..FanoutReport::default()
            }
        })
    }

    fn membership_changed<'a>(
        &'a self,
        connection_id: &'a str,
        conversation: &'a str,
        joined: bool,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.hub.membership(connection_id, conversation, joined))
    }
}
