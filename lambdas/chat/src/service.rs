//! The chat service's handlers, the same on Lambda and under `chat serve`:
//! `$connect` ([`ChatService::connect`]), `$disconnect`
//! ([`ChatService::disconnect`]) and every client frame
//! ([`ChatService::handle_frame`]). Where frames go is the
//! [`Transport`]'s business.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use service_common::MetricsSink;

use crate::calls;
use crate::config::Limits;
use crate::frames::{self, Action, ErrorCode, FrameError, HistoryQuery, Request};
use crate::ids::{self, MessageIds};
use crate::limits::HeartbeatCache;
use crate::metrics;
use crate::model::{ConnectionRecord, Message};
use crate::order::ConversationOrder;
use crate::store::{Admission, PageBounds, PutOutcome, StoreError, Stores};
use crate::token::{self, Claims, SigningKey, TokenError};
use crate::transport::{AdmitKind, FanoutReport, Skip, Transport};

/// How long a `client_id` is remembered for idempotent retries.
pub const IDEMPOTENCY_SECONDS: i64 = 24 * 3600;

/// The time, so tests can move it.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        service_common::emf::epoch_millis()
    }
}

pub struct ChatService {
    limits: Limits,
    stores: Stores,
    key: Option<SigningKey>,
    ids: MessageIds,
    order: ConversationOrder,
    heartbeats: HeartbeatCache,
    metrics: MetricsSink,
    clock: Arc<dyn Clock>,
}

/// What handling one frame did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Done; the fan-out report if there was one.
    Done(Option<FanoutReport>),
    /// Refused with an error frame to the sender.
    Refused(ErrorCode),
    /// A typing event over the throttle: dropped without a word.
    Dropped,
}

