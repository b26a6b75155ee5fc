//! Open-session counts for the simultaneous-use check, cached.
//!
//! A count is read from PostgreSQL at most once per user and `session_count_ttl`, and
//! forgotten as soon as this radiusd commits a Start or Stop for that user (all of them
//! on Accounting-On/Off), so a user's second login right after the first's Start is
//! counted. Another radiusd's commits reach this cache within the TTL. Without
//! PostgreSQL the count is taken as 0: auth keeps working from the caches, and a limit
//! is a policy, not a security boundary.

use std::time::{Duration, Instant};

use proisp_shared::store::Store;
use quick_cache::sync::Cache;

/// Users whose counts are kept, at most.
const CAPACITY: usize = 100_000;

/// Cached open-session counts.
pub(crate) struct SessionCounts {
    cache: Cache<String, (u32, Instant)>,
    ttl: Duration,
    /// Longest wait for PostgreSQL's count.
    timeout: Duration,
}

impl std::fmt::Debug for SessionCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCounts")
            .field("entries", &self.cache.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl SessionCounts {
    pub(crate) fn new(ttl: Duration, timeout: Duration) -> SessionCounts {
        SessionCounts {
            cache: Cache::new(CAPACITY),
            ttl,
            timeout,
        }
    }

    /// Open sessions of `username`, from the cache or PostgreSQL.
    pub(crate) async fn count(&self, store: &Store, username: &str) -> u32 {
        if let Some((n, at)) = self.cache.get(username)
            && at.elapsed() < self.ttl
        {
            return n;
        }
        let n = match tokio::time::timeout(self.timeout, store.open_session_count(username)).await {
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
        self.cache.insert(username.to_owned(), (n, Instant::now()));
        n
    }

    /// Drops `username`'s count (a Start or Stop was committed).
    pub(crate) fn forget(&self, username: &str) {
        self.cache.remove(username);
    }

    /// Drops every count (a NAS rebooted).
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }
}
