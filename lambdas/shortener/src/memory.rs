//! In-process implementations of the store traits, for unit tests and for
//! trying the router without AWS. They can be told to fail, so tests can
//! check what the service does when storage is down.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::link::Link;
use crate::store::{
    BoxFuture, ClickCounter, ClickQueue, LinkStore, PutOutcome, RateCounter, RateOutcome,
    StoreError,
};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Links and rate windows in a map, like the links table holds both.
#[derive(Default)]
pub struct MemoryLinks {
    links: Mutex<HashMap<String, Link>>,
    windows: Mutex<HashMap<String, (u32, i64)>>,
    /// Every call fails while set.
    pub fail: AtomicBool,
    /// Number of `get_link` calls, to see whether the cache spared one.
    pub reads: AtomicU64,
}

impl MemoryLinks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `link` unconditionally (test set-up).
    pub fn insert(&self, link: Link) {
        lock(&self.links).insert(link.code.clone(), link);
    }

    /// The count and expiry of a rate window item.
    pub fn window(&self, key: &str) -> Option<(u32, i64)> {
        lock(&self.windows).get(key).copied()
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::backend(operation, "injected failure"));
        }
        Ok(())
    }
}

impl LinkStore for MemoryLinks {
    fn get_link<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<Option<Link>, StoreError>> {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.check("GetItem")?;
            Ok(lock(&self.links).get(code).cloned())
        })
    }

    fn put_link_if_absent<'a>(
        &'a self,
        link: &'a Link,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        Box::pin(async move {
            self.check("PutItem")?;
            let mut links = lock(&self.links);
            if links.contains_key(&link.code) {
                return Ok(PutOutcome::AlreadyExists);
            }
            links.insert(link.code.clone(), link.clone());
            Ok(PutOutcome::Created)
        })
    }
}

impl RateCounter for MemoryLinks {
    fn count_in_window<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<RateOutcome, StoreError>> {
        Box::pin(async move {
            self.check("UpdateItem")?;
            let mut windows = lock(&self.windows);
            let entry = windows.entry(key.to_owned()).or_insert((0, expires_at));
            if entry.0 >= limit {
                return Ok(RateOutcome::Limited);
            }
            *entry = (entry.0 + 1, expires_at);
            Ok(RateOutcome::Allowed)
        })
    }
}

/// Click counters in a map.
#[derive(Default)]
pub struct MemoryClicks {
    counts: Mutex<HashMap<String, u64>>,
    /// Updates of these codes fail.
    failing_codes: Mutex<HashSet<String>>,
    /// Number of `add_clicks` calls, to check aggregation.
    pub updates: AtomicU64,
}

impl MemoryClicks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every update of `code` fail.
    pub fn fail_code(&self, code: &str) {
        lock(&self.failing_codes).insert(code.to_owned());
    }

    pub fn count(&self, code: &str) -> u64 {
        lock(&self.counts).get(code).copied().unwrap_or(0)
    }
}

impl ClickCounter for MemoryClicks {
    fn get_clicks<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.count(code)) })
    }

    fn add_clicks<'a>(
        &'a self,
        code: &'a str,
        clicks: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.updates.fetch_add(1, Ordering::SeqCst);
            if lock(&self.failing_codes).contains(code) {
                return Err(StoreError::backend("UpdateItem", "injected failure"));
            }
            *lock(&self.counts).entry(code.to_owned()).or_insert(0) += clicks;
            Ok(())
        })
    }
}

/// A queue that keeps what it was sent, batch by batch.
#[derive(Default)]
pub struct MemoryQueue {
    batches: Mutex<Vec<Vec<String>>>,
    /// Every call fails while set.
    pub fail: AtomicBool,
    /// Entries at these positions of the next batch are refused once.
    refuse_next: Mutex<Vec<usize>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The batches received so far.
    pub fn batches(&self) -> Vec<Vec<String>> {
        lock(&self.batches).clone()
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<String> {
        lock(&self.batches).iter().flatten().cloned().collect()
    }

    /// Refuses the entries at `positions` of the next batch only.
    pub fn refuse_in_next_batch(&self, positions: &[usize]) {
        *lock(&self.refuse_next) = positions.to_vec();
    }
}

impl ClickQueue for MemoryQueue {
    fn send_batch<'a>(
        &'a self,
        bodies: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<usize>, StoreError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::backend("SendMessageBatch", "injected failure"));
            }
            assert!(
                bodies.len() <= self.max_batch(),
                "batch of {}",
                bodies.len()
            );
            let refused = std::mem::take(&mut *lock(&self.refuse_next));
            let refused: Vec<usize> = refused.into_iter().filter(|&i| i < bodies.len()).collect();
            let accepted = bodies
                .iter()
                .enumerate()
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, body)| body.clone())
                .collect();
            lock(&self.batches).push(accepted);
            Ok(refused)
        })
    }
}
