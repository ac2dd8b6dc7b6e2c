//! The read-through link cache in front of the links table.
//!
//! Links never change once created, so a cached link can only become wrong
//! by expiring, and the redirect handler checks `expires_at` on every hit.
//! Absent codes are cached too, but for at most [`NEGATIVE_TTL_CAP`]: a code
//! that was just created through another instance shows up soon.
//!
//! Eviction is first-in first-out. Every positive entry has the same TTL, so
//! the oldest insertion is also the entry closest to expiring anyway; a hot
//! link is evicted at most once per TTL and reloaded by its next redirect.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::link::Link;

/// Longest time an absent code is remembered.
pub const NEGATIVE_TTL_CAP: Duration = Duration::from_secs(5);

/// What the cache knows about a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The link, as the table returned it (possibly expired since).
    Found(Link),
    /// The table had no such code a moment ago.
    Absent,
    /// Nothing cached: ask the table.
    Miss,
}

/// Counters since the cache was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
}

impl CacheStats {
    /// Hits over lookups, 0 when there were none.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

struct Entry {
    value: Option<Link>,
    expires: Instant,
    /// Which insertion this is, so a stale queue slot of an overwritten key
    /// does not evict the newer entry.
    generation: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Insertion order, oldest first; may hold stale slots (see `generation`).
    order: VecDeque<(String, u64)>,
    next_generation: u64,
}

/// A bounded in-memory cache of links with a time to live.
pub struct LinkCache {
    ttl: Duration,
    negative_ttl: Duration,
    max_entries: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl LinkCache {
    /// A cache holding up to `max_entries` links for `ttl` each; a zero for
    /// either disables it (every lookup is a [`Lookup::Miss`], uncounted).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            negative_ttl: ttl.min(NEGATIVE_TTL_CAP),
            max_entries,
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    /// What is cached for `code` at `now`.
    pub fn get(&self, code: &str, now: Instant) -> Lookup {
        if !self.is_enabled() {
            return Lookup::Miss;
        }
        let found = {
            let inner = self.lock();
            inner
                .entries
                .get(code)
                .filter(|entry| entry.expires > now)
                .map(|entry| entry.value.clone())
        };
        match found {
            Some(Some(link)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Found(link)
            }
            Some(None) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Absent
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss
            }
        }
    }

    /// Remembers what the table said about `code` (`None`: no such link).
    pub fn insert(&self, code: &str, value: Option<Link>, now: Instant) {
        if !self.is_enabled() {
            return;
        }
        let ttl = if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        let mut inner = self.lock();
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.entries.insert(
            code.to_owned(),
            Entry {
                value,
                expires: now + ttl,
                generation,
            },
        );
        inner.order.push_back((code.to_owned(), generation));

        let mut evicted = 0;
        while inner.entries.len() > self.max_entries {
            let Some((key, generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entries
                .get(&key)
                .is_some_and(|entry| entry.generation == generation)
            {
                inner.entries.remove(&key);
                evicted += 1;
            }
        }
        // Overwrites leave stale slots behind; drop them before the queue
        // grows well past the bound.
        if inner.order.len() > 2 * self.max_entries + 16 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(key, generation)| {
                entries
                    .get(key)
                    .is_some_and(|entry| entry.generation == *generation)
            });
        }
        drop(inner);
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.lock().entries.len(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent
        // in a way that matters for a cache, so poisoning is ignored.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(code: &str) -> Link {
        Link {
            code: code.into(),
            url: format!("https://example.com/{code}"),
            created_at: 0,
            expires_at: None,
        }
    }

    #[test]
    fn hit_until_the_ttl_then_miss() {
        let cache = LinkCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        assert_eq!(cache.get("abc", t0), Lookup::Miss);
        cache.insert("abc", Some(link("abc")), t0);
        assert_eq!(
            cache.get("abc", t0 + Duration::from_secs(59)),
            Lookup::Found(link("abc"))
        );
        assert_eq!(cache.get("abc", t0 + Duration::from_secs(60)), Lookup::Miss);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    }

    #[test]
    fn absent_codes_are_remembered_briefly() {
        let cache = LinkCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        cache.insert("nope", None, t0);
        assert_eq!(
            cache.get("nope", t0 + Duration::from_secs(4)),
            Lookup::Absent
        );
        assert_eq!(cache.get("nope", t0 + NEGATIVE_TTL_CAP), Lookup::Miss);
        // Creating the link replaces the negative entry at once.
        cache.insert("nope", Some(link("nope")), t0);
        assert_eq!(cache.get("nope", t0), Lookup::Found(link("nope")));
    }

    #[test]
    fn size_is_bounded_oldest_evicted_first() {
        let cache = LinkCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for code in ["a", "b", "c", "d", "e"] {
            cache.insert(code, Some(link(code)), t0);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.evictions, 2);
        assert_eq!(cache.get("a", t0), Lookup::Miss);
        assert_eq!(cache.get("b", t0), Lookup::Miss);
        for code in ["c", "d", "e"] {
            assert_eq!(cache.get(code, t0), Lookup::Found(link(code)));
        }
    }

    #[test]
    fn overwriting_does_not_evict_the_new_entry() {
        let cache = LinkCache::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        cache.insert("a", None, t0);
        cache.insert("b", Some(link("b")), t0);
        cache.insert("a", Some(link("a")), t0); // overwrite: still 2 entries
        cache.insert("c", Some(link("c")), t0); // evicts b (a's first slot is stale)
        assert_eq!(cache.get("a", t0), Lookup::Found(link("a")));
        assert_eq!(cache.get("b", t0), Lookup::Miss);
        assert_eq!(cache.get("c", t0), Lookup::Found(link("c")));
    }

    #[test]
    fn repeated_overwrites_keep_the_queue_bounded() {
        let cache = LinkCache::new(Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for _ in 0..1000 {
            cache.insert("hot", Some(link("hot")), t0);
        }
        assert!(cache.lock().order.len() <= 2 * 4 + 16 + 1);
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn zero_ttl_or_size_disables_it() {
        for cache in [
            LinkCache::new(Duration::ZERO, 10),
            LinkCache::new(Duration::from_secs(60), 0),
        ] {
            let t0 = Instant::now();
            cache.insert("a", Some(link("a")), t0);
            assert_eq!(cache.get("a", t0), Lookup::Miss);
            assert_eq!(cache.stats(), CacheStats::default());
        }
    }

    #[test]
    fn hit_ratio() {
        let cache = LinkCache::new(Duration::from_secs(60), 10);
        assert_eq!(cache.stats().hit_ratio(), 0.0);
        let t0 = Instant::now();
        cache.get("a", t0);
        cache.insert("a", Some(link("a")), t0);
        for _ in 0..3 {
            cache.get("a", t0);
        }
        assert_eq!(cache.stats().hit_ratio(), 0.75);
    }
}
