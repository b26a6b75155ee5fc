//! Following PostgreSQL's change feed (`cache_changes`, sql/0005): the channel that cannot
//! lose a change, beside Redis pub/sub, which is quicker but can.
//!
//! Every `cache.feed_interval` the feed is read from the last sequence number seen. A
//! change arriving here drops the in-process copy (unless it is already as new) and sets
//! a floor under the versions Redis may answer with for that name ([`Lookup`]), so a
//! Redis entry that missed the change — its put failed while Redis hung — is passed over
//! for PostgreSQL. A poll that answers in time proves the feed for one more interval and
//! deadline; while it is proven, in-process entries keep their long TTL.
//!
//! Sequence numbers are handed out before their transactions commit, so number 12 can be
//! visible before 11. [`Cursor`] remembers the numbers it skipped and asks for them again
//! until they appear or [`GAP_WAIT`] has passed (a rolled-back transaction never fills
//! its number).
//!
//! [`Lookup`]: crate::lookup::Lookup

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proisp_store::{Change, FeedEntry, StoreError};
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// How long a skipped sequence number is looked for: longer than any transaction of
/// the admin API or of accounting lasts; one that commits later still is caught by the
/// cache TTL.
pub(crate) const GAP_WAIT: Duration = Duration::from_secs(60);

/// Most skipped numbers followed at once; past it (a rolled-back bulk statement) the
/// cursor gives up following them and every cached copy is dropped instead.
const MAX_GAPS: usize = 100_000;

/// Rows read per query; a full page is followed by the next at once.
const PAGE: i64 = 1_000;

/// How long the first reading of the feed (with the schema check and the tables) may
/// take, at least.
const BEGIN_DEADLINE: Duration = Duration::from_secs(5);

/// How often a feed that keeps failing is warned about (it may fail 4 times a second).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where a reader is in the feed.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The highest sequence number seen.
    last: i64,
    /// Numbers below `last` not seen yet, and when each was first missed.
    gaps: BTreeMap<i64, Instant>,
}

/// What a page of the feed means for the caches.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct News {
    /// Changes not seen before, in feed order.
    pub(crate) changes: Vec<Change>,
    /// The cursor lost track of skipped numbers: treat everything as changed.
    pub(crate) lost_track: bool,
}

impl Cursor {
    /// A cursor that has seen everything up to `last`.
    pub(crate) fn new(last: i64) -> Cursor {
        Cursor {
            last,
            gaps: BTreeMap::new(),
        }
    }

    /// The highest sequence number seen.
    pub(crate) fn last(&self) -> i64 {
        self.last
    }

    /// The skipped numbers to ask for again.
    pub(crate) fn gaps(&self) -> Vec<i64> {
        self.gaps.keys().copied().collect()
    }

    /// Takes a page of entries (in sequence order) read at `now`.
    pub(crate) fn advance(&mut self, entries: Vec<FeedEntry>, now: Instant) -> News {
        let mut news = News::default();
        for entry in entries {
            if entry.seq <= self.last {
                // A skipped number that has committed since, or one already seen.
                if self.gaps.remove(&entry.seq).is_some() {
                    news.changes.push(entry.change);
                }
                continue;
            }
            let skipped = entry.seq - self.last - 1;
            if usize::try_from(skipped).map_or(true, |n| self.gaps.len() + n > MAX_GAPS) {
                self.gaps.clear();
                news.lost_track = true;
            } else {
                for seq in self.last + 1..entry.seq {
                    self.gaps.insert(seq, now);
                }
            }
            self.last = entry.seq;
            news.changes.push(entry.change);
        }
        news
    }

    /// Stops looking for numbers skipped longer than [`GAP_WAIT`] before `now`.
    pub(crate) fn expire_gaps(&mut self, now: Instant) {
        self.gaps
            .retain(|_, first| now.saturating_duration_since(*first) < GAP_WAIT);
    }
}

