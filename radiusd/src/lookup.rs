//! Subscriber lookup: in-process cache → Redis → PostgreSQL (DESIGN.md, auth path step 5).
//!
//! The in-process cache answers almost every request. It stays coherent through two
//! channels that announce changes: Redis pub/sub (milliseconds, but a message can be
//! lost: Redis hangs, or the publisher's connection fails after its commit) and
//! PostgreSQL's change feed (`crate::feed`, polled every `cache.feed_interval`; it
//! cannot lose a change, because its rows are written in the change's own transaction).
//! While either channel is proven — the Redis subscription answers its pings, or the feed
//! answered its last poll in time — entries live for `cache.ttl`; while neither is, no
//! announcement can arrive, so entries are trusted only for `cache.ttl_disconnected`.
//!
//! Redis entries can be stale too: an admin's change commits while Redis hangs, so the
//! put that should follow it fails and Redis keeps the old entry for its TTL. The feed
//! says which version each changed name needs, and a Redis entry older than that is
//! skipped for PostgreSQL (a floor, kept as long as a Redis entry written before the
//! change can live). So staleness is bounded by the feed: within `cache.feed_interval`
//! plus one poll while PostgreSQL answers, whatever Redis does.
//!
//! Unknown names are remembered too (negatively), in memory and in Redis, so a flood of
//! random names reaches PostgreSQL once per name and period, not once per packet.
//!
//! # Batches
//!
//! Names the in-process cache cannot answer are looked up in batches, so a login storm
//! with cold caches (a restart under load) costs a round trip to Redis and one to
//! PostgreSQL per batch rather than per login. [`Lookup::find`] queues the name for one
//! background task, which waits for a first name, takes whatever else is queued already
//! (up to [`MAX_BATCH`] requests), merges repeated names (their waiters share one answer)
//! and runs the batch as a task of its own, at most [`MAX_IN_FLIGHT`] at once. While all
//! of those are busy the queue fills, so the next batch is larger: the batch size follows
//! the load, and a quiet server looks each name up alone, without added delay.
//!
//! A batch reads every name with one MGET and answers the hits and negatives. The misses
//! (all names, when Redis fails or is not configured) go to PostgreSQL in one query that
//! also counts each subscriber's open sessions; their waiters are answered and one task
//! writes the results to Redis for the other radiusd instances. Subscribers Redis knew
//! whose open sessions must be counted and are not get their counts in one more query,
//! run beside the other: the simultaneous-use check that follows finds them cached
//! instead of counting one login at a time (a radiusd restarted with Redis warm — the
//! commonest restart). So do subscribers found in memory whose counts were forgotten (an
//! Accounting-On from a rebooted NAS forgets every count just before its subscribers all
//! log in again): they join the batch for their count alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use proisp_model::Subscriber;
use proisp_store::{Cache, CacheLookup, Store};
use quick_cache::sync::Cache as MemoryCache;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::task::TaskTracker;

use crate::config::CacheConfig;
use crate::db;
use crate::metrics::{Level, LookupResult, Metrics};
use crate::sessions::{SPREAD, SessionCounts};

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

/// What a waiting [`Lookup::find`] is told.
type Answer = Result<Found, Unavailable>;

/// Most requests one batch takes: bounds the size, and so the latency, of one MGET and
/// one query.
const MAX_BATCH: usize = 256;

/// Batches running at once. More than one, so that a batch waiting for PostgreSQL does
/// not hold up the names behind it and Redis and PostgreSQL work side by side; few, so
/// that under load the batches grow rather than the round trips multiply. Each batch
/// holds at most two of the database pool's connections.
const MAX_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
struct Entry {
    at: Instant,
    value: Option<Arc<Subscriber>>,
    /// This entry's share of the TTL while connected, drawn from [`SPREAD`]: entries
    /// filled together (a restart under load) must not all expire together, or every
    /// `cache.ttl` the whole working set would go to Redis in the same second.
    spread: f32,
}

/// The lookup chain and its in-process cache.
pub(crate) struct Lookup {
    core: Arc<Core>,
    /// Names for the batch task; dropping the `Lookup` closes it, which ends the task.
    queue: mpsc::UnboundedSender<Request>,
}

/// What [`Lookup`] shares with its batches.
struct Core {
    /// Keyed by an inline string: a lookup compares the name in the entry's own cache
    /// line instead of following a pointer to a heap copy in cold memory.
    memory: MemoryCache<CompactString, Entry>,
    store: Store,
    redis: Option<Arc<dyn Cache>>,
    /// Whether the Redis invalidation channel is connected and answers its pings.
    connected: AtomicBool,
    /// Until when (milliseconds after [`Core::epoch`]) the change feed counts as proven:
    /// its last successful poll plus the time the next one may take.
    feed_until: AtomicU64,
    /// The origin of [`Core::feed_until`].
    epoch: Instant,
    /// Versions Redis entries need, from the change feed.
    floors: Mutex<Floors>,
    /// How long a floor is kept: as long as a Redis entry written before its change can
    /// live.
    floor_life: Duration,
    /// Invalidations received so far. A batch notes it before it reads and keeps what it
    /// read only if no invalidation arrived meanwhile: a value read just before a change
    /// and remembered just after its invalidation would otherwise stay for the whole TTL.
    changes: AtomicU64,
    config: CacheConfig,
    backend_timeout: Duration,
    metrics: Metrics,
    /// Open-session counts, filled by the batches, which read them too.
    counts: Arc<SessionCounts>,
    /// The Redis fills under way (a test waits for them to end).
    fills: TaskTracker,
}

