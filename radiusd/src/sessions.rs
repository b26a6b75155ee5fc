//! Open-session counts for the simultaneous-use check, cached.
//!
//! A count is read from PostgreSQL once per user and kept until it is known to change.
//! Every radiusd that commits a Start or Stop forgets those users' counts at once and
//! publishes their names on the invalidation channel (`sessions:[…]`); Accounting-On/Off
//! and the stale-session sweep publish `sessions`, which forgets every count. While that
//! channel is connected a count is trusted for `session_count_ttl` (a backstop for
//! changes nobody announced: a late Interim re-opening a stale-closed session); while it
//! is down, or Redis is not configured, only for `session_count_ttl_disconnected`, and
//! every count is forgotten on reconnect, because messages were missed meanwhile.
//!
//! A count read from PostgreSQL while a change was being announced may predate it, so it
//! is kept only for the short TTL. Without PostgreSQL the count is taken as 0: auth keeps
//! working from the caches, and a limit is a policy, not a security boundary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use proisp_store::{Cache, Invalidation, Store};

use crate::db;

/// The range a cached entry's share of its TTL is drawn from, here and in the subscriber
/// cache (`lookup`): entries filled together (a restart under load) must not all expire
/// together, or every TTL the whole working set would be read again in the same second.
pub(crate) const SPREAD: std::ops::Range<f32> = 0.75..1.0;

/// Users whose counts are kept, at most.
const CAPACITY: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    open: u32,
    at: Instant,
    /// Trusted only for the short TTL: read while a change was announced.
    doubtful: bool,
    /// This entry's share of the TTL, as in the subscriber cache
    /// ([`SPREAD`]): counts read together must not expire together.
    spread: f32,
}

/// When a count read began, to tell whether a change was announced while it ran.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Read {
    epoch: u64,
    at: Instant,
}

/// How long counts are trusted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountTtl {
    /// While the invalidation channel is connected.
    pub(crate) connected: Duration,
    /// While it is down or absent.
    pub(crate) disconnected: Duration,
}

/// Cached open-session counts.
pub(crate) struct SessionCounts {
    /// Keyed by an inline string, as the subscriber cache is.
    cache: quick_cache::sync::Cache<CompactString, Entry>,
    ttl: CountTtl,
    /// Whether the invalidation channel is connected.
    connected: AtomicBool,
    /// Bumped by every forget and clear, to spot a count read across a change.
    epoch: AtomicU64,
    /// Longest wait for PostgreSQL's count.
    timeout: Duration,
    /// Where changes are announced to the other radiusd instances.
    redis: Option<Arc<dyn Cache>>,
}

