//! Subscriber lookup: in-process cache → Redis → PostgreSQL (DESIGN.md, auth path step 5).
//!
//! The in-process cache answers almost every request. It stays coherent through the
//! invalidation channel: while that is connected entries live for `cache.ttl` and a change
//! arrives as a message within milliseconds; while it is down (Redis stopped, or not
//! configured) no message can arrive, so entries are trusted only for
//! `cache.ttl_disconnected` — the bound on how stale an answer may be — and the cache is
//! emptied on every reconnect, because messages may have been missed meanwhile.
//!
//! Unknown names are remembered too (negatively), in memory and in Redis, so a flood of
//! random names reaches PostgreSQL once per name and period, not once per packet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proisp_shared::model::Subscriber;
use proisp_shared::store::{Cache, CacheLookup, Store};
use quick_cache::sync::Cache as MemoryCache;
use tokio::time::timeout;

use crate::config::CacheConfig;
use crate::metrics::{Level, Metrics, Outcome};
use crate::sessions::SessionCounts;

/// What the lookup found.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The subscriber.
    Subscriber(Arc<Subscriber>),
    /// No such (or a deleted) user name.
    Unknown,
}

/// Neither cache nor database could answer: the request goes unanswered, so the NAS
/// retries or fails over instead of getting a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

#[derive(Debug, Clone)]
struct Entry {
    at: Instant,
    value: Option<Arc<Subscriber>>,
    /// This entry's share of the TTL while connected, drawn from [`SPREAD`]: entries
    /// filled together (a restart under load) must not all expire together, or every
    /// `cache.ttl` the whole working set would go to Redis in the same second.
    spread: f32,
}

/// The range an entry's [`Entry::spread`] is drawn from.
pub(crate) const SPREAD: std::ops::Range<f32> = 0.75..1.0;