/// A name the in-process cache could not answer, and where its answer goes.
struct Request {
    username: String,
    /// The subscriber, when memory knew it and only its open sessions need counting.
    known: Option<Arc<Subscriber>>,
    reply: oneshot::Sender<Answer>,
}

/// The versions Redis entries need to be trusted, from the change feed.
#[derive(Debug, Default)]
struct Floors {
    /// By name: the version and when the floor lapses.
    names: HashMap<CompactString, (i64, Instant)>,
    /// For every name (a bulk change): the version and when the floor lapses.
    all: Option<(i64, Instant)>,
}

impl Floors {
    /// The version a Redis entry of `username` needs at `now`, if any.
    fn get(&self, username: &str, now: Instant) -> Option<i64> {
        let one = self
            .names
            .get(username)
            .filter(|(_, until)| now < *until)
            .map(|(v, _)| *v);
        let all = self.all.filter(|(_, until)| now < *until).map(|(v, _)| v);
        one.max(all)
    }

    /// Forgets the floors that have lapsed.
    fn prune(&mut self, now: Instant) {
        self.names.retain(|_, (_, until)| now < *until);
        if self.all.is_some_and(|(_, until)| now >= until) {
            self.all = None;
        }
    }
}

/// One distinct name of a batch and everyone waiting for it.
struct Pending {
    username: String,
    known: Option<Arc<Subscriber>>,
    waiters: Vec<oneshot::Sender<Answer>>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("entries", &self.core.memory.len())
            .field("connected", &self.core.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Lookup {
    /// The lookup chain, with its batch task started on the current tokio runtime.
    /// `floor_life` is how long a Redis entry lives (its TTL and a margin for a put in
    /// flight).
    pub(crate) fn new(
        store: Store,
        redis: Option<Arc<dyn Cache>>,
        config: CacheConfig,
        backend_timeout: Duration,
        metrics: Metrics,
        counts: Arc<SessionCounts>,
        floor_life: Duration,
    ) -> Lookup {
        let core = Arc::new(Core {
            memory: MemoryCache::new(config.capacity.max(1)),
            store,
            redis,
            connected: AtomicBool::new(false),
            feed_until: AtomicU64::new(0),
            epoch: Instant::now(),
            floors: Mutex::new(Floors::default()),
            floor_life,
            changes: AtomicU64::new(0),
            config,
            backend_timeout,
            metrics,
            counts,
            fills: TaskTracker::new(),
        });
        let (queue, requests) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(core.clone(), requests));
        Lookup { core, queue }
    }

    /// Finds a subscriber in the in-process cache only (no waiting); `None` when the
    /// name is not there or its entry is too old to trust.
    pub(crate) fn cached(&self, username: &str) -> Option<Found> {
        self.cached_at(username, Instant::now())
    }

    /// [`Lookup::cached`] as of `now`: a socket's batch reads the clock once for all its
    /// requests.
    pub(crate) fn cached_at(&self, username: &str, now: Instant) -> Option<Found> {
        let core = &*self.core;
        let entry = core.memory.get(username)?;
        if now.saturating_duration_since(entry.at) >= core.ttl(&entry, now) {
            return None;
        }
        Some(match entry.value {
            Some(sub) => {
                core.metrics.lookup(Level::Memory, LookupResult::Hit);
                Found::Subscriber(sub)
            }
            None => {
                core.metrics.lookup(Level::Memory, LookupResult::Negative);
                Found::Unknown
            }
        })
    }

    /// Finds a subscriber by user name: from the in-process cache, or in the next batch.
    /// A subscriber with a simultaneous-use limit comes back with its open sessions
    /// counted ([`SessionCounts::cached`]), in the next batch if memory lacks the count.
    pub(crate) async fn find(&self, username: &str) -> Result<Found, Unavailable> {
        let known = match self.cached(username) {
            Some(Found::Subscriber(sub))
                if sub.simultaneous_use > 0 && self.core.counts.cached(username).is_none() =>
            {
                Some(sub)
            }
            Some(found) => return Ok(found),
            None => {
                self.core.metrics.lookup(Level::Memory, LookupResult::Miss);
                None
            }
        };
        let (reply, answer) = oneshot::channel();
        let request = Request {
            username: username.to_owned(),
            known,
            reply,
        };
        if self.queue.send(request).is_err() {
            // The batch task is gone: the runtime is shutting down.
            return Err(Unavailable);
        }
        // A batch takes at most a backend timeout in Redis and one in PostgreSQL; waiting
        // longer means batches are queueing behind a stuck backend. Give up then, as a
        // lookup of its own would have: a batch not yet started leaves this name out.
        match timeout(self.core.backend_timeout * 2, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Err(Unavailable),
        }
    }

    /// Forgets one user name (an invalidation message).
    pub(crate) fn forget(&self, username: &str) {
        self.core.changes.fetch_add(1, Ordering::AcqRel);
        self.core.memory.remove(username);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.core.changes.fetch_add(1, Ordering::AcqRel);
        self.core.memory.clear();
    }

    /// A change the feed announced: `username`'s entries older than `version` are stale,
    /// in memory and in Redis.
    pub(crate) fn stale_before(&self, username: &str, version: i64, now: Instant) {
        let core = &*self.core;
        if core.redis.is_some() {
            let mut floors = core.floors.lock().unwrap_or_else(PoisonError::into_inner);
            let floor = floors
                .names
                .entry(CompactString::from(username))
                .or_insert((version, now));
            *floor = (floor.0.max(version), now + core.floor_life);
        }
        // The floor is in place before the entry goes: a batch that read Redis before it
        // either sees the floor or is caught by the change counter.
        let current = core
            .memory
            .get(username)
            .and_then(|e| e.value.map(|s| s.version))
            .is_some_and(|v| v >= version);
        if !current {
            self.forget(username);
        }
    }

    /// A change to more subscribers than the feed lists one by one: every entry older
    /// than `version` is stale.
    pub(crate) fn all_stale_before(&self, version: i64, now: Instant) {
        let core = &*self.core;
        if core.redis.is_some() {
            let mut floors = core.floors.lock().unwrap_or_else(PoisonError::into_inner);
            let v = floors.all.map_or(version, |(v, _)| v.max(version));
            floors.all = Some((v, now + core.floor_life));
        }
        self.clear();
    }

    /// Forgets the floors that have lapsed; returns how many remain.
    pub(crate) fn prune_floors(&self, now: Instant) -> usize {
        let mut floors = self
            .core
            .floors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        floors.prune(now);
        floors.names.len()
    }

    /// The change feed answered: it counts as proven until `until`.
    pub(crate) fn feed_proven_until(&self, until: Instant) {
        let core = &*self.core;
        let ms = u64::try_from(until.saturating_duration_since(core.epoch).as_millis())
            .unwrap_or(u64::MAX);
        core.feed_until.store(ms, Ordering::Release);
    }

    /// Records whether the Redis invalidation channel is connected. On a reconnect the
    /// cache is emptied unless the change feed was proven all along: messages sent while
    /// the channel was down were missed, and only the feed would have caught them.
    pub(crate) fn set_connected(&self, connected: bool) {
        if connected && !self.core.feed_proven(Instant::now()) {
            self.clear();
        }
        self.core.connected.store(connected, Ordering::Release);
        self.core
            .metrics
            .invalidation_connected
            .set(if connected { 1.0 } else { 0.0 });
    }

    /// Entries in the in-process cache.
    pub(crate) fn len(&self) -> usize {
        self.core.memory.len()
    }

    /// Whether a backend answers: PostgreSQL or Redis (for `/health`).
    pub(crate) async fn backend_alive(&self) -> bool {
        let core = &*self.core;
        let pg = timeout(core.backend_timeout, core.store.ping()).await;
        if matches!(pg, Ok(Ok(()))) {
            return true;
        }
        match &core.redis {
            Some(redis) => matches!(
                timeout(core.backend_timeout, redis.ping()).await,
                Ok(Ok(()))
            ),
            None => false,
        }
    }
}

/// The batch task: waits for a free slot and a first request, takes whatever else is
/// queued and runs it as a batch of its own, until the [`Lookup`] is dropped.
async fn run_batches(core: Arc<Core>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // The slot is taken before the requests: while every batch is busy, requests
        // stay queued and the next batch takes them all. Nothing closes the semaphore.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = requests.recv().await else {
            return;
        };
        let batch = collect(first, &mut requests);
        if batch.is_empty() {
            continue;
        }
        let core = core.clone();
        tokio::spawn(async move {
            core.look_up(batch).await;
            drop(slot);
        });
    }
}

