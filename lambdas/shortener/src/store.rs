//! The narrow storage interfaces the handlers and the aggregator use.
//!
//! Methods return boxed futures so the traits stay object safe: the router
//! state holds `Arc<dyn LinkStore>` and friends, and a library user can plug
//! in their own implementation without a generic parameter on everything.
//! [`crate::aws`] implements them on DynamoDB and SQS, [`crate::memory`] in
//! process for tests.

use std::future::Future;
use std::pin::Pin;

use crate::link::Link;

/// A `Send` future borrowed for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage call that failed; the details go to the log, the client only
/// learns that the service is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    #[error("item {key:?} is malformed: {reason}")]
    Malformed { key: String, reason: String },
}

impl StoreError {
    pub fn backend(operation: &'static str, message: impl Into<String>) -> Self {
        Self::Backend {
            operation,
            message: message.into(),
        }
    }
}

/// What a conditional create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An item with that code already exists; nothing was written.
    AlreadyExists,
}

/// What counting one request in a rate window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateOutcome {
    /// Counted; the window was below its limit.
    Allowed,
    /// The window already holds `limit` requests; nothing was counted.
    Limited,
}

/// The links table: read a link, create one if its code is free.
pub trait LinkStore: Send + Sync {
    /// The link stored under `code`, expired or not.
    fn get_link<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<Option<Link>, StoreError>>;

    /// Stores `link` unless its code is taken (a conditional write, so two
    /// concurrent creators of one alias cannot both succeed).
    fn put_link_if_absent<'a>(
        &'a self,
        link: &'a Link,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>>;
}

/// Shared fixed-window counters for rate limiting, so that every instance of
/// the function counts against the same limit.
pub trait RateCounter: Send + Sync {
    /// Adds one to the window item `key` unless it already holds `limit`;
    /// the item should disappear after `expires_at` (epoch seconds).
    fn count_in_window<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<RateOutcome, StoreError>>;
}

/// Per-link click counters.
pub trait ClickCounter: Send + Sync {
    /// Clicks counted for `code`; 0 when none were.
    fn get_clicks<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Adds `clicks` to the counter of `code`, creating it if needed.
    fn add_clicks<'a>(
        &'a self,
        code: &'a str,
        clicks: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Where click events go for the aggregator.
pub trait ClickQueue: Send + Sync {
    /// Largest batch [`ClickQueue::send_batch`] accepts (SQS: 10).
    fn max_batch(&self) -> usize {
        10
    }

    /// Sends message bodies in one call; returns the indices (into `bodies`)
    /// of the messages the queue refused. An `Err` means none were sent.
    fn send_batch<'a>(
        &'a self,
        bodies: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<usize>, StoreError>>;
}