/// Reads the feed before radiusd serves, when PostgreSQL answers at start-up, so the Redis
/// entries older than recent changes are known before the first lookup (a lookup racing
/// the first reading would otherwise have what it read discarded). `Ok(None)` when
/// PostgreSQL does not answer in time: [`follow`] begins when it does. An error is a
/// schema older than this build.
pub(crate) async fn begin_at_start(shared: &Shared) -> Result<Option<Cursor>, StoreError> {
    let deadline = shared.config.auth.backend_timeout.max(BEGIN_DEADLINE);
    match tokio::time::timeout(deadline, begin(shared)).await {
        Ok(Ok(cursor)) => {
            let config = &shared.config;
            shared.lookup.feed_proven_until(
                Instant::now() + config.cache.feed_interval + config.auth.backend_timeout,
            );
            Ok(Some(cursor))
        }
        Ok(Err(Begin::Fatal(e))) => Err(e),
        Ok(Err(Begin::Failed(e))) => {
            tracing::warn!(error = %e, "change feed unreadable at start-up; following it once PostgreSQL answers");
            Ok(None)
        }
        Err(_) => {
            tracing::warn!(
                "change feed unread at start-up (PostgreSQL too slow); following it once PostgreSQL answers"
            );
            Ok(None)
        }
    }
}

/// Follows the feed from `cursor` (or from its beginning, once PostgreSQL answers) until
/// cancelled. Returns the error that must stop radiusd: a schema older than this build,
/// found when PostgreSQL answered after a start without it.
pub(crate) async fn follow(
    shared: Arc<Shared>,
    mut cursor: Option<Cursor>,
    cancel: CancellationToken,
) -> Option<StoreError> {
    let config = &shared.config;
    let deadline = config.auth.backend_timeout;
    let mut tick = tokio::time::interval(config.cache.feed_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ok: Option<Instant> = None;
    let mut warned: Option<Instant> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return None,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let polled = match cursor.as_mut() {
            Some(cursor) => poll(&shared, cursor, deadline).await,
            None => {
                match tokio::time::timeout(deadline.max(BEGIN_DEADLINE), begin(&shared)).await {
                    Ok(Ok(started)) => {
                        cursor = Some(started);
                        Ok(())
                    }
                    Ok(Err(Begin::Fatal(e))) => return Some(e),
                    Ok(Err(Begin::Failed(e))) => Err(e),
                    Err(_) => Err("timed out".to_owned()),
                }
            }
        };
        match polled {
            Ok(()) => {
                // Rows older than the retention are gone: a reader away that long may
                // have missed some.
                if last_ok.is_some_and(|t| now.duration_since(t) >= config.cache.feed_retention) {
                    tracing::warn!(
                        "change feed unread for longer than its retention; dropping every cached entry"
                    );
                    shared.lookup.clear();
                }
                last_ok = Some(now);
                if warned.take().is_some() {
                    tracing::info!("change feed answers again");
                }
                shared
                    .lookup
                    .feed_proven_until(Instant::now() + config.cache.feed_interval + deadline);
                shared.metrics.feed_up.set(1.0);
            }
            Err(e) => {
                shared.metrics.feed_errors.increment(1);
                shared.metrics.feed_up.set(0.0);
                if warned.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
                    warned = Some(now);
                    tracing::warn!(error = %e, "change feed unreadable; cached entries trusted only while Redis announces changes");
                }
            }
        }
        if let Some(cursor) = cursor.as_mut() {
            cursor.expire_gaps(now);
        }
        shared.lookup.prune_floors(now);
    }
}

/// PostgreSQL answers, at start-up or after an outage that began before it: checks the
/// schema, reads the tables if they came from the snapshot, and starts the cursor.
async fn begin(shared: &Shared) -> Result<Cursor, Begin> {
    match shared.store.check_schema().await {
        Ok(_) => {}
        // Nothing may be written to a schema this build does not know; whatever was
        // acknowledged is in the spool.
        Err(e @ StoreError::SchemaTooOld { .. }) => return Err(Begin::Fatal(e)),
        Err(e) => return Err(Begin::Failed(e.to_string())),
    }
    shared
        .tables_from_postgres()
        .await
        .map_err(|e| Begin::Failed(format!("{e:#}")))?;
    start(shared).await.map_err(Begin::Failed)
}

/// Why [`begin`] did not.
enum Begin {
    /// Try again on the next tick.
    Failed(String),
    /// Stop radiusd.
    Fatal(StoreError),
}