impl ChatService {
    /// `key` verifies tokens at `$connect`; functions that never see
    /// `$connect` need none.
    pub fn new(
        limits: Limits,
        stores: Stores,
        key: Option<SigningKey>,
        metrics: MetricsSink,
    ) -> Self {
        Self {
            limits,
            stores,
            key,
            ids: MessageIds::new(),
            order: ConversationOrder::new(),
            heartbeats: HeartbeatCache::default(),
            metrics,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Checks a `$connect` token: its claims, or why it is refused (with
    /// [`TokenError::status`] as the HTTP status).
    pub fn verify_token(&self, token: Option<&str>) -> Result<Claims, TokenError> {
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Err(TokenError::Missing);
        };
        let Some(key) = &self.key else {
            // A per-route function without the secret got a $connect: a
            // deployment mistake, and no token can be checked.
            tracing::error!("a $connect reached a function without a signing secret");
            return Err(TokenError::Signature);
        };
        token::verify(key, token, self.now_secs())
    }

    /// Registers a connection opened with `claims`: it joins every
    /// conversation the token grants, and the user's online status is
    /// announced to them if the user was offline.
    pub async fn connect(
        &self,
        transport: &dyn Transport,
        connection_id: &str,
        claims: &Claims,
    ) -> Result<ConnectionRecord, StoreError> {
        let now_ms = self.now_ms();
        let record = ConnectionRecord {
            connection_id: connection_id.to_owned(),
            user: claims.sub.clone(),
            name: claims.name.clone(),
            granted: claims.convs.clone(),
            joined: claims.convs.clone(),
            connected_at: now_ms,
            expires_at: now_ms / 1000 + self.limits.connection_ttl.as_secs() as i64,
        };
        self.stores.connections.put(&record).await?;
        for conversation in &record.joined {
            transport
                .membership_changed(connection_id, conversation, true)
                .await;
        }
        // Always written at connect: it is what tells whether the user
        // just came online.
        self.heartbeats
            .due(&record.user, now_ms, self.limits.presence_ttl);
        match self.write_heartbeat(&record.user, now_ms).await {
            Ok(was_online) if !was_online => {
                self.announce(transport, &record, true).await;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, user = %record.user, "presence not updated at connect")
            }
        }
        Ok(record)
    }

    /// Forgets a closed connection; if it was the user's last one, the
    /// user goes offline and that is announced.
    pub async fn disconnect(
        &self,
        transport: &dyn Transport,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let Some(record) = self.stores.connections.delete(connection_id).await? else {
            return Ok(None);
        };
        for conversation in &record.joined {
            transport
                .membership_changed(connection_id, conversation, false)
                .await;
        }
        let others = self
            .stores
            .connections
            .user_connections(&record.user)
            .await?;
        if others.iter().all(|id| id == connection_id) {
            self.heartbeats.forget(&record.user);
            match self
                .stores
                .presence
                .set_offline(&record.user, self.now_secs())
                .await
            {
                Ok(true) => self.announce(transport, &record, false).await,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, user = %record.user, "presence not updated at disconnect")
                }
            }
        }
        Ok(Some(record))
    }

    /// Handles one client frame from `connection_id`; answers and errors go
    /// to it through `transport`. `only` restricts the actions (per-route
    /// functions serve one).
    pub async fn handle_frame(
        &self,
        transport: &dyn Transport,
        connection_id: &str,
        body: &str,
        request_id: &str,
        only: Option<Action>,
    ) -> Handled {
        let parsed =
            frames::parse(body, self.limits.max_message_chars).and_then(|request| match only {
                Some(action) if request.action() != action => Err(FrameError::new(
                    ErrorCode::UnknownAction,
                    format!(
                        "this function serves only the {} route, not {}",
                        action.name(),
                        request.action().name()
                    ),
                )),
                _ => Ok(request),
            });
        let request = match parsed {
            Ok(request) => request,
            Err(err) => {
                return self
                    .refuse(transport, connection_id, &err, request_id)
                    .await;
            }
        };
        let action = request.action();
        let started = Instant::now();
        let (outcome, dynamodb_calls) =
            calls::counting(self.dispatch(transport, connection_id, request, request_id)).await;
        let handled = match outcome {
            Ok(handled) => handled,
            Err(err) => {
                tracing::error!(request_id, connection_id, action = action.name(), error = %err, "storage failed");
                let refusal = FrameError::new(
                    ErrorCode::Unavailable,
                    "the chat service cannot reach its storage right now; try again",
                );
                return self
                    .refuse(transport, connection_id, &refusal, request_id)
                    .await;
            }
        };
        if let (Action::SendMessage, Handled::Done(Some(report))) = (action, &handled) {
            metrics::record_message(
                self.metrics,
                report,
                dynamodb_calls,
                started.elapsed().as_secs_f64() * 1000.0,
                request_id,
            );
        }
        tracing::debug!(
            request_id,
            connection_id,
            action = action.name(),
            dynamodb_calls,
            "handled"
        );
        handled
    }

    async fn refuse(
        &self,
        transport: &dyn Transport,
        connection_id: &str,
        err: &FrameError,
        request_id: &str,
    ) -> Handled {
        tracing::info!(request_id, connection_id, code = err.code.as_str(), message = %err.message, "refused");
        let frame = frames::error(err.code, &err.message, request_id);
        if let Err(send_err) = transport.send(connection_id, &frame).await {
            tracing::warn!(request_id, connection_id, error = %send_err, "error frame not delivered");
        }
        Handled::Refused(err.code)
    }

    async fn dispatch(
        &self,
        transport: &dyn Transport,
        connection_id: &str,
        request: Request,
        request_id: &str,
    ) -> Result<Handled, StoreError> {
        let kind = match request.action() {
            Action::SendMessage => AdmitKind::Message,
            Action::Typing => AdmitKind::Typing,
            _ => AdmitKind::Other,
        };
        let record = match transport.admit(self, connection_id, kind).await? {
            Admission::Admitted(record) => record,
            Admission::Refused(_) if kind == AdmitKind::Typing => return Ok(Handled::Dropped),
            Admission::Refused(_) => {
                let err = FrameError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "more than {} messages in a minute from this connection; wait for the next minute",
                        self.limits.message_rate_per_minute
                    ),
                );
                return Ok(self
                    .refuse(transport, connection_id, &err, request_id)
                    .await);
            }
            Admission::Unknown => {
                let err = FrameError::new(
                    ErrorCode::Forbidden,
                    "this connection is not registered (closed or expired); reconnect",
                );
                return Ok(self
                    .refuse(transport, connection_id, &err, request_id)
                    .await);
            }
        };
        let conversation = request.conversation().to_owned();
        let allowed = match request.action() {
            Action::Join => record.is_granted(&conversation),
            Action::Leave => true,
            _ => record.has_joined(&conversation),
        };
        if !allowed {
            let message = if record.is_granted(&conversation) {
                format!(
                    "you have not joined conversation {conversation:?}; send {{\"action\":\"join\"}} first"
                )
            } else {
                format!("your token does not grant conversation {conversation:?}")
            };
            let err = FrameError::new(ErrorCode::Forbidden, message);
            return Ok(self
                .refuse(transport, connection_id, &err, request_id)
                .await);
        }
        let handled = match request {
            Request::SendMessage {
                conversation,
                text,
                client_id,
            } => {
                self.send_message(transport, &record, &conversation, text, client_id)
                    .await?
            }
            Request::Typing { conversation } => {
                let frame = frames::typing(&conversation, &record.user);
                let report = transport
                    .fan_out(self, &conversation, &frame, &Skip::user(&record.user))
                    .await;
                Handled::Done(Some(report))
            }
            Request::History {
                conversation,
                query,
            } => {
                self.history(transport, &record, &conversation, &query, request_id)
                    .await?
            }
            Request::Join { conversation } => {
                if !record.has_joined(&conversation) {
                    self.stores.connections.join(&record, &conversation).await?;
                    transport
                        .membership_changed(connection_id, &conversation, true)
                        .await;
                }
                self.reply(transport, connection_id, &frames::joined(&conversation))
                    .await;
                Handled::Done(None)
            }
            Request::Leave { conversation } => {
                if record.has_joined(&conversation) {
                    self.stores
                        .connections
                        .leave(&record, &conversation)
                        .await?;
                    transport
                        .membership_changed(connection_id, &conversation, false)
                        .await;
                }
                self.reply(transport, connection_id, &frames::left(&conversation))
                    .await;
                Handled::Done(None)
            }
            Request::Read {
                conversation,
                message_id,
            } => {
                let now_ms = self.now_ms();
                if !self
                    .stores
                    .messages
                    .exists(&conversation, &message_id, now_ms / 1000)
                    .await?
                {
                    let err = FrameError::new(
                        ErrorCode::Invalid,
                        format!("conversation {conversation:?} has no message {message_id}"),
                    );
                    return Ok(self
                        .refuse(transport, connection_id, &err, request_id)
                        .await);
                }
                let advanced = self
                    .stores
                    .messages
                    .mark_read(&conversation, &record.user, &message_id, now_ms)
                    .await?;
                if advanced {
                    let frame = frames::read(&conversation, &record.user, &message_id);
                    let report = transport
                        .fan_out(
                            self,
                            &conversation,
                            &frame,
                            &Skip::connection(connection_id),
                        )
                        .await;
                    Handled::Done(Some(report))
                } else {
                    Handled::Done(None)
                }
            }
            Request::Presence { conversation } => {
                self.presence(transport, &record, &conversation).await?
            }
        };
        self.heartbeat(transport, &record).await;
        Ok(handled)
    }

    async fn send_message(
        &self,
        transport: &dyn Transport,
        record: &ConnectionRecord,
        conversation: &str,
        text: String,
        client_id: Option<String>,
    ) -> Result<Handled, StoreError> {
        let now_ms = self.now_ms();
        let (mut ticket, (id, ts)) = self.order.take(conversation, || self.ids.next(now_ms));
        let message = Message {
            id,
            conversation: conversation.to_owned(),
            sender: record.user.clone(),
            text,
            ts,
        };
        let retention = self
            .limits
            .message_retention_days
            .map(|days| ts / 1000 + days as i64 * 86_400);
        let outcome = self
            .stores
            .messages
            .put(
                &message,
                client_id.as_deref(),
                retention,
                ts / 1000 + IDEMPOTENCY_SECONDS,
            )
            .await?;
        match outcome {
            PutOutcome::Duplicate(original) => {
                drop(ticket);
                self.reply(
                    transport,
                    &record.connection_id,
                    &frames::ack(client_id.as_deref(), &original),
                )
                .await;
                Ok(Handled::Done(None))
            }
            PutOutcome::Stored => {
                self.reply(
                    transport,
                    &record.connection_id,
                    &frames::ack(client_id.as_deref(), &message),
                )
                .await;
                ticket.wait_turn().await;
                let report = transport
                    .fan_out(
                        self,
                        conversation,
                        &frames::message(&message),
                        &Skip::connection(&record.connection_id),
                    )
                    .await;
                drop(ticket);
                Ok(Handled::Done(Some(report)))
            }
        }
    }

    async fn history(
        &self,
        transport: &dyn Transport,
        record: &ConnectionRecord,
        conversation: &str,
        query: &HistoryQuery,
        request_id: &str,
    ) -> Result<Handled, StoreError> {
        let limit = query.limit.unwrap_or(self.limits.history_page_size);
        let bounds = PageBounds {
            before_key: query.before.as_deref().and_then(ids::sort_key_of),
            after_key: query.after.as_deref().and_then(ids::sort_key_of),
            from_key: query.since.map(|ms| format!("{ms:013}#")),
            limit,
        };
        let page = self
            .stores
            .messages
            .page(conversation, &bounds, self.now_secs())
            .await?;
        // Keep the answer under API Gateway's 128 KB message limit: a page
        // of long messages is cut, and the cursor continues from the cut.
        let budget = frames::MAX_OUTGOING_BYTES - 1024;
        let mut size = 0;
        let mut kept = Vec::with_capacity(page.messages.len());
        for message in page.messages.iter() {
            let cost = serde_json::to_string(message)
                .map(|s| s.len() + 1)
                .unwrap_or(0);
            if size + cost > budget && !kept.is_empty() {
                break;
            }
            size += cost;
            kept.push(message.clone());
        }
        let cut = kept.len() < page.messages.len();
        let next_cursor = (page.more || cut)
            .then(|| kept.last().map(|m| m.id.clone()))
            .flatten();
        let frame = frames::history(conversation, &kept, next_cursor.as_deref());
        tracing::debug!(
            request_id,
            conversation,
            messages = kept.len(),
            "history page"
        );
        self.reply(transport, &record.connection_id, &frame).await;
        Ok(Handled::Done(None))
    }

    async fn presence(
        &self,
        transport: &dyn Transport,
        record: &ConnectionRecord,
        conversation: &str,
    ) -> Result<Handled, StoreError> {
        let now_secs = self.now_secs();
        let members = self.stores.connections.members(conversation).await?;
        let users: Vec<String> = members
            .iter()
            .filter(|m| m.expires_at > now_secs)
            .map(|m| m.user.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let records = self.stores.presence.get_many(&users).await?;
        let mut online: BTreeSet<String> = BTreeSet::new();
        // The caller is online: this very frame is a heartbeat.
        online.insert(record.user.clone());
        let mut report = FanoutReport::default();
        for presence in records {
            if presence.is_online(now_secs) {
                online.insert(presence.user.clone());
            } else if presence.announced_online
                && presence.user != record.user
                && self
                    .stores
                    .presence
                    .expire(&presence.user, now_secs)
                    .await?
            {
                // Heartbeats stopped without a $disconnect: noticed here,
                // announced once.
                let frame = frames::presence_change(conversation, &presence.user, false);
                let sent = transport
                    .fan_out(self, conversation, &frame, &Skip::user(&presence.user))
                    .await;
                report.deliveries += sent.deliveries;
                report.gone += sent.gone;
            }
        }
        let users: Vec<String> = online.into_iter().collect();
        self.reply(
            transport,
            &record.connection_id,
            &frames::online(conversation, &users),
        )
        .await;
        Ok(Handled::Done(Some(report)))
    }

    /// Refreshes the user's presence if this process has not lately; a
    /// user who was offline (expired) is announced online again.
    async fn heartbeat(&self, transport: &dyn Transport, record: &ConnectionRecord) {
        let now_ms = self.now_ms();
        if !self
            .heartbeats
            .due(&record.user, now_ms, self.limits.presence_ttl)
        {
            return;
        }
        match self.write_heartbeat(&record.user, now_ms).await {
            Ok(false) => self.announce(transport, record, true).await,
            Ok(true) => {}
            Err(StoreError::NotConfigured(_)) => {}
            Err(err) => tracing::warn!(error = %err, user = %record.user, "heartbeat not written"),
        }
    }

    /// Writes a heartbeat; whether the user was online before it.
    async fn write_heartbeat(&self, user: &str, now_ms: i64) -> Result<bool, StoreError> {
        let now_secs = now_ms.div_euclid(1000);
        let expires_at = now_secs + self.limits.presence_ttl.as_secs() as i64;
        Ok(self
            .stores
            .presence
            .heartbeat(user, now_secs, expires_at)
            .await?
            .was_online)
    }

    /// The user's status to every conversation the connection is in.
    async fn announce(&self, transport: &dyn Transport, record: &ConnectionRecord, online: bool) {
        let skip = Skip::user(&record.user);
        for conversation in &record.joined {
            let frame = frames::presence_change(conversation, &record.user, online);
            transport.fan_out(self, conversation, &frame, &skip).await;
        }
    }

    async fn reply(&self, transport: &dyn Transport, connection_id: &str, frame: &str) {
        if let Err(err) = transport.send(connection_id, frame).await {
            tracing::warn!(connection_id, error = %err, "answer not delivered");
        }
    }
}

/// The `$connect` token: the `token` query parameter, else an
/// `Authorization: Bearer` header (clients other than browsers).
pub fn token_from(query_token: Option<&str>, authorization: Option<&str>) -> Option<String> {
    if let Some(token) = query_token.filter(|t| !t.trim().is_empty()) {
        return Some(token.trim().to_owned());
    }
    let value = authorization?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}
