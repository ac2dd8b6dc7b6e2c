//! Link creations per client address per minute.
//!
//! A fixed one-minute window per client, counted in an item of the links
//! table (`!rate#<client>#<epoch minute>`), so that every Lambda instance
//! counts against the same limit. Codes and aliases never start with `!`, so
//! window items cannot clash with links. The counter is a conditional
//! `ADD n 1` that fails once `n` reaches the limit: a refused request does
//! not count, and concurrent requests cannot overshoot.
//!
//! A fixed window lets a client make up to twice the limit around a minute
//! boundary; that is accepted in exchange for one write per request.

use std::net::IpAddr;
use std::sync::Arc;

use crate::store::{RateCounter, RateOutcome, StoreError};

/// Prefix of window items in the links table.
pub const WINDOW_KEY_PREFIX: &str = "!rate#";

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the window ends in `retry_after_secs` (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

/// The window a request at `now` (epoch seconds) falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `!rate#<client>#<epoch minute>`
    pub key: String,
    /// Seconds until the next window starts (1 to 60).
    pub retry_after_secs: u64,
    /// When the item may be deleted: one minute after the window ends, so
    /// DynamoDB's TTL never removes a window still in use.
    pub expires_at: i64,
}

impl Window {
    pub fn at(client: &str, now: i64) -> Self {
        let minute = now.div_euclid(60);
        let window_end = (minute + 1) * 60;
        Self {
            key: format!("{WINDOW_KEY_PREFIX}{client}#{minute}"),
            retry_after_secs: (window_end - now).max(1) as u64,
            expires_at: window_end + 60,
        }
    }
}

/// The name a client is counted under: its IPv4 address, or the /64 prefix
/// of its IPv6 address (one subscriber usually holds a whole /64 and could
/// otherwise rotate through addresses to escape the limit).
pub fn client_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// Applies the per-minute limit through a shared [`RateCounter`].
#[derive(Clone)]
pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    per_minute: u32,
}

impl RateLimiter {
    /// `per_minute` 0 disables the limit (no table writes at all).
    pub fn new(counter: Arc<dyn RateCounter>, per_minute: u32) -> Self {
        Self {
            counter,
            per_minute,
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one request of `client` at `now` (epoch seconds).
    pub async fn check(&self, client: &str, now: i64) -> Result<RateDecision, StoreError> {
        if self.per_minute == 0 {
            return Ok(RateDecision::Allowed);
        }
        let window = Window::at(client, now);
        let outcome = self
            .counter
            .count_in_window(&window.key, self.per_minute, window.expires_at)
            .await?;
        Ok(match outcome {
            RateOutcome::Allowed => RateDecision::Allowed,
            RateOutcome::Limited => RateDecision::Limited {
                retry_after_secs: window.retry_after_secs,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::memory::MemoryLinks;

    #[test]
    fn window_key_retry_after_and_expiry() {
        // 1_700_000_000 is 20 seconds into minute 28_333_333.
        let window = Window::at("192.0.2.1", 1_700_000_000);
        assert_eq!(window.key, "!rate#192.0.2.1#28333333");
        assert_eq!(window.retry_after_secs, 40);
        assert_eq!(window.expires_at, 28_333_334 * 60 + 60);
        // The first second of a minute waits the whole minute.
        assert_eq!(Window::at("c", 28_333_334 * 60).retry_after_secs, 60);
        assert_eq!(Window::at("c", 28_333_334 * 60 - 1).retry_after_secs, 1);
    }

    #[test]
    fn window_keys_cannot_be_link_codes() {
        assert!(!crate::alias::could_be_link_code(&Window::at("c", 0).key));
    }

    #[test]
    fn client_keys() {
        assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key("2001:db8:1:2::1".parse().unwrap()),
            client_key("2001:db8:1:2:ffff::9".parse().unwrap())
        );
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    #[tokio::test]
    async fn allows_up_to_the_limit_then_refuses_until_the_next_minute() {
        let store = Arc::new(MemoryLinks::new());
        let limiter = RateLimiter::new(store.clone(), 3);
        let now = 1_700_000_000;
        for _ in 0..3 {
            assert_eq!(limiter.check("a", now).await, Ok(RateDecision::Allowed));
        }
        assert_eq!(
            limiter.check("a", now + 5).await,
            Ok(RateDecision::Limited {
                retry_after_secs: 35
            })
        );
        // A refused request does not count.
        assert_eq!(store.window("!rate#a#28333333").map(|w| w.0), Some(3));
        // Another client has its own window.
        assert_eq!(limiter.check("b", now).await, Ok(RateDecision::Allowed));
        // The next minute starts afresh.
        assert_eq!(
            limiter.check("a", now + 40).await,
            Ok(RateDecision::Allowed)
        );
    }

    #[tokio::test]
    async fn zero_disables_it() {
        let store = Arc::new(MemoryLinks::new());
        store.fail.store(true, Ordering::SeqCst);
        let limiter = RateLimiter::new(store, 0);
        for _ in 0..100 {
            assert_eq!(limiter.check("a", 0).await, Ok(RateDecision::Allowed));
        }
    }

    #[tokio::test]
    async fn store_failures_surface() {
        let store = Arc::new(MemoryLinks::new());
        store.fail.store(true, Ordering::SeqCst);
        let limiter = RateLimiter::new(store, 5);
        assert!(limiter.check("a", 0).await.is_err());
    }
}