/// The lookup chain and its in-process cache.
pub(crate) struct Lookup {
    memory: MemoryCache<String, Entry>,
    store: Store,
    redis: Option<Arc<dyn Cache>>,
    /// Whether the invalidation channel is connected.
    connected: AtomicBool,
    config: CacheConfig,
    backend_timeout: Duration,
    metrics: Metrics,
    /// Open-session counts, filled by the PostgreSQL lookup, which reads them too.
    counts: Arc<SessionCounts>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("entries", &self.memory.len())
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Lookup {
    pub(crate) fn new(
        store: Store,
        redis: Option<Arc<dyn Cache>>,
        config: CacheConfig,
        backend_timeout: Duration,
        metrics: Metrics,
        counts: Arc<SessionCounts>,
    ) -> Lookup {
        Lookup {
            memory: MemoryCache::new(config.capacity.max(1)),
            store,
            redis,
            connected: AtomicBool::new(false),
            config,
            backend_timeout,
            metrics,
            counts,
        }
    }

    /// How long `entry` is trusted now.
    fn ttl(&self, entry: &Entry) -> Duration {
        let ttl = if self.connected.load(Ordering::Acquire) {
            self.config.ttl.mul_f32(entry.spread)
        } else {
            self.config.ttl_disconnected
        };
        if entry.value.is_none() {
            ttl.min(self.config.negative_ttl.mul_f32(entry.spread))
        } else {
            ttl
        }
    }

    fn remember(&self, username: &str, value: Option<Arc<Subscriber>>) {
        let entry = Entry {
            at: Instant::now(),
            value,
            spread: rand::random_range(SPREAD),
        };
        self.memory.insert(username.to_owned(), entry);
    }

    /// Finds a subscriber in the in-process cache only (no waiting); `None` when the
    /// name is not there or its entry is too old to trust.
    pub(crate) fn cached(&self, username: &str) -> Option<Found> {
        let entry = self.memory.get(username)?;
        if entry.at.elapsed() >= self.ttl(&entry) {
            return None;
        }
        Some(match entry.value {
            Some(sub) => {
                self.metrics.lookup(Level::Memory, Outcome::Hit);
                Found::Subscriber(sub)
            }
            None => {
                self.metrics.lookup(Level::Memory, Outcome::Negative);
                Found::Unknown
            }
        })
    }

    /// Finds a subscriber by user name.
    pub(crate) async fn find(&self, username: &str) -> Result<Found, Unavailable> {
        if let Some(found) = self.cached(username) {
            return Ok(found);
        }
        self.metrics.lookup(Level::Memory, Outcome::Miss);

        if let Some(redis) = &self.redis {
            match timeout(self.backend_timeout, redis.get_subscriber(username)).await {
                Ok(Ok(CacheLookup::Hit(sub))) => {
                    self.metrics.lookup(Level::Redis, Outcome::Hit);
                    let sub = Arc::new(sub);
                    self.remember(username, Some(sub.clone()));
                    return Ok(Found::Subscriber(sub));
                }
                Ok(Ok(CacheLookup::Negative)) => {
                    self.metrics.lookup(Level::Redis, Outcome::Negative);
                    self.remember(username, None);
                    return Ok(Found::Unknown);
                }
                Ok(Ok(CacheLookup::Miss)) => self.metrics.lookup(Level::Redis, Outcome::Miss),
                Ok(Err(_)) | Err(_) => self.metrics.lookup(Level::Redis, Outcome::Error),
            }
        }

        let read = self.counts.start_read();
        let query = self.store.subscriber_with_open_sessions(username);
        match timeout(self.backend_timeout, query).await {
            Ok(Ok((found, open))) => {
                if found.as_ref().is_some_and(|s| s.simultaneous_use > 0) {
                    self.counts.record(username, open, read);
                }
                let value = found.map(Arc::new);
                self.metrics.lookup(
                    Level::Postgres,
                    if value.is_some() {
                        Outcome::Hit
                    } else {
                        Outcome::Negative
                    },
                );
                self.remember(username, value.clone());
                self.fill_redis(username, value.clone());
                Ok(value.map_or(Found::Unknown, Found::Subscriber))
            }
            Ok(Err(e)) => {
                self.metrics.lookup(Level::Postgres, Outcome::Error);
                tracing::warn!(error = %e, "subscriber lookup in PostgreSQL failed");
                Err(Unavailable)
            }
            Err(_) => {
                self.metrics.lookup(Level::Postgres, Outcome::Error);
                tracing::warn!("subscriber lookup in PostgreSQL timed out");
                Err(Unavailable)
            }
        }
    }

    /// Writes what PostgreSQL said to Redis for the other radiusd instances, without
    /// delaying the reply.
    fn fill_redis(&self, username: &str, value: Option<Arc<Subscriber>>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let username = username.to_owned();
        tokio::spawn(async move {
            let result = match &value {
                Some(sub) => redis.put_subscriber(sub).await,
                None => redis.put_negative(&username).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "could not fill the Redis cache");
            }
        });
    }

    /// Forgets one user name (an invalidation message).
    pub(crate) fn forget(&self, username: &str) {
        self.memory.remove(username);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.memory.clear();
    }

    /// Records whether the invalidation channel is connected. On every (re)connect the
    /// cache is emptied: messages sent while it was down were missed.
    pub(crate) fn set_connected(&self, connected: bool) {
        if connected {
            self.clear();
        }
        self.connected.store(connected, Ordering::Release);
        self.metrics
            .invalidation_connected
            .set(if connected { 1.0 } else { 0.0 });
    }

    /// Entries in the in-process cache.
    pub(crate) fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether a backend answers: PostgreSQL or Redis (for `/health`).
    pub(crate) async fn backend_alive(&self) -> bool {
        let pg = timeout(self.backend_timeout, self.store.ping()).await;
        if matches!(pg, Ok(Ok(()))) {
            return true;
        }
        match &self.redis {
            Some(redis) => matches!(
                timeout(self.backend_timeout, redis.ping()).await,
                Ok(Ok(()))
            ),
            None => false,
        }
    }
}
