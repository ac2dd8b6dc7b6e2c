//! Click events, and the background batcher that ships them to the queue
//! without slowing down a redirect.
//!
//! A redirect only does a non-blocking `try_send` into a bounded channel; if
//! the channel is full the event is dropped and counted, never waited for.
//! The batcher task sends a batch when it holds [`ClickQueue::max_batch`]
//! events or its oldest event is [`BatcherConfig::max_age`] old, with a few
//! sends in flight at once. [`ClickBatcher::shutdown`] drains and sends
//! everything still pending; the binaries call it on SIGTERM / Ctrl-C.
//!
//! On Lambda the process is frozen between invocations, so an event can sit
//! in the batch until the next invocation thaws it (the age timer fires then)
//! or until Lambda's SIGTERM before shutdown, which flushes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::store::ClickQueue;

/// Longest `referer` / `user_agent` kept in an event; keeps a batch of ten
/// far below SQS's 256 KiB limit whatever clients send.
pub const MAX_HEADER_CHARS: usize = 512;

/// One redirect, as the queue carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickEvent {
    pub code: String,
    /// Unix epoch milliseconds.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl ClickEvent {
    pub fn new(code: &str, at: i64, referer: Option<&str>, user_agent: Option<&str>) -> Self {
        let clip = |s: &str| s.chars().take(MAX_HEADER_CHARS).collect::<String>();
        Self {
            code: code.to_owned(),
            at,
            referer: referer.map(clip),
            user_agent: user_agent.map(clip),
        }
    }
}

/// Tuning of the batcher.
#[derive(Debug, Clone, Copy)]
pub struct BatcherConfig {
    /// Events that may wait in the channel; beyond that they are dropped.
    pub capacity: usize,
    /// How long the first event of a batch waits for company.
    pub max_age: Duration,
    /// Concurrent `send_batch` calls.
    pub max_in_flight: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_age: Duration::from_millis(200),
            max_in_flight: 4,
        }
    }
}

/// Counters of the click pipeline since start.
#[derive(Debug, Default)]
pub struct ClickStats {
    enqueued: AtomicU64,
    dropped: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
}

/// A copy of [`ClickStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickStatsSnapshot {
    /// Accepted into the channel.
    pub enqueued: u64,
    /// Refused because the channel was full or closed.
    pub dropped: u64,
    /// Accepted by the queue.
    pub sent: u64,
    /// Refused by the queue even after a retry; lost.
    pub failed: u64,
}

impl ClickStats {
    pub fn snapshot(&self) -> ClickStatsSnapshot {
        ClickStatsSnapshot {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// The redirect side of the batcher: cheap to clone, never blocks.
#[derive(Clone)]
pub struct ClickSender {
    tx: mpsc::Sender<ClickEvent>,
    stats: Arc<ClickStats>,
}

impl ClickSender {
    /// Hands `event` to the batcher; `false` if it was dropped.
    pub fn enqueue(&self, event: ClickEvent) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(err) => {
                let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per power of two keeps a flood from flooding the log.
                if dropped.is_power_of_two() {
                    let reason = match err {
                        mpsc::error::TrySendError::Full(_) => "channel full",
                        mpsc::error::TrySendError::Closed(_) => "batcher stopped",
                    };
                    tracing::warn!(dropped_total = dropped, reason, "click event dropped");
                }
                false
            }
        }
    }

    pub fn stats(&self) -> ClickStatsSnapshot {
        self.stats.snapshot()
    }
}

/// The running batcher task.
pub struct ClickBatcher {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<ClickStats>,
}

impl ClickBatcher {
    /// Starts the batcher task on the current tokio runtime.
    pub fn spawn(queue: Arc<dyn ClickQueue>, config: BatcherConfig) -> (ClickSender, ClickBatcher) {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let stats = Arc::new(ClickStats::default());
        let task = tokio::spawn(run(queue, config, rx, shutdown_rx, stats.clone()));
        (
            ClickSender {
                tx,
                stats: stats.clone(),
            },
            ClickBatcher {
                shutdown,
                task,
                stats,
            },
        )
    }

    /// Sends everything still pending, waits for sends in flight, and stops
    /// the task. Events enqueued afterwards are dropped (and counted).
    pub async fn shutdown(self) -> ClickStatsSnapshot {
        let _ = self.shutdown.send(());
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "click batcher task failed");
        }
        self.stats.snapshot()
    }

    pub fn stats(&self) -> ClickStatsSnapshot {
        self.stats.snapshot()
    }
}

