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

use proisp_shared::store::{Cache, Invalidation, Store};

/// Users whose counts are kept, at most.
const CAPACITY: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    open: u32,
    at: Instant,
    /// Trusted only for the short TTL: read while a change was announced.
    doubtful: bool,
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
    cache: quick_cache::sync::Cache<String, Entry>,
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
        let entry = self.cache.get(username)?;
        let ttl = if self.connected.load(Ordering::Acquire) && !entry.doubtful {
            self.ttl.connected
        } else {
            self.ttl.disconnected
        };
        (entry.at.elapsed() < ttl).then_some(entry.open)
    }

    /// Open sessions of `username`, from the cache or PostgreSQL.
    pub(crate) async fn count(&self, store: &Store, username: &str) -> u32 {
        if let Some(n) = self.cached(username) {
            return n;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let at = Instant::now();
        let open =
            match tokio::time::timeout(self.timeout, store.open_session_count(username)).await {
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
        let doubtful = self.epoch.load(Ordering::Acquire) != epoch;
        self.cache
            .insert(username.to_owned(), Entry { open, at, doubtful });
        open
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