impl std::fmt::Debug for SessionCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCounts")
            .field("entries", &self.cache.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionCounts {
    pub(crate) fn new(
        ttl: CountTtl,
        timeout: Duration,
        redis: Option<Arc<dyn Cache>>,
    ) -> SessionCounts {
        SessionCounts {
            cache: quick_cache::sync::Cache::new(CAPACITY),
            ttl,
            connected: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            timeout,
            redis,
        }
    }

    /// Open sessions of `username` if a trusted count is cached (no waiting).
    pub(crate) fn cached(&self, username: &str) -> Option<u32> {
        self.cached_at(username, Instant::now())
    }

    /// [`SessionCounts::cached`] as of `now`.
    pub(crate) fn cached_at(&self, username: &str, now: Instant) -> Option<u32> {
        let entry = self.cache.get(username)?;
        let ttl = if self.connected.load(Ordering::Acquire) && !entry.doubtful {
            self.ttl.connected
        } else {
            self.ttl.disconnected
        }
        .mul_f32(entry.spread);
        (now.saturating_duration_since(entry.at) < ttl).then_some(entry.open)
    }

    /// Open sessions of `username`, from the cache or PostgreSQL.
    pub(crate) async fn count(&self, store: &Store, username: &str) -> u32 {
        if let Some(n) = self.cached(username) {
            return n;
        }
        let read = self.start_read();
        let open = match tokio::time::timeout(self.timeout, db::open_session_count(store, username))
            .await
        {
            Ok(Ok(n)) => n,
            failed => {
                // Remembered like a count, so a database outage costs one wait per user
                // and TTL, not one per login.
                tracing::debug!(
                    ?failed,
                    user = username,
                    "open sessions unknown; counting none"
                );
                0
            }
        };
        self.record(username, open, read);
        open
    }

    /// Marks the start of a count read elsewhere (by the lookup's batches, with the
    /// subscribers or for the subscribers Redis knew).
    pub(crate) fn start_read(&self) -> Read {
        Read {
            epoch: self.epoch.load(Ordering::Acquire),
            at: Instant::now(),
        }
    }

    /// Keeps a count read since `read`: doubtful if a change was announced meanwhile.
    pub(crate) fn record(&self, username: &str, open: u32, read: Read) {
        let doubtful = self.epoch.load(Ordering::Acquire) != read.epoch;
        self.remember(username, open, read.at, doubtful);
    }

    fn remember(&self, username: &str, open: u32, at: Instant, doubtful: bool) {
        let entry = Entry {
            open,
            at,
            doubtful,
            spread: rand::random_range(SPREAD),
        };
        self.cache.insert(CompactString::from(username), entry);
    }

    /// These users' sessions changed here (a Start or Stop was committed): forgets
    /// their counts and tells the other radiusd instances, without waiting for Redis.
    pub(crate) fn changed(&self, users: Vec<String>) {
        if users.is_empty() {
            return;
        }
        for user in &users {
            self.forget(user);
        }
        self.announce(Invalidation::Sessions(users));
    }

    /// Anybody's sessions may have changed (Accounting-On/Off, a stale-session sweep):
    /// forgets every count here and tells the other radiusd instances.
    pub(crate) fn all_changed(&self) {
        self.clear();
        self.announce(Invalidation::AllSessions);
    }

    fn announce(&self, change: Invalidation) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = redis.publish(&change).await {
                // The others trust their counts for session_count_ttl at most.
                tracing::debug!(error = %e, "could not announce a session change");
            }
        });
    }

    /// Drops `username`'s count (an announced change).
    pub(crate) fn forget(&self, username: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.remove(username);
    }

    /// Drops every count (an announced change of anybody's sessions).
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.clear();
    }

    /// Records whether the invalidation channel is connected; on every (re)connect every
    /// count is dropped, because messages sent meanwhile were missed.
    pub(crate) fn set_connected(&self, connected: bool) {
        if connected {
            self.clear();
        }
        self.connected.store(connected, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> SessionCounts {
        let ttl = CountTtl {
            connected: Duration::from_secs(100),
            disconnected: Duration::from_secs(10),
        };
        let counts = SessionCounts::new(ttl, Duration::from_secs(1), None);
        counts.set_connected(true);
        counts
    }

    #[test]
    fn counts_read_together_expire_spread_over_a_quarter_of_the_ttl() {
        let counts = counts();
        // Read 90 s ago: past the TTL for the entries that drew less than 0.9 of it.
        let at = Instant::now() - Duration::from_secs(90);
        for i in 0..1000 {
            counts.remember(&format!("u{i}"), 1, at, false);
        }
        let trusted = (0..1000)
            .filter(|i| counts.cached(&format!("u{i}")).is_some())
            .count();
        assert!(
            (200..=600).contains(&trusted),
            "{trusted} of 1000 still trusted"
        );
        // Past the whole TTL none is.
        counts.remember("late", 1, Instant::now() - Duration::from_secs(101), false);
        assert_eq!(counts.cached("late"), None);
    }

    #[test]
    fn a_doubtful_count_or_a_lost_channel_gets_the_short_ttl() {
        let counts = counts();
        let at = Instant::now() - Duration::from_secs(11);
        counts.remember("doubtful", 2, at, true);
        counts.remember("sure", 2, at, false);
        assert_eq!(counts.cached("doubtful"), None);
        assert_eq!(counts.cached("sure"), Some(2));
        counts.set_connected(false);
        counts.remember("sure", 2, at, false);
        assert_eq!(counts.cached("sure"), None);
        // Announced changes are forgotten at once.
        counts.set_connected(true);
        counts.remember("x", 1, Instant::now(), false);
        counts.forget("x");
        assert_eq!(counts.cached("x"), None);
    }
}