async fn run(
    queue: Arc<dyn ClickQueue>,
    config: BatcherConfig,
    mut rx: mpsc::Receiver<ClickEvent>,
    mut shutdown_rx: oneshot::Receiver<()>,
    stats: Arc<ClickStats>,
) {
    let max_batch = queue.max_batch().max(1);
    let max_in_flight = config.max_in_flight.max(1);
    let mut batch: Vec<ClickEvent> = Vec::with_capacity(max_batch);
    let mut deadline: Option<Instant> = None;
    let mut in_flight = JoinSet::new();
    // Dropping the ClickBatcher without calling shutdown must not stop the
    // pipeline; only an explicit shutdown (or every sender gone) does.
    let mut shutdown_handle_alive = true;

    loop {
        tokio::select! {
            biased;
            signal = &mut shutdown_rx, if shutdown_handle_alive => match signal {
                Ok(()) => break,
                Err(_) => shutdown_handle_alive = false,
            },
            event = rx.recv() => match event {
                Some(event) => {
                    if batch.is_empty() {
                        deadline = Some(Instant::now() + config.max_age);
                    }
                    batch.push(event);
                    if batch.len() >= max_batch {
                        deadline = None;
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
                        start_send(&queue, full, &stats, &mut in_flight, max_in_flight).await;
                    }
                }
                None => break,
            },
            () = sleep_until_deadline(deadline), if deadline.is_some() => {
                deadline = None;
                let aged = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
                start_send(&queue, aged, &stats, &mut in_flight, max_in_flight).await;
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {},
        }
    }

    // Shutdown: take what is already in the channel, send it all, wait.
    rx.close();
    while let Ok(event) = rx.try_recv() {
        batch.push(event);
        if batch.len() >= max_batch {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
            start_send(&queue, full, &stats, &mut in_flight, max_in_flight).await;
        }
    }
    if !batch.is_empty() {
        start_send(&queue, batch, &stats, &mut in_flight, max_in_flight).await;
    }
    while in_flight.join_next().await.is_some() {}
}

async fn sleep_until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts sending `events` once fewer than `max_in_flight` sends are running.
async fn start_send(
    queue: &Arc<dyn ClickQueue>,
    events: Vec<ClickEvent>,
    stats: &Arc<ClickStats>,
    in_flight: &mut JoinSet<()>,
    max_in_flight: usize,
) {
    while in_flight.len() >= max_in_flight {
        in_flight.join_next().await;
    }
    let bodies: Vec<String> = events
        .iter()
        .filter_map(|event| serde_json::to_string(event).ok())
        .collect();
    let queue = queue.clone();
    let stats = stats.clone();
    in_flight.spawn(async move { send_with_retry(&*queue, bodies, &stats).await });
}

/// One `send_batch`, then one more for the entries the queue refused (SQS
/// refuses single entries on throttling or internal errors). The SDK already
/// retries whole failed calls, so a call error is not retried again here.
async fn send_with_retry(queue: &dyn ClickQueue, bodies: Vec<String>, stats: &ClickStats) {
    let total = bodies.len() as u64;
    let refused = match queue.send_batch(&bodies).await {
        Ok(refused) => refused,
        Err(err) => {
            stats.failed.fetch_add(total, Ordering::Relaxed);
            tracing::error!(error = %err, events = total, "sending click events failed; they are lost");
            return;
        }
    };
    if refused.is_empty() {
        stats.sent.fetch_add(total, Ordering::Relaxed);
        return;
    }
    let retry: Vec<String> = refused
        .iter()
        .filter_map(|&i| bodies.get(i).cloned())
        .collect();
    stats
        .sent
        .fetch_add(total - retry.len() as u64, Ordering::Relaxed);
    let lost = match queue.send_batch(&retry).await {
        Ok(still_refused) => still_refused.len() as u64,
        Err(err) => {
            tracing::warn!(error = %err, "retrying refused click events failed");
            retry.len() as u64
        }
    };
    stats
        .sent
        .fetch_add(retry.len() as u64 - lost, Ordering::Relaxed);
    if lost > 0 {
        stats.failed.fetch_add(lost, Ordering::Relaxed);
        tracing::error!(
            events = lost,
            "the queue refused click events twice; they are lost"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::memory::MemoryQueue;

    fn event(i: usize) -> ClickEvent {
        ClickEvent::new(&format!("c{i:05}"), i as i64, None, None)
    }

    fn parsed(queue: &MemoryQueue) -> Vec<ClickEvent> {
        queue
            .messages()
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    }

    #[test]
    fn event_json_shape() {
        let e = ClickEvent::new(
            "abc1234",
            1_700_000_000_000,
            Some("https://r.example/"),
            None,
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"abc1234","at":1700000000000,"referer":"https://r.example/"}"#
        );
        let long = "x".repeat(2000);
        let e = ClickEvent::new("abc", 0, None, Some(&long));
        assert_eq!(e.user_agent.unwrap().len(), MAX_HEADER_CHARS);
    }

    /// Polls until `queue` holds `n` batches (or `within` passes), and
    /// returns the batch sizes then.
    async fn batches_once(queue: &MemoryQueue, n: usize, within: Duration) -> Vec<usize> {
        let until = Instant::now() + within;
        loop {
            let sizes: Vec<usize> = queue.batches().iter().map(Vec::len).collect();
            if sizes.len() >= n || Instant::now() >= until {
                return sizes;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    // Real time, not a paused clock (tokio's test-util feature would give
    // the workspace a second build of tokio and everything on top of it):
    // each timing claim is a lower bound, which a slow machine cannot break,
    // and the long max_age leaves the upper bounds a wide margin.
    #[tokio::test]
    async fn full_batches_go_at_once_in_tens() {
        let queue = Arc::new(MemoryQueue::new());
        let config = BatcherConfig {
            max_age: Duration::from_secs(2),
            ..BatcherConfig::default()
        };
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), config);
        let enqueued = Instant::now();
        for i in 0..25 {
            assert!(sender.enqueue(event(i)));
        }
        // Full batches go at once; the partial one is still waiting (which
        // only max_age passing could change: then it proves nothing).
        let sizes = batches_once(&queue, 2, Duration::from_secs(1)).await;
        if enqueued.elapsed() < config.max_age {
            assert_eq!(sizes, [10, 10]);
        }
        // The last five go when the oldest of them is max_age old.
        assert_eq!(
            batches_once(&queue, 3, Duration::from_secs(10)).await,
            [10, 10, 5]
        );
        assert!(enqueued.elapsed() >= config.max_age);
        let mut codes: Vec<String> = parsed(&queue).into_iter().map(|e| e.code).collect();
        codes.sort();
        assert_eq!(codes, (0..25).map(|i| event(i).code).collect::<Vec<_>>());
        let stats = batcher.shutdown().await;
        assert_eq!(
            (stats.enqueued, stats.sent, stats.dropped, stats.failed),
            (25, 25, 0, 0)
        );
    }

    #[tokio::test]
    async fn a_lone_event_waits_for_max_age() {
        let queue = Arc::new(MemoryQueue::new());
        let config = BatcherConfig {
            max_age: Duration::from_millis(500),
            ..BatcherConfig::default()
        };
        let (sender, _batcher) = ClickBatcher::spawn(queue.clone(), config);
        let enqueued = Instant::now();
        sender.enqueue(event(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        if enqueued.elapsed() < config.max_age {
            assert!(queue.batches().is_empty());
        }
        assert_eq!(batches_once(&queue, 1, Duration::from_secs(10)).await, [1]);
        assert!(enqueued.elapsed() >= config.max_age);
    }

    #[tokio::test]
    async fn shutdown_flushes_pending_events() {
        let queue = Arc::new(MemoryQueue::new());
        let config = BatcherConfig {
            max_age: Duration::from_secs(3600),
            ..BatcherConfig::default()
        };
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), config);
        for i in 0..3 {
            sender.enqueue(event(i));
        }
        let stats = batcher.shutdown().await;
        assert_eq!(parsed(&queue).len(), 3);
        assert_eq!(stats.sent, 3);
        // After shutdown enqueueing drops instead of blocking or panicking.
        assert!(!sender.enqueue(event(9)));
        assert_eq!(sender.stats().dropped, 1);
    }

    #[tokio::test]
    async fn overflow_drops_and_counts_without_blocking() {
        let queue = Arc::new(MemoryQueue::new());
        let config = BatcherConfig {
            capacity: 4,
            max_age: Duration::from_secs(3600),
            ..BatcherConfig::default()
        };
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), config);
        // On this current-thread runtime the batcher cannot run between these
        // sends, so the channel fills after four.
        let accepted = (0..9).filter(|&i| sender.enqueue(event(i))).count();
        assert_eq!(accepted, 4);
        let stats = batcher.shutdown().await;
        assert_eq!((stats.enqueued, stats.dropped, stats.sent), (4, 5, 4));
    }

    #[tokio::test]
    async fn refused_entries_are_retried_once() {
        let queue = Arc::new(MemoryQueue::new());
        queue.refuse_in_next_batch(&[1, 3]);
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), BatcherConfig::default());
        for i in 0..5 {
            sender.enqueue(event(i));
        }
        let stats = batcher.shutdown().await;
        let sizes: Vec<usize> = queue.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 2]);
        assert_eq!(parsed(&queue).len(), 5);
        assert_eq!((stats.sent, stats.failed), (5, 0));
    }

    #[tokio::test]
    async fn queue_failures_are_counted_not_fatal() {
        let queue = Arc::new(MemoryQueue::new());
        queue.fail.store(true, Ordering::SeqCst);
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), BatcherConfig::default());
        for i in 0..12 {
            sender.enqueue(event(i));
        }
        let stats = batcher.shutdown().await;
        assert_eq!((stats.sent, stats.failed), (0, 12));
    }

    #[tokio::test]
    async fn dropping_the_handle_keeps_the_pipeline_running() {
        let queue = Arc::new(MemoryQueue::new());
        let config = BatcherConfig {
            max_age: Duration::from_millis(1),
            ..BatcherConfig::default()
        };
        let (sender, batcher) = ClickBatcher::spawn(queue.clone(), config);
        drop(batcher);
        assert!(sender.enqueue(event(1)));
        for _ in 0..100 {
            if !queue.messages().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queue.messages().len(), 1);
    }
}