/// `first` and the requests queued behind it, up to [`MAX_BATCH`] in all, as distinct
/// names with their waiters. Requests whose waiter has given up are left out.
fn collect(first: Request, requests: &mut mpsc::UnboundedReceiver<Request>) -> Vec<Pending> {
    let mut names: HashMap<String, Pending> = HashMap::new();
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(request) = next {
        taken += 1;
        if !request.reply.is_closed() {
            let pending = names
                .entry(request.username)
                .or_insert_with_key(|username| Pending {
                    username: username.clone(),
                    known: None,
                    waiters: Vec::new(),
                });
            if pending.known.is_none() {
                pending.known = request.known;
            }
            pending.waiters.push(request.reply);
        }
        next = if taken < MAX_BATCH {
            requests.try_recv().ok()
        } else {
            None
        };
    }
    names.into_values().collect()
}

/// Tells every waiter; one that has given up is no matter.
fn reply(waiters: Vec<oneshot::Sender<Answer>>, answer: &Answer) {
    for waiter in waiters {
        let _ = waiter.send(answer.clone());
    }
}

impl Core {
    fn feed_proven(&self, now: Instant) -> bool {
        let ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        ms < self.feed_until.load(Ordering::Acquire)
    }

    /// How long `entry` is trusted at `now`.
    fn ttl(&self, entry: &Entry, now: Instant) -> Duration {
        let ttl = if self.connected.load(Ordering::Acquire) || self.feed_proven(now) {
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

    /// Remembers what a batch read since `read` (a [`Core::changes`] value). Checked
    /// after the insert, so an invalidation cannot slip between check and insert: if one
    /// arrived since the read, the entry goes again (perhaps a newer one of another
    /// batch: that costs one more lookup, never a stale answer).
    fn remember(&self, username: &str, value: Option<Arc<Subscriber>>, read: u64) {
        let entry = Entry {
            at: Instant::now(),
            value,
            spread: rand::random_range(SPREAD),
        };
        self.memory.insert(CompactString::from(username), entry);
        if self.changes.load(Ordering::Acquire) != read {
            self.memory.remove(username);
        }
    }

    /// Looks a batch up: Redis first, then PostgreSQL for what Redis did not know.
    async fn look_up(&self, batch: Vec<Pending>) {
        let read = self.changes.load(Ordering::Acquire);
        let (known, batch): (Vec<Pending>, Vec<Pending>) =
            batch.into_iter().partition(|p| p.known.is_some());
        let (misses, mut to_count) = match &self.redis {
            Some(redis) if !batch.is_empty() => self.ask_redis(redis.as_ref(), batch, read).await,
            _ => (batch, Vec::new()),
        };
        to_count.extend(
            known
                .into_iter()
                .filter_map(|p| p.known.clone().map(|sub| (p, sub))),
        );
        tokio::join!(
            self.ask_postgres(misses, read),
            self.count_sessions(to_count)
        );
    }

    /// Answers the names Redis knows. Returns the names it does not know (all of them
    /// when Redis fails), and the subscribers it knows whose open sessions must be
    /// counted before they are answered.
    async fn ask_redis(
        &self,
        redis: &dyn Cache,
        batch: Vec<Pending>,
        read: u64,
    ) -> (Vec<Pending>, Vec<(Pending, Arc<Subscriber>)>) {
        let names: Vec<&str> = batch.iter().map(|p| p.username.as_str()).collect();
        let found = match timeout(self.backend_timeout, redis.get_subscribers(&names)).await {
            Ok(Ok(found)) if found.len() == batch.len() => found,
            _ => {
                for _ in &batch {
                    self.metrics.lookup(Level::Redis, LookupResult::Error);
                }
                return (batch, Vec::new());
            }
        };
        let mut misses = Vec::new();
        let mut to_count = Vec::new();
        let floors: Vec<Option<i64>> = {
            let now = Instant::now();
            let floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
            batch.iter().map(|p| floors.get(&p.username, now)).collect()
        };
        for ((pending, lookup), floor) in batch.into_iter().zip(found).zip(floors) {
            let stale = match (&lookup, floor) {
                (CacheLookup::Hit(sub), Some(floor)) => sub.version < floor,
                // A negative entry carries no version: after a change, only PostgreSQL
                // knows whether the name exists.
                (CacheLookup::Negative, Some(_)) => true,
                _ => false,
            };
            if stale {
                self.metrics.lookup(Level::Redis, LookupResult::Stale);
                misses.push(pending);
                continue;
            }
            match lookup {
                CacheLookup::Hit(sub) => {
                    self.metrics.lookup(Level::Redis, LookupResult::Hit);
                    let sub = Arc::new(sub);
                    self.remember(&pending.username, Some(sub.clone()), read);
                    if sub.simultaneous_use > 0 && self.counts.cached(&pending.username).is_none() {
                        to_count.push((pending, sub));
                    } else {
                        reply(pending.waiters, &Ok(Found::Subscriber(sub)));
                    }
                }
                CacheLookup::Negative => {
                    self.metrics.lookup(Level::Redis, LookupResult::Negative);
                    self.remember(&pending.username, None, read);
                    reply(pending.waiters, &Ok(Found::Unknown));
                }
                CacheLookup::Miss => {
                    self.metrics.lookup(Level::Redis, LookupResult::Miss);
                    misses.push(pending);
                }
            }
        }
        (misses, to_count)
    }

    /// Looks names up in PostgreSQL with their open sessions, remembers and answers
    /// them, and has Redis filled for the other radiusd instances. When PostgreSQL fails
    /// every waiter is told [`Unavailable`]: an unknown name would be a wrong answer.
    async fn ask_postgres(&self, batch: Vec<Pending>, since: u64) {
        if batch.is_empty() {
            return;
        }
        let read = self.counts.start_read();
        let names: Vec<&str> = batch.iter().map(|p| p.username.as_str()).collect();
        let query = self.store.subscribers_with_open_sessions(&names);
        let rows = match timeout(self.backend_timeout, query).await {
            Ok(Ok(rows)) => rows,
            failed => {
                match failed {
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, users = batch.len(), "subscriber lookup in PostgreSQL failed");
                    }
                    _ => tracing::warn!(
                        users = batch.len(),
                        "subscriber lookup in PostgreSQL timed out"
                    ),
                }
                for pending in batch {
                    self.metrics.lookup(Level::Postgres, LookupResult::Error);
                    reply(pending.waiters, &Err(Unavailable));
                }
                return;
            }
        };
        let mut found: HashMap<String, (Subscriber, u32)> = rows
            .into_iter()
            .map(|(sub, open)| (sub.username.clone(), (sub, open)))
            .collect();
        let mut subscribers = Vec::new();
        let mut unknown = Vec::new();
        for Pending {
            username, waiters, ..
        } in batch
        {
            match found.remove(&username) {
                Some((sub, open)) => {
                    if sub.simultaneous_use > 0 {
                        self.counts.record(&username, open, read);
                    }
                    self.metrics.lookup(Level::Postgres, LookupResult::Hit);
                    let sub = Arc::new(sub);
                    self.remember(&username, Some(sub.clone()), since);
                    reply(waiters, &Ok(Found::Subscriber(sub.clone())));
                    subscribers.push(sub);
                }
                None => {
                    self.metrics.lookup(Level::Postgres, LookupResult::Negative);
                    self.remember(&username, None, since);
                    reply(waiters, &Ok(Found::Unknown));
                    unknown.push(username);
                }
            }
        }
        self.fill_redis(subscribers, unknown);
    }

