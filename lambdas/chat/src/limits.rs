//! Per-connection limits as pure arithmetic: the message rate (a fixed
//! one-minute window), the typing interval, and when a presence heartbeat
//! is worth writing. The stores apply the same rules with their own
//! storage (conditional updates on DynamoDB).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const WINDOW_MS: i64 = 60_000;

/// The fixed one-minute window `now_ms` falls in.
pub fn minute_window(now_ms: i64) -> i64 {
    now_ms.div_euclid(WINDOW_MS)
}

/// Messages counted in the current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateWindow {
    pub window: i64,
    pub count: u32,
}

impl RateWindow {
    /// Counts one message at `now_ms` if the window has room (`limit` 0:
    /// no limit). A refused message is not counted.
    pub fn admit(&mut self, now_ms: i64, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        let window = minute_window(now_ms);
        if window != self.window {
            *self = RateWindow { window, count: 0 };
        }
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }
}

/// Whether a typing event at `now_ms` may go out after one at `last_ms`.
pub fn typing_allowed(last_ms: Option<i64>, now_ms: i64, min_interval: Duration) -> bool {
    match last_ms {
        None => true,
        Some(last) => now_ms - last >= min_interval.as_millis() as i64,
    }
}

/// The in-process state of one connection's limits.
#[derive(Debug, Default)]
pub struct ConnectionLimits {
    rate: RateWindow,
    last_typing_ms: Option<i64>,
}

impl ConnectionLimits {
    pub fn admit_message(&mut self, now_ms: i64, limit: u32) -> bool {
        self.rate.admit(now_ms, limit)
    }

    pub fn admit_typing(&mut self, now_ms: i64, min_interval: Duration) -> bool {
        if !typing_allowed(self.last_typing_ms, now_ms, min_interval) {
            return false;
        }
        self.last_typing_ms = Some(now_ms);
        true
    }
}

/// Which users' presence this process refreshed lately: a heartbeat is
/// written when the last one this process wrote is a third of the
/// presence TTL old, so a busy user costs one presence write per 30 s
/// (with the default 90 s TTL), not one per frame.
#[derive(Debug, Default)]
pub struct HeartbeatCache {
    written: Mutex<HashMap<String, i64>>,
}

impl HeartbeatCache {
    /// Whether a heartbeat for `user` at `now_ms` should be written; if so
    /// it is recorded as written.
    pub fn due(&self, user: &str, now_ms: i64, ttl: Duration) -> bool {
        let refresh_after = (ttl.as_millis() / 3) as i64;
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match written.get(user) {
            Some(last) if now_ms - last < refresh_after => false,
            _ => {
                // Bounded: entries older than the TTL are dropped when the
                // map grows, as they no longer save anything.
                if written.len() >= 10_000 {
                    let horizon = ttl.as_millis() as i64;
                    written.retain(|_, last| now_ms - *last < horizon);
                }
                written.insert(user.to_owned(), now_ms);
                true
            }
        }
    }

    /// The user went offline here: the next heartbeat must be written.
    pub fn forget(&self, user: &str) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_counts_up_to_the_limit_then_resets_next_minute() {
        let mut rate = RateWindow::default();
        let t0 = 1_700_000_080_000; // 40 s into a minute
        for _ in 0..3 {
            assert!(rate.admit(t0, 3));
        }
        assert!(!rate.admit(t0 + 1_000, 3));
        assert!(!rate.admit(t0 + 19_999, 3));
        assert_eq!(rate.count, 3, "refusals are not counted");
        // The next minute starts 20 s later.
        assert!(rate.admit(t0 + 20_000, 3));
        assert_eq!(rate.count, 1);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut rate = RateWindow::default();
        assert!((0..10_000).all(|_| rate.admit(5, 0)));
    }

    #[test]
    fn windows_are_whole_minutes() {
        assert_eq!(minute_window(0), 0);
        assert_eq!(minute_window(59_999), 0);
        assert_eq!(minute_window(60_000), 1);
    }

    #[test]
    fn typing_is_throttled_per_interval() {
        let mut limits = ConnectionLimits::default();
        let interval = Duration::from_millis(2000);
        assert!(limits.admit_typing(10_000, interval));
        assert!(!limits.admit_typing(11_999, interval));
        assert!(limits.admit_typing(12_000, interval));
        assert!(!limits.admit_typing(12_001, interval));
        // A dropped event does not push the next allowed time back.
        assert!(limits.admit_typing(14_000, interval));
        assert!(typing_allowed(Some(5), 5, Duration::ZERO));
    }

    #[test]
    fn heartbeats_are_written_once_per_third_of_the_ttl() {
        let cache = HeartbeatCache::default();
        let ttl = Duration::from_secs(90);
        assert!(cache.due("alice", 0, ttl));
        assert!(!cache.due("alice", 29_999, ttl));
        assert!(cache.due("bob", 1, ttl));
        assert!(cache.due("alice", 30_000, ttl));
        cache.forget("alice");
        assert!(cache.due("alice", 30_001, ttl));
    }
}