/// Reads the changes of the last Redis entry lifetime, so Redis entries that missed one
/// are known before the first login, and returns a cursor after them.
async fn start(shared: &Shared) -> Result<Cursor, String> {
    let head = shared.store.feed_head().await.map_err(|e| e.to_string())?;
    let window = shared.config.floor_life();
    let mut cursor = Cursor::new(head);
    if window.is_zero() {
        return Ok(cursor);
    }
    let recent = shared
        .store
        .feed_recent(window, PAGE)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(first) = recent.first() {
        cursor = Cursor::new(first.seq - 1);
        let full = recent.len() as i64 == PAGE;
        // The tables were read just now: only the subscribers' changes matter.
        apply(shared, cursor.advance(recent, Instant::now()), false).await;
        if full {
            while catch_up_page(shared, &mut cursor).await? {}
        }
    }
    tracing::info!(seq = cursor.last(), "following PostgreSQL's change feed");
    Ok(cursor)
}

/// One poll: pages until the feed has nothing newer, each within `deadline`.
async fn poll(shared: &Shared, cursor: &mut Cursor, deadline: Duration) -> Result<(), String> {
    loop {
        match tokio::time::timeout(deadline, catch_up_page(shared, cursor)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("timed out".to_owned()),
        }
    }
}

/// Reads and applies one page after the cursor; whether it was full.
async fn catch_up_page(shared: &Shared, cursor: &mut Cursor) -> Result<bool, String> {
    let entries = shared
        .store
        .feed_after(cursor.last(), &cursor.gaps(), PAGE)
        .await
        .map_err(|e| e.to_string())?;
    let full = entries.len() as i64 == PAGE;
    apply(shared, cursor.advance(entries, Instant::now()), true).await;
    Ok(full)
}

/// Applies what a page says to the caches, and to the tables when `tables` is set.
async fn apply(shared: &Shared, news: News, tables: bool) {
    let now = Instant::now();
    if news.lost_track {
        shared.lookup.clear();
    }
    let mut reload = false;
    shared
        .metrics
        .feed_changes
        .increment(news.changes.len() as u64);
    for change in news.changes {
        match change {
            Change::Subscriber { username, version } => {
                shared.lookup.stale_before(&username, version, now);
            }
            Change::All { version } => shared.lookup.all_stale_before(version, now),
            Change::Plans | Change::Nas => reload = tables,
        }
    }
    if reload {
        shared.reload().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(seq: i64, name: &str, version: i64) -> FeedEntry {
        FeedEntry {
            seq,
            age: Duration::ZERO,
            change: Change::Subscriber {
                username: name.to_owned(),
                version,
            },
        }
    }

    #[test]
    fn a_number_seen_late_is_delivered_once() {
        let t0 = Instant::now();
        let mut cursor = Cursor::new(10);
        // 12 commits before 11.
        let news = cursor.advance(vec![sub(12, "b", 2)], t0);
        assert_eq!(news.changes.len(), 1);
        assert_eq!(cursor.gaps(), vec![11]);
        let news = cursor.advance(vec![sub(11, "a", 1), sub(12, "b", 2)], t0);
        assert_eq!(
            news.changes,
            vec![Change::Subscriber {
                username: "a".into(),
                version: 1
            }]
        );
        assert!(cursor.gaps().is_empty());
        assert_eq!(cursor.last(), 12);
        // Asked again: nothing new.
        assert_eq!(cursor.advance(vec![sub(12, "b", 2)], t0), News::default());
    }

    #[test]
    fn skipped_numbers_are_given_up_after_the_wait() {
        let t0 = Instant::now();
        let mut cursor = Cursor::new(0);
        cursor.advance(vec![sub(3, "c", 3)], t0);
        assert_eq!(cursor.gaps(), vec![1, 2]);
        cursor.expire_gaps(t0 + GAP_WAIT - Duration::from_millis(1));
        assert_eq!(cursor.gaps(), vec![1, 2]);
        cursor.expire_gaps(t0 + GAP_WAIT);
        assert!(cursor.gaps().is_empty());
    }

    #[test]
    fn too_many_skipped_numbers_lose_track_safely() {
        let mut cursor = Cursor::new(0);
        let news = cursor.advance(vec![sub(MAX_GAPS as i64 + 2, "z", 9)], Instant::now());
        assert!(news.lost_track);
        assert_eq!(news.changes.len(), 1);
        assert!(cursor.gaps().is_empty());
    }
}
