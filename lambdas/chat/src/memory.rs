//! In-process stores: for unit tests and for `chat serve --store memory`
//! (one instance, nothing kept across restarts). Same rules as the
//! DynamoDB stores, including expiry by `expires_at`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::ids;
use crate::limits::{RateWindow, typing_allowed};
use crate::model::{ConnectionRecord, Member, Message, Presence};
use crate::store::{
    Admission, BoxFuture, ConnectionStore, Heartbeat, MessageStore, Page, PageBounds,
    PresenceStore, PutOutcome, StoreResult, Stores,
};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// All three stores in memory.
pub fn stores() -> Stores {
    Stores {
        connections: Arc::new(MemoryConnections::default()),
        messages: Arc::new(MemoryMessages::default()),
        presence: Arc::new(MemoryPresence::default()),
    }
}

#[derive(Default)]
struct Connections {
    records: HashMap<String, (ConnectionRecord, RateWindow, Option<i64>)>,
    by_conversation: HashMap<String, BTreeSet<String>>,
}

#[derive(Default)]
pub struct MemoryConnections {
    inner: Mutex<Connections>,
}

impl MemoryConnections {
    fn admit(
        &self,
        connection_id: &str,
        now_ms: i64,
        decide: impl FnOnce(&mut RateWindow, &mut Option<i64>) -> bool,
    ) -> Admission {
        let mut inner = lock(&self.inner);
        match inner.records.get_mut(connection_id) {
            Some((record, _, _)) if record.is_expired(now_ms / 1000) => Admission::Unknown,
            Some((record, rate, typing)) => {
                if decide(rate, typing) {
                    Admission::Admitted(record.clone())
                } else {
                    Admission::Refused(record.clone())
                }
            }
            None => Admission::Unknown,
        }
    }
}

impl ConnectionStore for MemoryConnections {
    fn put<'a>(&'a self, record: &'a ConnectionRecord) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            for conversation in &record.joined {
                inner
                    .by_conversation
                    .entry(conversation.clone())
                    .or_default()
                    .insert(record.connection_id.clone());
            }
            inner.records.insert(
                record.connection_id.clone(),
                (record.clone(), RateWindow::default(), None),
            );
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>> {
        Box::pin(async move {
            Ok(lock(&self.inner)
                .records
                .get(connection_id)
                .map(|(record, _, _)| record.clone())
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
            Ok(self.admit(connection_id, now_ms, |rate, _| rate.admit(now_ms, limit)))
        })
    }

    fn admit_typing<'a>(
        &'a self,
        connection_id: &'a str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Admission>> {
        Box::pin(async move {
            let interval = std::time::Duration::from_millis(min_interval_ms.max(0) as u64);
            Ok(self.admit(connection_id, now_ms, |_, last| {
                if typing_allowed(*last, now_ms, interval) {
                    *last = Some(now_ms);
                    true
                } else {
                    false
                }
            }))
        })
    }

    fn join<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            if let Some((stored, _, _)) = inner.records.get_mut(&record.connection_id) {
                if !stored.has_joined(conversation) {
                    stored.joined.push(conversation.to_owned());
                }
                inner
                    .by_conversation
                    .entry(conversation.to_owned())
                    .or_default()
                    .insert(record.connection_id.clone());
            }
            Ok(())
        })
    }

    fn leave<'a>(
        &'a self,
        record: &'a ConnectionRecord,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            if let Some((stored, _, _)) = inner.records.get_mut(&record.connection_id) {
                stored.joined.retain(|c| c != conversation);
            }
            if let Some(set) = inner.by_conversation.get_mut(conversation) {
                set.remove(&record.connection_id);
            }
            Ok(())
        })
    }

    fn delete<'a>(
        &'a self,
        connection_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ConnectionRecord>>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            let removed = inner.records.remove(connection_id).map(|(r, _, _)| r);
            if let Some(record) = &removed {
                for conversation in &record.joined {
                    if let Some(set) = inner.by_conversation.get_mut(conversation) {
                        set.remove(connection_id);
                    }
                }
            }
            Ok(removed)
        })
    }

    fn members<'a>(&'a self, conversation: &'a str) -> BoxFuture<'a, StoreResult<Vec<Member>>> {
        Box::pin(async move {
            let inner = lock(&self.inner);
            Ok(inner
                .by_conversation
                .get(conversation)
                .into_iter()
                .flatten()
                .filter_map(|id| inner.records.get(id))
                .map(|(record, _, _)| Member {
                    connection_id: record.connection_id.clone(),
                    user: record.user.clone(),
                    expires_at: record.expires_at,
                })
                .collect())
        })
    }

    fn user_connections<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move {
            Ok(lock(&self.inner)
                .records
                .values()
                .filter(|(record, _, _)| record.user == user)
                .map(|(record, _, _)| record.connection_id.clone())
                .collect())
        })
    }
}