    /// Counts the open sessions of subscribers Redis knew, in one query, and answers
    /// them once the counts are recorded, so the simultaneous-use check finds them.
    async fn count_sessions(&self, batch: Vec<(Pending, Arc<Subscriber>)>) {
        if batch.is_empty() {
            return;
        }
        let read = self.counts.start_read();
        let names: Vec<&str> = batch.iter().map(|(p, _)| p.username.as_str()).collect();
        let query = db::open_session_counts(&self.store, &names);
        // On failure, as SessionCounts::count does: counted as none and remembered, so
        // an outage costs one wait per user and TTL, not one per login.
        let open: HashMap<String, u32> = match timeout(self.backend_timeout, query).await {
            Ok(Ok(counts)) => counts.into_iter().collect(),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, users = batch.len(), "open sessions unknown; counting none");
                HashMap::new()
            }
            Err(_) => {
                tracing::debug!(
                    users = batch.len(),
                    "counting open sessions timed out; counting none"
                );
                HashMap::new()
            }
        };
        for (
            Pending {
                username, waiters, ..
            },
            sub,
        ) in batch
        {
            let count = open.get(&username).copied().unwrap_or(0);
            self.counts.record(&username, count, read);
            reply(waiters, &Ok(Found::Subscriber(sub)));
        }
    }

    /// Writes what PostgreSQL said to Redis for the other radiusd instances, without
    /// delaying the replies.
    fn fill_redis(&self, subscribers: Vec<Arc<Subscriber>>, unknown: Vec<String>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        self.fills.spawn(async move {
            let found: Vec<&Subscriber> = subscribers.iter().map(Arc::as_ref).collect();
            let missing: Vec<&str> = unknown.iter().map(String::as_str).collect();
            let (puts, negatives) =
                tokio::join!(redis.put_subscribers(&found), redis.put_negatives(&missing));
            if let Err(e) = puts.and(negatives) {
                tracing::debug!(error = %e, "could not fill the Redis cache");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use fred::prelude::{ClientLike as _, Config};
    use proisp_model::{AcctRecord, AcctStatus};
    use proisp_model::{Password, Status};
    use proisp_store::{NewNas, NewPlan, NewSubscriber, RedisCache, StoreConfig};
    use proisp_testing::{PrivateRedis, TestEnv, cached as in_redis, wait_until};
    use tokio::task::JoinSet;

    use super::*;
    use crate::sessions::CountTtl;

    const BACKEND_TIMEOUT: Duration = Duration::from_secs(2);

    /// A lookup whose entries and counts are trusted for a minute, connected or not.
    fn chain(store: Store, redis: Option<Arc<dyn Cache>>) -> Arc<Lookup> {
        let ttl = Duration::from_secs(60);
        let config = CacheConfig {
            capacity: 10_000,
            ttl,
            ttl_disconnected: ttl,
            negative_ttl: ttl,
            ..CacheConfig::default()
        };
        let counts = CountTtl {
            connected: ttl,
            disconnected: ttl,
        };
        let counts = Arc::new(SessionCounts::new(counts, BACKEND_TIMEOUT, None));
        Arc::new(Lookup::new(
            store,
            redis,
            config,
            BACKEND_TIMEOUT,
            Metrics::register(),
            counts,
            Duration::from_secs(3600),
        ))
    }

    /// Looks every name up at once; the answers in the order of `names`.
    async fn find_all(lookup: &Arc<Lookup>, names: &[String]) -> Vec<Answer> {
        let mut tasks = JoinSet::new();
        for (i, name) in names.iter().enumerate() {
            let (lookup, name) = (lookup.clone(), name.clone());
            tasks.spawn(async move { (i, lookup.find(&name).await) });
        }
        let mut answers: Vec<Option<Answer>> = vec![None; names.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, answer) = done.unwrap();
            answers[i] = Some(answer);
        }
        answers.into_iter().map(Option::unwrap).collect()
    }

    /// Subscribers `user00`.. with password `pw-<name>`; every third one has no session
    /// limit, the others one or two. Returns a NAS for sessions.
    async fn seed(store: &Store, users: usize) -> i64 {
        let plan = store
            .create_plan(&NewPlan::new("p", 10_000, 5_000))
            .await
            .unwrap();
        for i in 0..users {
            let name = format!("user{i:02}");
            let mut s = NewSubscriber::new(name.clone(), format!("pw-{name}"), plan.id);
            s.status = Status::Active;
            s.simultaneous_use = [0, 1, 2][i % 3];
            store.create_subscriber(&s).await.unwrap();
        }
        let nas = NewNas::new("bras", "127.0.0.1".parse().unwrap(), b"secret");
        store.create_nas(&nas).await.unwrap().id
    }

    async fn open_session(store: &Store, nas_id: i64, user: &str, sid: &str) {
        let received_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let start = AcctRecord {
            status: AcctStatus::Start,
            nas_id,
            acct_session_id: sid.into(),
            username: user.into(),
            upload_octets: 0,
            download_octets: 0,
            session_time_secs: 0,
            received_at_ms,
            delay_secs: 0,
            framed_ip: None,
            calling_station_id: None,
            nas_port_id: None,
            terminate_cause: None,
        };
        store.apply_accounting(&[start], 3).await.unwrap();
    }

    fn is_subscriber(answer: &Answer, name: &str) -> bool {
        matches!(answer, Ok(Found::Subscriber(s))
            if s.username == name && s.password.as_bytes() == format!("pw-{name}").as_bytes())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_storm_of_cold_lookups_gets_every_answer_right() {
        let env = TestEnv::start().await;
        let store = env.store().await;
        let redis = Arc::new(env.cache().await);
        let nas_id = seed(&store, 40).await;
        for (user, sid) in [
            ("user01", "a"),
            ("user02", "b"),
            ("user02", "c"),
            ("user22", "d"),
            ("user23", "e"),
            ("user23", "f"),
            ("user24", "g"),
        ] {
            open_session(&store, nas_id, user, sid).await;
        }
        // Redis knows user20..user39 and that ghost-r* do not exist; user00..user19 and
        // ghost* are only in (or missing from) PostgreSQL.
        let users: Vec<String> = (0..40).map(|i| format!("user{i:02}")).collect();
        let warm: Vec<&str> = users[20..].iter().map(String::as_str).collect();
        let warm: Vec<Subscriber> = store
            .subscribers_with_open_sessions(&warm)
            .await
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        redis
            .put_subscribers(&warm.iter().collect::<Vec<_>>())
            .await
            .unwrap();
        let ghosts: Vec<String> = (0..10).map(|i| format!("ghost{i}")).collect();
        let known_ghosts: Vec<String> = (0..10).map(|i| format!("ghost-r{i}")).collect();
        let known: Vec<&str> = known_ghosts.iter().map(String::as_str).collect();
        redis.put_negatives(&known).await.unwrap();

        // 60 names asked for ten times each, interleaved: more than two full batches.
        let distinct: Vec<String> = [&users[..], &ghosts[..], &known_ghosts[..]].concat();
        let names: Vec<String> = (0..10).flat_map(|_| distinct.clone()).collect();
        assert!(names.len() > 2 * MAX_BATCH);
        let lookup = chain(store.clone(), Some(redis.clone()));
        let answers = find_all(&lookup, &names).await;
        for (name, answer) in names.iter().zip(&answers) {
            if name.starts_with("user") {
                assert!(is_subscriber(answer, name), "{name}: {answer:?}");
            } else {
                assert!(matches!(answer, Ok(Found::Unknown)), "{name}: {answer:?}");
            }
        }

        // Everything is remembered, the unknown names too.
        for name in &users {
            assert!(
                matches!(lookup.cached(name), Some(Found::Subscriber(_))),
                "{name}"
            );
        }
        for name in ghosts.iter().chain(&known_ghosts) {
            assert!(
                matches!(lookup.cached(name), Some(Found::Unknown)),
                "{name}"
            );
        }
        // Open sessions are counted for the limited subscribers, whichever cache knew
        // them, and for no one else.
        let counts = &lookup.core.counts;
        for (i, name) in users.iter().enumerate() {
            let want = match (i % 3, name.as_str()) {
                (0, _) => None,
                (_, "user01" | "user22") => Some(1),
                (_, "user02" | "user23") => Some(2),
                _ => Some(0),
            };
            assert_eq!(counts.cached(name), want, "{name}");
        }
        // Every count forgotten (an Accounting-On) while the subscribers stay in memory:
        // the storm that follows gets them counted again, in batches, before answering.
        open_session(&store, nas_id, "user04", "h").await;
        counts.clear();
        let answers = find_all(&lookup, &names).await;
        for (name, answer) in names.iter().zip(&answers) {
            assert!(
                is_subscriber(answer, name) || !name.starts_with("user"),
                "{name}: {answer:?}"
            );
        }
        for (i, name) in users.iter().enumerate() {
            let want = match (i % 3, name.as_str()) {
                (0, _) => None,
                (_, "user01" | "user04" | "user22") => Some(1),
                (_, "user02" | "user23") => Some(2),
                _ => Some(0),
            };
            assert_eq!(
                counts.cached(name),
                want,
                "{name} after the counts were forgotten"
            );
        }
        // What PostgreSQL said reaches Redis for the other instances.
        let deadline = Instant::now() + Duration::from_secs(5);
        for name in &users[..20] {
            let hit = wait_until(
                deadline.saturating_duration_since(Instant::now()),
                async || matches!(in_redis(&*redis, name).await, Ok(CacheLookup::Hit(_))),
            );
            assert!(hit.await, "{name} not in Redis");
        }
        for name in &ghosts {
            let negative = wait_until(
                deadline.saturating_duration_since(Instant::now()),
                async || in_redis(&*redis, name).await.ok() == Some(CacheLookup::Negative),
            );
            assert!(negative.await, "{name} not negative in Redis");
        }
    }

    /// Calls of one Redis command since the server started.
    async fn calls(redis: &fred::prelude::Client, command: &str) -> u64 {
        let info: String = redis
            .custom(fred::cmd!("INFO"), vec!["commandstats"])
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    }

    // One thread: every lookup is queued before the batch task first runs.
    #[tokio::test(flavor = "current_thread")]
    async fn a_storm_costs_a_round_trip_per_batch_not_per_login() {
        let env = TestEnv::start().await;
        let store = env.store().await;
        seed(&store, 20).await;
        let private = PrivateRedis::start().await.unwrap();
        let config = proisp_store::RedisConfig {
            url: private.url(),
            ..env.cache_config()
        };
        let redis = Arc::new(
            RedisCache::connect(&config, env.keys.clone())
                .await
                .unwrap(),
        );
        let raw = fred::prelude::Builder::from_config(Config::from_url(&private.url()).unwrap())
            .build()
            .unwrap();
        raw.init().await.unwrap();

        // 300 names, each asked for twice in a row: 20 subscribers and 280 unknown.
        let names: Vec<String> = (0..600).map(|i| format!("user{:02}", i / 2)).collect();
        let lookup = chain(store, Some(redis.clone()));
        let answers = find_all(&lookup, &names).await;
        for (i, (name, answer)) in names.iter().zip(&answers).enumerate() {
            if i / 2 < 20 {
                assert!(is_subscriber(answer, name), "{name}: {answer:?}");
            } else {
                assert!(matches!(answer, Ok(Found::Unknown)), "{name}: {answer:?}");
            }
        }
        // 600 requests fill at least three batches of MAX_BATCH; looked up one by one
        // they would have cost 300 reads or more.
        let mgets = calls(&raw, "mget").await;
        assert!((3..=6).contains(&mgets), "{mgets} MGETs");
        // Each name is written to Redis once however many asked for it: 280 negative
        // markers, and the 20 subscribers' versioned scripts each SET once.
        // And no more than once. Every batch has answered, so every fill has started:
        // once they have all ended, nothing more can come.
        let fills = &lookup.core.fills;
        fills.close();
        let ended = timeout(Duration::from_secs(5), fills.wait());
        assert!(ended.await.is_ok(), "the fills did not end");
        assert_eq!(calls(&raw, "set").await, 300);
    }

    fn subscriber(name: &str, simultaneous_use: u32) -> Subscriber {
        Subscriber {
            id: 1,
            username: name.into(),
            password: Password::new(format!("pw-{name}")),
            status: Status::Active,
            plan_id: 1,
            expires_at: None,
            mac: None,
            ipv4: None,
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use,
            fup_until: None,
            version: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_postgresql_cold_names_are_unavailable_and_cached_ones_answer() {
        let env = TestEnv::start().await;
        let redis = Arc::new(env.cache().await);
        redis
            .put_subscribers(&[&subscriber("in-redis", 1)])
            .await
            .unwrap();
        redis.put_negatives(&["known-unknown"]).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = StoreConfig {
            connect_timeout: Duration::from_millis(500),
            ..StoreConfig::new(format!("postgres://postgres@127.0.0.1:{port}/x"))
        };
        let down = Store::connect_lazy(&config, env.keys.clone()).unwrap();

        let lookup = chain(down.clone(), Some(redis.clone()));
        let mut names: Vec<String> = (0..300).map(|i| format!("cold{}", i % 150)).collect();
        names.extend(["in-redis".to_owned(), "known-unknown".to_owned()]);
        let answers = find_all(&lookup, &names).await;
        for (name, answer) in names.iter().zip(&answers) {
            match name.as_str() {
                "in-redis" => assert!(is_subscriber(answer, name), "{answer:?}"),
                "known-unknown" => assert!(matches!(answer, Ok(Found::Unknown)), "{answer:?}"),
                _ => assert_eq!(answer.as_ref().err(), Some(&Unavailable), "{name}"),
            }
        }
        // A failure is not remembered as an unknown name, here or in Redis.
        assert!(lookup.cached("cold1").is_none());
        assert_eq!(in_redis(&*redis, "cold1").await.unwrap(), CacheLookup::Miss);
        // Its sessions could not be counted: none, remembered (one wait per user).
        assert_eq!(lookup.core.counts.cached("in-redis"), Some(0));
        assert!(is_subscriber(&lookup.find("in-redis").await, "in-redis"));

        // Without Redis too: cold names unavailable, remembered ones answered.
        let alone = chain(down, None);
        alone
            .core
            .remember("warm", Some(Arc::new(subscriber("warm", 0))), 0);
        alone.core.remember("gone", None, 0);
        let names = ["cold1", "warm", "gone"].map(str::to_owned);
        let answers = find_all(&alone, &names).await;
        assert_eq!(answers[0].as_ref().err(), Some(&Unavailable));
        assert!(is_subscriber(&answers[1], "warm"));
        assert!(matches!(answers[2], Ok(Found::Unknown)));
    }

    #[tokio::test]
    async fn what_a_batch_read_before_an_invalidation_is_not_remembered() {
        let env = TestEnv::start().await;
        let lookup = chain(env.store().await, None);
        let core = &lookup.core;
        let sub = || Some(Arc::new(subscriber("alice", 0)));

        let read = core.changes.load(Ordering::Acquire);
        core.remember("alice", sub(), read);
        assert!(matches!(lookup.cached("alice"), Some(Found::Subscriber(_))));

        // Read, then an invalidation (of any name, or all), then the batch remembers:
        // what it read may predate the change, so it is not kept.
        let read = core.changes.load(Ordering::Acquire);
        lookup.forget("alice");
        core.remember("alice", sub(), read);
        assert!(lookup.cached("alice").is_none());
        let read = core.changes.load(Ordering::Acquire);
        lookup.clear();
        core.remember("bob", None, read);
        assert!(lookup.cached("bob").is_none());

        // A read after the invalidation is kept.
        let read = core.changes.load(Ordering::Acquire);
        core.remember("alice", sub(), read);
        assert!(matches!(lookup.cached("alice"), Some(Found::Subscriber(_))));
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_limit_and_merges_repeated_names() {
        let (queue, mut requests) = mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for i in 0..MAX_BATCH + 10 {
            let (reply, answer) = oneshot::channel();
            let username = format!("u{}", i % 7);
            queue
                .send(Request {
                    username,
                    known: None,
                    reply,
                })
                .unwrap();
            // Every tenth waiter has given up.
            if i % 10 != 3 {
                waiting.push((i, answer));
            }
        }
        let first = requests.try_recv().unwrap();
        let batch = collect(first, &mut requests);
        assert_eq!(requests.len(), 10, "the rest waits for the next batch");
        let mut names: Vec<&str> = batch.iter().map(|p| p.username.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
        let given_up = (0..MAX_BATCH).filter(|i| i % 10 == 3).count();
        let waiters: usize = batch.iter().map(|p| p.waiters.len()).sum();
        assert_eq!(waiters, MAX_BATCH - given_up);

        // Everyone waiting for a name gets its answer.
        for pending in batch {
            let answer = match pending.username.as_str() {
                "u0" => Err(Unavailable),
                _ => Ok(Found::Unknown),
            };
            reply(pending.waiters, &answer);
        }
        for (i, mut answer) in waiting.into_iter().filter(|(i, _)| *i < MAX_BATCH) {
            match (i % 7, answer.try_recv()) {
                (0, Ok(Err(Unavailable))) | (1.., Ok(Ok(Found::Unknown))) => {}
                (_, other) => panic!("request {i}: {other:?}"),
            }
        }
    }
}