#[derive(Default)]
struct Messages {
    /// Conversation -> sort key -> (message, expires_at).
    by_conversation: HashMap<String, BTreeMap<String, (Message, Option<i64>)>>,
    /// (conversation, sender, client id) -> (message, expires_at).
    idempotency: HashMap<(String, String, String), (Message, i64)>,
    /// (conversation, user) -> message id.
    read: HashMap<(String, String), String>,
}

#[derive(Default)]
pub struct MemoryMessages {
    inner: Mutex<Messages>,
}

impl MessageStore for MemoryMessages {
    fn put<'a>(
        &'a self,
        message: &'a Message,
        client_id: Option<&'a str>,
        expires_at: Option<i64>,
        idempotency_expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<PutOutcome>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            let now_secs = message.ts / 1000;
            if let Some(client_id) = client_id {
                let key = (
                    message.conversation.clone(),
                    message.sender.clone(),
                    client_id.to_owned(),
                );
                if let Some((original, until)) = inner.idempotency.get(&key)
                    && *until > now_secs
                {
                    return Ok(PutOutcome::Duplicate(original.clone()));
                }
                inner
                    .idempotency
                    .insert(key, (message.clone(), idempotency_expires_at));
            }
            inner
                .by_conversation
                .entry(message.conversation.clone())
                .or_default()
                .insert(
                    ids::message_sort_key(message.ts, &message.id),
                    (message.clone(), expires_at),
                );
            Ok(PutOutcome::Stored)
        })
    }

    fn page<'a>(
        &'a self,
        conversation: &'a str,
        bounds: &'a PageBounds,
        now_secs: i64,
    ) -> BoxFuture<'a, StoreResult<Page>> {
        Box::pin(async move {
            let inner = lock(&self.inner);
            let Some(all) = inner.by_conversation.get(conversation) else {
                return Ok(Page::default());
            };
            let mut in_range = all.iter().rev().filter(|(key, _)| {
                bounds.before_key.as_ref().is_none_or(|b| *key < b)
                    && bounds.after_key.as_ref().is_none_or(|a| *key > a)
                    && bounds.from_key.as_ref().is_none_or(|f| *key >= f)
            });
            let mut page = Page::default();
            for (_, (message, expires_at)) in in_range.by_ref().take(bounds.limit as usize) {
                if expires_at.is_none_or(|at| at > now_secs) {
                    page.messages.push(message.clone());
                }
            }
            page.more = in_range.next().is_some();
            Ok(page)
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
            Ok(lock(&self.inner)
                .by_conversation
                .get(conversation)
                .and_then(|all| all.get(&key))
                .is_some_and(|(_, expires_at)| expires_at.is_none_or(|at| at > now_secs)))
        })
    }

    fn mark_read<'a>(
        &'a self,
        conversation: &'a str,
        user: &'a str,
        message_id: &'a str,
        _now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            let key = (conversation.to_owned(), user.to_owned());
            match inner.read.get(&key) {
                Some(current) if current.as_str() >= message_id => Ok(false),
                _ => {
                    inner.read.insert(key, message_id.to_owned());
                    Ok(true)
                }
            }
        })
    }
}

#[derive(Default)]
pub struct MemoryPresence {
    inner: Mutex<HashMap<String, Presence>>,
}

impl PresenceStore for MemoryPresence {
    fn heartbeat<'a>(
        &'a self,
        user: &'a str,
        now_secs: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<Heartbeat>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            let was_online = inner
                .get(user)
                .is_some_and(|p| p.announced_online && p.is_online(now_secs));
            inner.insert(
                user.to_owned(),
                Presence {
                    user: user.to_owned(),
                    expires_at,
                    announced_online: true,
                },
            );
            Ok(Heartbeat { was_online })
        })
    }

    fn set_offline<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            match inner.get_mut(user) {
                Some(p) if p.announced_online => {
                    p.announced_online = false;
                    p.expires_at = p.expires_at.min(now_secs);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn expire<'a>(&'a self, user: &'a str, now_secs: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut inner = lock(&self.inner);
            match inner.get_mut(user) {
                Some(p) if p.announced_online && !p.is_online(now_secs) => {
                    p.announced_online = false;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn get_many<'a>(&'a self, users: &'a [String]) -> BoxFuture<'a, StoreResult<Vec<Presence>>> {
        Box::pin(async move {
            let inner = lock(&self.inner);
            Ok(users.iter().filter_map(|u| inner.get(u).cloned()).collect())
        })
    }
}
